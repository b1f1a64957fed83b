//===- CUDATarget.h - kernels to PTX/cubin, kernel reports ------*- C++ -*-===//
#ifndef CMT_TARGET_CUDA_CUDATARGET_H
#define CMT_TARGET_CUDA_CUDATARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include <string>
#include <vector>

namespace cmt {
/// Compiles every gpu.module (NVVM, after buildCUDAToLLVMPipeline) into a
/// gpu.binary: PTX text for `format` "isa", a cubin for "bin". Calls ptxas
/// from the CUDA toolkit (`toolkit`, or MLIR's default search when empty).
mlir::LogicalResult serializeKernels(mlir::ModuleOp module, llvm::StringRef format,
                                     llvm::StringRef toolkit = "");

/// Prints the PTX of every gpu.binary made with format "isa".
void printPTX(mlir::ModuleOp module, llvm::raw_ostream &os);

/// What one call of `function` (@forward, @train_step) runs on the GPU, in
/// launch order: each kernel (gpu.module, grid, block) and each cuBLAS call
/// (batch, M, N, K), with the model's modules it computes (from the ops' name
/// locations). Works on the gpu dialect level (after buildCUDAKernelPipeline).
std::vector<std::string> listLaunches(mlir::ModuleOp module, llvm::StringRef function);

/// Prints listLaunches' lines, numbered (cmt-compile --report-kernels).
void reportKernels(llvm::ArrayRef<std::string> launches, llvm::StringRef function,
                   llvm::raw_ostream &os);
} // namespace cmt

#endif
