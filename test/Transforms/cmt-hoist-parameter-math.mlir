// RUN: cmt-opt %s -split-input-file -cmt-hoist-parameter-math=functions=forward | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>

// A weight's transpose and a per-channel scale computed from two weights move
// to @forward_prepare; @forward reads them from "prepared" arguments. The
// weight read through a view only, and the bias broadcast a product writes
// into, stay.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME:    %[[X:[a-z0-9]+]]: tensor<8x64xf32> {cmt.kind = "input", cmt.name = "input"}
// CHECK-SAME:    %[[PS:[a-z0-9]+]]: tensor<64xf32> {bufferization.writable = false, cmt.kind = "prepared", cmt.name = "prepared/0"}
// CHECK-SAME:    %[[PT:[a-z0-9]+]]: tensor<64x32xf32> {bufferization.writable = false, cmt.kind = "prepared", cmt.name = "prepared/1"}
// CHECK-NOT:     math.rsqrt
// CHECK:         %[[XS:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[PS]] :
// CHECK:         %[[BB:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<32xf32>) outs(%{{.*}} : tensor<8x32xf32>)
// CHECK:         linalg.matmul ins(%[[XS]], %[[PT]] : tensor<8x64xf32>, tensor<64x32xf32>) outs(%[[BB]] : tensor<8x32xf32>)
// CHECK:         tensor.collapse_shape
// CHECK-LABEL: func.func @forward_prepare(
// CHECK-SAME:    %[[W:.*]]: tensor<32x64xf32> {cmt.kind = "parameter", cmt.name = "w"}
// CHECK-SAME:    %[[G:.*]]: tensor<64xf32> {cmt.kind = "parameter", cmt.name = "g"}
// CHECK-SAME:    %[[V:.*]]: tensor<64xf32> {cmt.kind = "buffer", cmt.name = "v"}
// CHECK-SAME:    %[[B:.*]]: tensor<32xf32> {cmt.kind = "parameter", cmt.name = "b"}
// CHECK-SAME:    -> (tensor<64xf32> {cmt.name = "prepared/0"}, tensor<64x32xf32> {cmt.name = "prepared/1"})
// CHECK:         %[[S:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[V]] :
// CHECK:           math.rsqrt
// CHECK:         %[[T:.*]] = linalg.generic {{.*}} ins(%[[W]] :
// CHECK:         return %[[S]], %[[T]]
func.func @forward(%x: tensor<8x64xf32> {cmt.kind = "input", cmt.name = "input"},
                   %w: tensor<32x64xf32> {cmt.kind = "parameter", cmt.name = "w"},
                   %g: tensor<64xf32> {cmt.kind = "parameter", cmt.name = "g"},
                   %v: tensor<64xf32> {cmt.kind = "buffer", cmt.name = "v"},
                   %b: tensor<32xf32> {cmt.kind = "parameter", cmt.name = "b"})
    -> (tensor<8x32xf32>, tensor<2048xf32>) {
  %e64 = tensor.empty() : tensor<64xf32>
  %scale = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>],
                           iterator_types = ["parallel"]}
      ins(%g, %v : tensor<64xf32>, tensor<64xf32>) outs(%e64 : tensor<64xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = math.rsqrt %c : f32
    %m = arith.mulf %a, %r : f32
    linalg.yield %m : f32
  } -> tensor<64xf32>
  %ex = tensor.empty() : tensor<8x64xf32>
  %xs = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %scale : tensor<8x64xf32>, tensor<64xf32>) outs(%ex : tensor<8x64xf32>) {
  ^bb0(%a: f32, %s: f32, %o: f32):
    %m = arith.mulf %a, %s : f32
    linalg.yield %m : f32
  } -> tensor<8x64xf32>
  %et = tensor.empty() : tensor<64x32xf32>
  %wt = linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<32x64xf32>) outs(%et : tensor<64x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<64x32xf32>
  %eb = tensor.empty() : tensor<8x32xf32>
  %bb = linalg.generic {indexing_maps = [#col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%b : tensor<32xf32>) outs(%eb : tensor<8x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<8x32xf32>
  %y = linalg.matmul ins(%xs, %wt : tensor<8x64xf32>, tensor<64x32xf32>) outs(%bb : tensor<8x32xf32>) -> tensor<8x32xf32>
  %flat = tensor.collapse_shape %w [[0, 1]] : tensor<32x64xf32> into tensor<2048xf32>
  return %y, %flat : tensor<8x32xf32>, tensor<2048xf32>
}

// -----

// A value larger than the weights it comes from (a broadcast over the batch)
// stays: held between calls it would be memory kept for nothing. With nothing
// to move, no @forward_prepare.
// CHECK-LABEL: func.func @forward(
// CHECK-NOT:   prepared
// CHECK:       linalg.generic
// CHECK-NOT:   func.func @forward_prepare
func.func @forward(%x: tensor<8x32xf32> {cmt.kind = "input", cmt.name = "input"},
                   %b: tensor<32xf32> {cmt.kind = "parameter", cmt.name = "b"}) -> tensor<8x32xf32> {
  %e = tensor.empty() : tensor<8x32xf32>
  %bb = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%b : tensor<32xf32>) outs(%e : tensor<8x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<8x32xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x, %bb : tensor<8x32xf32>, tensor<8x32xf32>) outs(%e : tensor<8x32xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %m = arith.addf %a, %c : f32
    linalg.yield %m : f32
  } -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}

// -----

// A weight-derived value read inside another op's body (a gather's
// tensor.extract) moves too.
// CHECK-LABEL: func.func @forward(
// CHECK-SAME:    %[[P:[a-z0-9]+]]: tensor<16xf32> {bufferization.writable = false, cmt.kind = "prepared", cmt.name = "prepared/0"}
// CHECK:         linalg.generic
// CHECK:           tensor.extract %[[P]]
// CHECK-LABEL: func.func @forward_prepare(
// CHECK-SAME:    -> (tensor<16xf32> {cmt.name = "prepared/0"})
func.func @forward(%x: tensor<4xindex> {cmt.kind = "input", cmt.name = "input"},
                   %w: tensor<16xf32> {cmt.kind = "parameter", cmt.name = "w"}) -> tensor<4xf32> {
  %e16 = tensor.empty() : tensor<16xf32>
  %w2 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%w : tensor<16xf32>) outs(%e16 : tensor<16xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<16xf32>
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      ins(%x : tensor<4xindex>) outs(%e : tensor<4xf32>) {
  ^bb0(%i: index, %o: f32):
    %v = tensor.extract %w2[%i] : tensor<16xf32>
    linalg.yield %v : f32
  } -> tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// A weight-only value a product writes into (its bias broadcast over a batch
// of one image: no larger than the bias) stays in @forward: a prepared
// argument is never written.
// CHECK-LABEL: func.func @forward(
// CHECK-NOT:   prepared
// CHECK:       linalg.matmul
// CHECK-NOT:   func.func @forward_prepare
func.func @forward(%x: tensor<1x64xf32> {cmt.kind = "input", cmt.name = "input"},
                   %w: tensor<64x32xf32> {cmt.kind = "parameter", cmt.name = "w"},
                   %b: tensor<32xf32> {cmt.kind = "parameter", cmt.name = "b"}) -> tensor<1x32xf32> {
  %e = tensor.empty() : tensor<1x32xf32>
  %bb = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                        iterator_types = ["parallel", "parallel"]}
      ins(%b : tensor<32xf32>) outs(%e : tensor<1x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<1x32xf32>
  %y = linalg.matmul ins(%x, %w : tensor<1x64xf32>, tensor<64x32xf32>) outs(%bb : tensor<1x32xf32>) -> tensor<1x32xf32>
  return %y : tensor<1x32xf32>
}
