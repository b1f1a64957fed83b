// RUN: cmt-opt %models/cmt-micro.mlir -cmt-graph=batch=2 -cmt-linalg=gather-windows=true -cmt-cuda-lowering | FileCheck %s
// RUN: cmt-opt %models/cmt-micro.mlir -cmt-graph=batch=2 -cmt-linalg=gather-windows=true -cmt-cuda-kernels=chip=sm_80 | FileCheck %s --check-prefix=KERNELS

// linalg -> host LLVM + NVVM kernels: @forward takes bare pointers, allocates
// through the runtime's arena, launches kernels and calls cuBLAS; kernels
// live in gpu.modules with an NVVM target; nothing is left on the host that
// would need a GPU-side loop or libm.
// CHECK:       llvm.func @forward(%arg0: !llvm.ptr {cmt.kind = "input", cmt.name = "input"}
// CHECK:       llvm.call @_mlir_memref_to_llvm_alloc(
// CHECK:       gpu.launch_func @forward_kernel::@forward_kernel
// CHECK:       llvm.call @cmt_blas_sgemm(
// CHECK:       llvm.call @_mlir_memref_to_llvm_free(
// CHECK-NOT:   llvm.call @malloc
// CHECK:       gpu.module @forward_kernel [#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">]
// CHECK:       llvm.func @forward_kernel(
// CHECK-SAME:    gpu.kernel
// CHECK:       nvvm.read.ptx.sreg.ctaid.x

// The gpu-dialect stage for another architecture.
// KERNELS:     func.func @forward(
// KERNELS:     gpu.launch_func
// KERNELS:     gpu.module @forward_kernel [#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">]
