// RUN: cmt-opt %s -split-input-file -verify-diagnostics

// expected-error @+1 {{'cmt.model' op resolution 100 is not a positive multiple of 32 (the network downsamples by 32)}}
cmt.model @m resolution = 100 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

// expected-error @+1 {{'cmt.model' op classes must be positive, got 0}}
cmt.model @m resolution = 64 classes = 0 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

// expected-error @+1 {{'cmt.model' op fc_dim must be positive, got 0}}
cmt.model @m resolution = 64 classes = 10 fc_dim = 0 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

// expected-error @+1 {{'cmt.model' op head_dropout must be in [0, 1), got 1.500000e+00}}
cmt.model @m resolution = 64 classes = 10 fc_dim = 96 head_dropout = 1.5 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

// expected-error @+1 {{'cmt.model' op in_channels must be positive, got 0}}
cmt.model @m resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 in_channels = 0 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

// expected-error @+1 {{'cmt.model' op expects its body to hold one cmt.stem, four cmt.stage and one cmt.head, in that order, but it holds 5 ops}}
cmt.model @m resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

// expected-error @+1 {{'cmt.model' op expects its body to hold one cmt.stem, four cmt.stage and one cmt.head, in that order}}
cmt.model @m resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stem channels = 8
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

cmt.model @m resolution = 160 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.6
  // expected-error @+1 {{'cmt.stage' op (stage b): kv_reduction 3 does not divide the stage's spatial size 20 (resolution 160 / 8)}}
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 3, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

cmt.model @m resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  // expected-error @+1 {{'cmt.stem' op channels must be positive, got 0}}
  cmt.stem channels = 0
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

cmt.model @m resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  // expected-error @+1 {{'cmt.stage' op dim 30 is not divisible by heads 4}}
  cmt.stage dim = 30, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

cmt.model @m resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  // expected-error @+1 {{'cmt.stage' op depth must be positive, got 0}}
  cmt.stage dim = 16, depth = 0, heads = 1, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

cmt.model @m resolution = 64 classes = 10 fc_dim = 96 head_dropout = 0.1 {
  cmt.stem channels = 8
  // expected-error @+1 {{'cmt.stage' op mlp_ratio 1.000000e-02 gives an empty IRFFN hidden layer for dim 16}}
  cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 1, mlp_ratio = 0.01
  cmt.stage dim = 32, depth = 1, heads = 2, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 64, depth = 1, heads = 4, kv_reduction = 1, mlp_ratio = 3.6
  cmt.stage dim = 128, depth = 1, heads = 8, kv_reduction = 1, mlp_ratio = 3.6
  cmt.head
}

// -----

// expected-error @+1 {{'cmt.stem' op expects parent op 'cmt.model'}}
cmt.stem channels = 8

// -----

