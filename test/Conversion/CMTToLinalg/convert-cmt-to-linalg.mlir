// RUN: cmt-opt %s -split-input-file -convert-cmt-to-linalg -verify-diagnostics | FileCheck %s
// RUN: cmt-opt %s -split-input-file -convert-cmt-to-linalg=sync-batch-norm=1 -verify-diagnostics | FileCheck %s --check-prefix=SYNC
// RUN: cmt-opt %s -split-input-file -convert-cmt-to-linalg=fuse-attention=1 -verify-diagnostics | FileCheck %s --check-prefix=FUSED
// RUN: cmt-opt %s -split-input-file -convert-cmt-to-linalg=gather-windows=1 -verify-diagnostics | FileCheck %s --check-prefix=GATHER
// RUN: cmt-opt %s -split-input-file -convert-cmt-to-linalg=row-stats=1 -verify-diagnostics | FileCheck %s --check-prefix=ROWS

// An NCHW argument is transposed to NHWC once, however often it is used; the
// 1x1 convolution is a contraction (c + a * b) whose initial value is the bias.
// CHECK-LABEL: func.func @pointwise
// CHECK-COUNT-1: linalg.transpose ins(%arg0 : tensor<1x4x8x8xf32>) {{.*}} permutation = [0, 2, 3, 1]
// CHECK-NOT:  linalg.transpose ins(%arg0
// CHECK:      tensor.collapse_shape {{.*}} {{\[\[}}0, 1, 2], [3]] : tensor<1x8x8x4xf32> into tensor<64x4xf32>
// CHECK:      %[[BIAS:.*]] = linalg.generic {{.*}} ins(%arg2 : tensor<6xf32>) outs({{.*}} : tensor<64x6xf32>)
// CHECK:      linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} outs(%[[BIAS]] : tensor<64x6xf32>)
// CHECK-NEXT: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[C:.*]]: f32):
// CHECK-NEXT:   %[[M:.*]] = arith.mulf %[[A]], %[[B]]
// CHECK-NEXT:   arith.addf %[[C]], %[[M]]
// The returned image goes back to NCHW.
// CHECK:      linalg.transpose {{.*}} permutation = [0, 3, 1, 2]
func.func @pointwise(%x: tensor<1x4x8x8xf32>, %w: tensor<6x4x1x1xf32>, %b: tensor<6xf32>) -> (tensor<1x6x8x8xf32>, tensor<1x6x8x8xf32>) {
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [0, 0] groups = 1 : (tensor<1x4x8x8xf32>, tensor<6x4x1x1xf32>, tensor<6xf32>) -> tensor<1x6x8x8xf32>
  %1 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [0, 0] groups = 1 : (tensor<1x4x8x8xf32>, tensor<6x4x1x1xf32>, tensor<6xf32>) -> tensor<1x6x8x8xf32>
  return %0, %1 : tensor<1x6x8x8xf32>, tensor<1x6x8x8xf32>
}

// -----

