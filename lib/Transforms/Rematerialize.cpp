//===- Rematerialize.cpp - recompute elementwise results past the peak -*- C++ -*-===//
//
// A training step keeps every forward value its backward reads alive from
// the forward to the backward: that is the step's peak memory. Many of them
// are cheap elementwise functions (GELU, the batch-norm apply, residual adds)
// of values the backward keeps anyway. Recomputing such a value where the
// backward reads it costs one more pass over its inputs and frees its memory
// across the peak.
//
//===----------------------------------------------------------------------===//
#include "cmt/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/Support/Format.h"

namespace cmt {
#define GEN_PASS_DEF_CMTREMATERIALIZE
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
bool isView(Operation *op) { return isa<tensor::CollapseShapeOp, tensor::ExpandShapeOp>(op); }

int64_t bytesOf(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || !t.hasStaticShape())
    return 0;
  return t.getNumElements() * std::max<int64_t>(1, t.getElementTypeBitWidth() / 8);
}

/// An elementwise generic whose result can be recomputed anywhere its
/// operands are available: parallel loops only, one result, an output that
/// starts empty (the payload never reads it).
bool isCandidate(Operation *op) {
  auto g = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!g || g.getNumDpsInits() != 1 || g.getNumLoops() != g.getNumParallelLoops() ||
      !g.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>() ||
      g.payloadUsesValueFromOperand(g.getDpsInitOperand(0)))
    return false;
  return true;
}

/// What may be recomputed on the way to a candidate's operands: other
/// candidates, padding (the im2col patches of a convolution read a padded
/// input) and views.
bool isRecomputable(Operation *op) {
  auto pad = dyn_cast_or_null<tensor::PadOp>(op);
  return isCandidate(op) || (op && isView(op)) || (pad && pad.getResultType().hasStaticShape());
}

/// The values `op` reads: its operands (not a generic's empty output) and
/// whatever its regions capture from above.
SetVector<Value> readsOf(Operation *op) {
  SetVector<Value> reads;
  if (auto g = dyn_cast<linalg::GenericOp>(op))
    for (Value v : g.getDpsInputs())
      reads.insert(v);
  else
    reads.insert(op->getOperands().begin(), op->getOperands().end());
  getUsedValuesDefinedAbove(op->getRegions(), reads);
  return reads;
}

struct Rematerializer {
  Rematerializer(Block &body, int64_t smallBytes) : body(body), smallBytes(smallBytes) {}
  Block &body;
  int64_t smallBytes;
  DenseMap<Operation *, int64_t> pos;
  DenseMap<Value, int64_t> last; // last use, through views

  void number() {
    pos.clear();
    last.clear();
    int64_t i = 0;
    for (Operation &op : body)
      pos[&op] = i++;
  }

  /// The top-level op of `body` holding `op`.
  Operation *top(Operation *op) { return body.findAncestorOpInBlock(*op); }

  /// Where the memory of `v` is last needed: its last user, where views of
  /// it count as it (bufferization makes them aliases).
  int64_t lastUse(Value v) {
    auto it = last.find(v);
    if (it != last.end())
      return it->second;
    int64_t l = v.getDefiningOp() ? pos[top(v.getDefiningOp())] : -1;
    for (Operation *user : v.getUsers()) {
      Operation *t = top(user);
      if (!t)
        continue;
      l = std::max(l, pos[t]);
      if (isView(t))
        l = std::max(l, lastUse(t->getResult(0)));
    }
    return last[v] = l;
  }

  /// The position where the most tensor bytes are alive (a static estimate
  /// of bufferization's: each op's results from it to their last use).
  int64_t peak() {
    std::vector<int64_t> delta(body.getOperations().size() + 1, 0);
    for (Operation &op : body) {
      if (isView(&op) || isa<tensor::EmptyOp>(op))
        continue;
      for (Value r : op.getResults()) {
        int64_t b = bytesOf(r);
        if (!b)
          continue;
        delta[pos[&op]] += b;
        delta[lastUse(r) + 1] -= b;
      }
    }
    int64_t live = 0, best = 0, at = 0;
    for (size_t i = 0; i < delta.size(); ++i) {
      live += delta[i];
      if (live > best)
        best = live, at = static_cast<int64_t>(i);
    }
    return at;
  }

  /// The uses of `r`, seen through views: (top-level user, operand).
  void leafUses(Value r, SmallVectorImpl<OpOperand *> &out) {
    for (OpOperand &use : r.getUses()) {
      Operation *t = top(use.getOwner());
      if (t && isView(t) && t == use.getOwner())
        leafUses(t->getResult(0), out);
      else if (t)
        out.push_back(&use);
    }
  }

  /// Adds to `ops` (producers first) what must be recomputed for `v` to be
  /// available at `first`: nothing when it is small, an argument or alive
  /// there anyway; else its producer, if recomputable, and what that needs.
  bool collect(Value v, int64_t first, SetVector<Operation *> &ops, int depth) {
    if (bytesOf(v) <= smallBytes || isa<BlockArgument>(v) || lastUse(v) >= first)
      return true;
    Operation *def = v.getDefiningOp();
    if (ops.contains(def))
      return true;
    if (depth == 0 || !isRecomputable(def) || def->getBlock() != &body)
      return false;
    for (Value read : readsOf(def))
      if (!collect(read, first, ops, depth - 1))
        return false;
    ops.insert(def);
    return true;
  }

