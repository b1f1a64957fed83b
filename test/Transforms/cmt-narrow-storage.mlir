// RUN: cmt-opt %s -split-input-file -cmt-narrow-storage=min-elements=16 | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#row = affine_map<(d0, d1) -> (d0)>

// An elementwise result read by an elementwise op and a row reduction: stored
// bf16 (rounded where written, widened where read); the reduction's
// accumulator, the per-channel vector (too small) and the returned result
// stay f32.
// CHECK-LABEL: func.func @chain
// CHECK:      %[[E:.*]] = tensor.empty() : tensor<4x8xbf16>
// CHECK:      %[[G:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<4x8xf32>, tensor<8xf32>) outs(%[[E]] : tensor<4x8xbf16>)
// CHECK:        %[[R:.*]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK-NEXT:   linalg.yield %[[R]] : bf16
// CHECK:      linalg.generic {{.*}} ins(%[[G]] : tensor<4x8xbf16>) outs(%{{.*}} : tensor<4xf32>)
// CHECK-NEXT: ^bb0(%[[IN:.*]]: bf16, %{{.*}}: f32):
// CHECK-NEXT:   arith.extf %[[IN]] : bf16 to f32
// CHECK:      linalg.generic {{.*}} ins(%[[G]] : tensor<4x8xbf16>) outs(%{{.*}} : tensor<4x8xf32>)
// CHECK:        arith.extf
// CHECK-NOT:    arith.truncf
// CHECK:      return {{.*}} : tensor<4x8xf32>, tensor<4xf32>
func.func @chain(%x: tensor<4x8xf32>, %s: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %s : tensor<4x8xf32>, tensor<8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %zero = arith.constant 0.0 : f32
  %e4 = tensor.empty() : tensor<4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e4 : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%g : tensor<4x8xf32>) outs(%init : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.addf %o, %a : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %y, %sum : tensor<4x8xf32>, tensor<4xf32>
}

// -----

// Through a reshape and zero padding to a gather: the view and the pad carry
// bf16 (a bf16 zero pads), the extracted element is widened.
// CHECK-LABEL: func.func @gather
// CHECK:      %[[G:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x4x4x2xbf16>)
// CHECK:      %[[P:.*]] = tensor.pad %[[G]]
// CHECK:        %[[Z:.*]] = arith.constant 0.000000e+00 : bf16
// CHECK:        tensor.yield %[[Z]] : bf16
// CHECK:      } : tensor<2x4x4x2xbf16> to tensor<2x6x6x2xbf16>
// CHECK:      %[[F:.*]] = tensor.collapse_shape %[[P]] {{.*}} into tensor<144xbf16>
// CHECK:      %[[X:.*]] = tensor.extract %[[F]][%{{.*}}] : tensor<144xbf16>
// CHECK:      arith.extf %[[X]] : bf16 to f32
func.func @gather(%x: tensor<2x4x4x2xf32>) -> tensor<8xf32> {
  %e = tensor.empty() : tensor<2x4x4x2xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                       iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x4x4x2xf32>) outs(%e : tensor<2x4x4x2xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<2x4x4x2xf32>
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %g low[0, 1, 1, 0] high[0, 1, 1, 0] {
  ^bb0(%i: index, %j: index, %k: index, %l: index):
    tensor.yield %zero : f32
  } : tensor<2x4x4x2xf32> to tensor<2x6x6x2xf32>
  %flat = tensor.collapse_shape %p [[0, 1, 2, 3]] : tensor<2x6x6x2xf32> into tensor<144xf32>
  %e8 = tensor.empty() : tensor<8xf32>
  %out = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]}
      outs(%e8 : tensor<8xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 0 : index
    %c9 = arith.constant 9 : index
    %at = arith.muli %i, %c9 : index
    %v = tensor.extract %flat[%at] : tensor<144xf32>
    linalg.yield %v : f32
  } -> tensor<8xf32>
  return %out : tensor<8xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// A matrix product of a narrowed activation and an f32 weight: the weight is