func.func @conv_rank(%x: tensor<3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op input must have rank 4, got 3}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1, 1] groups = 1 : (tensor<3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_dynamic(%x: tensor<?x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op input must have a static shape}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1, 1] groups = 1 : (tensor<?x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_element(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf16>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op weight element type differs from the input's}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf16>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_strides(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op strides must be two positive integers}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [0, 1] padding = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_padding(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op padding must be two non-negative integers}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_groups(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op groups 2 must divide the input channels 3 and the output channels 4}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1, 1] groups = 2 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_weight(%x: tensor<1x4x8x8xf32>, %w: tensor<4x4x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op weight dimension 1 must be input channels / groups = 1, got 4}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1, 1] groups = 4 : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_bias(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<5xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op bias must have 4 elements, got 5}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<5xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_kernel(%x: tensor<1x3x2x2xf32>, %w: tensor<4x3x5x5xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op kernel of size 5 is larger than the padded input (2)}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [0, 0] groups = 1 : (tensor<1x3x2x2xf32>, tensor<4x3x5x5xf32>, tensor<4xf32>) -> tensor<1x4x1x1xf32>
  return
}

// -----

func.func @conv_result(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.conv2d' op inferred type(s) 'tensor<1x4x4x4xf32>' are incompatible with return type(s) of operation 'tensor<1x4x8x8xf32>'}}
  // expected-error @+1 {{'cmt.conv2d' op failed to infer returned types}}
  %0 = cmt.conv2d %x, %w, %b strides = [2, 2] padding = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @bn_channels(%x: tensor<1x4x8x8xf32>, %p: tensor<3xf32>) {
  // expected-error @+1 {{'cmt.batch_norm' op weight must have 4 elements, got 3}}
  %0 = cmt.batch_norm %x, %p, %p, %p, %p eps = 1.0e-5 : tensor<1x4x8x8xf32>, tensor<3xf32>
  return
}

// -----

func.func @bn_rank(%x: tensor<4xf32>, %p: tensor<4xf32>) {
  // expected-error @+1 {{'cmt.batch_norm' op input must have rank at least 2}}
  %0 = cmt.batch_norm %x, %p, %p, %p, %p eps = 1.0e-5 : tensor<4xf32>, tensor<4xf32>
  return
}

// -----

func.func @bn_train_momentum(%x: tensor<2x4x8x8xf32>, %p: tensor<4xf32>) {
  // expected-error @+1 {{'cmt.batch_norm_train' op momentum must be in [0, 1], got 2.000000e+00}}
  %0:3 = cmt.batch_norm_train %x, %p, %p, %p, %p eps = 1.0e-5 momentum = 2.0 : tensor<2x4x8x8xf32>, tensor<4xf32>
  return
}

// -----

func.func @ln_width(%x: tensor<1x16x4xf32>, %p: tensor<5xf32>) {
  // expected-error @+1 {{'cmt.layer_norm' op weight must have 4 elements, got 5}}
  %0 = cmt.layer_norm %x, %p, %p eps = 1.0e-6 : tensor<1x16x4xf32>, tensor<5xf32>
  return
}

// -----

func.func @add_types(%a: tensor<1x16x4xf32>, %b: tensor<1x16x5xf32>) {
  // expected-error @+1 {{'cmt.add' op requires the same type for all operands and results}}
  %0 = "cmt.add"(%a, %b) : (tensor<1x16x4xf32>, tensor<1x16x5xf32>) -> tensor<1x16x4xf32>
  return
}

// -----

func.func @linear_features(%x: tensor<1x16x4xf32>, %w: tensor<8x5xf32>, %b: tensor<8xf32>) {
  // expected-error @+2 {{'cmt.linear' op weight has 5 input features but the input has 4}}
  // expected-error @+1 {{'cmt.linear' op failed to infer returned types}}
  %0 = cmt.linear %x, %w, %b : (tensor<1x16x4xf32>, tensor<8x5xf32>, tensor<8xf32>) -> tensor<1x16x8xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<1x16x4xf32>, %w: tensor<8x4xf32>, %b: tensor<4xf32>) {
  // expected-error @+2 {{'cmt.linear' op bias must have 8 elements, got 4}}
  // expected-error @+1 {{'cmt.linear' op failed to infer returned types}}
  %0 = cmt.linear %x, %w, %b : (tensor<1x16x4xf32>, tensor<8x4xf32>, tensor<4xf32>) -> tensor<1x16x8xf32>
  return
}

// -----

func.func @attention_key(%q: tensor<1x16x8xf32>, %k: tensor<1x4x6xf32>, %b: tensor<2x16x4xf32>) {
  // expected-error @+1 {{'cmt.attention' op key must be (1, M, 8) like the query}}
  %0 = cmt.attention %q, %k, %k, %b heads = 2 scale = 0.5 : tensor<1x16x8xf32>, tensor<1x4x6xf32>, tensor<2x16x4xf32>
  return
}

// -----

func.func @attention_heads(%q: tensor<1x16x8xf32>, %k: tensor<1x4x8xf32>, %b: tensor<3x16x4xf32>) {
  // expected-error @+1 {{'cmt.attention' op heads 3 must divide the width 8}}
  %0 = cmt.attention %q, %k, %k, %b heads = 3 scale = 0.5 : tensor<1x16x8xf32>, tensor<1x4x8xf32>, tensor<3x16x4xf32>
  return
}

// -----

func.func @attention_bias(%q: tensor<1x16x8xf32>, %k: tensor<1x4x8xf32>, %b: tensor<2x16x5xf32>) {
  // expected-error @+1 {{'cmt.attention' op bias must be (heads, N, M) = (2, 16, 4)}}
  %0 = cmt.attention %q, %k, %k, %b heads = 2 scale = 0.5 : tensor<1x16x8xf32>, tensor<1x4x8xf32>, tensor<2x16x5xf32>
  return
}

// -----

func.func @pool_rank(%x: tensor<1x16x4xf32>) {
  // expected-error @+2 {{'cmt.global_avg_pool' op input must have rank 4, got 3}}
  // expected-error @+1 {{'cmt.global_avg_pool' op failed to infer returned types}}
  %0 = cmt.global_avg_pool %x : tensor<1x16x4xf32> -> tensor<1x16xf32>
  return
}

// -----

func.func @to_tokens_rank(%x: tensor<1x16x4xf32>) {
  // expected-error @+2 {{'cmt.image_to_tokens' op input must have rank 4, got 3}}
  // expected-error @+1 {{'cmt.image_to_tokens' op failed to infer returned types}}
  %0 = cmt.image_to_tokens %x : tensor<1x16x4xf32> -> tensor<1x64x4xf32>
  return
}

// -----

func.func @to_image_size(%t: tensor<1x16x4xf32>) {
  // expected-error @+2 {{'cmt.tokens_to_image' op height x width = 4 x 5 must equal the 16 tokens}}
  // expected-error @+1 {{'cmt.tokens_to_image' op failed to infer returned types}}
  %0 = cmt.tokens_to_image %t height = 4 width = 5 : tensor<1x16x4xf32> -> tensor<1x4x4x5xf32>
  return
}

// -----

func.func @ce_labels(%l: tensor<4x10xf32>, %y: tensor<3xi64>, %s: tensor<f32>) {
  // expected-error @+1 {{'cmt.cross_entropy' op labels must be (4) like the batch of the logits}}
  %0 = cmt.cross_entropy %l, %y, %s : tensor<4x10xf32>, tensor<3xi64>
  return
}

// -----

func.func @ce_targets(%l: tensor<4x10xf32>, %t: tensor<4x9xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'cmt.cross_entropy' op target distributions must be (4, 10) like the logits}}
  %0 = cmt.cross_entropy %l, %t, %s : tensor<4x10xf32>, tensor<4x9xf32>
  return
}

