//===- MapToGPU.cpp - one 1-D gpu.launch per loop nest ----------*- C++ -*-===//
#include "cmt/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

namespace cmt {
#define GEN_PASS_DEF_CMTMAPTOGPU
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
/// A generic copying `src` into `dst` elementwise: the same kernel path as
/// every other loop nest, whatever the views' layouts.
linalg::GenericOp copyAsGeneric(RewriterBase &rewriter, memref::CopyOp copy) {
  auto type = cast<MemRefType>(copy.getSource().getType());
  AffineMap id = rewriter.getMultiDimIdentityMap(type.getRank());
  SmallVector<utils::IteratorType> iterators(type.getRank(), utils::IteratorType::parallel);
  rewriter.setInsertionPoint(copy);
  auto generic = linalg::GenericOp::create(
      rewriter, copy.getLoc(), ValueRange{copy.getSource()}, ValueRange{copy.getTarget()},
      ArrayRef<AffineMap>{id, id}, iterators,
      [](OpBuilder &b, Location loc, ValueRange args) { linalg::YieldOp::create(b, loc, args[0]); });
  rewriter.eraseOp(copy);
  return generic;
}

struct MapToGPUPass : cmt::impl::CMTMapToGPUBase<MapToGPUPass> {
  using CMTMapToGPUBase::CMTMapToGPUBase;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      SmallVector<Operation *> nests;
      for (Operation &op : func.getBody().getOps())
        if (isa<memref::CopyOp>(op) ||
            (isa<linalg::LinalgOp>(op) && cast<linalg::LinalgOp>(op).hasPureBufferSemantics()))
          nests.push_back(&op);
      for (Operation *op : nests)
        if (failed(mapNest(rewriter, op)))
          return signalPassFailure();
    }
  }

  LogicalResult mapNest(IRRewriter &rewriter, Operation *op) {
    if (auto copy = dyn_cast<memref::CopyOp>(op)) {
      if (!cast<MemRefType>(copy.getSource().getType()).hasStaticShape())
        return copy.emitError("cmt-map-to-gpu needs static shapes");
      op = copyAsGeneric(rewriter, copy);
    }
    auto linalgOp = cast<linalg::LinalgOp>(op);
    rewriter.setInsertionPoint(op);
    linalg::GenericOp generic = dyn_cast<linalg::GenericOp>(op);
    if (!generic) {
      FailureOr<linalg::GenericOp> g = linalg::generalizeNamedOp(rewriter, linalgOp);
      if (failed(g))
        return op->emitError("cmt-map-to-gpu cannot generalize this op");
      generic = *g;
    }
    // Parallel iterators first: they become threads, reductions loops inside.
    SmallVector<unsigned> order;
    for (auto [i, it] : llvm::enumerate(generic.getIteratorTypesArray()))
      if (it == utils::IteratorType::parallel)
        order.push_back(i);
    unsigned numParallel = order.size();
    for (auto [i, it] : llvm::enumerate(generic.getIteratorTypesArray()))
      if (it != utils::IteratorType::parallel)
        order.push_back(i);
    if (!llvm::equal(order, llvm::seq<unsigned>(0, order.size()))) {
      FailureOr<linalg::GenericOp> swapped = linalg::interchangeGenericOp(rewriter, generic, order);
      if (failed(swapped))
        return generic.emitError("cmt-map-to-gpu cannot interchange the iterators");
      generic = *swapped;
    }
    FailureOr<linalg::LinalgLoops> loops = linalg::linalgOpToParallelLoops(rewriter, generic);
    if (failed(loops) || loops->empty())
      return generic.emitError("cmt-map-to-gpu cannot lower this op to loops");
    rewriter.eraseOp(generic);
    return launch(rewriter, (*loops)[0], numParallel);
  }

  /// Wraps `outer` (the scf.parallel of the nest, or a lone reduction loop)
  /// in a gpu.launch with one thread per parallel point.
  LogicalResult launch(IRRewriter &rewriter, Operation *outer, unsigned numParallel) {
    Location loc = outer->getLoc();
    auto parallel = dyn_cast<scf::ParallelOp>(outer);
    SmallVector<int64_t> lbs, extents, steps;
    int64_t total = 1;
    if (parallel && numParallel > 0) {
      for (auto [lb, ub, step] :
           llvm::zip(parallel.getLowerBound(), parallel.getUpperBound(), parallel.getStep())) {
        std::optional<int64_t> l = getConstantIntValue(lb), u = getConstantIntValue(ub),
                               s = getConstantIntValue(step);
        if (!l || !u || !s || *s <= 0)
          return parallel.emitError("cmt-map-to-gpu needs constant loop bounds");
        lbs.push_back(*l);
        steps.push_back(*s);
        extents.push_back((*u - *l + *s - 1) / *s);
        total *= extents.back();
      }
    } else {
      parallel = nullptr;  // a full reduction: one thread runs it
    }
    // A full reduction gets exactly one thread: more would race on the result.
    int64_t block = parallel ? std::min<int64_t>(blockSize, (total + 31) / 32 * 32) : 1;
    int64_t grid = (total + block - 1) / block;

    rewriter.setInsertionPoint(outer);
    auto cidx = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(rewriter, loc, v); };
    Value one = cidx(1);
    auto gpuLaunch = gpu::LaunchOp::create(rewriter, loc, cidx(grid), one, one, cidx(block), one, one);
    Block &body = gpuLaunch.getBody().front();
    rewriter.setInsertionPointToStart(&body);
    gpu::TerminatorOp::create(rewriter, loc);
    rewriter.setInsertionPointToStart(&body);

    if (!parallel) {
      outer->moveBefore(body.getTerminator());
      return success();
    }
    Value id = arith::AddIOp::create(
        rewriter, loc, arith::MulIOp::create(rewriter, loc, gpuLaunch.getBlockIds().x, cidx(block)),
        gpuLaunch.getThreadIds().x);
    Value inRange = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, id, cidx(total));
    auto guard = scf::IfOp::create(rewriter, loc, inRange, /*withElseRegion=*/false);
    rewriter.setInsertionPointToStart(guard.thenBlock());
    // Innermost dimension fastest: consecutive threads, consecutive elements.
    // The division chain runs on 32-bit integers where the space fits (a
    // 64-bit division by a constant costs several times more on the GPU).
    bool narrow = total < (int64_t(1) << 31);
    Type i32 = rewriter.getI32Type();
    auto cst = [&](int64_t v) -> Value {
      return narrow ? arith::ConstantIntOp::create(rewriter, loc, i32, v).getResult() : cidx(v);
    };
    IRMapping map;
    Value rest = narrow ? arith::IndexCastUIOp::create(rewriter, loc, i32, id).getResult() : id;
    for (int64_t d = static_cast<int64_t>(extents.size()) - 1; d >= 0; --d) {
      Value idx = d == 0 ? rest : arith::RemUIOp::create(rewriter, loc, rest, cst(extents[d])).getResult();
      if (d > 0)
        rest = arith::DivUIOp::create(rewriter, loc, rest, cst(extents[d]));
      if (narrow)
        idx = arith::IndexCastUIOp::create(rewriter, loc, rewriter.getIndexType(), idx);
      Value iv = arith::AddIOp::create(rewriter, loc, cidx(lbs[d]),
                                       arith::MulIOp::create(rewriter, loc, idx, cidx(steps[d])));
      map.map(parallel.getInductionVars()[d], iv);
    }
    for (Operation &op : parallel.getBody()->without_terminator())
      rewriter.clone(op, map);
    rewriter.eraseOp(parallel);
    return success();
  }
};
} // namespace