// A dense 3x3 convolution: pad, gather (b, oh, ow, c, kh, kw) patches, then a
// contraction against the OIHW weight read as (O, C*KH*KW).
// CHECK-LABEL: func.func @dense
// CHECK:      tensor.pad {{.*}} low[0, 1, 1, 0] high[0, 1, 1, 0]
// CHECK:      linalg.generic {{.*}} outs({{.*}} : tensor<1x4x4x3x3x3xf32>)
// CHECK:      tensor.collapse_shape {{.*}} into tensor<16x27xf32>
// CHECK:      tensor.collapse_shape %arg1 {{.*}} into tensor<8x27xf32>
// CHECK:      iterator_types = ["parallel", "parallel", "reduction"]
// With gathered windows, no padded copy: each patch element reads its tap,
// bounds-checked, from the flattened image.
// GATHER-LABEL: func.func @dense
// GATHER-NOT:  tensor.pad
// GATHER:      %[[FLAT:.*]] = tensor.collapse_shape {{.*}} into tensor<192xf32>
// GATHER:      linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} outs({{.*}} : tensor<1x4x4x3x3x3xf32>)
// GATHER:      linalg.index 4
// GATHER:      arith.cmpi slt
// GATHER:      tensor.extract %[[FLAT]]
// GATHER:      arith.select
// GATHER:      iterator_types = ["parallel", "parallel", "reduction"]
// GATHER-LABEL: func.func @depthwise
func.func @dense(%x: tensor<1x3x8x8xf32>, %w: tensor<8x3x3x3xf32>, %b: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %0 = cmt.conv2d %x, %w, %b strides = [2, 2] padding = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// -----

// Depthwise: the channel is the innermost (parallel) loop, after the two
// kernel reductions, and the weight is re-laid out (KH, KW, C).
// CHECK-LABEL: func.func @depthwise
// CHECK:      linalg.transpose {{.*}} outs({{.*}} : tensor<3x3x4xf32>) permutation = [1, 2, 0]
// CHECK:      linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "parallel"]
func.func @depthwise(%x: tensor<1x4x8x8xf32>, %w: tensor<4x1x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x8x8xf32> {
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1, 1] groups = 4 : (tensor<1x4x8x8xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

func.func @grouped(%x: tensor<1x4x8x8xf32>, %w: tensor<4x2x3x3xf32>, %b: tensor<4xf32>) -> tensor<1x4x8x8xf32> {
  // expected-error @+1 {{the CPU lowering supports groups == 1 or depthwise convolutions, got groups = 2}}
  %0 = cmt.conv2d %x, %w, %b strides = [1, 1] padding = [1, 1] groups = 2 : (tensor<1x4x8x8xf32>, tensor<4x2x3x3xf32>, tensor<4xf32>) -> tensor<1x4x8x8xf32>
  return %0 : tensor<1x4x8x8xf32>
}

// -----

// Tokens are reshapes of NHWC images: no transpose between the image, its
// tokens and the image again.
// CHECK-LABEL: func.func @tokens
// CHECK:      %[[T:.*]] = linalg.transpose ins(%arg0
// CHECK-NEXT: %[[TOK:.*]] = tensor.collapse_shape %[[T]] {{\[\[}}0], [1, 2], [3]] : tensor<1x4x4x8xf32> into tensor<1x16x8xf32>
// CHECK:      tensor.expand_shape {{.*}} into tensor<1x4x4x8xf32>
// CHECK-NOT:  linalg.transpose {{.*}} permutation = [0, 2, 3, 1]
func.func @tokens(%x: tensor<1x8x4x4xf32>, %g: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %t = cmt.image_to_tokens %x : tensor<1x8x4x4xf32> -> tensor<1x16x8xf32>
  %n = cmt.layer_norm %t, %g, %g eps = 1.0e-6 : tensor<1x16x8xf32>, tensor<8xf32>
  %i = cmt.tokens_to_image %n height = 4 width = 4 : tensor<1x16x8xf32> -> tensor<1x8x4x4xf32>
  return %i : tensor<1x8x4x4xf32>
}

// -----

// Layer norm: sum, centred sum of squares, then one elementwise pass.
// CHECK-LABEL: func.func @layer_norm
// CHECK-COUNT-2: iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:      linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]
// CHECK:        math.rsqrt
// row-stats: the whole norm one loop nest over the rows, its two sums and
// the output each a lane loop over the row's channels; the output's
// allocation marked narrowable (an activation).
// ROWS-LABEL: func.func @layer_norm
// ROWS-NOT:   linalg.generic
// ROWS:       %[[X:.*]] = bufferization.to_buffer %arg0 read_only
// ROWS:       %[[OUT:.*]] = memref.alloc() {cmt.narrowable} : memref<2x16x8xf32>
// ROWS:       scf.parallel (%[[B:.*]], %[[N:.*]]) = {{.*}} to (%c2, %c16)
// ROWS:         %[[S:.*]] = scf.for %[[C:.*]] = %{{.*}} to %c8 {{.*}} -> (f32)
// ROWS:           memref.load %[[X]][%[[B]], %[[N]], %[[C]]]
// ROWS:         } {cmt.lanes}
// ROWS:         %[[M:.*]] = arith.divf %[[S]]
// ROWS:         %[[Q:.*]] = scf.for
// ROWS:           arith.subf %{{.*}}, %[[M]]
// ROWS:         } {cmt.lanes}
// ROWS:         scf.for %[[D:.*]] =
// ROWS:           math.rsqrt
// ROWS:           memref.store %{{.*}}, %[[OUT]][%[[B]], %[[N]], %[[D]]]
// ROWS:         } {cmt.lanes}
// ROWS:       bufferization.to_tensor %[[OUT]]
// ROWS-NOT:   linalg.generic
// ROWS:       return
func.func @layer_norm(%t: tensor<2x16x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<2x16x8xf32> {
  %0 = cmt.layer_norm %t, %g, %b eps = 1.0e-6 : tensor<2x16x8xf32>, tensor<8xf32>
  return %0 : tensor<2x16x8xf32>
}

// -----

// A layer norm whose gradient is taken (a training step): the statistics one
// loop nest, stored, and read again by the gradient; the output elementwise
// (which cmt-rematerialize can recompute).
// ROWS-LABEL: func.func @layer_norm_trained
// ROWS-DAG:   %[[SUM:.*]] = memref.alloc() : memref<2x16xf32>
// ROWS-DAG:   %[[SQ:.*]] = memref.alloc() : memref<2x16xf32>
// ROWS:       scf.parallel
// ROWS:         memref.store %{{.*}}, %[[SUM]]
// ROWS:         memref.store %{{.*}}, %[[SQ]]
// ROWS:       %[[TSUM:.*]] = bufferization.to_tensor %[[SUM]]
// ROWS:       linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]
// ROWS:         math.rsqrt
// ROWS-NOT:   scf.parallel
// ROWS:       return
func.func @layer_norm_trained(%t: tensor<2x16x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>, %dy: tensor<2x16x8xf32>)
    -> (tensor<2x16x8xf32>, tensor<2x16x8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %0 = cmt.layer_norm %t, %g, %b eps = 1.0e-6 : tensor<2x16x8xf32>, tensor<8xf32>
  %dx, %dw, %db = cmt.layer_norm_grad %dy, %t, %g eps = 1.0e-6 : tensor<2x16x8xf32>, tensor<8xf32>
  return %0, %dx, %dw, %db : tensor<2x16x8xf32>, tensor<2x16x8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

// Batch norm folds its statistics into a per-channel scale and shift once,
// then costs one multiply-add per element, channels last.
// CHECK-LABEL: func.func @batch_norm
// CHECK:      math.rsqrt
// CHECK:      linalg.generic {{.*}} ins({{.*}} : tensor<1x4x4x8xf32>, tensor<8xf32>, tensor<8xf32>)
func.func @batch_norm(%x: tensor<1x8x4x4xf32>, %p: tensor<8xf32>) -> tensor<1x8x4x4xf32> {
  %0 = cmt.batch_norm %x, %p, %p, %p, %p eps = 1.0e-5 : tensor<1x8x4x4xf32>, tensor<8xf32>
  return %0 : tensor<1x8x4x4xf32>
}

// -----

// Attention: scores = bias + (scale * q) k^T as one contraction over the
// head width with batch and head as batch dimensions, softmax, then p v.
// CHECK-LABEL: func.func @attention
// CHECK:      tensor.expand_shape {{.*}} into tensor<2x16x2x4xf32>
// CHECK:      linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]{{.*}} outs({{.*}} : tensor<2x2x16x4xf32>)
// CHECK:      arith.maximumf
// CHECK:      math.exp
// CHECK:      arith.divf
// CHECK:      linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]{{.*}} outs({{.*}} : tensor<2x16x2x4xf32>)
// CHECK:      tensor.collapse_shape {{.*}} into tensor<2x16x8xf32>
// Fused: one loop nest over query rows (b, n, h) on buffers; a row's four
// scores in a private array; the head's channel loops marked for the lanes.
// FUSED-LABEL: func.func @attention
// FUSED-NOT:  linalg.generic
// FUSED-DAG:  %[[Q:.*]] = bufferization.to_buffer %arg0 read_only
// FUSED-DAG:  %[[BIAS:.*]] = bufferization.to_buffer %arg3 read_only
// FUSED-DAG:  %[[OUT:.*]] = memref.alloc() {cmt.narrowable} : memref<2x16x8xf32>
// FUSED:      scf.parallel (%[[B:.*]], %[[N:.*]], %[[H:.*]]) = {{.*}} to (%c2, %c16, %c2
// FUSED:      memref.alloca_scope
// FUSED:      %[[S:.*]] = memref.alloca() : memref<4xf32>
// FUSED:      memref.load %[[Q]][%[[B]], %[[N]],
// FUSED:      } {cmt.lanes}
// FUSED:      memref.load %[[BIAS]][%[[H]], %[[N]],
// FUSED:      arith.mulf {{.*}}, %cst{{.*}}
// FUSED:      memref.store {{.*}}, %[[S]]
// FUSED:      arith.maximumf
// FUSED:      math.exp
// FUSED:      memref.store {{.*}}, %[[OUT]][%[[B]], %[[N]],
// FUSED-NEXT: } {cmt.lanes}
// FUSED:      bufferization.to_tensor %[[OUT]] restrict writable
// FUSED-NOT:  linalg.generic
// FUSED:      return
func.func @attention(%q: tensor<2x16x8xf32>, %k: tensor<2x4x8xf32>, %v: tensor<2x4x8xf32>, %pos: tensor<2x16x4xf32>) -> tensor<2x16x8xf32> {
  %0 = cmt.attention %q, %k, %v, %pos heads = 2 scale = 0.5 : tensor<2x16x8xf32>, tensor<2x4x8xf32>, tensor<2x16x4xf32>
  return %0 : tensor<2x16x8xf32>
}

// -----

// More than 1024 keys: a row's scores would not fit a GPU thread's private
// array, so even with fuse-attention the attention stays unfused.
// CHECK-LABEL: func.func @attention_many_keys
// FUSED-LABEL: func.func @attention_many_keys
// FUSED-NOT:  scf.parallel
// FUSED:      linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
func.func @attention_many_keys(%q: tensor<1x4x8xf32>, %k: tensor<1x1025x8xf32>, %v: tensor<1x1025x8xf32>, %pos: tensor<2x4x1025xf32>) -> tensor<1x4x8xf32> {
  %0 = cmt.attention %q, %k, %v, %pos heads = 2 scale = 0.5 : tensor<1x4x8xf32>, tensor<1x1025x8xf32>, tensor<2x4x1025xf32>
  return %0 : tensor<1x4x8xf32>
}

// -----

// CHECK-LABEL: func.func @activations
// CHECK:      math.erf
// CHECK:      math.exp
// CHECK:      arith.addf
// CHECK:      iterator_types = ["parallel", "reduction", "reduction", "parallel"]
func.func @activations(%x: tensor<1x8x4x4xf32>) -> tensor<1x8xf32> {
  %0 = cmt.gelu %x : tensor<1x8x4x4xf32>
  %1 = cmt.swish %0 : tensor<1x8x4x4xf32>
  %2 = cmt.add %1, %0 : tensor<1x8x4x4xf32>
  %3 = cmt.global_avg_pool %2 : tensor<1x8x4x4xf32> -> tensor<1x8xf32>
  return %3 : tensor<1x8xf32>
}

// -----

// Training-mode batch norm: per-channel sums over batch and space (channel the
// only parallel loop), a centred second pass, the normalisation, and the
// running statistics blended with momentum (unbiased variance: 0.1 / (128 - 1)).
// CHECK-LABEL: func.func @train_bn
// CHECK:      iterator_types = ["reduction", "reduction", "reduction", "parallel"]
// CHECK:      iterator_types = ["reduction", "reduction", "reduction", "parallel"]
// CHECK:      math.rsqrt
// CHECK:      arith.constant 0.899999976 : f32
// CHECK:      arith.constant 7.87401571E-4 : f32
// With synchronised batch norm the sums and the count are summed over the
// ranks, and the count is read from a tensor (no world size compiled in).
// SYNC-LABEL: func.func @train_bn
// SYNC:       %[[N:.*]] = cmt.all_reduce batch_norm %{{.*}} : tensor<1xf32>
// SYNC:       cmt.all_reduce batch_norm %{{.*}} : tensor<4xf32>
// SYNC:       arith.divf
// SYNC:       cmt.all_reduce batch_norm %{{.*}} : tensor<4xf32>
// SYNC-NOT:   arith.constant 7.87401571E-4
func.func @train_bn(%x: tensor<2x4x8x8xf32>, %p: tensor<4xf32>) -> (tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>) {
  %0:3 = cmt.batch_norm_train %x, %p, %p, %p, %p eps = 1.0e-5 momentum = 0.1 : tensor<2x4x8x8xf32>, tensor<4xf32>
  return %0#0, %0#1, %0#2 : tensor<2x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// Cross-entropy: max, sum of exponentials, the smoothed target logit picked by
// comparing the class index with the label, and the batch mean as a scalar.
// CHECK-LABEL: func.func @loss
// CHECK:      arith.maximumf
// CHECK:      math.exp
// CHECK:      linalg.index 1
// CHECK:      arith.cmpi eq
// CHECK:      math.log
// CHECK:      -> tensor<f32>
func.func @loss(%l: tensor<4x10xf32>, %y: tensor<4xi64>, %s: tensor<f32>) -> tensor<f32> {
  %0 = cmt.cross_entropy %l, %y, %s : tensor<4x10xf32>, tensor<4xi64>
  return %0 : tensor<f32>
}

// -----

// Dropout: a select on the element's draw, the kept ones scaled by 1 / (1 - p).
// CHECK-LABEL: func.func @dropout
// CHECK:      linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<4x96xf32>, tensor<4x96xf32>)
// CHECK:        %[[P:.*]] = arith.constant 2.500000e-01 : f32
// CHECK:        %[[KEEP:.*]] = arith.cmpf oge, %{{.*}}, %[[P]]
// CHECK:        %[[SCALE:.*]] = arith.constant 1.33333337 : f32
// CHECK:        %[[KEPT:.*]] = arith.mulf %{{.*}}, %[[SCALE]]
// CHECK:        arith.select %[[KEEP]], %[[KEPT]], %{{.*}}
func.func @dropout(%x: tensor<4x96xf32>, %u: tensor<4x96xf32>) -> tensor<4x96xf32> {
  %0 = cmt.dropout %x, %u rate = 2.500000e-01 : tensor<4x96xf32>, tensor<4x96xf32>
  return %0 : tensor<4x96xf32>
}

// -----

// Target distributions are read per (image, class); their smoothed mass
// scales the log-sum-exp, and the gradient's softmax.
// CHECK-LABEL: func.func @soft_loss
// CHECK-NOT:  arith.cmpi
// CHECK:      linalg.generic {{.*}} ins(%{{.*}}, %arg2, %arg3 : tensor<4x10xf32>, tensor<4x10xf32>, tensor<f32>)
// CHECK:      %[[MASS:.*]] = linalg.generic {{.*}} ins(%arg2, %arg3 : tensor<4x10xf32>, tensor<f32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK:      linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %{{.*}}, %[[MASS]] : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK:        math.log
// CHECK:      -> tensor<f32>
// CHECK:      %[[MASS2:.*]] = linalg.generic {{.*}} ins(%arg2, %arg3 : tensor<4x10xf32>, tensor<f32>) outs(%{{.*}} : tensor<4xf32>)
// CHECK:      linalg.generic {{.*}} ins(%arg1, %arg2, %{{.*}}, %{{.*}}, %arg3, %arg0, %[[MASS2]] :
// CHECK:        math.exp
// CHECK-NOT:    arith.cmpi
// CHECK:      -> tensor<4x10xf32>
func.func @soft_loss(%dloss: tensor<f32>, %l: tensor<4x10xf32>, %t: tensor<4x10xf32>, %s: tensor<f32>)
    -> (tensor<f32>, tensor<4x10xf32>) {
  %0 = cmt.cross_entropy %l, %t, %s : tensor<4x10xf32>, tensor<4x10xf32>
  %1 = cmt.cross_entropy_grad %dloss, %l, %t, %s : tensor<4x10xf32>, tensor<4x10xf32>
  return %0, %1 : tensor<f32>, tensor<4x10xf32>
}

// -----

// CHECK-LABEL: func.func @counter
// CHECK:      linalg.generic {{.*}} ins(%arg0 : tensor<i64>)
// CHECK:        arith.addi %{{.*}}, %c1_i64 : i64
func.func @counter(%n: tensor<i64>) -> tensor<i64> {
  %0 = cmt.increment %n : tensor<i64>
  return %0 : tensor<i64>
}

// -----

// Linear gradients with the leading dimensions flattened to rows: dx = dy W
// and dW = dy^T x are contractions (init + a * b), db a column sum.
// CHECK-LABEL: func.func @linear_grad
// CHECK-DAG:  %[[X:.*]] = tensor.collapse_shape %arg1 {{\[\[}}0, 1], [2]] : tensor<2x16x8xf32> into tensor<32x8xf32>
// CHECK-DAG:  %[[DY:.*]] = tensor.collapse_shape %arg0 {{\[\[}}0, 1], [2]] : tensor<2x16x4xf32> into tensor<32x4xf32>
// CHECK:      %[[DX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[DY]], %arg2 : tensor<32x4xf32>, tensor<4x8xf32>) outs({{.*}} : tensor<32x8xf32>)
// CHECK-NEXT: ^bb0(%[[A:.*]]: f32, %[[B:.*]]: f32, %[[C:.*]]: f32):
// CHECK-NEXT:   %[[M:.*]] = arith.mulf %[[A]], %[[B]]
// CHECK-NEXT:   arith.addf %[[C]], %[[M]]
// CHECK:      %[[DXE:.*]] = tensor.expand_shape %[[DX]] {{\[\[}}0, 1], [2]] output_shape [2, 16, 8] : tensor<32x8xf32> into tensor<2x16x8xf32>
// CHECK:      %[[DW:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[DY]], %[[X]] : tensor<32x4xf32>, tensor<32x8xf32>) outs({{.*}} : tensor<4x8xf32>)
// CHECK:      %[[DB:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "parallel"]} ins(%[[DY]] : tensor<32x4xf32>) outs({{.*}} : tensor<4xf32>)
// CHECK:      return %[[DXE]], %[[DW]], %[[DB]]
func.func @linear_grad(%dy: tensor<2x16x4xf32>, %t: tensor<2x16x8xf32>, %w: tensor<4x8xf32>)
    -> (tensor<2x16x8xf32>, tensor<4x8xf32>, tensor<4xf32>) {
  %dx, %dw, %db = cmt.linear_grad %dy, %t, %w : tensor<2x16x4xf32>, tensor<2x16x8xf32>, tensor<4x8xf32>
  return %dx, %dw, %db : tensor<2x16x8xf32>, tensor<4x8xf32>, tensor<4xf32>
}

// -----

// Results nothing uses are not computed: only the weight's contraction.
// CHECK-LABEL: func.func @linear_grad_weight_only
// CHECK-COUNT-1: linalg.generic
// CHECK-NOT:  linalg.generic
// CHECK:      return
func.func @linear_grad_weight_only(%dy: tensor<2x16x4xf32>, %t: tensor<2x16x8xf32>, %w: tensor<4x8xf32>)
    -> tensor<4x8xf32> {
  %dx, %dw, %db = cmt.linear_grad %dy, %t, %w : tensor<2x16x4xf32>, tensor<2x16x8xf32>, tensor<4x8xf32>
  return %dw : tensor<4x8xf32>
}

// -----

// A strided convolution (stride 2, kernel 3, padding 1) whose input gradient
// is unused: the bias gradient is a channel sum, the weight gradient the
// contraction dy^T (O, R) x patches (R, C*KH*KW); no input gradient is built.
// CHECK-LABEL: func.func @conv2d_grad_weight
// CHECK:      iterator_types = ["reduction", "reduction", "reduction", "parallel"]{{.*}} outs({{.*}} : tensor<8xf32>)
// CHECK:      tensor.pad {{.*}} low[0, 1, 1, 0] high[0, 1, 1, 0]
// CHECK:      tensor.collapse_shape {{.*}} into tensor<16x27xf32>
// CHECK:      %[[DW:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} outs({{.*}} : tensor<8x27xf32>)
// CHECK:      tensor.expand_shape %[[DW]] {{.*}} into tensor<8x3x3x3xf32>
// CHECK-NOT:  linalg.generic
// CHECK:      return
func.func @conv2d_grad_weight(%dy: tensor<1x8x4x4xf32>, %x: tensor<1x3x8x8xf32>, %w: tensor<8x3x3x3xf32>)
    -> (tensor<8x3x3x3xf32>, tensor<8xf32>) {
  %dx, %dw, %db = cmt.conv2d_grad %dy, %x, %w strides = [2, 2] padding = [1, 1] groups = 1
      : tensor<1x8x4x4xf32>, tensor<1x3x8x8xf32>, tensor<8x3x3x3xf32>
  return %dw, %db : tensor<8x3x3x3xf32>, tensor<8xf32>
}

// -----

// The same convolution's input gradient is needed: not implemented.
func.func @conv2d_grad_strided_input(%dy: tensor<1x8x4x4xf32>, %x: tensor<1x3x8x8xf32>, %w: tensor<8x3x3x3xf32>)
    -> tensor<1x3x8x8xf32> {
  // expected-error @+1 {{'cmt.conv2d_grad' op input gradient of a convolution with strides [2, 2], kernel 3x3 and padding [1, 1] is not implemented (stride 1, or stride = kernel without padding)}}
  %dx, %dw, %db = cmt.conv2d_grad %dy, %x, %w strides = [2, 2] padding = [1, 1] groups = 1
      : tensor<1x8x4x4xf32>, tensor<1x3x8x8xf32>, tensor<8x3x3x3xf32>
  return %dx : tensor<1x3x8x8xf32>
}

// -----

// Stride 1 (depthwise): dx is dy convolved with the flipped kernel, padded by
// kernel - 1 - padding; one pass over dy, no per-tap tensor. For the GPU the
// same convolution is the forward's bounds-checked gather.
// CHECK:      #[[$FLIPMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, -d2 + 2, -d3 + 2)>
// CHECK-LABEL: func.func @conv2d_grad_input
// CHECK:      %[[FLIP:.*]] = linalg.generic {indexing_maps = [#[[$FLIPMAP]], #{{.*}}]{{.*}} ins(%arg2 : tensor<4x1x3x3xf32>) outs({{.*}} : tensor<4x1x3x3xf32>)
// CHECK:      tensor.pad {{.*}} low[0, 1, 1, 0] high[0, 1, 1, 0]
// CHECK:      tensor.collapse_shape %[[FLIP]]
// CHECK:      %[[DX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "parallel"]{{.*}} outs({{.*}} : tensor<1x8x8x4xf32>)
// CHECK-NOT:  tensor<1x8x8x4x3x3xf32>
// CHECK:      linalg.transpose ins(%[[DX]] {{.*}} permutation = [0, 3, 1, 2]
// GATHER-LABEL: func.func @conv2d_grad_input
// GATHER:      %[[FLIP:.*]] = linalg.generic {{.*}} ins(%arg2 : tensor<4x1x3x3xf32>) outs({{.*}} : tensor<4x1x3x3xf32>)
// GATHER:      tensor.collapse_shape %[[FLIP]] {{.*}} into tensor<36xf32>
// GATHER:      %[[DX:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs({{.*}} : tensor<1x8x8x4xf32>)
// GATHER-COUNT-9: tensor.extract %collapsed_0
// GATHER:      linalg.transpose ins(%[[DX]] {{.*}} permutation = [0, 3, 1, 2]
func.func @conv2d_grad_input(%dy: tensor<1x4x8x8xf32>, %x: tensor<1x4x8x8xf32>, %w: tensor<4x1x3x3xf32>)
    -> tensor<1x4x8x8xf32> {
  %dx, %dw, %db = cmt.conv2d_grad %dy, %x, %w strides = [1, 1] padding = [1, 1] groups = 4
      : tensor<1x4x8x8xf32>, tensor<1x4x8x8xf32>, tensor<4x1x3x3xf32>
  return %dx : tensor<1x4x8x8xf32>
}

// -----

// One elementwise pass updates the parameter and both moments: a single
// linalg.generic with three results over the parameter's shape.
// CHECK-LABEL: func.func @optimizer_step
// CHECK:      %[[U:.*]]:3 = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]} ins(%arg0, %arg1, %arg2, %arg3, {{.*}}) outs({{.*}} : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK:        math.sqrt
// CHECK:        linalg.yield {{.*}} : f32, f32, f32
// CHECK-NEXT: } -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK-NOT:  linalg.generic
// CHECK:      return %[[U]]#0, %[[U]]#1, %[[U]]#2
func.func @optimizer_step(%p: tensor<4x8xf32>, %g: tensor<4x8xf32>, %m: tensor<4x8xf32>, %v: tensor<4x8xf32>,
                          %lr: tensor<f32>, %norm: tensor<f32>, %step: tensor<i64>, %hyper: tensor<14xf32>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %p1, %m1, %v1 = cmt.optimizer_step %p, %g, %m, %v, %lr, %norm, %step, %hyper decay = true
      : tensor<4x8xf32>, tensor<14xf32>
  return %p1, %m1, %v1 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}
