// RUN: cmt-opt %s -cmt-expand-model="batch=2 train=true label-smoothing=0.1" | FileCheck %s
// RUN: cmt-opt %s -cmt-expand-model="batch=2 train=true soft-targets=true" | FileCheck %s --check-prefix=SOFT
// RUN: sed 's/head_dropout = 0.0/head_dropout = 0.2/' %s | cmt-opt -cmt-expand-model="batch=2 train=true drop-path=true" | FileCheck %s --check-prefix=HEADDROP
// RUN: sed 's/head_dropout = 0.0/head_dropout = 0.2/' %s | not cmt-opt -cmt-expand-model="train=true" 2>&1 | FileCheck %s --check-prefix=DROPOUT

// Training mode: a labels input, batch statistics in every batch norm, the
// loss and the updated running statistics as results, named after the buffers.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME: tensor<2xi64> {cmt.kind = "input", cmt.name = "labels"}
// CHECK-SAME: {cmt.name = "logits"}, tensor<f32> {cmt.name = "loss"}, tensor<8xf32> {cmt.name = "stem_norm1.running_mean"}
// CHECK-NOT:  cmt.batch_norm {{.*}} eps
// CHECK:      cmt.batch_norm_train
// CHECK:      %[[S:.*]] = arith.constant dense<1.000000e-01> : tensor<f32>
// CHECK:      cmt.cross_entropy %{{.*}}, %{{.*}}, %[[S]]
cmt.model @train resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.0 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 4, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 2, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// DROPOUT: error: cmt-expand-model: a training-mode forward with head_dropout 2.000000e-01 has no dropout draws (a training step's expansion, drop-path=true, has them): set head_dropout = 0.0 (cmt-compile --head-dropout=0)

// Soft targets (for mixup and cutmix): a distribution per image in place of labels.
// SOFT-LABEL: func.func @forward(
// SOFT-SAME:  tensor<2x10xf32> {cmt.kind = "input", cmt.name = "targets"}
// SOFT:       cmt.cross_entropy %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x10xf32>, tensor<2x10xf32>

// With its draws as inputs (a training step's), head dropout sits between the
// pooled features and the classifier.
// HEADDROP-LABEL: func.func @forward(
// HEADDROP-SAME:  tensor<2x96xf32> {cmt.kind = "input", cmt.name = "train/dropout_uniform"}
// HEADDROP:       %[[POOL:.*]] = cmt.global_avg_pool
// HEADDROP:       %[[D:.*]] = cmt.dropout %[[POOL]], %{{.*}} rate = 2.000000e-01 : tensor<2x96xf32>, tensor<2x96xf32>
// HEADDROP:       cmt.linear %[[D]]
