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

/// Upstream fusion gives the fused op every operand of both ops; a kernel's
/// operands are its parameters, and ptxas takes at most 4 KiB of them. Small
/// producers fuse into every reader, so their operands pile up unless bounded.
constexpr unsigned kMaxFusedOperands = 24;

struct FuseElementwisePass : cmt::impl::CMTFuseElementwiseBase<FuseElementwisePass> {
  using CMTFuseElementwiseBase::CMTFuseElementwiseBase;

  bool shouldFuse(OpOperand *fused) {
    auto producer = fused->get().getDefiningOp<linalg::GenericOp>();
    auto consumer = dyn_cast<linalg::GenericOp>(fused->getOwner());
    if (!producer || !consumer || !allParallel(producer) || !allParallel(consumer))
      return false;
    // A small producer (per-channel batch-norm scales, a learning rate) is
    // recomputed wherever it is read: a little arithmetic per element in
    // place of a kernel launch and a buffer.
    auto type = cast<ShapedType>(fused->get().getType());
    if (type.hasStaticShape() && type.getNumElements() <= recomputeSmall &&
        producer->getNumOperands() + consumer->getNumOperands() <= kMaxFusedOperands)
      return true;
    // One use: a second user would need the producer's result anyway.
    if (!producer->getResult(0).hasOneUse())
      return false;
    // A broadcast read would recompute each producer element many times.
    return consumer.getMatchingIndexingMap(fused).isPermutation();
  }

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(patterns,
                                                 [this](OpOperand *o) { return shouldFuse(o); });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
