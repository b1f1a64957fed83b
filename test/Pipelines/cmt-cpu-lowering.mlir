// RUN: cmt-opt %models/cmt-micro.mlir -cmt-graph=batch=1 -cmt-linalg -cmt-cpu-lowering | FileCheck %s

// linalg -> LLVM dialect: @forward takes one bare pointer per argument (the
// logits buffer last), calls outlined kernels and the sgemm micro-kernel, and
// nothing calls libm's erf or MLIR's runner utilities.
// CHECK-NOT:   llvm.call @erff
// CHECK-NOT:   memrefCopy
// CHECK:       llvm.func @forward_kernel_0(
// CHECK-SAME:    attributes {llvm.no_inline
// CHECK:       llvm.func @forward(%arg0: !llvm.ptr {cmt.kind = "input", cmt.name = "input"}
// CHECK-SAME:    %arg254: !llvm.ptr {cmt.name = "logits"})
// CHECK:       llvm.call @cmt_ukernel_sgemm(
// CHECK:       llvm.call @forward_kernel_
// CHECK-NOT:   llvm.call @erff
// CHECK-NOT:   memrefCopy
