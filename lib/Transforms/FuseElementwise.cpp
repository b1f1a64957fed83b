//===- FuseElementwise.cpp - elementwise fusion without recompute -*- C++ -*-===//
#include "cmt/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace cmt {
#define GEN_PASS_DEF_CMTFUSEELEMENTWISE
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
bool allParallel(linalg::LinalgOp op) {
  return op.getNumLoops() == op.getNumParallelLoops();
}

bool shouldFuse(OpOperand *fused) {
  auto producer = fused->get().getDefiningOp<linalg::GenericOp>();
  auto consumer = dyn_cast<linalg::GenericOp>(fused->getOwner());
  if (!producer || !consumer || !allParallel(producer) || !allParallel(consumer))
    return false;
  // One use: a second user would need the producer's result anyway.
  if (!producer->getResult(0).hasOneUse())
    return false;
  // A broadcast read would recompute each producer element many times.
  return consumer.getMatchingIndexingMap(fused).isPermutation();
}

struct FuseElementwisePass : cmt::impl::CMTFuseElementwiseBase<FuseElementwisePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(patterns, shouldFuse);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
