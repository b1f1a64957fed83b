//===- GenerateBackward.cpp - @forward (train) -> @train_step ---*- C++ -*-===//
//
// Reverse-mode differentiation of straight-line graph-level code: one walk
// backwards over the function calling each op's gradient rule, then the
// optimizer update appended. See Passes.td for the calling convention.
//
//===----------------------------------------------------------------------===//
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "cmt/Dialect/CMT/Transforms/Passes.h"
#include "runtime/train_hyper.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

namespace cmt {
#define GEN_PASS_DEF_CMTGENERATEBACKWARD
#include "cmt/Dialect/CMT/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;
using namespace cmt;

namespace {
struct GenerateBackwardPass : cmt::impl::CMTGenerateBackwardBase<GenerateBackwardPass> {
  using CMTGenerateBackwardBase::CMTGenerateBackwardBase;
  void runOnOperation() override {
    auto func = getOperation().lookupSymbol<func::FuncOp>("forward");
    auto config = func ? func->getAttrOfType<DictionaryAttr>(kConfigAttr) : DictionaryAttr();
    auto train = config ? config.getAs<BoolAttr>("train") : BoolAttr();
    if (!train || !train.getValue()) {
      getOperation().emitError("cmt-generate-backward needs a training-mode @forward "
                               "(cmt-expand-model{train=1})");
      return signalPassFailure();
    }
    if (failed(generate(func)))
      signalPassFailure();
  }

  LogicalResult generate(func::FuncOp func);
};

StringAttr nameOf(func::FuncOp func, BlockArgument arg) {
  return func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kNameAttr);
}

LogicalResult GenerateBackwardPass::generate(func::FuncOp func) {
  Block &body = func.getBody().front();
  Operation *ret = body.getTerminator();
  OpBuilder b(ret);
  Location loc = func.getLoc();
  MLIRContext *ctx = func.getContext();
  Type f32 = b.getF32Type();
  auto scalar = RankedTensorType::get({}, f32);

  // Everything is checked before anything changes.
  SmallVector<Attribute> resultAttrs(func.getAllResultAttrs().getValue());
  Value loss;
  for (auto [i, attr] : llvm::enumerate(resultAttrs)) {
    auto name = cast<DictionaryAttr>(attr).getAs<StringAttr>(kNameAttr);
    if (!name)
      return func.emitError("cmt-generate-backward: result ") << i << " of @forward has no " << kNameAttr;
    if (name.getValue() == "loss")
      loss = ret->getOperand(i);
  }
  if (!loss || loss.getType() != scalar)
    return func.emitError("cmt-generate-backward: @forward returns no f32 scalar named 'loss'");
  SmallVector<BlockArgument> params;
  for (BlockArgument arg : body.getArguments()) {
    if (!nameOf(func, arg))
      return func.emitError("cmt-generate-backward: argument ") << arg.getArgNumber() << " has no " << kNameAttr;
    if (func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kKindAttr) == kKindParameter)
      params.push_back(arg);
  }

  // Activity: the values that depend on a parameter. Only they get
  // gradients (not the image, the labels or constants).
  DenseSet<Value> varied(params.begin(), params.end());
  for (Operation &op : body.without_terminator())
    if (llvm::any_of(op.getOperands(), [&](Value v) { return varied.contains(v); }))
      varied.insert(op.result_begin(), op.result_end());

  SmallVector<Attribute> argAttrs(func.getAllArgAttrs().getValue());
  auto addArg = [&](StringRef name, Type type, StringRef kind) {
    argAttrs.push_back(b.getDictionaryAttr({b.getNamedAttr(kNameAttr, b.getStringAttr(name)),
                                            b.getNamedAttr(kKindAttr, b.getStringAttr(kind))}));
    return body.addArgument(type, NameLoc::get(b.getStringAttr(name), loc));
  };
  // The hyper-parameters are run-time input; the step count is state.
  Value hyper = addArg("train/hyper", RankedTensorType::get({train::kNumHyper}, f32), kKindInput);
  Value step = addArg("train/step", RankedTensorType::get({}, b.getI64Type()), kKindState);

