// RUN: cmt-opt %s -cmt-lower-copies | FileCheck %s

// A copy into a strided view becomes a row-major loop nest.
// CHECK-LABEL: func.func @into_view
// CHECK-NOT:  memref.copy
// CHECK:      scf.for %[[I:.*]] = %c0 to %c4
// CHECK:        scf.for %[[J:.*]] = %c0 to %c6
// CHECK:          %[[V:.*]] = memref.load %arg0[%[[I]], %[[J]]]
// CHECK:          memref.store %[[V]], %arg1[%[[I]], %[[J]]]
func.func @into_view(%a: memref<4x6xf32>, %b: memref<4x6xf32, strided<[8, 1], offset: 9>>) {
  memref.copy %a, %b : memref<4x6xf32> to memref<4x6xf32, strided<[8, 1], offset: 9>>
  return
}
