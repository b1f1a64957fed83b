//===- Views.h - ops that only re-view a tensor -----------------*- C++ -*-===//
#ifndef CMT_TRANSFORMS_UTILS_VIEWS_H
#define CMT_TRANSFORMS_UTILS_VIEWS_H

#include "mlir/Dialect/Tensor/IR/Tensor.h"

namespace cmt {
/// Reshapes and slices: after bufferization a view of their source, no copy.
inline bool isTensorView(mlir::Operation *op) {
  return mlir::isa<mlir::tensor::CollapseShapeOp, mlir::tensor::ExpandShapeOp,
                   mlir::tensor::ExtractSliceOp>(op);
}
} // namespace cmt

#endif
