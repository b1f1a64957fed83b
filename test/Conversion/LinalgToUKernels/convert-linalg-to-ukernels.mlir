// RUN: cmt-opt %s -split-input-file -convert-linalg-to-ukernels -cse | FileCheck %s

#a = affine_map<(m, n, k) -> (m, k)>
#w = affine_map<(m, n, k) -> (n, k)>
#c = affine_map<(m, n, k) -> (m, n)>

// A linear: B is the (N, K) weight read transposed, so its k stride is 1 and
// its n stride is K. Arguments: batch0, batch1, M, N, K, then pointer and
// (batch0, batch1, row, column) strides for A, B and C.
// CHECK:      func.func private @cmt_ukernel_sgemm(index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index, index)
// CHECK-LABEL: func.func @linear
// CHECK-DAG:  %[[PA:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK-DAG:  %[[PW:.*]] = memref.extract_aligned_pointer_as_index %arg1
// CHECK-DAG:  %[[PC:.*]] = memref.extract_aligned_pointer_as_index %arg2
// CHECK:      call @cmt_ukernel_sgemm(%[[C1:.*]], %[[C1]], %[[C16:.*]], %[[C4:.*]], %[[C8:.*]], %{{.*}}, %[[C0:.*]], %[[C0]], %[[C8]], %[[C1]], %{{.*}}, %[[C0]], %[[C0]], %[[C1]], %[[C8]], %{{.*}}, %[[C0]], %[[C0]], %[[C4]], %[[C1]])
// CHECK-NOT:  linalg.generic
func.func @linear(%a: memref<16x8xf32>, %w: memref<4x8xf32>, %c: memref<16x4xf32>) {
  linalg.generic {indexing_maps = [#a, #w, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// A view with an offset: the pointer is moved by offset * 4 bytes.
// CHECK-LABEL: func.func @offset
// CHECK:      %[[P:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK:      %[[OFF:.*]] = arith.constant 32 : index
// CHECK:      arith.addi %[[P]], %[[OFF]]
func.func @offset(%a: memref<4x8xf32, strided<[8, 1], offset: 8>>, %w: memref<8x4xf32>, %c: memref<4x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : memref<4x8xf32, strided<[8, 1], offset: 8>>, memref<8x4xf32>) outs(%c : memref<4x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// -----

// Two batch dimensions (batch, head), as attention scores have.
// CHECK-LABEL: func.func @heads
// CHECK:      call @cmt_ukernel_sgemm(%[[C2:.*]], %[[C3:.*]], %[[C5:.*]], %[[C6:.*]], %[[C4:.*]],
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

// Not a contraction (a max reduction): left for the loop lowering.
// CHECK-LABEL: func.func @not_a_contraction
// CHECK:      linalg.generic
// CHECK-NOT:  call
func.func @not_a_contraction(%a: memref<4x8xf32>, %c: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(m, k) -> (m, k)>, affine_map<(m, k) -> (m)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%a : memref<4x8xf32>) outs(%c : memref<4xf32>) {
  ^bb0(%x: f32, %z: f32):
    %0 = arith.maximumf %x, %z : f32
    linalg.yield %0 : f32
  }
  return
}

// -----

// On tensors (before bufferization): nothing to do.
// CHECK-LABEL: func.func @tensors
// CHECK:      linalg.generic
// CHECK-NOT:  call
func.func @tensors(%a: tensor<16x8xf32>, %w: tensor<4x8xf32>, %c: tensor<16x4xf32>) -> tensor<16x4xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>],
                       iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%a, %w : tensor<16x8xf32>, tensor<4x8xf32>) outs(%c : tensor<16x4xf32>) {
  ^bb0(%x: f32, %y: f32, %z: f32):
    %0 = arith.mulf %x, %y : f32
    %1 = arith.addf %z, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<16x4xf32>
  return %r : tensor<16x4xf32>
}

// -----

// The CPU micro-kernel is f32 only: bf16 operands stay loops.
// CHECK-LABEL: func.func @bf16
// CHECK-NOT:   call @cmt_ukernel_sgemm
// CHECK:       linalg.generic
func.func @bf16(%a: memref<16x8xbf16>, %w: memref<4x8xbf16>, %c: memref<16x4xf32>) {
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
  return
}
