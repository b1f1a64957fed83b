// RUN: cmt-opt %s -cmt-outline-kernels -verify-diagnostics

func.func @forward(%x: memref<6xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c6 = arith.constant 6 : index
  %zero = arith.constant 0.0 : f32
  // expected-error @below {{cmt-outline-kernels: a loop nest with results (an scf.parallel reduction) is not supported}}
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
