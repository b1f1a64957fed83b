//===- HoistParameterMath.cpp - compute what the weights alone decide once -===//
//
// An inference forward recomputes, at every call, values that depend on the
// weights alone: weights rounded to bf16 for the tensor cores, depthwise
// kernels re-laid out, per-channel batch-norm scales. On the GPU each is a
// launch per forward (a tenth of them at batch 1, where launches set the
// latency); on the CPU, whose kernel runs once per image, each is redone per
// image. This pass moves them into a function of the weights, @F_prepare,
// which the executable runs once after loading the weights; @F takes their
// values as arguments of kind "prepared".
//
//===----------------------------------------------------------------------===//
#include "cmt/Dialect/CMT/IR/CMTDialect.h"
#include "cmt/Transforms/Passes.h"
#include "cmt/Transforms/Utils/Views.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/DestinationStyleOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallBitVector.h"

namespace cmt {
#define GEN_PASS_DEF_CMTHOISTPARAMETERMATH
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
int64_t elementsOf(Type t) {
  auto shaped = dyn_cast<RankedTensorType>(t);
  return shaped && shaped.hasStaticShape() ? shaped.getNumElements() : -1;
}

struct Hoisting {
  func::FuncOp func;
  /// Values decided by the weights alone (and constants).
  llvm::DenseSet<Value> fixed;
  /// Per such value: the weight arguments it comes from.
  llvm::DenseMap<Value, llvm::SmallBitVector> sources;
  /// Per such value: whether computing it takes more than views.
  llvm::DenseSet<Value> computed;

  /// The operands of `op` and the values its regions capture.
  static llvm::SetVector<Value> usedBy(Operation &op) {
    llvm::SetVector<Value> used(op.getOperands().begin(), op.getOperands().end());
    for (Region &r : op.getRegions())
      getUsedValuesDefinedAbove(r, used);
    return used;
  }

  void analyse() {
    for (BlockArgument arg : func.getArguments()) {
      auto kind = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), cmt::kKindAttr);
      if (kind && (kind.getValue() == cmt::kKindParameter || kind.getValue() == cmt::kKindBuffer)) {
        fixed.insert(arg);
        sources[arg] = llvm::SmallBitVector(func.getNumArguments());
        sources[arg].set(arg.getArgNumber());
      }
    }
    for (Operation &op : func.getBody().front()) {
      // Depends on weights alone: no effects, and reads only fixed values.
      if (op.getNumResults() == 0 || !isMemoryEffectFree(&op))
        continue;
      llvm::SetVector<Value> used = usedBy(op);
      if (!llvm::all_of(used, [&](Value v) { return fixed.contains(v); }))
        continue;
      llvm::SmallBitVector from(func.getNumArguments());
      bool compute = !cmt::isTensorView(&op) && !op.hasTrait<OpTrait::ConstantLike>() &&
                     !isa<tensor::EmptyOp>(op);
      for (Value v : used) {
        compute |= computed.contains(v);
        auto it = sources.find(v);
        if (it != sources.end())
          from |= it->second;
      }
      for (Value r : op.getResults()) {
        fixed.insert(r);
        sources[r] = from;
        if (compute)
          computed.insert(r);
      }
    }
  }

  bool isFixedOp(Operation &op) const {
    return op.getNumResults() > 0 && fixed.contains(op.getResult(0));
  }

  /// The elements of the weight arguments `v` comes from, each counted once.
  int64_t sourceElements(Value v) {
    int64_t n = 0;
    llvm::SmallBitVector from = sources.lookup(v);
    for (unsigned i : from.set_bits())
      n += elementsOf(func.getArgument(i).getType());
    return n;
  }

  /// A use by a top-level op as the destination it writes: the value stays
  /// computed in @F for it (a prepared argument is never written).
  bool writes(OpOperand &use) {
    auto dps = dyn_cast<DestinationStyleOpInterface>(use.getOwner());
    return dps && use.getOwner()->getBlock() == &func.getBody().front() && dps.isDpsInit(&use);
  }

  /// The fixed ops `values` are computed from, in the body's order.
  SmallVector<Operation *> sliceOf(ArrayRef<Value> values) {
    llvm::DenseSet<Operation *> needed;
    SmallVector<Value> work(values.begin(), values.end());
    while (!work.empty()) {
      Operation *def = work.pop_back_val().getDefiningOp();
      if (!def || !needed.insert(def).second)
        continue;
      llvm::append_range(work, usedBy(*def));
    }
    SmallVector<Operation *> ordered;
    for (Operation &op : func.getBody().front())
      if (needed.contains(&op))
        ordered.push_back(&op);
    return ordered;
  }

  /// The fixed values that ops depending on the input read: each becomes an
  /// argument. Not one only written into (a GEMM's bias broadcast, which the
  /// GEMM's call takes over), nor one larger than the weights it comes from
  /// (a broadcast over the batch would be memory held for nothing).
  SmallVector<Value> boundary() {
    SmallVector<Value> out;
    llvm::DenseSet<Value> seen;
    Block &body = func.getBody().front();
    for (Operation &op : body) {
      if (isFixedOp(op))
        continue;
      op.walk([&](Operation *nested) {
        for (OpOperand &use : nested->getOpOperands()) {
          Value v = use.get();
          if (!computed.contains(v) || seen.contains(v) || isa<BlockArgument>(v))
            continue;
          if (writes(use))
            continue;
          int64_t n = elementsOf(v.getType());
          if (n < 0 || n > sourceElements(v))
            continue;
          seen.insert(v);
          out.push_back(v);
        }
      });
    }
    return out;
  }
};

