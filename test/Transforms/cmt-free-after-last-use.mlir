// RUN: cmt-opt %s -split-input-file -cmt-free-after-last-use | FileCheck %s

// The dealloc moves up to the last reader of the buffer.
// CHECK-LABEL: func.func @early
// CHECK:       %[[T:.*]] = memref.alloc
// CHECK:       linalg.fill {{.*}} outs(%[[T]]
// CHECK:       linalg.copy ins(%[[T]] {{.*}} outs(%arg0
// CHECK-NEXT:  memref.dealloc %[[T]]
// CHECK:       linalg.fill {{.*}} outs(%arg1
func.func @early(%out: memref<8xf32>, %other: memref<8xf32>) {
  %c = arith.constant 1.0 : f32
  %t = memref.alloc() : memref<8xf32>
  linalg.fill ins(%c : f32) outs(%t : memref<8xf32>)
  linalg.copy ins(%t : memref<8xf32>) outs(%out : memref<8xf32>)
  linalg.fill ins(%c : f32) outs(%other : memref<8xf32>)
  memref.dealloc %t : memref<8xf32>
  return
}

// -----

// A pointer taken from the buffer keeps it alive until the call that uses it.
// CHECK-LABEL: func.func @pointer
// CHECK:       %[[T:.*]] = memref.alloc
// CHECK:       %[[P:.*]] = memref.extract_aligned_pointer_as_index %[[T]]
// CHECK:       call @use(%[[P]])
// CHECK-NEXT:  memref.dealloc %[[T]]
// CHECK:       linalg.fill
func.func private @use(index)
func.func @pointer(%other: memref<8xf32>) {
  %c = arith.constant 1.0 : f32
  %t = memref.alloc() : memref<8xf32>
  %p = memref.extract_aligned_pointer_as_index %t : memref<8xf32> -> index
  linalg.fill ins(%c : f32) outs(%other : memref<8xf32>)
  call @use(%p) : (index) -> ()
  linalg.fill ins(%c : f32) outs(%other : memref<8xf32>)
  memref.dealloc %t : memref<8xf32>
  return
}

// -----

// Reads through a view count as reads of the buffer.
// CHECK-LABEL: func.func @view
// CHECK:       linalg.copy ins(%{{.*}} : memref<4xf32, strided<[1], offset: 4>>)
// CHECK-NEXT:  memref.dealloc
func.func @view(%out: memref<4xf32>, %other: memref<8xf32>) {
  %c = arith.constant 1.0 : f32
  %t = memref.alloc() : memref<8xf32>
  linalg.fill ins(%c : f32) outs(%t : memref<8xf32>)
  %v = memref.subview %t[4] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: 4>>
  linalg.fill ins(%c : f32) outs(%other : memref<8xf32>)
  linalg.copy ins(%v : memref<4xf32, strided<[1], offset: 4>>) outs(%out : memref<4xf32>)
  linalg.fill ins(%c : f32) outs(%other : memref<8xf32>)
  memref.dealloc %t : memref<8xf32>
  return
}

// -----

// A use inside a region: the dealloc goes after the op that holds it.
// CHECK-LABEL: func.func @region
// CHECK:       scf.for
// CHECK:         memref.load %[[T:.*]][
// CHECK:       }
// CHECK-NEXT:  memref.dealloc
// CHECK:       linalg.fill
func.func @region(%other: memref<8xf32>, %n: index) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %f = arith.constant 0.0 : f32
  %t = memref.alloc() : memref<8xf32>
  linalg.fill ins(%f : f32) outs(%t : memref<8xf32>)
  %s = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %f) -> (f32) {
    %x = memref.load %t[%c0] : memref<8xf32>
    %y = arith.addf %acc, %x : f32
    scf.yield %y : f32
  }
  linalg.fill ins(%f : f32) outs(%other : memref<8xf32>)
  memref.dealloc %t : memref<8xf32>
  return %s : f32
}

// -----

// A dealloc in another block than its alloc stays where it is.
// CHECK-LABEL: func.func @other_block
// CHECK:       scf.if
// CHECK-NEXT:    memref.dealloc
func.func @other_block(%cond: i1) {
  %t = memref.alloc() : memref<8xf32>
  scf.if %cond {
    memref.dealloc %t : memref<8xf32>
  }
  return
}
