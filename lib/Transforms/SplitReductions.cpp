//===- SplitReductions.cpp - few outputs, long sums: two stages -*- C++ -*-===//
//
// A training step's batch-norm statistics and bias gradients sum a whole
// batch of images into one value per channel: 16 outputs over 819,200
// elements for CMT-Ti's stem. On the GPU one warp per output leaves all but
// a few SMs idle and reads channels-last memory with a stride. Splitting the
// sum turns it into many coalesced partial sums and one short sum per output.
//
//===----------------------------------------------------------------------===//
#include "cmt/Transforms/Passes.h"
#include "cmt/Transforms/Utils/Reduction.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace cmt {
#define GEN_PASS_DEF_CMTSPLITREDUCTIONS
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
using utils::IteratorType;

/// `yield %out + f(...)`, the output read nowhere else: a sum.
bool isSum(linalg::GenericOp g) {
  return g.getNumResults() == 1 && isa_and_nonnull<arith::AddFOp>(cmt::reductionCombiner(g));
}

struct SplitReductionsPass : cmt::impl::CMTSplitReductionsBase<SplitReductionsPass> {
  using CMTSplitReductionsBase::CMTSplitReductionsBase;

  void runOnOperation() override {
    SmallVector<linalg::GenericOp> sums;
    getOperation().walk([&](linalg::GenericOp g) {
      if (isSum(g) && g.getNumReductionLoops() > 0 && g.hasPureTensorSemantics())
        sums.push_back(g);
    });
    for (linalg::GenericOp g : sums)
      split(g);
  }

  void split(linalg::GenericOp g) {
    SmallVector<int64_t> ranges = g.getStaticLoopRanges();
    if (llvm::any_of(ranges, ShapedType::isDynamic))
      return;
    SmallVector<IteratorType> its = g.getIteratorTypesArray();
    int64_t outputs = 1, reduced = 1;
    for (auto [range, it] : llvm::zip(ranges, its))
      (it == IteratorType::parallel ? outputs : reduced) *= range;
    if (outputs > maxOutputs || reduced < minReduced)
      return;
    // Reduction loops become parallel, outermost first, until the partial
    // sums are enough; the innermost reduction loop stays one.
    SmallVector<unsigned> reductionDims;
    for (auto [d, it] : llvm::enumerate(its))
      if (it == IteratorType::reduction)
        reductionDims.push_back(d);
    SmallVector<unsigned> partial;
    int64_t partials = outputs;
    for (unsigned d : ArrayRef<unsigned>(reductionDims).drop_back()) {
      if (partials >= targetPartials)
        break;
      partial.push_back(d);
      partials *= ranges[d];
    }
    if (partial.empty())
      return;

    OpBuilder b(g);
    Location loc = g.getLoc();
    MLIRContext *ctx = b.getContext();
    OpOperand *init = g.getDpsInitOperand(0);
    AffineMap outMap = g.getMatchingIndexingMap(init);
    auto outType = cast<RankedTensorType>(init->get().getType());
    // Partial sums laid out (outputs..., split loops...): the second stage
    // then sums contiguous runs, one warp per output.
    SmallVector<AffineExpr> partialExprs(outMap.getResults());
    SmallVector<int64_t> partialShape(outType.getShape());
    for (unsigned d : partial) {
      partialExprs.push_back(b.getAffineDimExpr(d));
      partialShape.push_back(ranges[d]);
    }
    Type elem = outType.getElementType();
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elem));
    Value empty = tensor::EmptyOp::create(b, loc, partialShape, elem);
    Value zeros = linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{empty}).getResult(0);

    SmallVector<AffineMap> maps = g.getIndexingMapsArray();
    maps.back() = AffineMap::get(g.getNumLoops(), 0, partialExprs, ctx);
    SmallVector<IteratorType> firstIts(its);
    for (unsigned d : partial)
      firstIts[d] = IteratorType::parallel;
    auto first = linalg::GenericOp::create(b, loc, TypeRange{zeros.getType()}, g.getDpsInputs(),
                                           ValueRange{zeros}, maps, firstIts);
    first.getRegion().takeBody(g.getRegion());

    // Second stage: sum the partials of each output into the original init.
    unsigned outRank = outType.getRank(), rank = outRank + partial.size();
    SmallVector<IteratorType> secondIts(outRank, IteratorType::parallel);
    secondIts.append(partial.size(), IteratorType::reduction);
    auto second = linalg::GenericOp::create(
        b, loc, TypeRange{outType}, ValueRange{first.getResult(0)}, ValueRange{init->get()},
        ArrayRef<AffineMap>{b.getMultiDimIdentityMap(rank),
                            b.getMultiDimIdentityMap(rank).getMajorSubMap(outRank)},
        secondIts, [](OpBuilder &nb, Location l, ValueRange a) {
          linalg::YieldOp::create(nb, l, ValueRange{arith::AddFOp::create(nb, l, a[1], a[0])});
        });
    g.getResult(0).replaceAllUsesWith(second.getResult(0));
    g.erase();
  }
};
} // namespace
