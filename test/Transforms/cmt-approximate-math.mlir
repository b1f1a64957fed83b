// RUN: cmt-opt %s -cmt-approximate-math | FileCheck %s

// erf and exp become arithmetic (vectorisable); other math ops stay.
// CHECK-LABEL: func.func @approximate
// CHECK-NOT:  math.erf
// CHECK-NOT:  math.exp
// CHECK:      math.rsqrt
func.func @approximate(%x: f32) -> (f32, f32, f32) {
  %0 = math.erf %x : f32
  %1 = math.exp %x : f32
  %2 = math.rsqrt %x : f32
  return %0, %1, %2 : f32, f32, f32
}
