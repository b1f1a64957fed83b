// RUN: cmt-opt %s -split-input-file | cmt-opt -split-input-file | FileCheck %s
// RUN: cmt-opt %s -split-input-file -mlir-print-op-generic | cmt-opt -split-input-file | FileCheck %s

// CHECK-LABEL: cmt.model @tiny resolution = 64 classes = 10 fc_dim = 96 head_dropout = 1.000000e-01 {
// CHECK-NEXT:    cmt.stem channels = 8
// CHECK-NEXT:    cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.600000e+00
// CHECK-NEXT:    cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 4, mlp_ratio = 3.600000e+00
// CHECK-NEXT:    cmt.stage dim = 64, depth = 2, heads = 4, kv_reduction = 2, mlp_ratio = 3.600000e+00
// CHECK-NEXT:    cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.600000e+00
// CHECK-NEXT:    cmt.head
// CHECK-NEXT:  }
cmt.model @tiny resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 4, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 2, heads = 4, kv_reduction = 2, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

// A non-default input channel count is printed; the default (3) is elided.
// CHECK-LABEL: cmt.model @grey resolution = 32 classes = 10 fc_dim = 64 head_dropout = 0.000000e+00 in_channels = 1 {
cmt.model @grey resolution = 32 classes = 10 fc_dim = 64 head_dropout = 0.0 in_channels = 1 {
  cmt.stem channels = 8
  cmt.stage dim = 8, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 4.0
  cmt.stage dim = 16, depth = 1, heads = 2, kv_reduction = 4, mlp_ratio = 4.0
  cmt.stage dim = 32, depth = 1, heads = 4, kv_reduction = 2, mlp_ratio = 4.0
  cmt.stage dim = 64, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 4.0
  cmt.head
}

// -----

