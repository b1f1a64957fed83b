// CMT-XS at its released resolution (15,247,208 parameters in the released code).
cmt.model @cmt_xs resolution = 192 classes = 1000 fc_dim = 1280 head_dropout = 0.1 {
  cmt.stem channels = 16
  cmt.stage dim = 52, depth = 3, heads = 1, kv_reduction = 8, mlp_ratio = 3.77
  cmt.stage dim = 104, depth = 3, heads = 2, kv_reduction = 4, mlp_ratio = 3.77
  cmt.stage dim = 208, depth = 12, heads = 4, kv_reduction = 2, mlp_ratio = 3.77
  cmt.stage dim = 416, depth = 3, heads = 8, kv_reduction = 1, mlp_ratio = 3.77
  cmt.head
}
