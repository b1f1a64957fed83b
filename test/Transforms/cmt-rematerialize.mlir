// RUN: cmt-opt %s -split-input-file -cmt-rematerialize="small-bytes=1024" | FileCheck %s
// RUN: cmt-opt %s -split-input-file -cmt-rematerialize="small-bytes=1024 report=1" 2>&1 >/dev/null \
// RUN:   | FileCheck %s --check-prefix=REPORT

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#red = affine_map<(d0, d1) -> ()>
#flat = affine_map<(d0) -> (d0)>

#sum = affine_map<(d0, d1, d2) -> (d0, d2)>
#out = affine_map<(d0, d1, d2) -> (d0, d1)>

// %b = %g * %s and %g = exp(%x) are read before the peak (the 1 MiB %big)
// and after it. %g's late reader also reads %x, so %b can be recomputed
// past the peak (its clone's view with it), and then %g for that clone.
// %n = -%t cannot: %t is a reduction's, which is not recomputed, and
// nothing keeps it alive past the peak.
// What remains at the peak: %big, being reduced, and %n.
// REPORT: remark: 2 values (1.0 MiB) alive at the memory peak
// REPORT: remark: alive at the memory peak: 1048576 bytes
// REPORT: remark: alive at the memory peak: 16384 bytes
// CHECK-LABEL: func.func @chain
// CHECK:      %[[G:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<64x64xf32>)
// CHECK:        math.exp
// CHECK:      %[[B:.*]] = linalg.generic {{.*}} ins(%[[G]], %arg1 :
// CHECK:      %[[T:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:      %[[N:.*]] = linalg.generic {{.*}} ins(%[[T]] :
// CHECK:      %[[FIRST:.*]] = linalg.generic {{.*}} ins(%[[B]] :
// CHECK:      linalg.fill {{.*}} -> tensor<512x512xf32>
// CHECK:      %[[SUM:.*]] = linalg.generic {{.*}} outs(%[[FIRST]] :
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
  %z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<64x64xf32>) -> tensor<64x64xf32>
  %t = linalg.generic {indexing_maps = [#sum, #out], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x : tensor<64x64xf32>) outs(%z : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.addf %a, %o : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %e3 = tensor.empty() : tensor<64x64xf32>
  %n = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%t : tensor<64x64xf32>) outs(%e3 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.negf %a : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %first = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%b : tensor<64x64xf32>) outs(%acc : tensor<f32>) {
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

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> ()>
#win = affine_map<(d0, d1) -> (d0 + 2, d1)>

// Patches of a padded input (a convolution's im2col) read past the peak by
// the weight gradient: the padding is recomputed with them, from the input
// that the backward reads anyway; then that input, from the argument.
// CHECK-LABEL: func.func @patches
// CHECK:      %[[X:.*]] = linalg.generic
// CHECK:      %[[PAD:.*]] = tensor.pad %[[X]]
// CHECK:      %[[P:.*]] = linalg.generic {{.*}} ins(%[[PAD]] :
// CHECK:      linalg.fill {{.*}} -> tensor<512x512xf32>
// CHECK:      %[[X2:.*]] = linalg.generic {{.*}} ins(%arg0
// CHECK:      %[[PAD2:.*]] = tensor.pad %[[X2]]
// CHECK:      %[[P2:.*]] = linalg.generic {{.*}} ins(%[[PAD2]] :
// CHECK:      linalg.generic {{.*}} ins(%[[P2]], %[[X2]] :
func.func @patches(%in: tensor<64x64xf32>) -> (tensor<f32>, tensor<f32>, tensor<f32>) {
  %zero = arith.constant 0.0 : f32
  %e0 = tensor.empty() : tensor<64x64xf32>
  %x = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%in : tensor<64x64xf32>) outs(%e0 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    %v = math.exp %a : f32
    linalg.yield %v : f32
  } -> tensor<64x64xf32>
  %pad = tensor.pad %x low[1, 0] high[1, 0] {
  ^bb0(%i: index, %j: index):
    tensor.yield %zero : f32
  } : tensor<64x64xf32> to tensor<66x64xf32>
  %e1 = tensor.empty() : tensor<64x64xf32>
  %p = linalg.generic {indexing_maps = [#win, #id], iterator_types = ["parallel", "parallel"]}
      ins(%pad : tensor<66x64xf32>) outs(%e1 : tensor<64x64xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<64x64xf32>
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %first = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%p : tensor<64x64xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.addf %a, %o : f32
    linalg.yield %v : f32
  } -> tensor<f32>
  %e4 = tensor.empty() : tensor<512x512xf32>
  %big = linalg.fill ins(%zero : f32) outs(%e4 : tensor<512x512xf32>) -> tensor<512x512xf32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%big : tensor<512x512xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%a: f32, %o: f32):
    %v = arith.addf %a, %o : f32
    linalg.yield %v : f32
  } -> tensor<f32>
  %late = linalg.generic {indexing_maps = [#id, #id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%p, %x : tensor<64x64xf32>, tensor<64x64xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %v = arith.mulf %a, %b : f32
    %w = arith.addf %v, %o : f32
    linalg.yield %w : f32
  } -> tensor<f32>
  return %first, %sum, %late : tensor<f32>, tensor<f32>, tensor<f32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> ()>

// One empty tensor (as CSE leaves it) starts a value before the peak and one
// after it: the later gets its own, or bufferization would keep the
// earlier's buffer allocated across the peak.
// CHECK-LABEL: func.func @shared_empty
// CHECK:      %[[E:.*]] = tensor.empty() : tensor<64x64xf32>
// CHECK:      linalg.generic {{.*}} outs(%[[E]] :
// CHECK:      linalg.fill {{.*}} -> tensor<512x512xf32>
// CHECK:      %[[E2:.*]] = tensor.empty() : tensor<64x64xf32>
// CHECK-NEXT: linalg.generic {{.*}} outs(%[[E2]] :
func.func @shared_empty(%x: tensor<64x64xf32>, %y: tensor<64x64xf32>) -> (tensor<f32>, tensor<f32>, tensor<64x64xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x64xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = math.exp %i : f32
    linalg.yield %r : f32
  } -> tensor<64x64xf32>
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %first = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%a : tensor<64x64xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.addf %i, %o : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %e4 = tensor.empty() : tensor<512x512xf32>
  %big = linalg.fill ins(%zero : f32) outs(%e4 : tensor<512x512xf32>) -> tensor<512x512xf32>
  %sum = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["reduction", "reduction"]}
      ins(%big : tensor<512x512xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%i: f32, %o: f32):
    %r = arith.addf %i, %o : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y : tensor<64x64xf32>) outs(%e : tensor<64x64xf32>) {
  ^bb0(%i: f32, %o: f32):
    %r = math.log %i : f32
    linalg.yield %r : f32
  } -> tensor<64x64xf32>
  return %first, %sum, %b : tensor<f32>, tensor<f32>, tensor<64x64xf32>
}
