//===- CMTGradients.cpp - gradient rules of the graph-level ops -*- C++ -*-===//
//
// Each rule is a vector-Jacobian product written with graph-level cmt ops, so
// the backward graph goes through the same lowering and fusion as the
// forward. Rules see the op's operands (the saved activations) and the
// gradients of its results; a null result gradient means none flows there.
//
//===----------------------------------------------------------------------===//
#include "cmt/Dialect/CMT/IR/CMTOps.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace cmt;

/// The gradient of the op's only differentiated result, or failure when none
/// flows (the caller does not call rules without one; this keeps them honest).
static FailureOr<Value> onlyGrad(Operation *op, ArrayRef<Value> resultGrads) {
  if (resultGrads.empty() || !resultGrads[0])
    return op->emitOpError("gradient rule called without a gradient for its output");
  return resultGrads[0];
}

LogicalResult Conv2DOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                       SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  auto g = Conv2DGradOp::create(b, getLoc(), *dy, getInput(), getWeight(), getStridesAttr(),
                                getPaddingAttr(), getGroupsAttr());
  operandGrads.append({g.getDinput(), g.getDweight(), g.getDbias()});
  return success();
}

LogicalResult BatchNormTrainOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                               SmallVectorImpl<Value> &operandGrads) {
  // The running statistics are state, not a function the loss depends on.
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  auto g = BatchNormGradOp::create(b, getLoc(), *dy, getInput(), getWeight(), getEpsAttr());
  operandGrads.append({g.getDinput(), g.getDweight(), g.getDbias(), Value(), Value()});
  return success();
}

LogicalResult LayerNormOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                          SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  auto g = LayerNormGradOp::create(b, getLoc(), *dy, getInput(), getWeight(), getEpsAttr());
  operandGrads.append({g.getDinput(), g.getDweight(), g.getDbias()});
  return success();
}

LogicalResult GeluOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                     SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  operandGrads.push_back(GeluGradOp::create(b, getLoc(), *dy, getInput()));
  return success();
}

LogicalResult SwishOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                      SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  operandGrads.push_back(SwishGradOp::create(b, getLoc(), *dy, getInput()));
  return success();
}

LogicalResult AddOp::buildGradients(OpBuilder &, ArrayRef<Value> resultGrads,
                                    SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  operandGrads.append({*dy, *dy});
  return success();
}

LogicalResult LinearOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                       SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  auto g = LinearGradOp::create(b, getLoc(), *dy, getInput(), getWeight());
  operandGrads.append({g.getDinput(), g.getDweight(), g.getDbias()});
  return success();
}

LogicalResult AttentionOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                          SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  auto g = AttentionGradOp::create(b, getLoc(), *dy, getQuery(), getKey(), getValue(), getBias(),
                                   getHeadsAttr(), getScaleAttr());
  operandGrads.append({g.getDquery(), g.getDkey(), g.getDvalue(), g.getDbias()});
  return success();
}

LogicalResult GlobalAvgPoolOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                              SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  operandGrads.push_back(
      GlobalAvgPoolGradOp::create(b, getLoc(), getInput().getType(), *dy));
  return success();
}

// The two reshapes are each other's gradient.
LogicalResult ImageToTokensOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                              SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  ArrayRef<int64_t> image = cast<RankedTensorType>(getInput().getType()).getShape();
  operandGrads.push_back(TokensToImageOp::create(b, getLoc(), *dy, b.getI64IntegerAttr(image[2]),
                                                 b.getI64IntegerAttr(image[3])));
  return success();
}

LogicalResult TokensToImageOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                              SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  operandGrads.push_back(ImageToTokensOp::create(b, getLoc(), *dy));
  return success();
}

LogicalResult IncrementOp::buildGradients(OpBuilder &, ArrayRef<Value>,
                                          SmallVectorImpl<Value> &operandGrads) {
  operandGrads.push_back(Value()); // a counter
  return success();
}

LogicalResult CrossEntropyOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                             SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dloss = onlyGrad(*this, resultGrads);
  if (failed(dloss))
    return failure();
  operandGrads.append({CrossEntropyGradOp::create(b, getLoc(), *dloss, getLogits(), getLabels(),
                                                  getLabelSmoothing()),
                       Value(), Value()});
  return success();
}

// Linear in its input with a fixed mask: the gradient is dropped alike.
LogicalResult DropoutOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                        SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  operandGrads.append({DropoutOp::create(b, getLoc(), *dy, getUniform(), getRateAttr()), Value()});
  return success();
}

// As dropout, with one draw per image.
LogicalResult DropPathOp::buildGradients(OpBuilder &b, ArrayRef<Value> resultGrads,
                                         SmallVectorImpl<Value> &operandGrads) {
  FailureOr<Value> dy = onlyGrad(*this, resultGrads);
  if (failed(dy))
    return failure();
  operandGrads.append({DropPathOp::create(b, getLoc(), *dy, getUniform(), getRate(), getScaleAttr()),
                       Value(), Value()});
  return success();
}
