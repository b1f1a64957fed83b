// CMT-micro: the small configuration of ../shared/golden/cmt-micro (375,734 parameters).
cmt.model @cmt_micro resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 4, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 2, heads = 4, kv_reduction = 2, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}
