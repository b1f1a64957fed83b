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

  /// A reshape between two elementwise ops (an image's BN and the residual
  /// add of its tokens) keeps them apart; folding it into one of them (its
  /// loops expanded to the finer shape) lets them fuse.
  static bool shouldFoldReshape(OpOperand *operand) {
    auto elementwise = [](Operation *op) {
      auto g = dyn_cast_or_null<linalg::GenericOp>(op);
      return g && allParallel(g);
    };
    Operation *owner = operand->getOwner();
    Value v = operand->get();
    if (auto collapse = v.getDefiningOp<tensor::CollapseShapeOp>())
      // A generic reading a collapse of another's result: expand the reader.
      return elementwise(owner) && elementwise(collapse.getSrc().getDefiningOp()) &&
             collapse.getSrc().hasOneUse() && collapse->hasOneUse();
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(owner))
      // An expansion of a generic's result read by generics: expand the writer.
      return elementwise(v.getDefiningOp()) && v.hasOneUse() &&
             llvm::all_of(expand->getUsers(), elementwise);
    return false;
  }

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    linalg::populateElementwiseOpsFusionPatterns(patterns,
                                                 [this](OpOperand *o) { return shouldFuse(o); });
    if (foldReshapes)
      linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, shouldFoldReshape);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