// -----

func.func @dropout_uniform(%x: tensor<4x96xf32>, %u: tensor<4xf32>) {
  // expected-error @+1 {{'cmt.dropout' op uniform must hold one draw per element: 'tensor<4x96xf32>', got 'tensor<4xf32>'}}
  %0 = cmt.dropout %x, %u rate = 1.000000e-01 : tensor<4x96xf32>, tensor<4xf32>
  return
}

// -----

func.func @dropout_rate(%x: tensor<4x96xf32>, %u: tensor<4x96xf32>) {
  // expected-error @+1 {{'cmt.dropout' op rate must be in [0, 1), got 1}}
  %0 = cmt.dropout %x, %u rate = 1.000000e+00 : tensor<4x96xf32>, tensor<4x96xf32>
  return
}

// -----

func.func @ce_grad_labels(%d: tensor<f32>, %l: tensor<4x10xf32>, %y: tensor<2xi64>, %s: tensor<f32>) {
  // expected-error @+1 {{'cmt.cross_entropy_grad' op labels must be (4) like the batch of the logits}}
  %0 = cmt.cross_entropy_grad %d, %l, %y, %s : tensor<4x10xf32>, tensor<2xi64>
  return
}

// -----

func.func @ce_grad_targets(%d: tensor<f32>, %l: tensor<4x10xf32>, %t: tensor<4xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{'cmt.cross_entropy_grad' op target distributions must be (4, 10) like the logits}}
  %0 = cmt.cross_entropy_grad %d, %l, %t, %s : tensor<4x10xf32>, tensor<4xf32>
  return
}

// -----

func.func @ce_grad_logits(%d: tensor<f32>, %l: tensor<40xf32>, %y: tensor<4xi64>, %s: tensor<f32>) {
  // expected-error @+1 {{'cmt.cross_entropy_grad' op logits must have rank 2, got 1}}
  %0 = cmt.cross_entropy_grad %d, %l, %y, %s : tensor<40xf32>, tensor<4xi64>
  return
}

// -----

func.func @conv_grad_dy(%dy: tensor<2x8x16x16xf32>, %x: tensor<2x3x16x16xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'cmt.conv2d_grad' op dy must have the convolution's output type (2, 8, 8, 8) of the input's element type}}
  %dx, %dw, %db = cmt.conv2d_grad %dy, %x, %w strides = [2, 2] padding = [1, 1] groups = 1 : tensor<2x8x16x16xf32>, tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>
  return
}

// -----

func.func @conv_grad_strides(%dy: tensor<2x8x8x8xf32>, %x: tensor<2x3x16x16xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'cmt.conv2d_grad' op strides must be two positive integers}}
  %dx, %dw, %db = cmt.conv2d_grad %dy, %x, %w strides = [2] padding = [1, 1] groups = 1 : tensor<2x8x8x8xf32>, tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>
  return
}

// -----

func.func @conv_grad_rank(%dy: tensor<2x8x8xf32>, %x: tensor<2x3x16x16xf32>, %w: tensor<8x3x3x3xf32>) {
  // expected-error @+1 {{'cmt.conv2d_grad' op dy must have rank 4, got 3}}
  %dx, %dw, %db = cmt.conv2d_grad %dy, %x, %w strides = [2, 2] padding = [1, 1] groups = 1 : tensor<2x8x8xf32>, tensor<2x3x16x16xf32>, tensor<8x3x3x3xf32>
  return
}

// -----

func.func @linear_grad_dy(%dy: tensor<2x16x5xf32>, %t: tensor<2x16x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{'cmt.linear_grad' op dy must have the shape of the linear's output, and the weight (out, in) must match the input's last dimension}}
  %dx, %dw, %db = cmt.linear_grad %dy, %t, %w : tensor<2x16x5xf32>, tensor<2x16x8xf32>, tensor<4x8xf32>
  return
}