struct HoistParameterMathPass : cmt::impl::CMTHoistParameterMathBase<HoistParameterMathPass> {
  using CMTHoistParameterMathBase::CMTHoistParameterMathBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    for (const std::string &name : functions) {
      auto func = module.lookupSymbol<func::FuncOp>(name);
      if (!func) {
        module.emitError("cmt-hoist-parameter-math: no function @") << name;
        return signalPassFailure();
      }
      hoist(func);
    }
  }

  void hoist(func::FuncOp func) {
    Hoisting h;
    h.func = func;
    h.analyse();
    SmallVector<Value> values = h.boundary();
    if (values.empty())
      return;
    MLIRContext *ctx = func.getContext();
    Block &body = func.getBody().front();

    // @F_prepare takes every weight argument of @F and returns the values.
    // After @F: a module's first function names its merged GPU kernels.
    OpBuilder b(ctx);
    b.setInsertionPointAfter(func);
    SmallVector<Type> weightTypes;
    SmallVector<DictionaryAttr> weightAttrs;
    SmallVector<BlockArgument> weights;
    for (BlockArgument arg : func.getArguments())
      if (h.fixed.contains(arg)) {
        weights.push_back(arg);
        weightTypes.push_back(arg.getType());
        weightAttrs.push_back(func.getArgAttrDict(arg.getArgNumber()));
      }
    SmallVector<Type> valueTypes = llvm::map_to_vector(values, [](Value v) { return v.getType(); });
    auto prepare = func::FuncOp::create(b, func.getLoc(), (func.getSymName() + "_prepare").str(),
                                        FunctionType::get(ctx, weightTypes, valueTypes));
    prepare.setAllArgAttrs(weightAttrs);
    if (Attribute config = func->getAttr(cmt::kConfigAttr))
      prepare->setAttr(cmt::kConfigAttr, config);
    Block *entry = prepare.addEntryBlock();
    IRMapping map;
    for (auto [from, to] : llvm::zip(weights, entry->getArguments()))
      map.map(from, to);
    OpBuilder pb = OpBuilder::atBlockEnd(entry);
    for (Operation *op : h.sliceOf(values))
      pb.clone(*op, map);
    func::ReturnOp::create(pb, func.getLoc(),
                           llvm::map_to_vector(values, [&](Value v) { return map.lookup(v); }));

    // @F reads them from new arguments, named for the runtime to match.
    for (auto [i, v] : llvm::enumerate(values)) {
      std::string name = "prepared/" + std::to_string(i);
      prepare.setResultAttr(i, cmt::kNameAttr, StringAttr::get(ctx, name));
      unsigned index = func.getNumArguments();
      // Not writable: bufferization copies before anything would write it
      // in place, for its value must last from one forward to the next.
      auto attr = [&](StringRef key, Attribute value) { return NamedAttribute(StringAttr::get(ctx, key), value); };
      (void)func.insertArgument(
          index, v.getType(),
          DictionaryAttr::get(ctx, {attr(cmt::kKindAttr, StringAttr::get(ctx, cmt::kKindPrepared)),
                                    attr(cmt::kNameAttr, StringAttr::get(ctx, name)),
                                    attr(bufferization::BufferizationDialect::kWritableAttrName,
                                         BoolAttr::get(ctx, false))}),
          v.getLoc());
      // Not where it is a destination: the argument must never be written.
      v.replaceUsesWithIf(func.getArgument(index), [&](OpOperand &use) { return !h.writes(use); });
    }
    // What only the moved values needed is dead now.
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body)))
      if (h.isFixedOp(op) && op.use_empty())
        op.erase();
  }
};
} // namespace
