// CMT-B at its released resolution (45,715,076 parameters in the released code).
cmt.model @cmt_b resolution = 256 classes = 1000 fc_dim = 1280 head_dropout = 0.3 {
  cmt.stem channels = 38
  cmt.stage dim = 76, depth = 4, heads = 1, kv_reduction = 8, mlp_ratio = 4.0
  cmt.stage dim = 152, depth = 4, heads = 2, kv_reduction = 4, mlp_ratio = 4.0
  cmt.stage dim = 304, depth = 20, heads = 4, kv_reduction = 2, mlp_ratio = 4.0
  cmt.stage dim = 608, depth = 4, heads = 8, kv_reduction = 1, mlp_ratio = 4.0
  cmt.head
}
