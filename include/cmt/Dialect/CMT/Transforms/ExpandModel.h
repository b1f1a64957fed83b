//===- ExpandModel.h - architecture level -> graph level --------*- C++ -*-===//
#ifndef CMT_DIALECT_CMT_TRANSFORMS_EXPANDMODEL_H
#define CMT_DIALECT_CMT_TRANSFORMS_EXPANDMODEL_H

#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace cmt {
/// Builds `func.func @<name>` computing `model`'s logits in evaluation mode at
/// the given batch, at the builder's insertion point. With `activations`, it
/// also returns the stem, stage and feature activations (named `act/...` in
/// the `cmt.name` result attribute, as in the golden data). Shared by the
/// cmt-expand-model pass, the statistics and the compiler driver.
mlir::func::FuncOp buildForward(ModelOp model, mlir::OpBuilder &builder,
                                llvm::StringRef name, int64_t batch,
                                bool activations = false);
} // namespace cmt

#endif