// -----

func.func @linear_grad_weight(%dy: tensor<2x16x4xf32>, %t: tensor<2x16x8xf32>, %w: tensor<4x7xf32>) {
  // expected-error @+1 {{'cmt.linear_grad' op dy must have the shape of the linear's output, and the weight (out, in) must match the input's last dimension}}
  %dx, %dw, %db = cmt.linear_grad %dy, %t, %w : tensor<2x16x4xf32>, tensor<2x16x8xf32>, tensor<4x7xf32>
  return
}

// -----

func.func @linear_grad_rank(%dy: tensor<f32>, %t: tensor<f32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{'cmt.linear_grad' op input must have rank at least 1}}
  %dx, %dw, %db = cmt.linear_grad %dy, %t, %w : tensor<f32>, tensor<f32>, tensor<4x8xf32>
  return
}

// -----

func.func @bn_grad_weight(%dy: tensor<2x8x4x4xf32>, %x: tensor<2x8x4x4xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{'cmt.batch_norm_grad' op weight must have 8 elements (input dimension 1)}}
  %dx, %dw, %db = cmt.batch_norm_grad %dy, %x, %w eps = 1.0e-5 : tensor<2x8x4x4xf32>, tensor<4xf32>
  return
}

// -----

func.func @bn_grad_rank(%dy: tensor<8xf32>, %x: tensor<8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'cmt.batch_norm_grad' op input must have rank at least 2}}
  %dx, %dw, %db = cmt.batch_norm_grad %dy, %x, %w eps = 1.0e-5 : tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @ln_grad_weight(%dy: tensor<2x16x8xf32>, %x: tensor<2x16x8xf32>, %w: tensor<16xf32>) {
  // expected-error @+1 {{'cmt.layer_norm_grad' op weight must have 8 elements (input dimension 2)}}
  %dx, %dw, %db = cmt.layer_norm_grad %dy, %x, %w eps = 1.0e-6 : tensor<2x16x8xf32>, tensor<16xf32>
  return
}

// -----

func.func @ln_grad_weight_rank(%dy: tensor<2x16x8xf32>, %x: tensor<2x16x8xf32>, %w: tensor<2x4xf32>) {
  // expected-error @+1 {{'cmt.layer_norm_grad' op weight must have 8 elements (input dimension 2)}}
  %dx, %dw, %db = cmt.layer_norm_grad %dy, %x, %w eps = 1.0e-6 : tensor<2x16x8xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @ln_grad_rank(%dy: tensor<8xf32>, %x: tensor<8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'cmt.layer_norm_grad' op input must have rank at least 2}}
  %dx, %dw, %db = cmt.layer_norm_grad %dy, %x, %w eps = 1.0e-6 : tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @pool_grad_channels(%dy: tensor<2x8xf32>) {
  // expected-error @+1 {{'cmt.global_avg_pool_grad' op maps (N, C) to (N, C, H, W); got 'tensor<2x8xf32>' -> 'tensor<2x4x4x4xf32>'}}
  %0 = cmt.global_avg_pool_grad %dy : tensor<2x8xf32> -> tensor<2x4x4x4xf32>
  return
}

// -----

func.func @pool_grad_rank(%dy: tensor<2x8xf32>) {
  // expected-error @+1 {{'cmt.global_avg_pool_grad' op maps (N, C) to (N, C, H, W); got 'tensor<2x8xf32>' -> 'tensor<2x8x16xf32>'}}
  %0 = cmt.global_avg_pool_grad %dy : tensor<2x8xf32> -> tensor<2x8x16xf32>
  return
}

// -----

func.func @lr_hyper(%step: tensor<i64>, %h: tensor<4xf32>) {
  // expected-error @+1 {{'cmt.learning_rate' op hyper must hold the 14 hyper-parameters of runtime/train_hyper.h, got 4}}
  %0 = cmt.learning_rate %step, %h : tensor<4xf32>
  return
}

// -----

func.func @optimizer_hyper(%p: tensor<4xf32>, %s: tensor<f32>, %step: tensor<i64>, %h: tensor<16xf32>) {
  // expected-error @+1 {{'cmt.optimizer_step' op hyper must hold the 14 hyper-parameters of runtime/train_hyper.h, got 16}}
  %0:3 = cmt.optimizer_step %p, %p, %p, %p, %s, %s, %step, %h decay = false : tensor<4xf32>, tensor<16xf32>
  return
}

// -----

func.func @bn_grad_dynamic(%dy: tensor<?x8xf32>, %x: tensor<?x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'cmt.batch_norm_grad' op needs static shapes}}
  %0:3 = cmt.batch_norm_grad %dy, %x, %w eps = 1.0e-5 : tensor<?x8xf32>, tensor<8xf32>
  return
}
