// CMT-Ti at its released resolution (9,492,426 parameters in the released code).
cmt.model @cmt_ti resolution = 160 classes = 1000 fc_dim = 1280 head_dropout = 0.1 {
  cmt.stem channels = 16
  cmt.stage dim = 46, depth = 2, heads = 1, kv_reduction = 8, mlp_ratio = 3.6
  cmt.stage dim = 92, depth = 2, heads = 2, kv_reduction = 4, mlp_ratio = 3.6
  cmt.stage dim = 184, depth = 10, heads = 4, kv_reduction = 2, mlp_ratio = 3.6
  cmt.stage dim = 368, depth = 2, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}
