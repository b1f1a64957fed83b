// RUN: cmt-opt %s -split-input-file -convert-linalg-to-ukernels=blas-layouts=true -cse | FileCheck %s

// A linear: every matrix row- or column-major, no batch: one cuBLAS call.
// CHECK:       func.func private @cmt_blas_sgemm(
// CHECK-LABEL: func.func @linear
// CHECK:       call @cmt_blas_sgemm(
// CHECK-NOT:   linalg.generic
func.func @linear(%a: memref<16x8xf32>, %w: memref<4x8xf32>, %c: memref<16x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// Two batch dimensions (image, head), heads interleaved in the channels:
// still one call (the runtime batches over pointer arrays).
// CHECK-LABEL: func.func @heads
// CHECK:       call @cmt_blas_sgemm(%[[C2:.*]], %[[C3:.*]], %[[C5:.*]], %[[C6:.*]], %[[C4:.*]],
// CHECK-NOT:   linalg.generic
func.func @heads(%q: memref<2x5x3x4xf32>, %k: memref<2x6x3x4xf32>, %s: memref<2x3x5x6xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, h, n, m, d) -> (b, n, h, d)>, affine_map<(b, h, n, m, d) -> (b, m, h, d)>,
                                   affine_map<(b, h, n, m, d) -> (b, h, n, m)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : memref<2x5x3x4xf32>, memref<2x6x3x4xf32>) outs(%s : memref<2x3x5x6xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// One head: the batch dimension of extent 1 is no batch; the other one is
// cuBLAS's strided batch.
// CHECK-LABEL: func.func @one_head
// CHECK:       call @cmt_blas_sgemm(%[[C2:.*]], %[[C1:.*]], %[[C5:.*]], %[[C6:.*]], %[[C4:.*]],
func.func @one_head(%q: memref<2x5x1x4xf32>, %k: memref<2x6x1x4xf32>, %s: memref<2x1x5x6xf32>) {
  linalg.generic {indexing_maps = [affine_map<(b, h, n, m, d) -> (b, n, h, d)>, affine_map<(b, h, n, m, d) -> (b, m, h, d)>,
                                   affine_map<(b, h, n, m, d) -> (b, h, n, m)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %k : memref<2x5x1x4xf32>, memref<2x6x1x4xf32>) outs(%s : memref<2x1x5x6xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// A matrix with no unit stride (every other column): not a BLAS layout.
// CHECK-LABEL: func.func @gapped
// CHECK-NOT:   call @cmt_blas_sgemm
// CHECK:       linalg.generic
func.func @gapped(%a: memref<4x8xf32, strided<[16, 2]>>, %w: memref<8x4xf32>, %c: memref<4x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<4x8xf32, strided<[16, 2]>>, memref<8x4xf32>) outs(%c : memref<4x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// A bias broadcast that alone initialises C is folded into the call (beta 0,
// bias pointer): cuBLASLt's epilogue adds it, no pass of its own.
// CHECK-LABEL: func.func @bias
// CHECK-NOT:   linalg.generic
// CHECK:       %[[PB:.*]] = memref.extract_aligned_pointer_as_index %arg2
// CHECK:       call @cmt_blas_sgemm({{.*}}, %[[C0:c0[_0-9]*]], %[[PB]], %[[C0]], %[[C0]])
func.func @bias(%a: memref<16x8xf32>, %w: memref<4x8xf32>, %b: memref<4xf32>) -> memref<16x4xf32> {
  %c = memref.alloc() : memref<16x4xf32>
  linalg.generic {indexing_maps = [affine_map<(m, n) -> (n)>, affine_map<(m, n) -> (m, n)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%b : memref<4xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return %c : memref<16x4xf32>
}

// -----

// A zero fill: beta 0, no bias. Any other initial value stays (beta 1).
// CHECK-LABEL: func.func @zero
// CHECK-NOT:   linalg.fill
// CHECK:       call @cmt_blas_sgemm({{.*}}, %[[Z:c0[_0-9]*]], %[[Z]], %[[Z]], %[[Z]])
// CHECK-LABEL: func.func @ones
// CHECK:       linalg.fill
// CHECK:       call @cmt_blas_sgemm({{.*}}, %[[ONE:c1[_0-9]*]], %{{c0[_0-9]*}}, %{{c0[_0-9]*}}, %{{c0[_0-9]*}})
func.func @zero(%a: memref<16x8xf32>, %w: memref<4x8xf32>) -> memref<16x4xf32> {
  %z = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<16x4xf32>
  linalg.fill ins(%z : f32) outs(%c : memref<16x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %acc, %0 : f32
    linalg.yield %1 : f32
  }
  return %c : memref<16x4xf32>
}
func.func @ones(%a: memref<16x8xf32>, %w: memref<4x8xf32>) -> memref<16x4xf32> {
  %one = arith.constant 1.0 : f32
  %c = memref.alloc() : memref<16x4xf32>
  linalg.fill ins(%one : f32) outs(%c : memref<16x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %acc, %0 : f32
    linalg.yield %1 : f32
  }
  return %c : memref<16x4xf32>
}

// -----

// A copy of a zero-filled buffer (how bufferization shares one fill among
// several outputs) counts as a zero fill: the copy goes, the fill stays for
// its other readers.
// CHECK-LABEL: func.func @copied_zero
// CHECK:       linalg.fill
// CHECK:       memref.copy %{{.*}}, %arg2
// CHECK-NOT:   memref.copy
// CHECK:       call @cmt_blas_sgemm({{.*}}, %[[Z:c0[_0-9]*]], %[[Z]], %[[Z]], %[[Z]])
func.func @copied_zero(%a: memref<16x8xf32>, %w: memref<4x8xf32>, %other: memref<16x4xf32>) -> memref<16x4xf32> {
  %z = arith.constant 0.0 : f32
  %zeros = memref.alloc() : memref<16x4xf32>
  linalg.fill ins(%z : f32) outs(%zeros : memref<16x4xf32>)
  memref.copy %zeros, %other : memref<16x4xf32> to memref<16x4xf32>
  %c = memref.alloc() : memref<16x4xf32>
  memref.copy %zeros, %c : memref<16x4xf32> to memref<16x4xf32>
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %acc, %0 : f32
    linalg.yield %1 : f32
  }
  return %c : memref<16x4xf32>
}

// -----

// Something reads the broadcast bias through a view before the GEMM: the
// broadcast must stay, and the GEMM accumulates onto it (beta 1, no bias).
// CHECK-LABEL: func.func @read_between
// CHECK:       linalg.generic
// CHECK:       linalg.copy
// CHECK:       call @cmt_blas_sgemm({{.*}}, %[[ONE:c1[_0-9]*]], %[[Z:c0[_0-9]*]], %[[Z]], %[[Z]])
func.func @read_between(%a: memref<16x8xf32>, %w: memref<4x8xf32>, %b: memref<4xf32>, %seen: memref<2x8x4xf32>) -> memref<16x4xf32> {
  %c = memref.alloc() : memref<16x4xf32>
  %v = memref.expand_shape %c [[0, 1], [2]] output_shape [2, 8, 4] : memref<16x4xf32> into memref<2x8x4xf32>
  linalg.generic {indexing_maps = [affine_map<(m, n) -> (n)>, affine_map<(m, n) -> (m, n)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%b : memref<4xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  }
  linalg.copy ins(%v : memref<2x8x4xf32>) outs(%seen : memref<2x8x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %acc: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %acc, %0 : f32
    linalg.yield %1 : f32
  }
  return %c : memref<16x4xf32>
}

// -----

// bf16 operands (cmt-narrow-storage) with an f32 C: one cuBLAS call whose
// last arguments say bf16 A and B (1), f32 C (0), offsets in 2-byte elements.
// CHECK-LABEL: func.func @bf16
// CHECK:       %[[PA:.*]] = memref.extract_aligned_pointer_as_index %{{.*}} : memref<16x8xbf16, strided<[8, 1], offset: 8>>
// CHECK:       %[[A:.*]] = arith.addi %[[PA]], %c16
// CHECK:       call @cmt_blas_sgemm({{.*}}, %[[A]], {{.*}}, %c1, %c0)
// CHECK-NOT:   linalg.generic
func.func @bf16(%a: memref<17x8xbf16>, %w: memref<4x8xbf16>, %c: memref<16x4xf32>) {
  %v = memref.subview %a[1, 0] [16, 8] [1, 1] : memref<17x8xbf16> to memref<16x8xbf16, strided<[8, 1], offset: 8>>
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%v, %w : memref<16x8xbf16, strided<[8, 1], offset: 8>>, memref<4x8xbf16>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: bf16, %y: bf16, %z: f32):
    %xf = arith.extf %x : bf16 to f32
    %yf = arith.extf %y : bf16 to f32
    %0 = arith.mulf %xf, %yf : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// Mixed operand types: no BLAS call takes them; loops.
// CHECK-LABEL: func.func @mixed
// CHECK-NOT:   call @cmt_blas_sgemm
// CHECK:       linalg.generic
func.func @mixed(%a: memref<16x8xbf16>, %w: memref<4x8xf32>, %c: memref<16x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xbf16>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: bf16, %y: f32, %z: f32):
    %xf = arith.extf %x : bf16 to f32
    %0 = arith.mulf %xf, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// A product whose C starts at zero and is then only rounded to bf16
// (cmt-narrow-storage{products}): cuBLAS stores the bf16 D itself (the last
// argument, 1), and C, its fill and the rounding go.
// CHECK-LABEL: func.func @rounded
// CHECK-NOT:   memref<16x4xf32>
// CHECK:       %[[D:.*]] = memref.alloc() : memref<16x4xbf16>
// CHECK:       %[[PD:.*]] = memref.extract_aligned_pointer_as_index %[[D]]
// CHECK:       %[[P:.*]] = arith.addi %[[PD]]
// CHECK:       call @cmt_blas_sgemm({{.*}}, %[[P]], %c0, %c0, %c4, %c1, %c0, %c0, %c1, %c1)
// CHECK-NOT:   linalg.
// CHECK:       return %[[D]]
func.func @rounded(%a: memref<16x8xbf16>, %w: memref<4x8xbf16>) -> memref<16x4xbf16> {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<16x4xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<16x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xbf16>, memref<4x8xbf16>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: bf16, %y: bf16, %z: f32):
    %xf = arith.extf %x : bf16 to f32
    %yf = arith.extf %y : bf16 to f32
    %0 = arith.mulf %xf, %yf : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  %d = memref.alloc() : memref<16x4xbf16>
  linalg.generic {indexing_maps = [affine_map<(m, n) -> (m, n)>, affine_map<(m, n) -> (m, n)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%c : memref<16x4xf32>) outs(%d : memref<16x4xbf16>) {
  ^bb0(%x: f32, %o: bf16):
    %t = arith.truncf %x : f32 to bf16
    linalg.yield %t : bf16
  }
  memref.dealloc %c : memref<16x4xf32>
  return %d : memref<16x4xbf16>
}

// -----

// f32 operands: cuBLAS stores no bf16 C from them; the rounding stays.
// CHECK-LABEL: func.func @rounded_f32
// CHECK:       call @cmt_blas_sgemm({{.*}}, %c0, %c0)
// CHECK:       linalg.generic
// CHECK:         arith.truncf
func.func @rounded_f32(%a: memref<16x8xf32>, %w: memref<4x8xf32>) -> memref<16x4xbf16> {
  %zero = arith.constant 0.0 : f32
  %c = memref.alloc() : memref<16x4xf32>
  linalg.fill ins(%zero : f32) outs(%c : memref<16x4xf32>)
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  %d = memref.alloc() : memref<16x4xbf16>
  linalg.generic {indexing_maps = [affine_map<(m, n) -> (m, n)>, affine_map<(m, n) -> (m, n)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%c : memref<16x4xf32>) outs(%d : memref<16x4xbf16>) {
  ^bb0(%x: f32, %o: bf16):
    %t = arith.truncf %x : f32 to bf16
    linalg.yield %t : bf16
  }
  memref.dealloc %c : memref<16x4xf32>
  return %d : memref<16x4xbf16>
}