// CHECK-LABEL: func.func @image_ops
func.func @image_ops(%x: tensor<2x3x16x16xf32>, %w: tensor<8x3x3x3xf32>, %b: tensor<8xf32>,
                     %dw: tensor<8x1x3x3xf32>, %p: tensor<8xf32>) -> tensor<2x8xf32> {
  // CHECK: cmt.conv2d %{{.*}}, %{{.*}}, %{{.*}} strides = [2, 2] padding = [1, 1] groups = 1 : (tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<2x8x8x8xf32>
  %0 = cmt.conv2d %x, %w, %b strides = [2, 2] padding = [1, 1] groups = 1
      : (tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<2x8x8x8xf32>
  // CHECK: cmt.conv2d {{.*}} groups = 8 : (tensor<2x8x8x8xf32>, tensor<8x1x3x3xf32>, tensor<8xf32>) -> tensor<2x8x8x8xf32>
  %1 = cmt.conv2d %0, %dw, %b strides = [1, 1] padding = [1, 1] groups = 8
      : (tensor<2x8x8x8xf32>, tensor<8x1x3x3xf32>, tensor<8xf32>) -> tensor<2x8x8x8xf32>
  // CHECK: cmt.gelu %{{.*}} : tensor<2x8x8x8xf32>
  %2 = cmt.gelu %1 : tensor<2x8x8x8xf32>
  // CHECK: cmt.batch_norm {{.*}} eps = 1.000000e-05 : tensor<2x8x8x8xf32>, tensor<8xf32>
  %3 = cmt.batch_norm %2, %p, %p, %p, %p eps = 1.0e-5 : tensor<2x8x8x8xf32>, tensor<8xf32>
  // CHECK: cmt.batch_norm_train {{.*}} eps = 1.000000e-05 momentum = 1.000000e-01 : tensor<2x8x8x8xf32>, tensor<8xf32>
  %4:3 = cmt.batch_norm_train %3, %p, %p, %p, %p eps = 1.0e-5 momentum = 0.1
      : tensor<2x8x8x8xf32>, tensor<8xf32>
  // CHECK: cmt.swish %{{.*}} : tensor<2x8x8x8xf32>
  %5 = cmt.swish %4#0 : tensor<2x8x8x8xf32>
  // CHECK: cmt.add %{{.*}}, %{{.*}} : tensor<2x8x8x8xf32>
  %6 = cmt.add %5, %3 : tensor<2x8x8x8xf32>
  // CHECK: cmt.global_avg_pool %{{.*}} : tensor<2x8x8x8xf32> -> tensor<2x8xf32>
  %7 = cmt.global_avg_pool %6 : tensor<2x8x8x8xf32> -> tensor<2x8xf32>
  return %7 : tensor<2x8xf32>
}

// -----

// CHECK-LABEL: func.func @token_ops
func.func @token_ops(%x: tensor<2x8x4x4xf32>, %w: tensor<8x8xf32>, %b: tensor<8xf32>,
                     %kv: tensor<2x4x8xf32>, %pos: tensor<2x16x4xf32>) -> tensor<2x8x4x4xf32> {
  // CHECK: cmt.image_to_tokens %{{.*}} : tensor<2x8x4x4xf32> -> tensor<2x16x8xf32>
  %t = cmt.image_to_tokens %x : tensor<2x8x4x4xf32> -> tensor<2x16x8xf32>
  // CHECK: cmt.layer_norm {{.*}} eps = 9.9999999999999995E-7 : tensor<2x16x8xf32>, tensor<8xf32>
  %u = cmt.layer_norm %t, %b, %b eps = 1.0e-6 : tensor<2x16x8xf32>, tensor<8xf32>
  // CHECK: cmt.linear {{.*}} : (tensor<2x16x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x16x8xf32>
  %q = cmt.linear %u, %w, %b : (tensor<2x16x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<2x16x8xf32>
  // CHECK: cmt.attention {{.*}} heads = 2 scale = 5.000000e-01 : tensor<2x16x8xf32>, tensor<2x4x8xf32>, tensor<2x16x4xf32>
  %o = cmt.attention %q, %kv, %kv, %pos heads = 2 scale = 0.5
      : tensor<2x16x8xf32>, tensor<2x4x8xf32>, tensor<2x16x4xf32>
  // CHECK: cmt.tokens_to_image %{{.*}} height = 4 width = 4 : tensor<2x16x8xf32> -> tensor<2x8x4x4xf32>
  %i = cmt.tokens_to_image %o height = 4 width = 4 : tensor<2x16x8xf32> -> tensor<2x8x4x4xf32>
  return %i : tensor<2x8x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @loss
// CHECK: cmt.cross_entropy %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x10xf32>, tensor<4xi64>
func.func @loss(%l: tensor<4x10xf32>, %y: tensor<4xi64>, %s: tensor<f32>) -> tensor<f32> {
  %0 = cmt.cross_entropy %l, %y, %s : tensor<4x10xf32>, tensor<4xi64>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @counter
// CHECK: cmt.increment %{{.*}} : tensor<i64>
func.func @counter(%n: tensor<i64>) -> tensor<i64> {
  %0 = cmt.increment %n : tensor<i64>
  return %0 : tensor<i64>
}

// -----

// CHECK-LABEL: func.func @conv2d_grad
// CHECK: cmt.conv2d_grad %{{.*}}, %{{.*}}, %{{.*}} strides = [2, 2] padding = [1, 1] groups = 1 : tensor<2x8x8x8xf32>, tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>
func.func @conv2d_grad(%dy: tensor<2x8x8x8xf32>, %x: tensor<2x3x16x16xf32>, %w: tensor<8x3x3x3xf32>)
    -> (tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) {
  %dx, %dw, %db = cmt.conv2d_grad %dy, %x, %w strides = [2, 2] padding = [1, 1] groups = 1
      : tensor<2x8x8x8xf32>, tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>
  return %dx, %dw, %db : tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>
}

// -----

// CHECK-LABEL: func.func @batch_norm_grad
// CHECK: cmt.batch_norm_grad %{{.*}}, %{{.*}}, %{{.*}} eps = 1.000000e-05 : tensor<2x8x4x4xf32>, tensor<8xf32>
func.func @batch_norm_grad(%dy: tensor<2x8x4x4xf32>, %x: tensor<2x8x4x4xf32>, %w: tensor<8xf32>)
    -> (tensor<2x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>) {
  %dx, %dw, %db = cmt.batch_norm_grad %dy, %x, %w eps = 1.0e-5 : tensor<2x8x4x4xf32>, tensor<8xf32>
  return %dx, %dw, %db : tensor<2x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// CHECK-LABEL: func.func @layer_norm_grad
// CHECK: cmt.layer_norm_grad %{{.*}}, %{{.*}}, %{{.*}} eps = 9.9999999999999995E-7 : tensor<2x16x8xf32>, tensor<8xf32>
func.func @layer_norm_grad(%dy: tensor<2x16x8xf32>, %t: tensor<2x16x8xf32>, %w: tensor<8xf32>)
    -> (tensor<2x16x8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %dx, %dw, %db = cmt.layer_norm_grad %dy, %t, %w eps = 1.0e-6 : tensor<2x16x8xf32>, tensor<8xf32>
  return %dx, %dw, %db : tensor<2x16x8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// CHECK-LABEL: func.func @gelu_grad
// CHECK: cmt.gelu_grad %{{.*}}, %{{.*}} : tensor<2x8x4x4xf32>
func.func @gelu_grad(%dy: tensor<2x8x4x4xf32>, %x: tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32> {
  %0 = cmt.gelu_grad %dy, %x : tensor<2x8x4x4xf32>
  return %0 : tensor<2x8x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @swish_grad
// CHECK: cmt.swish_grad %{{.*}}, %{{.*}} : tensor<2x8x4x4xf32>
func.func @swish_grad(%dy: tensor<2x8x4x4xf32>, %x: tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32> {
  %0 = cmt.swish_grad %dy, %x : tensor<2x8x4x4xf32>
  return %0 : tensor<2x8x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @linear_grad
// CHECK: cmt.linear_grad %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x16x4xf32>, tensor<2x16x8xf32>, tensor<4x8xf32>
func.func @linear_grad(%dy: tensor<2x16x4xf32>, %t: tensor<2x16x8xf32>, %w: tensor<4x8xf32>)
    -> (tensor<2x16x8xf32>, tensor<4x8xf32>, tensor<4xf32>) {
  %dx, %dw, %db = cmt.linear_grad %dy, %t, %w : tensor<2x16x4xf32>, tensor<2x16x8xf32>, tensor<4x8xf32>
  return %dx, %dw, %db : tensor<2x16x8xf32>, tensor<4x8xf32>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @attention_grad
// CHECK: cmt.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} heads = 2 scale = 5.000000e-01 : tensor<2x16x8xf32>, tensor<2x4x8xf32>, tensor<2x16x4xf32>
func.func @attention_grad(%dy: tensor<2x16x8xf32>, %q: tensor<2x16x8xf32>, %k: tensor<2x4x8xf32>,
                          %v: tensor<2x4x8xf32>, %pos: tensor<2x16x4xf32>)
    -> (tensor<2x16x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x16x4xf32>) {
  %dq, %dk, %dv, %dpos = cmt.attention_grad %dy, %q, %k, %v, %pos heads = 2 scale = 0.5
      : tensor<2x16x8xf32>, tensor<2x4x8xf32>, tensor<2x16x4xf32>
  return %dq, %dk, %dv, %dpos : tensor<2x16x8xf32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x16x4xf32>
}

// -----

// CHECK-LABEL: func.func @global_avg_pool_grad
// CHECK: cmt.global_avg_pool_grad %{{.*}} : tensor<2x8xf32> -> tensor<2x8x4x4xf32>
func.func @global_avg_pool_grad(%dy: tensor<2x8xf32>) -> tensor<2x8x4x4xf32> {
  %0 = cmt.global_avg_pool_grad %dy : tensor<2x8xf32> -> tensor<2x8x4x4xf32>
  return %0 : tensor<2x8x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @soft_loss
// CHECK: cmt.cross_entropy %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x10xf32>, tensor<4x10xf32>
// CHECK: cmt.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x10xf32>, tensor<4x10xf32>
func.func @soft_loss(%dloss: tensor<f32>, %l: tensor<4x10xf32>, %t: tensor<4x10xf32>, %s: tensor<f32>)
    -> (tensor<f32>, tensor<4x10xf32>) {
  %0 = cmt.cross_entropy %l, %t, %s : tensor<4x10xf32>, tensor<4x10xf32>
  %1 = cmt.cross_entropy_grad %dloss, %l, %t, %s : tensor<4x10xf32>, tensor<4x10xf32>
  return %0, %1 : tensor<f32>, tensor<4x10xf32>
}

// -----

// CHECK-LABEL: func.func @dropout
// CHECK: cmt.dropout %{{.*}}, %{{.*}} rate = 1.000000e-01 : tensor<4x96xf32>, tensor<4x96xf32>
func.func @dropout(%x: tensor<4x96xf32>, %u: tensor<4x96xf32>) -> tensor<4x96xf32> {
  %0 = cmt.dropout %x, %u rate = 1.000000e-01 : tensor<4x96xf32>, tensor<4x96xf32>
  return %0 : tensor<4x96xf32>
}

// -----

// CHECK-LABEL: func.func @cross_entropy_grad
// CHECK: cmt.cross_entropy_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<4x10xf32>, tensor<4xi64>
func.func @cross_entropy_grad(%dloss: tensor<f32>, %l: tensor<4x10xf32>, %y: tensor<4xi64>, %s: tensor<f32>)
    -> tensor<4x10xf32> {
  %0 = cmt.cross_entropy_grad %dloss, %l, %y, %s : tensor<4x10xf32>, tensor<4xi64>
  return %0 : tensor<4x10xf32>
}

// -----

// CHECK-LABEL: func.func @learning_rate
// CHECK: cmt.learning_rate %{{.*}}, %{{.*}} : tensor<14xf32>
func.func @learning_rate(%step: tensor<i64>, %hyper: tensor<14xf32>) -> tensor<f32> {
  %0 = cmt.learning_rate %step, %hyper : tensor<14xf32>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @global_norm
// CHECK: cmt.global_norm %{{.*}}, %{{.*}} : tensor<8x3x3x3xf32>, tensor<8xf32>
func.func @global_norm(%g0: tensor<8x3x3x3xf32>, %g1: tensor<8xf32>) -> tensor<f32> {
  %0 = cmt.global_norm %g0, %g1 : tensor<8x3x3x3xf32>, tensor<8xf32>
  return %0 : tensor<f32>
}

// -----

// CHECK-LABEL: func.func @optimizer_step
// CHECK: cmt.optimizer_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} decay = true : tensor<4x8xf32>, tensor<14xf32>
// CHECK: cmt.optimizer_step {{.*}} decay = false : tensor<4xf32>, tensor<14xf32>
func.func @optimizer_step(%p: tensor<4x8xf32>, %g: tensor<4x8xf32>, %m: tensor<4x8xf32>, %v: tensor<4x8xf32>,
                          %b: tensor<4xf32>, %lr: tensor<f32>, %norm: tensor<f32>, %step: tensor<i64>,
                          %hyper: tensor<14xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4xf32>) {
  %p1, %m1, %v1 = cmt.optimizer_step %p, %g, %m, %v, %lr, %norm, %step, %hyper decay = true
      : tensor<4x8xf32>, tensor<14xf32>
  %b1:3 = cmt.optimizer_step %b, %b, %b, %b, %lr, %norm, %step, %hyper decay = false
      : tensor<4xf32>, tensor<14xf32>
  return %p1, %m1, %v1, %b1#0 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4xf32>
}

// -----

// CHECK-LABEL: func.func @all_reduce
// CHECK: %[[A:.*]] = cmt.all_reduce %{{.*}} : tensor<8x3xf32>
// CHECK: %[[B:.*]] = cmt.all_reduce batch_norm %{{.*}} : tensor<8xf32>
// CHECK: cmt.all_reduce_wait %[[A]], %[[B]] : tensor<8x3xf32>, tensor<8xf32>
func.func @all_reduce(%g: tensor<8x3xf32>, %s: tensor<8xf32>) -> (tensor<8x3xf32>, tensor<8xf32>) {
  %a = cmt.all_reduce %g : tensor<8x3xf32>
  %b = cmt.all_reduce batch_norm %s : tensor<8xf32>
  %w:2 = cmt.all_reduce_wait %a, %b : tensor<8x3xf32>, tensor<8xf32>
  return %w#0, %w#1 : tensor<8x3xf32>, tensor<8xf32>
}
