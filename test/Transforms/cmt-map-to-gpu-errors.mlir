// RUN: cmt-opt %s -split-input-file -cmt-map-to-gpu -verify-diagnostics

// A lane loop's iter_args must be sums: a maximum over lanes is not one.
func.func @lanes_not_a_sum(%x: memref<6x40xf32>, %out: memref<6xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c40 = arith.constant 40 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c6) step (%c1) {
    // expected-error @below {{cmt-map-to-gpu: a `cmt.lanes` loop's iter_args must be sums}}
    %m = scf.for %j = %c0 to %c40 step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %x[%i, %j] : memref<6x40xf32>
      %a = arith.maximumf %acc, %v : f32
      scf.yield %a : f32
    } {cmt.lanes}
    memref.store %m, %out[%i] : memref<6xf32>
    scf.reduce
  }
  return
}

// -----

func.func @nested_lanes(%x: memref<6x40xf32>, %out: memref<6x40xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c40 = arith.constant 40 : index
  scf.parallel (%i) = (%c0) to (%c6) step (%c1) {
    scf.for %j = %c0 to %c40 step %c1 {
      // expected-error @below {{cmt-map-to-gpu: a `cmt.lanes` loop inside another}}
      scf.for %k = %c0 to %c1 step %c1 {
        %v = memref.load %x[%i, %j] : memref<6x40xf32>
        memref.store %v, %out[%i, %j] : memref<6x40xf32>
      } {cmt.lanes}
    } {cmt.lanes}
    scf.reduce
  }
  return
}

// -----

// The running partial sum escapes the loop: on the GPU it would be one lane's.
func.func @partial_sum_escapes(%x: memref<6x40xf32>, %out: memref<6x40xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c40 = arith.constant 40 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c6) step (%c1) {
    // expected-error @below {{cmt-map-to-gpu: a `cmt.lanes` loop's iter_args must be sums}}
    %s = scf.for %j = %c0 to %c40 step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %x[%i, %j] : memref<6x40xf32>
      %a = arith.addf %acc, %v : f32
      memref.store %a, %out[%i, %j] : memref<6x40xf32>
      scf.yield %a : f32
    } {cmt.lanes}
    scf.reduce
  }
  return
}

// -----

// A lane loop filling a private array: each lane would see only its share.
func.func @lanes_write_private(%x: memref<6x40xf32>, %out: memref<6xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %c40 = arith.constant 40 : index
  scf.parallel (%i) = (%c0) to (%c6) step (%c1) {
    %s = memref.alloca() : memref<40xf32>
    // expected-error @below {{cmt-map-to-gpu: a `cmt.lanes` loop writes a private array}}
    scf.for %j = %c0 to %c40 step %c1 {
      %v = memref.load %x[%i, %j] : memref<6x40xf32>
      memref.store %v, %s[%j] : memref<40xf32>
    } {cmt.lanes}
    %r = memref.load %s[%c0] : memref<40xf32>
    memref.store %r, %out[%i] : memref<6xf32>
    scf.reduce
  }
  return
}

// -----

func.func @parallel_reduction(%x: memref<6xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @below {{cmt-map-to-gpu: an scf.parallel with reductions is not supported}}
  %r = scf.parallel (%i) = (%c0) to (%c6) step (%c1) init (%zero) -> f32 {
    %v = memref.load %x[%i] : memref<6xf32>
    scf.reduce(%v : f32) {
    ^bb0(%a: f32, %b: f32):
      %s = arith.addf %a, %b : f32
      scf.reduce.return %s : f32
    }
  }
  return %r : f32
}
