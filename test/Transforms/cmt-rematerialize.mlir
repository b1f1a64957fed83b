// RUN: cmt-opt %s -split-input-file -cmt-rematerialize="small-bytes=1024" | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#red = affine_map<(d0, d1) -> ()>
#flat = affine_map<(d0) -> (d0)>

// %b = %g * %s and %g = exp(%x) are read past the peak (the 1 MiB %big);
// the reader of %g also reads %x, so %g can be recomputed there, and then %b
// (through its view) from the recomputed %g. %n = -%t cannot: nothing keeps
// %t alive past the peak.
// CHECK-LABEL: func.func @chain
// CHECK:      %[[G:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<64x64xf32>)
// CHECK:        math.exp
// CHECK:      %[[B:.*]] = linalg.generic {{.*}} ins(%[[G]], %arg1 :
// CHECK:      %[[T:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<64x64xf32>)
// CHECK:        math.log
// CHECK:      %[[N:.*]] = linalg.generic {{.*}} ins(%[[T]] :
// CHECK:      linalg.fill {{.*}} -> tensor<512x512xf32>
// CHECK:      %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["reduction", "reduction"]
// CHECK:      %[[G2:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<64x64xf32>)
// CHECK-NEXT:   ^bb0
// CHECK-NEXT:   math.exp
// CHECK:      %[[B2:.*]] = linalg.generic {{.*}} ins(%[[G2]], %arg1 :
// CHECK:      %[[FLAT:.*]] = tensor.collapse_shape %[[B2]]
// CHECK:      %[[V:.*]] = linalg.generic {{.*}} ins(%[[FLAT]] :
// CHECK:      %[[U:.*]] = linalg.generic {{.*}} ins(%[[G2]], %arg0, %[[N]] :
// CHECK:      return %[[U]], %[[V]], %[[SUM]]
func.func @chain(%x: tensor<64x64xf32>, %s: tensor<64xf32>)
    -> (tensor<64x64xf32>, tensor<4096xf32>, tensor<f32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<64x64xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x64xf32>) outs(%e0 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %e1 = tensor.empty() : tensor<64x64xf32>
  %b = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %s : tensor<64x64xf32>, tensor<64xf32>) outs(%e1 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %v = arith.mulf %a, %c : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %e2 = tensor.empty() : tensor<64x64xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x64xf32>) outs(%e2 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.log %a : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %e3 = tensor.empty() : tensor<64x64xf32>
  %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%t : tensor<64x64xf32>) outs(%e3 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.negf %a : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %e4 = tensor.empty() : tensor<512x512xf32>
  %big = linalg.fill ins(%zero : f32) outs(%e4 : tensor<512x512xf32>) -> tensor<512x512xf32>
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%big : tensor<512x512xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.addf %a, %o : f32
    linalg.yield %v : f32
  } -> tensor<f32>
  %flat = tensor.collapse_shape %b [[0, 1]] : tensor<64x64xf32> into tensor<4096xf32>
  %e5 = tensor.empty() : tensor<4096xf32>
  %v = linalg.generic {indexing_maps = [#flat, #flat], iterator_types = ["parallel"]}
      ins(%flat : tensor<4096xf32>) outs(%e5 : tensor<4096xf32>) {
  ^bb0(%a: f32, %o: f32):
    %w = arith.addf %a, %a : f32
    linalg.yield %w : f32
  } -> tensor<4096xf32>
  %e6 = tensor.empty() : tensor<64x64xf32>
  %u = linalg.generic {indexing_maps = [#id, #id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g, %x, %n : tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) outs(%e6 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %c: f32, %d: f32, %o: f32):
    %w = arith.addf %a, %c : f32
    %w2 = arith.addf %w, %d : f32
    linalg.yield %w2 : f32
  } -> tensor<64x64xf32>
  return %u, %v, %sum : tensor<64x64xf32>, tensor<4096xf32>, tensor<f32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> ()>

// A value of an argument's read only past the peak moves there; one read
// before the peak too stays, and the late read gets a recomputation; small
// values (up to small-bytes) are left alone.
// CHECK-LABEL: func.func @sink
// CHECK:      %[[EARLY:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<64x64xf32>)
// CHECK-NEXT:   ^bb0
// CHECK-NEXT:   math.sqrt
// CHECK-NOT:  math.exp
// CHECK:      %[[SMALL:.*]] = linalg.generic {{.*}} ins(%arg1 : tensor<8x8xf32>)
// CHECK:      %[[FIRST:.*]] = linalg.generic {{.*}} ins(%[[EARLY]] :
// CHECK:      linalg.fill {{.*}} -> tensor<512x512xf32>
// CHECK:      %[[SUM:.*]] = linalg.generic {{.*}} outs(%[[FIRST]] :
// CHECK:      %[[LATE:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<64x64xf32>)
// CHECK-NEXT:   ^bb0
// CHECK-NEXT:   math.exp
// CHECK:      %[[AGAIN:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<64x64xf32>)
// CHECK-NEXT:   ^bb0
// CHECK-NEXT:   math.sqrt
// CHECK:      return %[[LATE]], %[[AGAIN]], %[[SMALL]], %[[SUM]]
func.func @sink(%x: tensor<64x64xf32>, %y: tensor<8x8xf32>)
    -> (tensor<64x64xf32>, tensor<64x64xf32>, tensor<8x8xf32>, tensor<f32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<64x64xf32>
  %early = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x64xf32>) outs(%e0 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.sqrt %a : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %e1 = tensor.empty() : tensor<64x64xf32>
  %late = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x64xf32>) outs(%e1 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %e2 = tensor.empty() : tensor<8x8xf32>
  %small = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<8x8xf32>) outs(%e2 : tensor<8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<8x8xf32>
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %first = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%early : tensor<64x64xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.addf %a, %o : f32
    linalg.yield %v : f32
  } -> tensor<f32>
  %e4 = tensor.empty() : tensor<512x512xf32>
  %big = linalg.fill ins(%zero : f32) outs(%e4 : tensor<512x512xf32>) -> tensor<512x512xf32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%big : tensor<512x512xf32>) outs(%first : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.addf %a, %o : f32
    linalg.yield %v : f32
  } -> tensor<f32>
  return %late, %early, %small, %sum : tensor<64x64xf32>, tensor<64x64xf32>, tensor<8x8xf32>, tensor<f32>
}
