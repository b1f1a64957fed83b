// RUN: cmt-opt %s -split-input-file -cmt-expand-model=batch=4 -verify-diagnostics | FileCheck %s

// The input first, then parameters and buffers with their official names, in
// the order the body reads them.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME: tensor<4x3x64x64xf32> {cmt.kind = "input", cmt.name = "input"}
// CHECK-SAME: tensor<8x3x3x3xf32> {cmt.kind = "parameter", cmt.name = "stem_conv1.weight"}
// CHECK-SAME: tensor<8xf32> {cmt.kind = "buffer", cmt.name = "stem_norm1.running_mean"}
// CHECK-SAME: tensor<i64> {cmt.kind = "buffer", cmt.name = "stem_norm1.num_batches_tracked"}
// CHECK-SAME: tensor<1x256x4xf32> {cmt.kind = "parameter", cmt.name = "relative_pos_a"}
// CHECK-SAME: tensor<16x1x8x8xf32> {cmt.kind = "parameter", cmt.name = "blocks_a.0.attn.sr.0.weight"}
// CHECK-SAME: tensor<57x16x1x1xf32> {cmt.kind = "parameter", cmt.name = "blocks_a.0.mlp.conv1.0.weight"}
// CHECK-SAME: tensor<4x16x4xf32> {cmt.kind = "parameter", cmt.name = "relative_pos_c"}
// CHECK-SAME: tensor<64xf32> {cmt.kind = "parameter", cmt.name = "blocks_c.1.norm2.bias"}
// CHECK-SAME: tensor<8x4x4xf32> {cmt.kind = "parameter", cmt.name = "relative_pos_d"}
// CHECK-SAME: tensor<96x128x1x1xf32> {cmt.kind = "parameter", cmt.name = "_fc.weight"}
// CHECK-SAME: tensor<10x96xf32> {cmt.kind = "parameter", cmt.name = "head.weight"}
// CHECK-SAME: -> (tensor<4x10xf32> {cmt.name = "logits"})
// CHECK-SAME: attributes {cmt.config = {batch = 4 : i64, classes = 10 : i64, model = "cmt_micro", resolution = 64 : i64, train = false}}
//
// Stem: conv -> GELU -> BN, the first conv with stride 2.
// CHECK:      cmt.conv2d {{.*}} strides = [2, 2] padding = [1, 1] groups = 1 {{.*}} -> tensor<4x8x32x32xf32>
// CHECK-NEXT: cmt.gelu
// CHECK-NEXT: cmt.batch_norm {{.*}} eps = 1.000000e-05
//
// Patch aggregation of stage a, then its block: LPU, attention with a
// stride-8 depthwise kv reduction, IRFFN.
// CHECK:      cmt.conv2d {{.*}} strides = [2, 2] padding = [0, 0] groups = 1 {{.*}} -> tensor<4x16x16x16xf32>
// CHECK-NEXT: cmt.image_to_tokens
// CHECK-NEXT: cmt.layer_norm {{.*}} eps = 1.000000e-05
// CHECK:      cmt.conv2d {{.*}} groups = 16 : (tensor<4x16x16x16xf32>, tensor<16x1x3x3xf32>
// CHECK:      cmt.add
// CHECK-NEXT: cmt.layer_norm {{.*}} eps = 9.9999999999999995E-7
// CHECK-NEXT: %[[Q:.*]] = cmt.linear
// CHECK:      cmt.conv2d {{.*}} strides = [8, 8] padding = [0, 0] groups = 16 {{.*}} -> tensor<4x16x2x2xf32>
// CHECK-NEXT: cmt.batch_norm
// CHECK-NEXT: %[[KV:.*]] = cmt.image_to_tokens
// CHECK-NEXT: %[[K:.*]] = cmt.linear %[[KV]]
// CHECK-NEXT: %[[V:.*]] = cmt.linear %[[KV]]
// CHECK-NEXT: cmt.attention %[[Q]], %[[K]], %[[V]], %{{.*}} heads = 1 scale = 2.500000e-01
// CHECK:      cmt.conv2d {{.*}} -> tensor<4x57x16x16xf32>
// CHECK-NEXT: cmt.gelu
// CHECK-NEXT: %[[H:.*]] = cmt.batch_norm
// CHECK-NEXT: %[[DW:.*]] = cmt.conv2d %[[H]], {{.*}} groups = 57
// CHECK-NEXT: cmt.add %[[DW]], %[[H]]
// CHECK-NEXT: cmt.gelu
//
// Stage d has no kv reduction: keys and values come from the normalised tokens.
// CHECK:      %[[U:.*]] = cmt.layer_norm {{.*}} eps = 9.9999999999999995E-7 : tensor<4x4x128xf32>
// CHECK-NEXT: cmt.linear %[[U]]
// CHECK-NEXT: cmt.linear %[[U]]
// CHECK-NEXT: cmt.linear %[[U]]
// CHECK-NEXT: cmt.attention {{.*}} heads = 8 scale = 2.500000e-01
//
// Head: 1x1 conv, BN, swish, pool, classifier.
// CHECK:      cmt.conv2d {{.*}} -> tensor<4x96x2x2xf32>
// CHECK-NEXT: cmt.batch_norm
// CHECK-NEXT: cmt.swish
// CHECK-NEXT: cmt.global_avg_pool {{.*}} -> tensor<4x96xf32>
// CHECK-NEXT: %[[L:.*]] = cmt.linear {{.*}} -> tensor<4x10xf32>
// CHECK-NEXT: return %[[L]]
// CHECK-NOT:  cmt.model
cmt.model @cmt_micro resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 4, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 2, heads = 4, kv_reduction = 2, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

cmt.model @one resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 4, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 2, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}
// expected-error @+1 {{cmt-expand-model expects one cmt.model per module (each becomes @forward); found 2}}
cmt.model @two resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 4, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 2, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}
