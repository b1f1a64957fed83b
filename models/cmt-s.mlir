// CMT-S at its released resolution (26,256,160 parameters in the released code).
cmt.model @cmt_s resolution = 224 classes = 1000 fc_dim = 1280 head_dropout = 0.1 {
  cmt.stem channels = 32
  cmt.stage dim = 64, depth = 3, heads = 1, kv_reduction = 8, mlp_ratio = 4.0
  cmt.stage dim = 128, depth = 3, heads = 2, kv_reduction = 4, mlp_ratio = 4.0
  cmt.stage dim = 256, depth = 16, heads = 4, kv_reduction = 2, mlp_ratio = 4.0
  cmt.stage dim = 512, depth = 3, heads = 8, kv_reduction = 1, mlp_ratio = 4.0
  cmt.head
}
