//===- CMTDialect.h - the cmt dialect ---------------------------*- C++ -*-===//
#ifndef CMT_DIALECT_CMT_IR_CMTDIALECT_H
#define CMT_DIALECT_CMT_IR_CMTDIALECT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dialect.h"

#include "cmt/Dialect/CMT/IR/CMTOpsDialect.h.inc"

namespace cmt {
/// Argument attributes of an expanded `@forward`: the official PyTorch name of
/// each argument, and whether it is the input, a parameter or a buffer.
inline constexpr llvm::StringLiteral kNameAttr = "cmt.name";
inline constexpr llvm::StringLiteral kKindAttr = "cmt.kind";
inline constexpr llvm::StringLiteral kKindInput = "input";
inline constexpr llvm::StringLiteral kKindParameter = "parameter";
inline constexpr llvm::StringLiteral kKindBuffer = "buffer";
/// Training state that is neither a parameter nor a buffer of the model (the
/// optimizer's moments, the step count): saved with checkpoints, resumed.
inline constexpr llvm::StringLiteral kKindState = "state";
/// A value computed from the weights alone, once, by @F_prepare
/// (cmt-hoist-parameter-math): an argument of the inference @F.
inline constexpr llvm::StringLiteral kKindPrepared = "prepared";
/// Result names of @train_step: the next value of an argument X is "next/X";
/// the gradient of parameter P is "grad/P".
inline constexpr llvm::StringLiteral kNextPrefix = "next/";
inline constexpr llvm::StringLiteral kGradPrefix = "grad/";
/// Function attribute of an expanded `@forward`: the model's configuration.
inline constexpr llvm::StringLiteral kConfigAttr = "cmt.config";
} // namespace cmt

#endif
