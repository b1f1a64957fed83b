// RUN: cmt-opt %s -split-input-file -cmt-outline-kernels | FileCheck %s

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

// -----

// A hand-written parallel nest: its bounds are cloned in, the cast to a
// dynamic layout that its body reads through travels inside (the kernel
// takes the whole buffer), and the private array moves to the kernel's
// entry, out of the loop.
// CHECK-LABEL: func.func private @forward_kernel_0
// CHECK-SAME: (%[[X:.*]]: memref<6x40xf32>, %[[OUT:.*]]: memref<6xf32>)
// CHECK-NEXT: %[[S:.*]] = memref.alloca() : memref<4xf32>
// CHECK:      %[[V:.*]] = memref.cast %[[X]]
// CHECK:      scf.parallel
// CHECK-NOT:  memref.alloca
// CHECK:      memref.load %[[V]]
// CHECK:      memref.store {{.*}}, %[[S]]
// CHECK-LABEL: func.func @forward
// CHECK:      call @forward_kernel_0(%arg0, %arg1) : (memref<6x40xf32>, memref<6xf32>) -> ()
func.func @forward(%x: memref<6x40xf32>, %out: memref<6xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c40 = arith.constant 40 : index
  %zero = arith.constant 0.0 : f32
  %v = memref.cast %x : memref<6x40xf32> to memref<6x40xf32, strided<[?, ?], offset: ?>>
  scf.parallel (%i) = (%c0) to (%c6) step (%c1) {
    %s = memref.alloca() : memref<4xf32>
    %sum = scf.for %j = %c0 to %c40 step %c1 iter_args(%acc = %zero) -> (f32) {
      %e = memref.load %v[%i, %j] : memref<6x40xf32, strided<[?, ?], offset: ?>>
      %a = arith.addf %acc, %e : f32
      scf.yield %a : f32
    }
    memref.store %sum, %s[%c0] : memref<4xf32>
    %r = memref.load %s[%c0] : memref<4xf32>
    memref.store %r, %out[%i] : memref<6xf32>
    scf.reduce
  }
  return
}

// -----

// A view and a cast of it both read in the nest: both travel into the kernel,
// which takes the buffer they view, and both leave the caller once.
// CHECK-LABEL: func.func private @forward_kernel_0
// CHECK-SAME: (%[[A:.*]]: memref<8x8xf32>, %{{.*}}: memref<8xf32>)
// CHECK:      %[[SV:.*]] = memref.subview %[[A]]
// CHECK:      memref.cast %[[SV]]
// CHECK-LABEL: func.func @forward
// CHECK-NOT:  memref.subview
// CHECK-NOT:  memref.cast
// CHECK:      call @forward_kernel_0(%arg0, %arg1)
func.func @forward(%a: memref<8x8xf32>, %o: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %sv = memref.subview %a[0, 0] [1, 8] [1, 1] : memref<8x8xf32> to memref<8xf32, strided<[1]>>
  %cast = memref.cast %sv : memref<8xf32, strided<[1]>> to memref<8xf32, strided<[?], offset: ?>>
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    %x = memref.load %cast[%i] : memref<8xf32, strided<[?], offset: ?>>
    %y = memref.load %sv[%i] : memref<8xf32, strided<[1]>>
    %z = arith.addf %x, %y : f32
    memref.store %z, %o[%i] : memref<8xf32>
    scf.reduce
  }
  return
}
