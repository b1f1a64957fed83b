// RUN: cmt-opt %s -split-input-file -cmt-split-reductions="min-reduced=64 target-partials=64" | FileCheck %s

// A per-channel sum of a channels-last batch (a batch norm's mean): the batch
// and row loops become parallel partial sums laid out after the channel, and
// a second generic sums each channel's partials into the original init.
// CHECK-LABEL: func.func @channel_sum
// CHECK:      %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x2x8xf32>)
// CHECK:      %[[P:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[PMAP:.*]]], iterator_types = ["parallel", "parallel", "reduction", "parallel"]}
// CHECK-SAME:     ins(%arg0 : tensor<2x8x8x4xf32>) outs(%[[Z]] : tensor<4x2x8xf32>)
// CHECK:      linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "reduction"]}
// CHECK-SAME:     ins(%[[P]] : tensor<4x2x8xf32>) outs(%arg1 : tensor<4xf32>)
// CHECK:        arith.addf
func.func @channel_sum(%x: tensor<2x8x8x4xf32>, %init: tensor<4xf32>) -> tensor<4xf32> {
  %s = linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (c)>],
                       iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
      ins(%x : tensor<2x8x8x4xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.addf %o, %a : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %s : tensor<4xf32>
}

// -----

// A sum over rows only (one reduction loop) and a maximum stay as they are.
// CHECK-LABEL: func.func @untouched
// CHECK-COUNT-2: linalg.generic
// CHECK-NOT:  linalg.generic
func.func @untouched(%x: tensor<4x128xf32>, %init: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  %s = linalg.generic {indexing_maps = [affine_map<(r, c) -> (r, c)>, affine_map<(r, c) -> (r)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x128xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.addf %o, %a : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %m = linalg.generic {indexing_maps = [affine_map<(r, c) -> (r, c)>, affine_map<(r, c) -> (r)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x128xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.maximumf %o, %a : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %s, %m : tensor<4xf32>, tensor<4xf32>
}
