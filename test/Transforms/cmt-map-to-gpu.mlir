// RUN: cmt-opt %s -split-input-file -cmt-map-to-gpu -cse | FileCheck %s

// Elementwise: 128 x 46 = 5888 points over 23 blocks of 256 threads, the
// innermost dimension fastest, 32-bit index arithmetic.
// CHECK-LABEL: func.func @elementwise
// CHECK-DAG:   %[[G:.*]] = arith.constant 23 : index
// CHECK-DAG:   %[[B:.*]] = arith.constant 256 : index
// CHECK:       gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[G]], %{{.*}}, %{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[B]],
// CHECK:       arith.cmpi ult, %{{.*}}, %{{.*}} : index
// CHECK:       scf.if
// CHECK:       arith.remui %{{.*}}, %{{.*}} : i32
// CHECK:       arith.divui %{{.*}}, %{{.*}} : i32
// CHECK:       math.erf
// CHECK:       gpu.terminator
// CHECK-NOT:   linalg.generic
func.func @elementwise(%a: memref<128x46xf32>, %b: memref<128x46xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<128x46xf32>) outs(%b : memref<128x46xf32>) {
  ^bb0(%x: f32, %o: f32):
    %e = math.erf %x : f32
    linalg.yield %e : f32
  }
  return
}

// -----

// A short reduction (8 points) in the middle of the iterators: interchanged
// to the inside, one thread per (i, j) runs it as a loop.
// CHECK-LABEL: func.func @reduction
// CHECK:       gpu.launch
// CHECK:       scf.if
// CHECK:       scf.for
// CHECK:       arith.addf
// CHECK-NOT:   scf.parallel
func.func @reduction(%a: memref<4x8x16xf32>, %b: memref<4x16xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, k, j) -> (i, k, j)>, affine_map<(i, k, j) -> (i, j)>],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%a : memref<4x8x16xf32>) outs(%b : memref<4x16xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.addf %x, %o : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A copy into a strided view (a padded tensor's interior) is a kernel too.
// CHECK-LABEL: func.func @copy
// CHECK:       gpu.launch
// CHECK:       memref.load
// CHECK:       memref.store
// CHECK-NOT:   memref.copy
func.func @copy(%a: memref<2x4x4x3xf32>, %b: memref<2x6x6x3xf32>) {
  %v = memref.subview %b[0, 1, 1, 0] [2, 4, 4, 3] [1, 1, 1, 1] : memref<2x6x6x3xf32> to memref<2x4x4x3xf32, strided<[108, 18, 3, 1], offset: 21>>
  memref.copy %a, %v : memref<2x4x4x3xf32> to memref<2x4x4x3xf32, strided<[108, 18, 3, 1], offset: 21>>
  return
}

// -----

// A reduction with few outputs (here one) and a long row: a warp per output,
// lanes striding through the row, butterfly shuffles, lane 0 folds the
// result into the output.
// CHECK-LABEL: func.func @row_sums
// CHECK-DAG:   %[[G:.*]] = arith.constant 16 : index
// CHECK:       gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[G]],
// CHECK:       scf.for {{.*}} step %c32 iter_args
// CHECK:       arith.mulf
// CHECK:       arith.addf
// CHECK-COUNT-5: gpu.shuffle  xor
// CHECK:       arith.cmpi eq
// CHECK:       memref.load %arg1
// CHECK:       memref.store
func.func @row_sums(%a: memref<128x64xf32>, %b: memref<128xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, k) -> (i, k)>, affine_map<(i, k) -> (i)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%a : memref<128x64xf32>) outs(%b : memref<128xf32>) {
  ^bb0(%x: f32, %o: f32):
    %sq = arith.mulf %x, %x : f32
    %s = arith.addf %sq, %o : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// The fill that initialises a fresh output is folded into the reduction
// kernel: no launch of its own.
// CHECK-LABEL: func.func @folded_fill
// CHECK-DAG:   %[[INIT:.*]] = arith.constant 0xFF800000 : f32
// CHECK-NOT:   linalg.fill
// CHECK:       gpu.launch
// CHECK:       gpu.shuffle  xor
// CHECK:       arith.maximumf %[[INIT]]
// CHECK-NOT:   gpu.launch
func.func @folded_fill(%a: memref<100x25xf32>) -> memref<100xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %m = memref.alloc() : memref<100xf32>
  linalg.fill ins(%ninf : f32) outs(%m : memref<100xf32>)
  linalg.generic {indexing_maps = [affine_map<(i, k) -> (i, k)>, affine_map<(i, k) -> (i)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%a : memref<100x25xf32>) outs(%m : memref<100xf32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.maximumf %x, %o : f32
    linalg.yield %s : f32
  }
  return %m : memref<100xf32>
}

// -----

// A short reduction (under 16 points) to a scalar: one thread, no race.
// CHECK-LABEL: func.func @scalar
// CHECK-DAG:   %[[ONE:.*]] = arith.constant 1 : index
// CHECK:       gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE]], {{.*}} threads(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %[[ONE]],
// CHECK:       scf.for
func.func @scalar(%a: memref<8xf32>, %b: memref<f32>) {
  linalg.generic {indexing_maps = [affine_map<(k) -> (k)>, affine_map<(k) -> ()>],
                  iterator_types = ["reduction"]}
      ins(%a : memref<8xf32>) outs(%b : memref<f32>) {
  ^bb0(%x: f32, %o: f32):
    %s = arith.addf %x, %o : f32
    linalg.yield %s : f32
  }
  return
}
