//===- Passes.h - cmt conversion passes -------------------------*- C++ -*-===//
#ifndef CMT_CONVERSION_PASSES_H
#define CMT_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace cmt {
/// The runtime's micro-kernel entry point, called by convert-linalg-to-ukernels.
inline constexpr llvm::StringLiteral kSgemmUKernel = "cmt_ukernel_sgemm";
/// The same contract, run by the CUDA runtime with cuBLAS (blas-layouts).
inline constexpr llvm::StringLiteral kBlasSgemm = "cmt_blas_sgemm";

#define GEN_PASS_DECL
#include "cmt/Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "cmt/Conversion/Passes.h.inc"
} // namespace cmt

#endif
