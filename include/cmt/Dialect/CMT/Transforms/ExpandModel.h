//===- ExpandModel.h - architecture level -> graph level --------*- C++ -*-===//
#ifndef CMT_DIALECT_CMT_TRANSFORMS_EXPANDMODEL_H
#define CMT_DIALECT_CMT_TRANSFORMS_EXPANDMODEL_H

#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace cmt {
/// Builds `func.func @<name>` computing `model`'s logits in evaluation mode at
/// the given batch, at the builder's insertion point. Shared by the
/// cmt-expand-model pass, the statistics and the compiler driver.
mlir::func::FuncOp buildForward(ModelOp model, mlir::OpBuilder &builder,
                                llvm::StringRef name, int64_t batch);
} // namespace cmt

#endif
