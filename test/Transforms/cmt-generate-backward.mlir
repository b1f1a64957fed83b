// RUN: cmt-opt %s -split-input-file -cmt-generate-backward -verify-diagnostics | FileCheck %s
// RUN: cmt-opt %s -split-input-file -cmt-generate-backward=data-parallel=1 -verify-diagnostics | FileCheck %s --check-prefix=DP
// RUN: sed 's/head_dropout = [0-9.e+-]*/head_dropout = 0.0/' %models/cmt-micro.mlir | cmt-opt -cmt-expand-model="batch=2 train=1" -cmt-generate-backward | FileCheck %s --check-prefix=MICRO

// The smallest training step: linear -> cross-entropy. The label smoothing is
// read from train/hyper (a view of entry 13); the loss's gradient starts at 1; the
// optimizer appends the learning rate, the global norm and one update per
// parameter (weight decay for the 2-D weight only).
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %arg0: tensor<2x4xf32> {cmt.kind = "input", cmt.name = "input"}
// CHECK-SAME: %arg2: tensor<3x4xf32> {cmt.kind = "parameter", cmt.name = "head.weight"}
// CHECK-SAME: %arg4: tensor<14xf32> {cmt.kind = "input", cmt.name = "train/hyper"}
// CHECK-SAME: %arg5: tensor<i64> {cmt.kind = "state", cmt.name = "train/step"}
// CHECK-SAME: %arg6: tensor<3x4xf32> {cmt.kind = "state", cmt.name = "optimizer/m/head.weight"}
// CHECK-SAME: %arg7: tensor<3x4xf32> {cmt.kind = "state", cmt.name = "optimizer/v/head.weight"}
// CHECK-SAME: %arg8: tensor<3xf32> {cmt.kind = "state", cmt.name = "optimizer/m/head.bias"}
// CHECK-SAME: %arg9: tensor<3xf32> {cmt.kind = "state", cmt.name = "optimizer/v/head.bias"})
// CHECK-SAME: -> (tensor<2x3xf32> {cmt.name = "logits"}, tensor<f32> {cmt.name = "loss"},
// CHECK-SAME: tensor<3x4xf32> {cmt.name = "next/head.weight"}, tensor<3x4xf32> {cmt.name = "next/optimizer/m/head.weight"}, tensor<3x4xf32> {cmt.name = "next/optimizer/v/head.weight"},
// CHECK-SAME: tensor<3xf32> {cmt.name = "next/head.bias"}, tensor<3xf32> {cmt.name = "next/optimizer/m/head.bias"}, tensor<3xf32> {cmt.name = "next/optimizer/v/head.bias"},
// CHECK-SAME: tensor<i64> {cmt.name = "next/train/step"}, tensor<3x4xf32> {cmt.name = "grad/head.weight"}, tensor<3xf32> {cmt.name = "grad/head.bias"},
// CHECK-SAME: tensor<f32> {cmt.name = "grad_norm"}, tensor<f32> {cmt.name = "lr"})
// CHECK:      %[[S:.*]] = tensor.extract_slice %arg4[13] [1] [1] : tensor<14xf32> to tensor<f32>
// CHECK:      %[[LOGITS:.*]] = cmt.linear %arg0, %arg2, %arg3
// CHECK:      %[[LOSS:.*]] = cmt.cross_entropy %[[LOGITS]], %arg1, %[[S]]
// CHECK:      %[[ONE:.*]] = arith.constant dense<1.000000e+00> : tensor<f32>
// CHECK:      %[[DL:.*]] = cmt.cross_entropy_grad %[[ONE]], %[[LOGITS]], %arg1, %[[S]] : tensor<2x3xf32>, tensor<2xi64>
// CHECK:      %{{.*}}, %[[DW:[a-z_0-9]+]], %[[DB:[a-z_0-9]+]] = cmt.linear_grad %[[DL]], %arg0, %arg2
// CHECK:      %[[LR:.*]] = cmt.learning_rate %arg5, %arg4 : tensor<14xf32>
// CHECK:      %[[NORM:.*]] = cmt.global_norm %[[DW]], %[[DB]] : tensor<3x4xf32>, tensor<3xf32>
// CHECK:      %[[PW:[a-z_0-9]+]], %[[MW:[a-z_0-9]+]], %[[VW:[a-z_0-9]+]] = cmt.optimizer_step %arg2, %[[DW]], %arg6, %arg7, %[[LR]], %[[NORM]], %arg5, %arg4 decay = true : tensor<3x4xf32>, tensor<14xf32>
// CHECK:      %[[PB:[a-z_0-9]+]], %[[MB:[a-z_0-9]+]], %[[VB:[a-z_0-9]+]] = cmt.optimizer_step %arg3, %[[DB]], %arg8, %arg9, %[[LR]], %[[NORM]], %arg5, %arg4 decay = false : tensor<3xf32>, tensor<14xf32>
// CHECK:      %[[STEP:.*]] = cmt.increment %arg5 : tensor<i64>
// CHECK:      return %[[LOGITS]], %[[LOSS]], %[[PW]], %[[MW]], %[[VW]], %[[PB]], %[[MB]], %[[VB]], %[[STEP]], %[[DW]], %[[DB]], %[[NORM]], %[[LR]] :
// Data parallelism: each gradient is averaged over the ranks as soon as it is
// final; the optimizer reads them through one wait.
// DP-LABEL: func.func @train_step(
// DP:       %{{.*}}, %[[DW:[a-z_0-9]+]], %[[DB:[a-z_0-9]+]] = cmt.linear_grad
// DP-NEXT:  %[[RW:.*]] = cmt.all_reduce %[[DW]] : tensor<3x4xf32>
// DP-NEXT:  %[[RB:.*]] = cmt.all_reduce %[[DB]] : tensor<3xf32>
// DP:       %[[W:.*]]:2 = cmt.all_reduce_wait %[[RW]], %[[RB]] : tensor<3x4xf32>, tensor<3xf32>
// DP:       cmt.global_norm %[[W]]#0, %[[W]]#1
// DP:       cmt.optimizer_step %arg2, %[[W]]#0,
func.func @forward(%x: tensor<2x4xf32> {cmt.kind = "input", cmt.name = "input"},
                   %labels: tensor<2xi64> {cmt.kind = "input", cmt.name = "labels"},
                   %w: tensor<3x4xf32> {cmt.kind = "parameter", cmt.name = "head.weight"},
                   %b: tensor<3xf32> {cmt.kind = "parameter", cmt.name = "head.bias"})
    -> (tensor<2x3xf32> {cmt.name = "logits"}, tensor<f32> {cmt.name = "loss"})
    attributes {cmt.config = {batch = 2 : i64, classes = 3 : i64, model = "tiny", resolution = 32 : i64, train = true}} {
  %logits = cmt.linear %x, %w, %b : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %s = arith.constant dense<0.0> : tensor<f32>
  %loss = cmt.cross_entropy %logits, %labels, %s : tensor<2x3xf32>, tensor<2xi64>
  return %logits, %loss : tensor<2x3xf32>, tensor<f32>
}

