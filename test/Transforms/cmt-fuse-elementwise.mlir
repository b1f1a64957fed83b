// RUN: cmt-opt %s -split-input-file -cmt-fuse-elementwise | FileCheck %s
// RUN: cmt-opt %s -split-input-file -cmt-fuse-elementwise=recompute-small=7 | FileCheck %s
// RUN: cmt-opt %s -split-input-file -cmt-fuse-elementwise=recompute-small=8 | FileCheck %s --check-prefix=SMALL
// RUN: cmt-opt %s -split-input-file -cmt-fuse-elementwise=fold-reshapes=1 | FileCheck %s --check-prefix=FOLD

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>

// GELU then batch norm: one pass over the tensor; the per-channel scale is
// still computed once (its consumer reads it through a broadcast).
// CHECK-LABEL: func.func @chain
// With recompute-small of at least its 8 elements, the scale is recomputed
// in the one kernel left.
// SMALL-LABEL: func.func @chain
// SMALL:      linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<4x8xf32>, tensor<8xf32>)
// SMALL-DAG:    math.erf
// SMALL-DAG:    math.rsqrt
// SMALL-NOT:  linalg.generic
// CHECK:      %[[SCALE:.*]] = linalg.generic {{.*}} ins(%arg1 : tensor<8xf32>)
// CHECK:      linalg.generic {{.*}} ins(%arg0, %[[SCALE]] : tensor<4x8xf32>, tensor<8xf32>)
// CHECK:        math.erf
// CHECK:        arith.mulf
// CHECK-NOT:  linalg.generic
func.func @chain(%x: tensor<4x8xf32>, %v: tensor<8xf32>) -> tensor<4x8xf32> {
  %e8 = tensor.empty() : tensor<8xf32>
  %scale = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%v : tensor<8xf32>) outs(%e8 : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.rsqrt %a : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.erf %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %scale : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %s: f32, %o: f32):
    %r = arith.mulf %a, %s : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// A producer with two users stays (fusing would compute it twice).
// CHECK-LABEL: func.func @two_users
// SMALL-LABEL: func.func @two_users
// FOLD-LABEL: func.func @two_users
// CHECK-COUNT-3: linalg.generic
func.func @two_users(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.erf %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.mulf %a, %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %z = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.addf %a, %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %y, %z : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// Nothing is fused into a contraction: the micro-kernel must still see c + a * b.
// CHECK-LABEL: func.func @into_contraction
// CHECK-COUNT-2: linalg.generic
func.func @into_contraction(%x: tensor<4x8xf32>, %w: tensor<2x8xf32>, %c: tensor<4x2xf32>) -> tensor<4x2xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.erf %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%g, %w : tensor<4x8xf32>, tensor<2x8xf32>) outs(%c : tensor<4x2xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}

// -----

// An image's elementwise op, then a residual add on its tokens: apart without
// fold-reshapes (the collapse between them); with it, the add's loops are
// expanded to the image's shape and the two are one op.
// CHECK-LABEL: func.func @image_then_tokens
// CHECK-COUNT-2: linalg.generic
// FOLD-LABEL: func.func @image_then_tokens
// FOLD:       linalg.generic {{.*}} outs({{.*}} : tensor<2x2x3x4xf32>)
// FOLD:         math.exp
// FOLD:         arith.addf
// FOLD-NOT:   linalg.generic
// FOLD:       tensor.collapse_shape {{.*}} into tensor<2x6x4xf32>
func.func @image_then_tokens(%x: tensor<2x2x3x4xf32>, %r: tensor<2x6x4xf32>) -> tensor<2x6x4xf32> {
  %e = tensor.empty() : tensor<2x2x3x4xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x2x3x4xf32>) outs(%e : tensor<2x2x3x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<2x2x3x4xf32>
  %t = tensor.collapse_shape %g [[0], [1, 2], [3]] : tensor<2x2x3x4xf32> into tensor<2x6x4xf32>
  %e3 = tensor.empty() : tensor<2x6x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> (a, b, c)>, affine_map<(a, b, c) -> (a, b, c)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%t, %r : tensor<2x6x4xf32>, tensor<2x6x4xf32>) outs(%e3 : tensor<2x6x4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %v = arith.addf %a, %b : f32
    linalg.yield %v : f32
  } -> tensor<2x6x4xf32>
  return %y : tensor<2x6x4xf32>
}