// rounded (once, where it is defined: at the entry for an argument), so both
// operands are bf16; C stays f32.
// CHECK-LABEL: func.func @product
// CHECK:      %[[W:.*]] = linalg.generic {{.*}} ins(%arg1 : tensor<4x8xf32>) outs(%{{.*}} : tensor<4x8xbf16>)
// CHECK:        arith.truncf
// CHECK:      %[[A:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<16x8xbf16>)
// CHECK:      linalg.generic {{.*}} ins(%[[A]], %[[W]] : tensor<16x8xbf16>, tensor<4x8xbf16>) outs(%{{.*}} : tensor<16x4xf32>)
// CHECK-DAG:    arith.extf
// CHECK-DAG:    arith.extf
// CHECK:        arith.mulf
// CHECK:        arith.addf
func.func @product(%x: tensor<16x8xf32>, %w: tensor<4x8xf32>) -> tensor<16x4xf32> {
  %e = tensor.empty() : tensor<16x8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<16x8xf32>) outs(%e : tensor<16x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = math.exp %v : f32
    linalg.yield %r : f32
  } -> tensor<16x8xf32>
  %zero = arith.constant 0.0 : f32
  %ec = tensor.empty() : tensor<16x4xf32>
  %c = linalg.fill ins(%zero : f32) outs(%ec : tensor<16x4xf32>) -> tensor<16x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : tensor<16x8xf32>, tensor<4x8xf32>) outs(%c : tensor<16x4xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<16x4xf32>
  return %y : tensor<16x4xf32>
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>

// A result handed to a hand-written loop nest (bufferization.to_buffer) keeps
// its f32 storage: its reader cannot widen it.
// CHECK-LABEL: func.func @opaque_reader
// CHECK-NOT:  bf16
func.func @opaque_reader(%x: tensor<4x8xf32>) -> memref<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %m = bufferization.to_buffer %g read_only : tensor<4x8xf32> to memref<4x8xf32>
  return %m : memref<4x8xf32>
}

// -----

// A weight read by two products (a training step's forward and backward) is
// rounded once.
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @shared_weight
// CHECK:      %[[W:.*]] = linalg.generic {{.*}} ins(%arg1 : tensor<4x8xf32>) outs(%{{.*}} : tensor<4x8xbf16>)
// CHECK-NOT:  ins(%arg1
// CHECK:      ins(%{{.*}}, %[[W]] : tensor<16x8xbf16>, tensor<4x8xbf16>)
// CHECK:      ins(%{{.*}}, %[[W]] : tensor<16x8xbf16>, tensor<4x8xbf16>)
func.func @shared_weight(%x: tensor<16x8xf32>, %w: tensor<4x8xf32>) -> (tensor<16x4xf32>, tensor<16x4xf32>) {
  %e = tensor.empty() : tensor<16x8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<16x8xf32>) outs(%e : tensor<16x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = math.exp %v : f32
    linalg.yield %r : f32
  } -> tensor<16x8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<16x8xf32>) outs(%e : tensor<16x8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %r = math.sin %v : f32
    linalg.yield %r : f32
  } -> tensor<16x8xf32>
  %zero = arith.constant 0.0 : f32
  %ec = tensor.empty() : tensor<16x4xf32>
  %c = linalg.fill ins(%zero : f32) outs(%ec : tensor<16x4xf32>) -> tensor<16x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : tensor<16x8xf32>, tensor<4x8xf32>) outs(%c : tensor<16x4xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<16x4xf32>
  %z = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%b, %w : tensor<16x8xf32>, tensor<4x8xf32>) outs(%c : tensor<16x4xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %m = arith.mulf %p, %q : f32
    %s = arith.addf %o, %m : f32
    linalg.yield %s : f32
  } -> tensor<16x4xf32>
  return %y, %z : tensor<16x4xf32>, tensor<16x4xf32>
}

// -----