// -----

// A parameter used twice gets the sum of its two gradients (cmt.add); one
// the loss ignores gets neither a gradient nor an update (PyTorch skips it),
// only optimizer state. The updated running statistics are renamed next/<buffer>.
// CHECK-LABEL: func.func @train_step(
// CHECK-SAME: %arg8: tensor<5xf32> {cmt.kind = "parameter", cmt.name = "unused"}
// CHECK-SAME: %arg19: tensor<5xf32> {cmt.kind = "state", cmt.name = "optimizer/m/unused"}
// CHECK-SAME: %arg20: tensor<5xf32> {cmt.kind = "state", cmt.name = "optimizer/v/unused"})
// CHECK-SAME: tensor<4xf32> {cmt.name = "next/norm.running_mean"}, tensor<4xf32> {cmt.name = "next/norm.running_var"}
// CHECK-NOT:  next/unused
// CHECK-SAME: tensor<4x4xf32> {cmt.name = "grad/fc.weight"}
// CHECK-NOT:  grad/unused
// CHECK:      %[[H:.*]] = cmt.linear %arg0, %arg2, %arg3
// CHECK:      %[[N:[a-z_0-9]+]], %{{.*}}, %{{.*}} = cmt.batch_norm_train %[[H]], %arg4, %arg5, %arg6, %arg7
// CHECK:      cmt.cross_entropy_grad
// CHECK:      %[[DN:[a-z_0-9]+]], %[[DW1:[a-z_0-9]+]], %[[DB1:[a-z_0-9]+]] = cmt.linear_grad %{{.*}}, %[[N]], %arg2
// CHECK:      %[[DH:[a-z_0-9]+]], %[[DNW:[a-z_0-9]+]], %[[DNB:[a-z_0-9]+]] = cmt.batch_norm_grad %[[DN]], %[[H]], %arg4 eps = 1.000000e-05 : tensor<2x4xf32>, tensor<4xf32>
// CHECK:      %{{.*}}, %[[DW0:[a-z_0-9]+]], %[[DB0:[a-z_0-9]+]] = cmt.linear_grad %[[DH]], %arg0, %arg2
// CHECK-DAG:  %[[GW:.*]] = cmt.add %[[DW1]], %[[DW0]] : tensor<4x4xf32>
// CHECK-DAG:  %[[GB:.*]] = cmt.add %[[DB1]], %[[DB0]] : tensor<4xf32>
// CHECK:      %[[LR:.*]] = cmt.learning_rate
// CHECK:      %[[NORM:.*]] = cmt.global_norm %[[GW]], %[[GB]], %[[DNW]], %[[DNB]] :
// CHECK:      cmt.optimizer_step %arg2, %[[GW]], %arg11, %arg12, %[[LR]], %[[NORM]], %arg10, %arg9 decay = true : tensor<4x4xf32>
// CHECK:      cmt.optimizer_step %arg3, %[[GB]], {{.*}} decay = false : tensor<4xf32>
// CHECK:      cmt.optimizer_step %arg4, %[[DNW]], {{.*}} decay = false : tensor<4xf32>
// CHECK:      cmt.optimizer_step %arg5, %[[DNB]], {{.*}} decay = false : tensor<4xf32>
// CHECK-NOT:  cmt.optimizer_step %arg8
func.func @forward(%x: tensor<2x4xf32> {cmt.kind = "input", cmt.name = "input"},
                   %labels: tensor<2xi64> {cmt.kind = "input", cmt.name = "labels"},
                   %w: tensor<4x4xf32> {cmt.kind = "parameter", cmt.name = "fc.weight"},
                   %b: tensor<4xf32> {cmt.kind = "parameter", cmt.name = "fc.bias"},
                   %nw: tensor<4xf32> {cmt.kind = "parameter", cmt.name = "norm.weight"},
                   %nb: tensor<4xf32> {cmt.kind = "parameter", cmt.name = "norm.bias"},
                   %rm: tensor<4xf32> {cmt.kind = "buffer", cmt.name = "norm.running_mean"},
                   %rv: tensor<4xf32> {cmt.kind = "buffer", cmt.name = "norm.running_var"},
                   %u: tensor<5xf32> {cmt.kind = "parameter", cmt.name = "unused"})
    -> (tensor<2x4xf32> {cmt.name = "logits"}, tensor<f32> {cmt.name = "loss"},
        tensor<4xf32> {cmt.name = "norm.running_mean"}, tensor<4xf32> {cmt.name = "norm.running_var"})
    attributes {cmt.config = {batch = 2 : i64, classes = 4 : i64, model = "twice", resolution = 32 : i64, train = true}} {
  %h = cmt.linear %x, %w, %b : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %n, %m1, %v1 = cmt.batch_norm_train %h, %nw, %nb, %rm, %rv eps = 1.0e-5 momentum = 0.1
      : tensor<2x4xf32>, tensor<4xf32>
  %logits = cmt.linear %n, %w, %b : (tensor<2x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %loss = cmt.cross_entropy %logits, %labels, %s : tensor<2x4xf32>, tensor<2xi64>
  return %logits, %loss, %m1, %v1 : tensor<2x4xf32>, tensor<f32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// An inference-mode forward (train = false) is refused.
// expected-error @+1 {{cmt-generate-backward needs a training-mode @forward (cmt-expand-model{train=1})}}
module {
  func.func @forward(%x: tensor<2x4xf32> {cmt.kind = "input", cmt.name = "input"})
      -> (tensor<2x4xf32> {cmt.name = "logits"})
      attributes {cmt.config = {batch = 2 : i64, train = false}} {
    return %x : tensor<2x4xf32>
  }
}

// -----

// expected-error @+1 {{cmt-generate-backward: @forward returns no f32 scalar named 'loss'}}
func.func @forward(%x: tensor<2x4xf32> {cmt.kind = "input", cmt.name = "input"},
                   %w: tensor<3x4xf32> {cmt.kind = "parameter", cmt.name = "head.weight"},
                   %b: tensor<3xf32> {cmt.kind = "parameter", cmt.name = "head.bias"})
    -> (tensor<2x3xf32> {cmt.name = "logits"}) attributes {cmt.config = {batch = 2 : i64, train = true}} {
  %logits = cmt.linear %x, %w, %b : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  return %logits : tensor<2x3xf32>
}

// -----

// Inference-mode batch norm has no gradient rule.
func.func @forward(%x: tensor<2x4xf32> {cmt.kind = "input", cmt.name = "input"},
                   %labels: tensor<2xi64> {cmt.kind = "input", cmt.name = "labels"},
                   %w: tensor<3x4xf32> {cmt.kind = "parameter", cmt.name = "head.weight"},
                   %b: tensor<3xf32> {cmt.kind = "parameter", cmt.name = "head.bias"},
                   %p: tensor<4xf32> {cmt.kind = "parameter", cmt.name = "norm.weight"})
    -> (tensor<2x3xf32> {cmt.name = "logits"}, tensor<f32> {cmt.name = "loss"})
    attributes {cmt.config = {batch = 2 : i64, train = true}} {
  // expected-error @+1 {{'cmt.batch_norm' op has no gradient rule (GradientOpInterface), but the loss depends on it}}
  %n = cmt.batch_norm %x, %p, %p, %p, %p eps = 1.0e-5 : tensor<2x4xf32>, tensor<4xf32>
  %logits = cmt.linear %n, %w, %b : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %s = arith.constant dense<0.0> : tensor<f32>
  %loss = cmt.cross_entropy %logits, %labels, %s : tensor<2x3xf32>, tensor<2xi64>
  return %logits, %loss : tensor<2x3xf32>, tensor<f32>
}

// The whole CMT-micro network: every kind of gradient op appears, and the
// optimizer state of the first parameter is added.
// MICRO-LABEL: func.func @train_step(
// MICRO-SAME:  {cmt.kind = "input", cmt.name = "train/hyper"}
// MICRO-SAME:  {cmt.kind = "state", cmt.name = "optimizer/m/stem_conv1.weight"}
// MICRO-SAME:  {cmt.name = "next/stem_norm1.running_mean"}
// MICRO-SAME:  {cmt.name = "grad/stem_conv1.weight"}
// MICRO-SAME:  {cmt.name = "grad_norm"}, tensor<f32> {cmt.name = "lr"})
// MICRO:       cmt.cross_entropy_grad
// MICRO:       cmt.linear_grad
// MICRO:       cmt.global_avg_pool_grad {{.*}} : tensor<2x96xf32> -> tensor<2x96x2x2xf32>
// MICRO:       cmt.swish_grad
// MICRO:       cmt.batch_norm_grad
// MICRO:       cmt.gelu_grad
// MICRO:       cmt.layer_norm_grad
// MICRO:       cmt.attention_grad
// MICRO:       cmt.conv2d_grad
// MICRO:       cmt.learning_rate
// MICRO:       cmt.global_norm
// MICRO:       cmt.optimizer_step {{.*}} decay = true : tensor<8x3x3x3xf32>
// MICRO:       cmt.optimizer_step {{.*}} decay = false : tensor<8xf32>
// MICRO:       cmt.increment
// MICRO:       return

// -----

// expected-error @+1 {{cmt-generate-backward: result 1 of @forward has no cmt.name}}
func.func @forward(%x: tensor<2x4xf32> {cmt.kind = "input", cmt.name = "input"},
                   %labels: tensor<2xi64> {cmt.kind = "input", cmt.name = "labels"},
                   %w: tensor<3x4xf32> {cmt.kind = "parameter", cmt.name = "head.weight"},
                   %b: tensor<3xf32> {cmt.kind = "parameter", cmt.name = "head.bias"})
    -> (tensor<2x3xf32> {cmt.name = "logits"}, tensor<f32>) attributes {cmt.config = {batch = 2 : i64, train = true}} {
  %logits = cmt.linear %x, %w, %b : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %s = arith.constant dense<0.0> : tensor<f32>
  %loss = cmt.cross_entropy %logits, %labels, %s : tensor<2x3xf32>, tensor<2xi64>
  return %logits, %loss : tensor<2x3xf32>, tensor<f32>
}

// -----

// Gradients reach only what depends on a parameter: a constant added to the
// logits needs no gradient rule.
// CHECK-LABEL: func.func @train_step(
// CHECK:       cmt.linear_grad
func.func @forward(%x: tensor<2x4xf32> {cmt.kind = "input", cmt.name = "input"},
                   %labels: tensor<2xi64> {cmt.kind = "input", cmt.name = "labels"},
                   %w: tensor<3x4xf32> {cmt.kind = "parameter", cmt.name = "head.weight"},
                   %b: tensor<3xf32> {cmt.kind = "parameter", cmt.name = "head.bias"})
    -> (tensor<f32> {cmt.name = "loss"}) attributes {cmt.config = {batch = 2 : i64, train = true}} {
  %c = arith.constant dense<1.0> : tensor<2x3xf32>
  %logits = cmt.linear %x, %w, %b : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %shifted = cmt.add %logits, %c : tensor<2x3xf32>
  %s = arith.constant dense<0.0> : tensor<f32>
  %loss = cmt.cross_entropy %shifted, %labels, %s : tensor<2x3xf32>, tensor<2xi64>
  return %loss : tensor<f32>
}
