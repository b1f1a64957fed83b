//===- ApproximateMath.cpp - vectorisable erf and exp -----------*- C++ -*-===//
#include "cmt/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace cmt {
#define GEN_PASS_DEF_CMTAPPROXIMATEMATH
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
struct ApproximateMathPass : cmt::impl::CMTApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) {
          return name == "erf" || name == "exp" || name == "math.erf" || name == "math.exp";
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