// Padding with a run-time value: left as it is.
// CHECK-LABEL: func.func @padded_with_value
// CHECK-NOT:  bf16
func.func @padded_with_value(%x: tensor<4x8xf32>, %p: f32) -> tensor<6x10xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %padded = tensor.pad %g low[1, 1] high[1, 1] {
  ^bb0(%i: index, %j: index):
    tensor.yield %p : f32
  } : tensor<4x8xf32> to tensor<6x10xf32>
  %e2 = tensor.empty() : tensor<6x10xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]}
      ins(%padded : tensor<6x10xf32>) outs(%e2 : tensor<6x10xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.sin %a : f32
    linalg.yield %r : f32
  } -> tensor<6x10xf32>
  return %y : tensor<6x10xf32>
}

// -----

// functions=...: only the functions named are narrowed (an executable's bf16
// forward beside its f32 one).
// RUN: cmt-opt %s -split-input-file -cmt-narrow-storage="min-elements=16 functions=narrowed" | FileCheck %s --check-prefix=NAMED

#id = affine_map<(d0, d1) -> (d0, d1)>

// Without the option, both are.
// CHECK-LABEL: func.func @kept
// CHECK:       arith.truncf
// CHECK-LABEL: func.func @narrowed
// CHECK:       arith.truncf
// NAMED-LABEL: func.func @kept
// NAMED-NOT:   bf16
// NAMED-LABEL: func.func @narrowed
// NAMED:       tensor.empty() : tensor<4x8xbf16>
// NAMED:       arith.truncf
func.func @kept(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %h = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.addf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  return %h : tensor<4x8xf32>
}
func.func @narrowed(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %h = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%g : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.addf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  return %h : tensor<4x8xf32>
}

// -----

// A loop nest's read-only buffer view that only loads read (a fused layer
// norm's statistics): the view becomes bf16 and each load widens.
// CHECK-LABEL: func.func @loaded_view
// CHECK:       %[[G:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<4x8xbf16>)
// CHECK:       %[[V:.*]] = bufferization.to_buffer %[[G]] read_only : tensor<4x8xbf16> to memref<4x8xbf16>
// CHECK:       %[[L:.*]] = memref.load %[[V]]
// CHECK-NEXT:  arith.extf %[[L]] : bf16 to f32
func.func @loaded_view(%x: tensor<4x8xf32>, %i: index, %j: index) -> f32 {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %v = bufferization.to_buffer %g read_only : tensor<4x8xf32> to memref<4x8xf32>
  %l = memref.load %v[%i, %j] : memref<4x8xf32>
  %r = arith.addf %l, %l : f32
  return %r : f32
}

// -----

// A view that is written, or handed on, is left f32.
// CHECK-LABEL: func.func @written_view
// CHECK-NOT:   bf16
// CHECK:       return
func.func @written_view(%x: tensor<4x8xf32>) -> memref<4x8xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %v = bufferization.to_buffer %g read_only : tensor<4x8xf32> to memref<4x8xf32>
  return %v : memref<4x8xf32>
}

// -----

