// RUN: cmt-opt %models/cmt-micro.mlir -cmt-graph=batch=1 -cmt-linalg | FileCheck %s

// Graph level -> linalg on tensors: no cmt op is left, and GELU followed by
// batch norm is one fused loop nest (erf, then the per-channel multiply-add).
// CHECK-LABEL: func.func @forward
// CHECK-NOT:   = cmt.
// CHECK:       linalg.generic
// CHECK:         math.erf
// CHECK-NEXT:    arith.mulf
// CHECK-NEXT:    arith.addf
// CHECK-NEXT:    arith.mulf
// CHECK-NEXT:    arith.mulf
// CHECK-NEXT:    arith.addf
// CHECK-NEXT:    linalg.yield
