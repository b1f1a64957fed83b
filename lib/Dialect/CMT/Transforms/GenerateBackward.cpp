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

namespace cmt {
#define GEN_PASS_DEF_CMTGENERATEBACKWARD
#include "cmt/Dialect/CMT/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;
using namespace cmt;

namespace {
struct GenerateBackwardPass : cmt::impl::CMTGenerateBackwardBase<GenerateBackwardPass> {
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

  SmallVector<Attribute> argAttrs(func.getAllArgAttrs().getValue());
  auto addArg = [&](StringRef name, Type type) {
    argAttrs.push_back(b.getDictionaryAttr({b.getNamedAttr(kNameAttr, b.getStringAttr(name)),
                                            b.getNamedAttr(kKindAttr, b.getStringAttr(kKindState))}));
    return body.addArgument(type, NameLoc::get(b.getStringAttr(name), loc));
  };
  SmallVector<BlockArgument> params;
  for (BlockArgument arg : body.getArguments())
    if (func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), kKindAttr) == kKindParameter)
      params.push_back(arg);

  Value hyper = addArg("train/hyper", RankedTensorType::get({train::kNumHyper}, f32));
  // The hyper-parameters are run-time input, not state.
  argAttrs.back() = b.getDictionaryAttr({b.getNamedAttr(kNameAttr, b.getStringAttr("train/hyper")),
                                         b.getNamedAttr(kKindAttr, b.getStringAttr(kKindInput))});
  Value step = addArg("train/step", RankedTensorType::get({}, b.getI64Type()));

  // The loss's label smoothing becomes the run-time flag.
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&body);
    Value index = arith::ConstantIndexOp::create(b, loc, train::kLabelSmoothing);
    Value s = tensor::ExtractOp::create(b, loc, hyper, index);
    Value smoothing = tensor::FromElementsOp::create(b, loc, scalar, s);
    func.walk([&](CrossEntropyOp op) { op.getLabelSmoothingMutable().assign(smoothing); });
  }

  // Find the loss.
  Value loss;
  SmallVector<Attribute> resultAttrs(func.getAllResultAttrs().getValue());
  for (auto [i, attr] : llvm::enumerate(resultAttrs)) {
    auto name = cast<DictionaryAttr>(attr).getAs<StringAttr>(kNameAttr);
    if (name && name.getValue() == "loss")
      loss = ret->getOperand(i);
  }
  if (!loss)
    return func.emitError("cmt-generate-backward: @forward returns no result named 'loss'");

  // Backward: a gradient for each value, summed over its uses.
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
      if (g)
        accumulate(operand, g);
  }

  // Optimizer: gradients of the parameters (zero for one the loss ignores),
  // their norm, and one update each.
  b.setInsertionPoint(ret);
  SmallVector<Value> paramGrads;
  for (BlockArgument p : params) {
    Value g = grads.lookup(p);
    if (!g)
      g = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(cast<ShapedType>(p.getType()), 0.0f));
    paramGrads.push_back(g);
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
    auto dict = cast<DictionaryAttr>(attr);
    StringRef name = dict.getAs<StringAttr>(kNameAttr).getValue();
    bool isBuffer = llvm::any_of(argAttrs, [&](Attribute a) {
      auto arg = cast<DictionaryAttr>(a);
      return arg.getAs<StringAttr>(kKindAttr) == kKindBuffer &&
             arg.getAs<StringAttr>(kNameAttr).getValue() == name;
    });
    if (isBuffer)
      resultAttrs[i] = b.getDictionaryAttr(
          {b.getNamedAttr(kNameAttr, b.getStringAttr((kNextPrefix + name).str()))});
  }
  for (auto [p, g] : llvm::zip(params, paramGrads)) {
    std::string name = nameOf(func, p).str();
    Value m = addArg(("optimizer/m/" + name), p.getType());
    Value v = addArg(("optimizer/v/" + name), p.getType());
    bool decay = cast<RankedTensorType>(p.getType()).getRank() >= 2;
    auto update = OptimizerStepOp::create(b, p.getLoc(), p, g, m, v, lr, norm, step, hyper,
                                          b.getBoolAttr(decay));
    output((kNextPrefix + name).str(), update.getNewParam());
    output((kNextPrefix + "optimizer/m/" + name).str(), update.getNewM());
    output((kNextPrefix + "optimizer/v/" + name).str(), update.getNewV());
  }
  output((kNextPrefix + "train/step").str(), IncrementOp::create(b, loc, step));
  for (auto [p, g] : llvm::zip(params, paramGrads))
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
