//===- Reduction.h - how a reduction combines --------------------*- C++ -*-===//
//
// cmt-map-to-gpu (a warp's lanes combine their partial results) and
// cmt-split-reductions (partial sums, then their sum) both need the op that
// folds a reduction body's value into its output.
//
//===----------------------------------------------------------------------===//
#ifndef CMT_TRANSFORMS_UTILS_REDUCTION_H
#define CMT_TRANSFORMS_UTILS_REDUCTION_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"

namespace cmt {
/// The op of a one-output body `yield combine(%out, f(...))` whose `%out` is
/// read nowhere else, combine being addf, maximumf or maxnumf; null for any
/// other body.
inline mlir::Operation *reductionCombiner(mlir::linalg::GenericOp g) {
  if (g.getNumDpsInits() != 1)
    return nullptr;
  mlir::Block &body = g.getRegion().front();
  mlir::BlockArgument out = body.getArguments().back();
  mlir::Operation *combine = body.getTerminator()->getOperand(0).getDefiningOp();
  if (!combine || combine->getBlock() != &body || !out.hasOneUse() ||
      !mlir::isa<mlir::arith::AddFOp, mlir::arith::MaximumFOp, mlir::arith::MaxNumFOp>(combine) ||
      (combine->getOperand(0) != out && combine->getOperand(1) != out) ||
      combine->getOperand(0) == combine->getOperand(1))
    return nullptr;
  return combine;
}
} // namespace cmt

#endif
