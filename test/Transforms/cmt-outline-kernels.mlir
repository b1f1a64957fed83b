// RUN: cmt-opt %s -cmt-outline-kernels | FileCheck %s

// The copy into the padded buffer's interior moves out together with the
// subview that makes the interior; the kernel takes whole buffers; constants
// used by a body are cloned in.
// CHECK-LABEL: func.func private @forward_kernel_0
// CHECK-SAME: attributes {llvm.no_inline}
// CHECK:      memref.subview %arg1[0, 1, 1, 0] [1, 4, 4, 2] [1, 1, 1, 1]
// CHECK:      memref.copy
// CHECK-LABEL: func.func private @forward_kernel_1
// CHECK:      arith.constant 2.000000e+00 : f32
// CHECK:      linalg.generic
// CHECK-LABEL: func.func @forward
// CHECK-NOT:  memref.subview
// CHECK:      call @forward_kernel_0(%arg0, %[[ALLOC:.*]]) : (memref<1x4x4x2xf32>, memref<1x6x6x2xf32>) -> ()
// CHECK:      call @forward_kernel_1(%[[ALLOC]], %arg1) : (memref<1x6x6x2xf32>, memref<1x6x6x2xf32>) -> ()
func.func @forward(%x: memref<1x4x4x2xf32>, %out: memref<1x6x6x2xf32>) {
  %two = arith.constant 2.0 : f32
  %alloc = memref.alloc() : memref<1x6x6x2xf32>
  %view = memref.subview %alloc[0, 1, 1, 0] [1, 4, 4, 2] [1, 1, 1, 1]
      : memref<1x6x6x2xf32> to memref<1x4x4x2xf32, strided<[72, 12, 2, 1], offset: 14>>
  memref.copy %x, %view : memref<1x4x4x2xf32> to memref<1x4x4x2xf32, strided<[72, 12, 2, 1], offset: 14>>
  linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>],
                  iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%alloc : memref<1x6x6x2xf32>) outs(%out : memref<1x6x6x2xf32>) {
  ^bb0(%i: f32, %o: f32):
    %m = arith.mulf %i, %two : f32
    linalg.yield %m : f32
  }
  memref.dealloc %alloc : memref<1x6x6x2xf32>
  return
}