  /// Recomputes `g` right before the first of its uses past the peak, for
  /// those uses, when what it reads is alive there anyway or can itself be
  /// recomputed from such values (a few levels deep).
  bool tryRematerialize(linalg::GenericOp g, int64_t peakPos) {
    Value r = g->getResult(0);
    if (bytesOf(r) <= smallBytes)
      return false;
    SmallVector<OpOperand *> uses;
    leafUses(r, uses);
    auto at = [&](OpOperand *u) { return pos[top(u->getOwner())]; };
    int64_t first = INT64_MAX, before = pos[g];
    for (OpOperand *u : uses) {
      int64_t p = at(u);
      if (p > peakPos)
        first = std::min(first, p);
      else
        before = std::max(before, p);
    }
    if (first == INT64_MAX || before >= peakPos)
      return false;
    SetVector<Operation *> ops;
    for (Value v : readsOf(g))
      if (!collect(v, first, ops, /*depth=*/3))
        return false;
    ops.insert(g);

    // The clone and, per use, the views between r and it.
    Operation *firstUser = nullptr;
    for (OpOperand *u : uses)
      if (at(u) == first)
        firstUser = top(u->getOwner());
    OpBuilder b(firstUser);
    IRMapping map;
    for (Operation *op : ops) {
      if (auto gen = dyn_cast<linalg::GenericOp>(op)) {
        auto empty = gen.getDpsInits()[0].getDefiningOp<tensor::EmptyOp>();
        map.map(empty.getResult(), b.clone(*empty)->getResult(0));
      }
      b.clone(*op, map);
    }
    std::function<Value(Value)> rebuild = [&](Value v) -> Value {
      if (Value m = map.lookupOrNull(v))
        return m;
      Operation *view = v.getDefiningOp();
      Value source = rebuild(view->getOperand(0));
      IRMapping one;
      one.map(view->getOperand(0), source);
      Value out = b.clone(*view, one)->getResult(0);
      map.map(v, out);
      return out;
    };
    SmallVector<Operation *> views; // the originals the late uses went through
    for (OpOperand *u : uses)
      if (at(u) > peakPos) {
        for (Value v = u->get(); v != r; v = v.getDefiningOp()->getOperand(0))
          if (!llvm::is_contained(views, v.getDefiningOp()))
            views.push_back(v.getDefiningOp());
        u->set(rebuild(u->get()));
      }
    // Dead ones go (outer views before the views they read).
    for (bool erased = true; erased;) {
      erased = false;
      for (Operation *&view : views)
        if (view && view->use_empty()) {
          view->erase();
          view = nullptr;
          erased = true;
        }
    }
    if (r.use_empty())
      g->erase();
    return true;
  }

  /// CSE merges identical tensor.empty ops: a value computed before the peak
  /// and one after it then start from one empty tensor, and bufferization
  /// keeps its buffer from the first user to the last, across the peak. The
  /// users past the peak get their own.
  void splitEmpties(int64_t peakPos) {
    SmallVector<tensor::EmptyOp> before;
    for (auto empty : body.getOps<tensor::EmptyOp>())
      if (pos[empty] < peakPos)
        before.push_back(empty);
    for (tensor::EmptyOp empty : before) {
      for (OpOperand &use : llvm::make_early_inc_range(empty->getUses())) {
        Operation *user = top(use.getOwner());
        if (user && pos[user] > peakPos) {
          OpBuilder b(user);
          use.set(b.clone(*empty)->getResult(0));
        }
      }
    }
  }

  void run() {
    number();
    splitEmpties(peak());
    // Later values first: recomputing one keeps its operands' memory in use
    // at the same place, so that they may follow (a batch norm's output,
    // then the GELU output it was computed from).
    for (int round = 0; round < 100000; ++round) {
      number();
      int64_t peakPos = peak();
      bool changed = false;
      for (Operation &op : llvm::reverse(body)) {
        if (pos[&op] >= peakPos || !isCandidate(&op))
          continue;
        if (tryRematerialize(cast<linalg::GenericOp>(op), peakPos)) {
          changed = true;
          break;
        }
      }
      if (!changed)
        return;
    }
  }

  /// A remark on each value alive at the peak, largest first: what the
  /// step keeps (and what it is computing there).
  void report(func::FuncOp func) {
    number();
    int64_t peakPos = peak(), total = 0;
    SmallVector<std::pair<int64_t, Value>> kept;
    for (Operation &op : body) {
      if (pos[&op] > peakPos || isView(&op) || isa<tensor::EmptyOp>(op))
        continue;
      for (Value r : op.getResults())
        if (int64_t b = bytesOf(r); b > smallBytes && lastUse(r) >= peakPos)
          kept.push_back({b, r}), total += b;
    }
    llvm::stable_sort(kept, [](auto &x, auto &y) { return x.first > y.first; });
    std::string mib;
    llvm::raw_string_ostream(mib) << llvm::format("%.1f", static_cast<double>(total) / 1048576);
    func.emitRemark() << kept.size() << " values (" << mib << " MiB) alive at the memory peak";
    for (auto [b, v] : kept)
      v.getDefiningOp()->emitRemark() << "alive at the memory peak: " << b << " bytes, "
                                      << v.getDefiningOp()->getName() << " " << v.getLoc();
  }
};

struct RematerializePass : cmt::impl::CMTRematerializeBase<RematerializePass> {
  using Base::Base;
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.getBody().getBlocks().size() != 1)
      return;
    Rematerializer r(func.getBody().front(), smallBytes);
    r.run();
    if (report)
      r.report(func);
  }
};
} // namespace