  // The loss's label smoothing becomes the run-time flag.
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&body);
    // A view of the entry, not a read: on the GPU the vector is in device memory.
    Value smoothing = tensor::ExtractSliceOp::create(
        b, loc, scalar, hyper, ArrayRef<OpFoldResult>{b.getIndexAttr(train::kLabelSmoothing)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)}, ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    func.walk([&](CrossEntropyOp op) { op.getLabelSmoothingMutable().assign(smoothing); });
  }

  // Backward: a gradient for each varied value, summed over its uses.
  DenseMap<Value, Value> grads;
  auto accumulate = [&](Value v, Value g) {
    auto [it, fresh] = grads.try_emplace(v, g);
    if (!fresh)
      it->second = AddOp::create(b, g.getLoc(), it->second, g);
  };
  grads[loss] = arith::ConstantOp::create(b, loc, DenseElementsAttr::get(scalar, 1.0f));
  SmallVector<Operation *> forward;
  for (Operation &op : body.without_terminator())
    forward.push_back(&op);
  // A parameter's gradient is final once the backward has passed its first
  // use: there, with data parallelism, it starts its reduction.
  DenseMap<Operation *, SmallVector<Value>> finalAfter;
  if (dataParallel)
    for (BlockArgument p : params)
      if (!p.use_empty()) {
        Operation *first = nullptr;
        for (Operation *user : p.getUsers())
          if (!first || user->isBeforeInBlock(first))
            first = user;
        finalAfter[first].push_back(p);
      }
  for (Operation *op : llvm::reverse(forward)) {
    SmallVector<Value> resultGrads;
    bool any = false;
    for (Value r : op->getResults()) {
      resultGrads.push_back(grads.lookup(r));
      any |= static_cast<bool>(resultGrads.back());
    }
    if (!any)
      continue;
    auto rule = dyn_cast<GradientOpInterface>(op);
    if (!rule)
      return op->emitOpError("has no gradient rule (GradientOpInterface), but the loss depends on it");
    SmallVector<Value> operandGrads;
    b.setInsertionPoint(ret);
    if (failed(rule.buildGradients(b, resultGrads, operandGrads)))
      return failure();
    if (operandGrads.size() != op->getNumOperands())
      return op->emitOpError("gradient rule returned ")
             << operandGrads.size() << " gradients for " << op->getNumOperands() << " operands";
    for (auto [operand, g] : llvm::zip(op->getOperands(), operandGrads))
      if (g && varied.contains(operand))
        accumulate(operand, g);
    for (Value p : finalAfter.lookup(op))
      if (Value g = grads.lookup(p))
        grads[p] = AllReduceOp::create(b, p.getLoc(), g);
  }

  // Optimizer: the learning rate, the gradients' norm, and one update per
  // parameter the loss depends on (one it ignores is left as it is, as
  // PyTorch's optimizers skip a parameter without a gradient).
  b.setInsertionPoint(ret);
  SmallVector<Value> paramGrads;
  for (BlockArgument p : params)
    if (Value g = grads.lookup(p))
      paramGrads.push_back(g);
  if (dataParallel && !paramGrads.empty()) {
    auto wait = AllReduceWaitOp::create(b, loc, paramGrads);
    unsigned i = 0;
    for (BlockArgument p : params)
      if (grads.lookup(p))
        grads[p] = paramGrads[i] = wait.getResult(i), ++i;
  }
  Value lr = LearningRateOp::create(b, loc, step, hyper);
  Value norm = GlobalNormOp::create(b, loc, paramGrads);

  SmallVector<Value> results(ret->getOperands());
  auto output = [&](StringRef name, Value v) {
    results.push_back(v);
    resultAttrs.push_back(b.getDictionaryAttr({b.getNamedAttr(kNameAttr, b.getStringAttr(name))}));
  };
  // The forward returns the updated BN statistics under the buffers' own
  // names; here they are the next values of those buffers.
  for (auto [i, attr] : llvm::enumerate(resultAttrs)) {
    StringRef name = cast<DictionaryAttr>(attr).getAs<StringAttr>(kNameAttr).getValue();
    bool isBuffer = llvm::any_of(argAttrs, [&](Attribute a) {
      auto arg = cast<DictionaryAttr>(a);
      return arg.getAs<StringAttr>(kKindAttr) == kKindBuffer &&
             arg.getAs<StringAttr>(kNameAttr).getValue() == name;
    });
    if (isBuffer)
      resultAttrs[i] = b.getDictionaryAttr(
          {b.getNamedAttr(kNameAttr, b.getStringAttr((kNextPrefix + name).str()))});
  }
  for (BlockArgument p : params) {
    std::string name = nameOf(func, p).str();
    Value m = addArg("optimizer/m/" + name, p.getType(), kKindState);
    Value v = addArg("optimizer/v/" + name, p.getType(), kKindState);
    Value g = grads.lookup(p);
    if (!g)
      continue;
    bool decay = cast<RankedTensorType>(p.getType()).getRank() >= 2;
    auto update = OptimizerStepOp::create(b, p.getLoc(), p, g, m, v, lr, norm, step, hyper,
                                          b.getBoolAttr(decay));
    output((kNextPrefix + name).str(), update.getNewParam());
    output((kNextPrefix + "optimizer/m/" + name).str(), update.getNewM());
    output((kNextPrefix + "optimizer/v/" + name).str(), update.getNewV());
  }
  output((kNextPrefix + "train/step").str(), IncrementOp::create(b, loc, step));
  for (BlockArgument p : params)
    if (Value g = grads.lookup(p))
      output((kGradPrefix + nameOf(func, p).getValue()).str(), g);
  output("grad_norm", norm);
  output("lr", lr);

  func::ReturnOp::create(b, ret->getLoc(), results);
  ret->erase();
  func.setFunctionType(FunctionType::get(ctx, body.getArgumentTypes(), ValueRange(results).getTypes()));
  func.setAllArgAttrs(argAttrs);
  func.setAllResultAttrs(resultAttrs);
  func.setSymName("train_step");
  return success();
}
} // namespace