// products=1: a product with bf16 operands whose C starts at a bias
// broadcast is followed by its rounding, C starting at zero; the bias moves
// into the reader (through a reshape keeping the last dimension), added to
// the widened value. Without the option (the CHECK run) it stays f32.
// RUN: cmt-opt %s -split-input-file -mlir-print-local-scope -cmt-narrow-storage="min-elements=16 products=1" | FileCheck %s --check-prefix=PRODUCTS
// CHECK-LABEL:    func.func @biased_product
// CHECK-NOT:      tensor<2x4x8x16xbf16>
// CHECK:          return
// PRODUCTS-LABEL: func.func @biased_product
// PRODUCTS-NOT:   ins(%arg2 : tensor<16xf32>) outs(%{{.*}} : tensor<64x16xf32>)
// PRODUCTS:       %[[Z:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<64x16xf32>)
// PRODUCTS:       %[[P:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<64x32xbf16>, tensor<32x16xbf16>) outs(%[[Z]] : tensor<64x16xf32>)
// PRODUCTS:       %[[R:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<64x16xf32>) outs(%{{.*}} : tensor<64x16xbf16>)
// PRODUCTS:         arith.truncf
// PRODUCTS:       %[[V:.*]] = tensor.expand_shape %[[R]] {{.*}} into tensor<2x4x8x16xbf16>
// PRODUCTS:       linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d3)>, {{.*}} ins(%[[V]], %arg2 : tensor<2x4x8x16xbf16>, tensor<16xf32>)
// PRODUCTS-NEXT:  ^bb0(%[[IN:.*]]: bf16, %[[B:.*]]: f32, %{{.*}}: f32):
// PRODUCTS-NEXT:    %[[W:.*]] = arith.extf %[[IN]] : bf16 to f32
// PRODUCTS-NEXT:    %[[S:.*]] = arith.addf %[[W]], %[[B]] : f32
// PRODUCTS-NEXT:    arith.mulf %[[S]], %[[S]] : f32
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @biased_product(%x: tensor<64x32xbf16>, %w: tensor<32x16xbf16>, %bias: tensor<16xf32>) -> tensor<2x4x8x16xf32> {
  %e = tensor.empty() : tensor<64x16xf32>
  %bb = linalg.generic {indexing_maps = [#col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%bias : tensor<16xf32>) outs(%e : tensor<64x16xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  } -> tensor<64x16xf32>
  %p = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<64x32xbf16>, tensor<32x16xbf16>) outs(%bb : tensor<64x16xf32>) {
  ^bb0(%in: bf16, %in2: bf16, %acc: f32):
    %0 = arith.extf %in : bf16 to f32
    %1 = arith.extf %in2 : bf16 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.addf %acc, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<64x16xf32>
  %v = tensor.expand_shape %p [[0, 1, 2], [3]] output_shape [2, 4, 8, 16] : tensor<64x16xf32> into tensor<2x4x8x16xf32>
  %e4 = tensor.empty() : tensor<2x4x8x16xf32>
  %y = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%v : tensor<2x4x8x16xf32>) outs(%e4 : tensor<2x4x8x16xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<2x4x8x16xf32>
  return %y : tensor<2x4x8x16xf32>
}

// -----

// A biased product read by another product (where the bias cannot move),
// or whose operands are both f32 (cuBLAS stores no bf16 C from them): left
// as it is.
// PRODUCTS-LABEL: func.func @kept_products
// PRODUCTS-NOT:   arith.truncf
// PRODUCTS:       return
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @kept_products(%x: tensor<64x32xbf16>, %w: tensor<32x16xbf16>, %bias: tensor<16xf32>,
                         %xf: tensor<64x32xf32>, %wf: tensor<32x16xf32>, %w2: tensor<16x8xf32>)
    -> (tensor<64x8xf32>, tensor<64x16xf32>) {
  %e = tensor.empty() : tensor<64x16xf32>
  %bb = linalg.generic {indexing_maps = [#col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%bias : tensor<16xf32>) outs(%e : tensor<64x16xf32>) {
  ^bb0(%in: f32, %o: f32):
    linalg.yield %in : f32
  } -> tensor<64x16xf32>
  %p = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<64x32xbf16>, tensor<32x16xbf16>) outs(%bb : tensor<64x16xf32>) {
  ^bb0(%in: bf16, %in2: bf16, %acc: f32):
    %0 = arith.extf %in : bf16 to f32
    %1 = arith.extf %in2 : bf16 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.addf %acc, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<64x16xf32>
  %zero = arith.constant 0.0 : f32
  %e8 = tensor.empty() : tensor<64x8xf32>
  %z8 = linalg.fill ins(%zero : f32) outs(%e8 : tensor<64x8xf32>) -> tensor<64x8xf32>
  %q = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%p, %w2 : tensor<64x16xf32>, tensor<16x8xf32>) outs(%z8 : tensor<64x8xf32>) {
  ^bb0(%in: f32, %in2: f32, %acc: f32):
    %2 = arith.mulf %in, %in2 : f32
    %3 = arith.addf %acc, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<64x8xf32>
  %z16 = linalg.fill ins(%zero : f32) outs(%e : tensor<64x16xf32>) -> tensor<64x16xf32>
  %r = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%xf, %wf : tensor<64x32xf32>, tensor<32x16xf32>) outs(%z16 : tensor<64x16xf32>) {
  ^bb0(%in: f32, %in2: f32, %acc: f32):
    %2 = arith.mulf %in, %in2 : f32
    %3 = arith.addf %acc, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<64x16xf32>
  %e2 = tensor.empty() : tensor<64x16xf32>
  %s = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%r : tensor<64x16xf32>) outs(%e2 : tensor<64x16xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<64x16xf32>
  return %q, %s : tensor<64x8xf32>, tensor<64x16xf32>
}

// -----

// An activation a loop nest writes (its allocation marked cmt.narrowable, as
// the fused attention's output): the buffer becomes bf16, the store rounds,
// the reader widens. An unmarked one (a layer norm's row sums) stays f32.
// CHECK-LABEL: func.func @loop_nest_output
// CHECK:       %[[M:.*]] = memref.alloc() {cmt.narrowable} : memref<4x8xbf16>
// CHECK:       %[[U:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK:       scf.for
// CHECK:         %[[T:.*]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK:         memref.store %[[T]], %[[M]]
// CHECK:         memref.store %{{.*}}, %[[U]]{{.*}} : memref<4x8xf32>
// CHECK:       bufferization.to_tensor %[[M]] restrict writable : memref<4x8xbf16> to tensor<4x8xbf16>
// CHECK:       linalg.generic
// CHECK-NEXT:  ^bb0(%[[IN:.*]]: bf16, %{{.*}}: f32, %{{.*}}: f32):
// CHECK-NEXT:    arith.extf %[[IN]] : bf16 to f32
func.func @loop_nest_output(%x: f32) -> tensor<4x8xf32> {
  %m = memref.alloc() {cmt.narrowable} : memref<4x8xf32>
  %u = memref.alloc() : memref<4x8xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    memref.store %x, %m[%i, %c0] : memref<4x8xf32>
    memref.store %x, %u[%i, %c0] : memref<4x8xf32>
  }
  %t = bufferization.to_tensor %m restrict writable : memref<4x8xf32> to tensor<4x8xf32>
  %s = bufferization.to_tensor %u restrict writable : memref<4x8xf32> to tensor<4x8xf32>
  %e = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%t, %s : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %r = arith.addf %a, %c : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A product whose C starts at zero (no bias to move): rounded after it, its
// reader widens (convert-linalg-to-ukernels folds the rounding into cuBLAS).
// PRODUCTS-LABEL: func.func @zero_product
// PRODUCTS:       %[[P:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<64x32xbf16>, tensor<32x16xbf16>) outs(%{{.*}} : tensor<64x16xf32>)
// PRODUCTS:       %[[R:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<64x16xf32>) outs(%{{.*}} : tensor<64x16xbf16>)
// PRODUCTS:         arith.truncf
// PRODUCTS:       linalg.generic {{.*}} ins(%[[R]] : tensor<64x16xbf16>)
// PRODUCTS-NEXT:  ^bb0(%[[IN:.*]]: bf16, %{{.*}}: f32):
// PRODUCTS-NEXT:    arith.extf %[[IN]] : bf16 to f32
func.func @zero_product(%x: tensor<64x32xbf16>, %w: tensor<32x16xbf16>) -> tensor<64x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x16xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<64x16xf32>) -> tensor<64x16xf32>
  %p = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<64x32xbf16>, tensor<32x16xbf16>) outs(%z : tensor<64x16xf32>) {
  ^bb0(%in: bf16, %in2: bf16, %acc: f32):
    %0 = arith.extf %in : bf16 to f32
    %1 = arith.extf %in2 : bf16 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.addf %acc, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<64x16xf32>
  %e2 = tensor.empty() : tensor<64x16xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%p : tensor<64x16xf32>) outs(%e2 : tensor<64x16xf32>) {
  ^bb0(%in: f32, %o: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<64x16xf32>
  return %y : tensor<64x16xf32>
}
