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

// -----

// A hand-written nest whose channel loop is marked `cmt.lanes`: one warp per
// point (6 points, 192 threads), the loop strided over the lanes, its sum
// completed by five XOR shuffles and then added to the loop's initial value;
// the private array moves to the kernel's entry and its scope is gone (a
// thread runs one point), and the constants are cloned into the kernel, not
// passed to it.
// CHECK-LABEL: func.func @warp_rows
// CHECK:      gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{.*}}) threads({{.*}}) in (%{{.*}} = %c192
// CHECK-NEXT:   memref.alloca() : memref<4xf32>
// CHECK:        %[[LANE:.*]] = arith.remui %{{.*}}, %c32
// CHECK:        %[[ROW:.*]] = arith.divui %{{.*}}, %c32
// CHECK:        arith.cmpi ult, %[[ROW]], %c6
// CHECK:        %[[ONE:.*]] = arith.constant 1.000000e+00 : f32
// CHECK-NOT:    memref.alloca_scope
// CHECK:        %[[SCALED:.*]] = arith.muli %[[LANE]], %c1
// CHECK:        %[[FIRST:.*]] = arith.addi %{{.*}}, %[[SCALED]]
// CHECK:        %[[STRIDE:.*]] = arith.muli %c1{{.*}}, %c32
// CHECK:        %[[SUM:.*]] = scf.for %{{.*}} = %[[FIRST]] to %c40 step %[[STRIDE]] iter_args(%{{.*}} = %cst
// CHECK-NOT:    cmt.lanes
// CHECK:        gpu.shuffle xor %[[SUM]], %c16
// CHECK-COUNT-4: gpu.shuffle xor
// CHECK:        %[[TOTAL:.*]] = arith.addf %[[ONE]], %{{.*}} : f32
// CHECK:        memref.store %[[TOTAL]]
func.func @warp_rows(%x: memref<6x40xf32>, %out: memref<6xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c40 = arith.constant 40 : index
  %one = arith.constant 1.0 : f32
  scf.parallel (%i) = (%c0) to (%c6) step (%c1) {
    memref.alloca_scope {
      %s = memref.alloca() : memref<4xf32>
      %sum = scf.for %j = %c0 to %c40 step %c1 iter_args(%acc = %one) -> (f32) {
        %v = memref.load %x[%i, %j] : memref<6x40xf32>
        %a = arith.addf %acc, %v : f32
        scf.yield %a : f32
      } {cmt.lanes}
      memref.store %sum, %s[%c0] : memref<4xf32>
      memref.store %sum, %out[%i] : memref<6xf32>
    }
    scf.reduce
  }
  return
}

// -----

// Without marked loops, a point per thread.
// CHECK-LABEL: func.func @thread_rows
// CHECK:      gpu.launch blocks({{.*}}) in ({{.*}} = %c1{{.*}}) threads({{.*}}) in (%{{.*}} = %c32
// CHECK-NOT:  gpu.shuffle
// CHECK:      scf.for
func.func @thread_rows(%x: memref<6x40xf32>, %out: memref<6xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c40 = arith.constant 40 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c6) step (%c1) {
    %sum = scf.for %j = %c0 to %c40 step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %x[%i, %j] : memref<6x40xf32>
      %a = arith.addf %acc, %v : f32
      scf.yield %a : f32
    }
    memref.store %sum, %out[%i] : memref<6xf32>
    scf.reduce
  }
  return
}

// -----

// Partial per-channel sums of channels-last data (cmt-split-reductions' first
// stage): enough outputs, and the contiguous dimension is an output one, so a
// thread per output (consecutive threads, consecutive channels), no shuffles.
// CHECK-LABEL: func.func @channel_partials
// CHECK:      gpu.launch
// CHECK-NOT:  gpu.shuffle
// CHECK:      scf.for
func.func @channel_partials(%x: memref<128x80x80x16xf32>, %p: memref<16x128x80xf32>) {
  linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (c, n, h)>],
                  iterator_types = ["parallel", "parallel", "reduction", "parallel"]}
      ins(%x : memref<128x80x80x16xf32>) outs(%p : memref<16x128x80xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %o, %a : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A thread-per-output reduction whose output a fill alone initialises: each
// thread stores the fill's value before its loop, and the fill has no launch.
// CHECK-LABEL: func.func @thread_sums_folded_fill
// CHECK-NOT:  linalg.fill
// CHECK:      gpu.launch
// CHECK:        memref.store %cst, %[[OUT:.*]][
// CHECK:        scf.for
// CHECK:          memref.load %[[OUT]]
// CHECK-NOT:  gpu.launch
func.func @thread_sums_folded_fill(%x: memref<128x80x80x16xf32>) -> memref<16x128x80xf32> {
  %zero = arith.constant 0.0 : f32
  %p = memref.alloc() : memref<16x128x80xf32>
  linalg.fill ins(%zero : f32) outs(%p : memref<16x128x80xf32>)
  linalg.generic {indexing_maps = [affine_map<(n, h, w, c) -> (n, h, w, c)>, affine_map<(n, h, w, c) -> (c, n, h)>],
                  iterator_types = ["parallel", "parallel", "reduction", "parallel"]}
      ins(%x : memref<128x80x80x16xf32>) outs(%p : memref<16x128x80xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %o, %a : f32
    linalg.yield %s : f32
  }
  return %p : memref<16x128x80xf32>
}
