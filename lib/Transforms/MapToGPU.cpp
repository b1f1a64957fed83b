//===- MapToGPU.cpp - one 1-D gpu.launch per loop nest ----------*- C++ -*-===//
#include "cmt/Transforms/Passes.h"
#include "cmt/Transforms/Utils/BufferInit.h"
#include "cmt/Transforms/Utils/Lanes.h"
#include "cmt/Transforms/Utils/Reduction.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/RegionUtils.h"

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

  /// Fills and copies folded into a reduction kernel (erased: never to be visited).
  llvm::DenseSet<Operation *> folded;

  void runOnOperation() override {
    IRRewriter rewriter(&getContext());
    for (auto func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      SmallVector<Operation *> nests;
      for (Operation &op : func.getBody().getOps())
        if (isa<memref::CopyOp, scf::ParallelOp>(op) ||
            (isa<linalg::LinalgOp>(op) && cast<linalg::LinalgOp>(op).hasPureBufferSemantics()))
          nests.push_back(&op);
      // Last first: a reduction can then still see (and fold) the fill that
      // initialises its output.
      for (Operation *op : llvm::reverse(nests))
        if (!folded.contains(op) && failed(mapNest(rewriter, op)))
          return signalPassFailure();
    }
  }

  LogicalResult mapNest(IRRewriter &rewriter, Operation *op) {
    if (auto parallel = dyn_cast<scf::ParallelOp>(op)) {
      if (parallel.getNumResults() != 0)
        return parallel.emitError("cmt-map-to-gpu: an scf.parallel with reductions is not supported");
      bool lanes = parallel->walk([](scf::ForOp loop) {
                             return loop->hasAttr(cmt::kLanesAttr) ? WalkResult::interrupt()
                                                                   : WalkResult::advance();
                           }).wasInterrupted();
      return launch(rewriter, parallel, parallel.getNumLoops(), /*warpPerPoint=*/lanes);
    }
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
    if (generic.getNumLoops() == 0)
      return scalarKernel(rewriter, generic);
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
    if (succeeded(warpReduction(rewriter, generic, numParallel)))
      return success();
    // A reduction's output that a fill alone initialises: each thread owns
    // its output element, so it stores the fill's value before its loops,
    // and the fill's launch goes (as in the warp path).
    std::optional<cmt::FillSource> source;
    AffineMap outMap;
    if (numParallel > 0 && numParallel < generic.getNumLoops() && generic.getNumDpsInits() == 1) {
      source = cmt::fillSource(generic.getDpsInits()[0], generic);
      outMap = generic.getMatchingIndexingMap(generic.getDpsInitOperand(0));
    }
    Value out = generic.getNumDpsInits() == 1 ? generic.getDpsInits()[0] : Value();
    FailureOr<linalg::LinalgLoops> loops = linalg::linalgOpToParallelLoops(rewriter, generic);
    if (failed(loops) || loops->empty())
      return generic.emitError("cmt-map-to-gpu cannot lower this op to loops");
    rewriter.eraseOp(generic);
    if (auto parallel = dyn_cast<scf::ParallelOp>((*loops)[0]); source && parallel) {
      Location loc = parallel.getLoc();
      rewriter.setInsertionPointToStart(parallel.getBody());
      SmallVector<Value> ivs(parallel.getInductionVars());
      Value zero = arith::ConstantIndexOp::create(rewriter, loc, 0);
      ivs.append(outMap.getNumDims() - ivs.size(), zero);  // the output map ignores them
      memref::StoreOp::create(rewriter, loc, source->fill.getInputs()[0], out,
                              applyMap(rewriter, loc, outMap, ivs));
      dropFolded(rewriter, *source);
    }
    return launch(rewriter, (*loops)[0], numParallel);
  }

  /// A loop-free generic (0-d buffers: a loss, a learning rate): one thread
  /// loads, computes and stores.
  LogicalResult scalarKernel(IRRewriter &rewriter, linalg::GenericOp g) {
    Location loc = g.getLoc();
    rewriter.setInsertionPoint(g);
    Value one = arith::ConstantIndexOp::create(rewriter, loc, 1);
    auto gpuLaunch = gpu::LaunchOp::create(rewriter, loc, one, one, one, one, one, one);
    Block &body = gpuLaunch.getBody().front();
    rewriter.setInsertionPointToStart(&body);
    gpu::TerminatorOp::create(rewriter, loc);
    rewriter.setInsertionPointToStart(&body);
    Block &gbody = g.getRegion().front();
    IRMapping map;
    // Operands are 0-d buffers, or scalars (a fill's value).
    for (OpOperand &operand : g->getOpOperands())
      map.map(gbody.getArgument(operand.getOperandNumber()),
              isa<MemRefType>(operand.get().getType())
                  ? memref::LoadOp::create(rewriter, loc, operand.get(), ValueRange{}).getResult()
                  : operand.get());
    for (Operation &op : gbody.without_terminator())
      rewriter.clone(op, map);
    for (auto [out, v] : llvm::zip(g.getDpsInits(), gbody.getTerminator()->getOperands()))
      memref::StoreOp::create(rewriter, loc, map.lookupOrDefault(v), out, ValueRange{});
    rewriter.eraseOp(g);
    return success();
  }

  /// A reduction whose outputs are too few to fill the GPU one thread each
  /// (layer-norm statistics, softmax maxima and sums, pooling) runs one
  /// warp per output: lane l takes reduction points l, l + 32, ... (the
  /// innermost reduction dimension fastest, so a contiguous row is read
  /// coalesced), then the lanes combine with butterfly shuffles and lane 0
  /// folds the result into the output.
  LogicalResult warpReduction(IRRewriter &rewriter, linalg::GenericOp g, unsigned numParallel) {
    // On buffers (no results), combined by addf or a maximum.
    Operation *combine = g.getNumResults() == 0 ? cmt::reductionCombiner(g) : nullptr;
    if (!combine)
      return failure();
    SmallVector<int64_t> ranges = g.getStaticLoopRanges();
    if (llvm::any_of(ranges, ShapedType::isDynamic) || numParallel == ranges.size())
      return failure();
    int64_t outputs = 1, reduced = 1;
    for (unsigned d = 0; d < ranges.size(); ++d)
      (d < numParallel ? outputs : reduced) *= ranges[d];
    // Enough outputs to fill the GPU one thread each, or too short a
    // reduction to share: thread per output (the loop path).
    constexpr int64_t kFillsGPU = 1 << 19;
    if (reduced < 16 || outputs >= kFillsGPU || outputs * 32 >= (int64_t(1) << 31))
      return failure();
    // Where the input's contiguous dimension is an output one (a per-channel
    // sum of channels-last data, such as cmt-split-reductions' partial sums),
    // consecutive threads read consecutive elements, while a warp's lanes
    // would read with a stride: with enough outputs to keep the GPU busy,
    // thread per output.
    constexpr int64_t kEnoughThreads = 1 << 13;
    if (outputs >= kEnoughThreads && g.getNumDpsInputs() > 0) {
      AffineMap in = g.getMatchingIndexingMap(g.getDpsInputOperand(0));
      if (in.getNumResults() > 0) {
        auto last = dyn_cast<AffineDimExpr>(in.getResults().back());
        if (last && last.getPosition() < numParallel)
          return failure();
      }
    }

    // The output's initial value, where a fill alone sets it (directly, or
    // through a copy of a filled buffer, as bufferization makes of a fill
    // shared by two reductions): the kernel starts from the fill's value and
    // the fill's and the copy's launches go away.
    OpOperand &init = g.getDpsInitsMutable()[0];
    std::optional<cmt::FillSource> source = cmt::fillSource(init.get(), g);
    Value initValue = source ? source->fill.getInputs()[0] : Value();
    Location loc = g.getLoc();
    rewriter.setInsertionPoint(g);
    auto cidx = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(rewriter, loc, v); };
    Value one = cidx(1);
    int64_t threads = outputs * 32, block = std::min<int64_t>(blockSize, threads);
    block = std::max<int64_t>(32, block / 32 * 32);
    auto gpuLaunch = gpu::LaunchOp::create(rewriter, loc, cidx((threads + block - 1) / block), one,
                                           one, cidx(block), one, one);
    Block &body = gpuLaunch.getBody().front();
    rewriter.setInsertionPointToStart(&body);
    gpu::TerminatorOp::create(rewriter, loc);
    rewriter.setInsertionPointToStart(&body);

    Type i32 = rewriter.getI32Type();
    auto c32 = [&](int64_t v) -> Value { return arith::ConstantIntOp::create(rewriter, loc, i32, v); };
    auto toIndex = [&](Value v) -> Value {
      return arith::IndexCastUIOp::create(rewriter, loc, rewriter.getIndexType(), v);
    };
    Value gid = arith::AddIOp::create(
        rewriter, loc, arith::MulIOp::create(rewriter, loc, gpuLaunch.getBlockIds().x, cidx(block)),
        gpuLaunch.getThreadIds().x);
    gid = arith::IndexCastUIOp::create(rewriter, loc, i32, gid);
    Value warp = arith::DivUIOp::create(rewriter, loc, gid, c32(32));
    Value lane = arith::RemUIOp::create(rewriter, loc, gid, c32(32));
    // Whole warps pass or fail this test together: the shuffles stay full.
    auto guard = scf::IfOp::create(
        rewriter, loc, arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ult, warp, c32(outputs)),
        /*withElseRegion=*/false);
    rewriter.setInsertionPointToStart(guard.thenBlock());

    // Delinearises `id` (i32) over ranges[from, to), innermost fastest.
    auto delinearize = [&](Value id, unsigned from, unsigned to, SmallVectorImpl<Value> &ivs) {
      SmallVector<Value> out(to - from);
      for (int64_t d = static_cast<int64_t>(to) - 1; d >= static_cast<int64_t>(from); --d) {
        Value idx = d == from ? id : arith::RemUIOp::create(rewriter, loc, id, c32(ranges[d])).getResult();
        if (d > from)
          id = arith::DivUIOp::create(rewriter, loc, id, c32(ranges[d]));
        out[d - from] = toIndex(idx);
      }
      ivs.append(out);
    };
    SmallVector<Value> outer;
    delinearize(warp, 0, numParallel, outer);

    auto load = [&](OpOperand &operand, ArrayRef<Value> ivs) -> Value {
      return memref::LoadOp::create(rewriter, loc, operand.get(),
                                    applyMap(rewriter, loc, g.getMatchingIndexingMap(&operand), ivs));
    };
    Block &gbody = g.getRegion().front();
    Value f = combine->getOperand(0) == gbody.getArguments().back() ? combine->getOperand(1)
                                                                    : combine->getOperand(0);
    auto combineWith = [&](Value a, Value b) -> Value {
      OperationState state(loc, combine->getName(), ValueRange{a, b}, TypeRange{a.getType()},
                           combine->getAttrs());
      return rewriter.create(state)->getResult(0);
    };
    Type elem = f.getType();
    Value identity = arith::ConstantOp::create(
        rewriter, loc, isa<arith::AddFOp>(combine)
                           ? rewriter.getFloatAttr(elem, 0.0)
                           : rewriter.getFloatAttr(elem, -std::numeric_limits<double>::infinity()));
    auto loop = scf::ForOp::create(rewriter, loc, toIndex(lane), cidx(reduced), cidx(32),
                                   ValueRange{identity});
    {
      OpBuilder::InsertionGuard inLoop(rewriter);
      rewriter.setInsertionPointToStart(loop.getBody());
      SmallVector<Value> ivs(outer);
      delinearize(arith::IndexCastUIOp::create(rewriter, loc, i32, loop.getInductionVar()),
                  numParallel, ranges.size(), ivs);
      IRMapping map;
      for (OpOperand *in : g.getDpsInputOperands())
        map.map(gbody.getArgument(in->getOperandNumber()), load(*in, ivs));
      for (Operation &op : gbody.without_terminator()) {
        if (&op == combine)
          continue;
        if (auto index = dyn_cast<linalg::IndexOp>(op)) {
          map.map(index.getResult(), ivs[index.getDim()]);
          continue;
        }
        rewriter.clone(op, map);
      }
      scf::YieldOp::create(rewriter, loc,
                           combineWith(loop.getRegionIterArgs()[0], map.lookupOrDefault(f)));
    }
    Value acc = loop.getResult(0);
    for (int32_t offset = 16; offset > 0; offset /= 2)
      acc = combineWith(acc, gpu::ShuffleOp::create(rewriter, loc, acc, offset, 32,
                                                    gpu::ShuffleMode::XOR)
                                 .getShuffleResult());
    auto first = scf::IfOp::create(
        rewriter, loc, arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::eq, lane, c32(0)),
        /*withElseRegion=*/false);
    rewriter.setInsertionPointToStart(first.thenBlock());
    SmallVector<Value> ivs(outer);
    ivs.append(ranges.size() - numParallel, cidx(0));  // the output map ignores them
    SmallVector<Value> idx = applyMap(rewriter, loc, g.getMatchingIndexingMap(&init), ivs);
    Value old = initValue ? initValue : memref::LoadOp::create(rewriter, loc, init.get(), idx).getResult();
    memref::StoreOp::create(rewriter, loc, combineWith(old, acc), init.get(), idx);
    rewriter.eraseOp(g);
    if (source)
      dropFolded(rewriter, *source);
    return success();
  }

  /// The indices `m` gives for loop indices `ivs`.
  static SmallVector<Value> applyMap(OpBuilder &b, Location loc, AffineMap m, ValueRange ivs) {
    SmallVector<Value> idx;
    for (AffineExpr e : m.getResults())
      idx.push_back(affine::AffineApplyOp::create(b, loc, AffineMap::get(m.getNumDims(), 0, e), ivs));
    return idx;
  }

  /// Erases the copy and fill that a kernel starting from the fill's value
  /// made dead; they are never visited again.
  void dropFolded(IRRewriter &rewriter, const cmt::FillSource &source) {
    for (Operation *op : source.foldedOps()) {
      folded.insert(op);
      rewriter.eraseOp(op);
    }
  }

  /// Wraps `outer` (the scf.parallel of the nest, or a lone reduction loop)
  /// in a gpu.launch with one thread per parallel point, or one warp
  /// (`warpPerPoint`, Lanes.h: its `cmt.lanes` loops spread over the lanes).
  LogicalResult launch(IRRewriter &rewriter, Operation *outer, unsigned numParallel,
                       bool warpPerPoint = false) {
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
    int64_t lanes = warpPerPoint ? 32 : 1, threads = total * lanes;
    int64_t block = parallel ? std::min<int64_t>(blockSize / 32 * 32, (threads + 31) / 32 * 32) : 1;
    block = std::max<int64_t>(block, parallel ? 32 : 1);
    int64_t grid = (threads + block - 1) / block;

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
    Value lane;
    if (warpPerPoint) {
      // Blocks are whole warps, so a warp's lanes share a point and pass or
      // fail the range test together: the shuffles stay full.
      lane = arith::RemUIOp::create(rewriter, loc, id, cidx(32));
      id = arith::DivUIOp::create(rewriter, loc, id, cidx(32));
    }
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
    Block *kernel = rewriter.getInsertionBlock();
    // Constants from above (loop bounds, a hand-written nest's literals) are
    // cloned in: as kernel arguments they would hide trip counts and strides
    // from the GPU compiler, which then cannot unroll or fold index math.
    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(parallel.getRegion(), above);
    for (Value v : above)
      if (Operation *def = v.getDefiningOp(); def && def->hasTrait<OpTrait::ConstantLike>())
        map.map(v, rewriter.clone(*def)->getResult(0));
    for (Operation &op : parallel.getBody()->without_terminator())
      rewriter.clone(op, map);
    rewriter.eraseOp(parallel);
    // A thread runs one point, once: its private arrays go to the kernel's
    // entry (fixed slots, not a stack that grows in loops) and need no scope.
    SmallVector<memref::AllocaOp> arrays;
    kernel->walk([&](memref::AllocaOp a) {
      if (a->getNumOperands() == 0)
        arrays.push_back(a);
    });
    Block &entry = gpuLaunch.getBody().front();
    for (memref::AllocaOp a : arrays)
      a->moveBefore(&entry, entry.begin());
    SmallVector<memref::AllocaScopeOp> scopes;
    kernel->walk([&](memref::AllocaScopeOp s) { scopes.push_back(s); });
    for (memref::AllocaScopeOp scope : scopes) {
      Block &inner = scope.getBodyRegion().front();
      Operation *ret = inner.getTerminator();
      rewriter.inlineBlockBefore(&inner, scope);
      rewriter.replaceOp(scope, ret->getOperands());
      rewriter.eraseOp(ret);
    }
    if (!warpPerPoint)
      return success();
    SmallVector<scf::ForOp> laneLoops;
    kernel->walk([&](scf::ForOp loop) {
      if (loop->hasAttr(cmt::kLanesAttr))
        laneLoops.push_back(loop);
    });
    for (scf::ForOp loop : laneLoops)
      if (failed(spreadOverLanes(rewriter, loop, lane)))
        return failure();
    return success();
  }

  /// Runs `loop`'s iterations lane, lane + 32, ... of a warp (Lanes.h): each
  /// lane sums its share of every iter_arg from zero, a butterfly of XOR
  /// shuffles gives every lane the total, and the loop's initial value is
  /// added last.
  LogicalResult spreadOverLanes(IRRewriter &rewriter, scf::ForOp loop, Value lane) {
    for (auto outer = loop->getParentOfType<scf::ForOp>(); outer; outer = outer->getParentOfType<scf::ForOp>())
      if (outer->hasAttr(cmt::kLanesAttr))
        return loop.emitError("cmt-map-to-gpu: a `cmt.lanes` loop inside another");
    auto yield = cast<scf::YieldOp>(loop.getBody()->getTerminator());
    for (auto [arg, yielded] : llvm::zip(loop.getRegionIterArgs(), yield.getOperands())) {
      auto add = yielded.getDefiningOp<arith::AddFOp>();
      // Only the total leaves the loop: a partial sum used otherwise would be
      // one lane's.
      if (!add || !arg.hasOneUse() || !add->hasOneUse() || (add.getLhs() != arg && add.getRhs() != arg))
        return loop.emitError("cmt-map-to-gpu: a `cmt.lanes` loop's iter_args must be sums");
    }
    // Each lane would hold only its share of a private array written here.
    WalkResult privateStore = loop->walk([](memref::StoreOp store) {
      return store.getMemRef().getDefiningOp<memref::AllocaOp>() ? WalkResult::interrupt()
                                                                 : WalkResult::advance();
    });
    if (privateStore.wasInterrupted())
      return loop.emitError("cmt-map-to-gpu: a `cmt.lanes` loop writes a private array");
    Location loc = loop.getLoc();
    rewriter.setInsertionPoint(loop);
    Value step = loop.getStep();
    Value first = arith::AddIOp::create(rewriter, loc, loop.getLowerBound(),
                                        arith::MulIOp::create(rewriter, loc, lane, step));
    Value stride = arith::MulIOp::create(rewriter, loc, step, arith::ConstantIndexOp::create(rewriter, loc, 32));
    SmallVector<Value> inits(loop.getInitArgs());
    rewriter.modifyOpInPlace(loop, [&] {
      loop.setLowerBound(first);
      loop.setStep(stride);
      for (OpOperand &init : loop.getInitArgsMutable())
        init.set(arith::ConstantOp::create(rewriter, loc, rewriter.getZeroAttr(init.get().getType())));
      loop->removeAttr(cmt::kLanesAttr);
    });
    rewriter.setInsertionPointAfter(loop);
    for (auto [result, init] : llvm::zip(loop.getResults(), inits)) {
      SmallVector<OpOperand *> uses = llvm::to_vector(llvm::make_pointer_range(result.getUses()));
      Value total = result;
      for (int32_t offset = 16; offset > 0; offset /= 2)
        total = arith::AddFOp::create(
            rewriter, loc, total,
            gpu::ShuffleOp::create(rewriter, loc, total, offset, 32, gpu::ShuffleMode::XOR).getShuffleResult());
      Value withInit = arith::AddFOp::create(rewriter, loc, init, total);
      for (OpOperand *use : uses)
        rewriter.modifyOpInPlace(use->getOwner(), [&] { use->set(withInit); });
    }
    return success();
  }
};
} // namespace
