//===- CMTOps.cpp - cmt operations: verifiers, shapes, costs ----*- C++ -*-===//
#include "cmt/Dialect/CMT/IR/CMTOps.h"

#include "mlir/IR/Builders.h"
#include "runtime/train_hyper.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

using namespace mlir;
using namespace cmt;

#include "cmt/Dialect/CMT/IR/CMTInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Architecture level
//===----------------------------------------------------------------------===//

static char stageLetter(unsigned index) { return static_cast<char>('a' + index); }

StemOp ModelOp::getStem() { return cast<StemOp>(getBody().front().front()); }

SmallVector<StageOp, 4> ModelOp::getStages() {
  return llvm::to_vector<4>(getBody().front().getOps<StageOp>());
}

LogicalResult ModelOp::verify() {
  Block &body = getBody().front();
  SmallVector<Operation *> ops = llvm::map_to_vector(body, [](Operation &op) { return &op; });
  bool shapeOk = ops.size() == 6 && isa<StemOp>(ops[0]) && isa<HeadOp>(ops[5]) &&
                 llvm::all_of(ArrayRef(ops).slice(1, 4), llvm::IsaPred<StageOp>);
  if (!shapeOk) {
    InFlightDiagnostic diag = emitOpError("expects its body to hold one cmt.stem, four "
                                          "cmt.stage and one cmt.head, in that order");
    if (ops.size() != 6)
      diag << ", but it holds " << ops.size() << " ops";
    return diag;
  }

  int64_t res = getResolution();
  if (res <= 0 || res % 32 != 0)
    return emitOpError("resolution ") << res
           << " is not a positive multiple of 32 (the network downsamples by 32)";
  if (getClasses() <= 0)
    return emitOpError("classes must be positive, got ") << getClasses();
  if (getFcDim() <= 0)
    return emitOpError("fc_dim must be positive, got ") << getFcDim();
  if (getInChannels() <= 0)
    return emitOpError("in_channels must be positive, got ") << getInChannels();
  double dropout = getHeadDropout().convertToDouble();
  if (!(dropout >= 0.0 && dropout < 1.0))
    return emitOpError("head_dropout must be in [0, 1), got ") << dropout;

  for (auto [i, stage] : llvm::enumerate(getStages())) {
    int64_t side = res / (int64_t{4} << i);
    int64_t r = stage.getKvReduction();
    if (r > 0 && side % r != 0)
      return stage.emitOpError("(stage ")
             << stageLetter(i) << "): kv_reduction " << r
             << " does not divide the stage's spatial size " << side << " (resolution " << res
             << " / " << (int64_t{4} << i) << ")";
  }
  return success();
}

LogicalResult StemOp::verify() {
  if (getChannels() <= 0)
    return emitOpError("channels must be positive, got ") << getChannels();
  return success();
}

LogicalResult StageOp::verify() {
  auto positive = [&](StringRef field, int64_t v) -> LogicalResult {
    if (v > 0)
      return success();
    return emitOpError() << field << " must be positive, got " << v;
  };
  if (failed(positive("dim", getDim())) || failed(positive("depth", getDepth())) ||
      failed(positive("heads", getHeads())) ||
      failed(positive("kv_reduction", getKvReduction())))
    return failure();
  if (getDim() % getHeads() != 0)
    return emitOpError("dim ") << getDim() << " is not divisible by heads " << getHeads();
  double ratio = getMlpRatio().convertToDouble();
  if (!(ratio > 0.0) || getHiddenDim() < 1)
    return emitOpError("mlp_ratio ") << ratio << " gives an empty IRFFN hidden layer for dim "
                                     << getDim();
  return success();
}

//===----------------------------------------------------------------------===//
// Graph level: result types
//===----------------------------------------------------------------------===//

namespace {
/// Reports shape errors of one graph op; every message starts with the
/// operand's role so that the diagnostic names what is wrong.
struct ShapeChecker {
  std::optional<Location> loc;
  StringRef opName;

  LogicalResult fail(const Twine &msg) const {
    return emitOptionalError(loc, "'", opName, "' op ", msg);
  }

  FailureOr<RankedTensorType> tensor(Type t, StringRef role, int64_t rank) const {
    auto rt = dyn_cast<RankedTensorType>(t);
    if (!rt)
      return fail(role + " must be a ranked tensor");
    if (rank >= 0 && rt.getRank() != rank)
      return fail(role + " must have rank " + Twine(rank) + ", got " + Twine(rt.getRank()));
    if (!rt.hasStaticShape())
      return fail(role + " must have a static shape");
    return rt;
  }

  LogicalResult sameElement(RankedTensorType a, RankedTensorType b, StringRef role) const {
    if (a.getElementType() == b.getElementType())
      return success();
    return fail(role + " element type differs from the input's");
  }

  LogicalResult vectorOf(Type t, StringRef role, int64_t size, RankedTensorType input) const {
    FailureOr<RankedTensorType> rt = tensor(t, role, 1);
    if (failed(rt) || failed(sameElement(input, *rt, role)))
      return failure();
    if (rt->getDimSize(0) != size)
      return fail(role + " must have " + Twine(size) + " elements, got " +
                  Twine(rt->getDimSize(0)));
    return success();
  }
};
} // namespace

/// The output shape of a convolution, every operand but the bias checked.
static FailureOr<SmallVector<int64_t, 4>> convOutputShape(const ShapeChecker &c, Value input,
                                                          Value weight, ArrayRef<int64_t> strides,
                                                          ArrayRef<int64_t> padding, int64_t groups) {
  auto in = c.tensor(input.getType(), "input", 4);
  auto w = c.tensor(weight.getType(), "weight", 4);
  if (failed(in) || failed(w) || failed(c.sameElement(*in, *w, "weight")))
    return failure();
  if (strides.size() != 2 || llvm::any_of(strides, [](int64_t s) { return s <= 0; }))
    return c.fail("strides must be two positive integers");
  if (padding.size() != 2 || llvm::any_of(padding, [](int64_t p) { return p < 0; }))
    return c.fail("padding must be two non-negative integers");
  int64_t channels = in->getDimSize(1), out = w->getDimSize(0);
  if (groups <= 0 || channels % groups != 0 || out % groups != 0)
    return c.fail("groups " + Twine(groups) + " must divide the input channels " +
                  Twine(channels) + " and the output channels " + Twine(out));
  if (w->getDimSize(1) != channels / groups)
    return c.fail("weight dimension 1 must be input channels / groups = " +
                  Twine(channels / groups) + ", got " + Twine(w->getDimSize(1)));
  SmallVector<int64_t, 4> shape = {in->getDimSize(0), out};
  for (int d = 0; d < 2; ++d) {
    int64_t span = in->getDimSize(2 + d) + 2 * padding[d] - w->getDimSize(2 + d);
    if (span < 0)
      return c.fail("kernel of size " + Twine(w->getDimSize(2 + d)) +
                    " is larger than the padded input (" +
                    Twine(in->getDimSize(2 + d) + 2 * padding[d]) + ")");
    shape.push_back(span / strides[d] + 1);
  }
  return shape;
}

LogicalResult Conv2DOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &results) {
  ShapeChecker c{loc, Conv2DOp::getOperationName()};
  auto shape = convOutputShape(c, adaptor.getInput(), adaptor.getWeight(), adaptor.getStrides(),
                               adaptor.getPadding(), static_cast<int64_t>(adaptor.getGroups()));
  if (failed(shape))
    return failure();
  auto in = cast<RankedTensorType>(adaptor.getInput().getType());
  if (failed(c.vectorOf(adaptor.getBias().getType(), "bias", (*shape)[1], in)))
    return failure();
  results.push_back(RankedTensorType::get(*shape, in.getElementType()));
  return success();
}

/// Normalisations and elementwise ops return their input's type; this checks
/// the per-channel operands against dimension `channelDim` of the input.
static LogicalResult inferNormalisation(std::optional<Location> loc, StringRef opName,
                                        Type inputType,
                                        ValueRange perChannel, int64_t channelDim,
                                        unsigned numResults, SmallVectorImpl<Type> &results) {
  ShapeChecker c{loc, opName};
  auto in = c.tensor(inputType, "input", -1);
  if (failed(in))
    return failure();
  int64_t rank = in->getRank();
  int64_t dim = channelDim < 0 ? rank + channelDim : channelDim;
  if (dim < 0 || dim >= rank)
    return c.fail("input must have rank at least " +
                  Twine(channelDim < 0 ? -channelDim : channelDim + 1));
  static const char *roles[] = {"weight", "bias", "running_mean", "running_var"};
  for (auto [i, v] : llvm::enumerate(perChannel))
    if (failed(c.vectorOf(v.getType(), roles[i], in->getDimSize(dim), *in)))
      return failure();
  results.push_back(*in);
  for (unsigned i = 1; i < numResults; ++i)
    results.push_back(perChannel[0].getType());
  return success();
}

LogicalResult BatchNormOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &results) {
  return inferNormalisation(loc, BatchNormOp::getOperationName(), adaptor.getInput().getType(), adaptor.getOperands().drop_front(),
                            1, 1, results);
}

LogicalResult BatchNormTrainOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                 Adaptor adaptor,
                                                 SmallVectorImpl<Type> &results) {
  double momentum = adaptor.getMomentum().convertToDouble();
  if (!(momentum >= 0.0 && momentum <= 1.0))
    return emitOptionalError(loc, "'", getOperationName(), "' op momentum must be in [0, 1], got ",
                             momentum);
  return inferNormalisation(loc, BatchNormTrainOp::getOperationName(), adaptor.getInput().getType(), adaptor.getOperands().drop_front(),
                            1, 3, results);
}

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &results) {
  return inferNormalisation(loc, LayerNormOp::getOperationName(), adaptor.getInput().getType(), adaptor.getOperands().drop_front(),
                            -1, 1, results);
}

LogicalResult LinearOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                         Adaptor adaptor, SmallVectorImpl<Type> &results) {
  ShapeChecker c{loc, LinearOp::getOperationName()};
  auto in = c.tensor(adaptor.getInput().getType(), "input", -1);
  auto w = c.tensor(adaptor.getWeight().getType(), "weight", 2);
  if (failed(in) || failed(w) || failed(c.sameElement(*in, *w, "weight")))
    return failure();
  if (in->getRank() < 1)
    return c.fail("input must have rank at least 1");
  if (w->getDimSize(1) != in->getShape().back())
    return c.fail("weight has " + Twine(w->getDimSize(1)) + " input features but the input has " +
                  Twine(in->getShape().back()));
  if (failed(c.vectorOf(adaptor.getBias().getType(), "bias", w->getDimSize(0), *in)))
    return failure();
  SmallVector<int64_t> shape(in->getShape());
  shape.back() = w->getDimSize(0);
  results.push_back(RankedTensorType::get(shape, in->getElementType()));
  return success();
}

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                            Adaptor adaptor, SmallVectorImpl<Type> &results) {
  ShapeChecker c{loc, AttentionOp::getOperationName()};
  auto q = c.tensor(adaptor.getQuery().getType(), "query", 3);
  auto k = c.tensor(adaptor.getKey().getType(), "key", 3);
  auto bias = c.tensor(adaptor.getBias().getType(), "bias", 3);
  if (failed(q) || failed(k) || failed(bias) || failed(c.sameElement(*q, *k, "key")) ||
      failed(c.sameElement(*q, *bias, "bias")))
    return failure();
  int64_t batch = q->getDimSize(0), n = q->getDimSize(1), dim = q->getDimSize(2);
  int64_t m = k->getDimSize(1);
  int64_t heads = static_cast<int64_t>(adaptor.getHeads());
  if (k->getDimSize(0) != batch || k->getDimSize(2) != dim)
    return c.fail("key must be (" + Twine(batch) + ", M, " + Twine(dim) + ") like the query");
  if (heads <= 0 || dim % heads != 0)
    return c.fail("heads " + Twine(heads) + " must divide the width " + Twine(dim));
  ArrayRef<int64_t> b = bias->getShape();
  if (b[0] != heads || b[1] != n || b[2] != m)
    return c.fail("bias must be (heads, N, M) = (" + Twine(heads) + ", " + Twine(n) + ", " +
                  Twine(m) + ")");
  results.push_back(*q);
  return success();
}

LogicalResult GlobalAvgPoolOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &results) {
  auto in = ShapeChecker{loc, GlobalAvgPoolOp::getOperationName()}.tensor(adaptor.getInput().getType(), "input", 4);
  if (failed(in))
    return failure();
  results.push_back(
      RankedTensorType::get({in->getDimSize(0), in->getDimSize(1)}, in->getElementType()));
  return success();
}

LogicalResult ImageToTokensOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &results) {
  auto in = ShapeChecker{loc, ImageToTokensOp::getOperationName()}.tensor(adaptor.getInput().getType(), "input", 4);
  if (failed(in))
    return failure();
  ArrayRef<int64_t> s = in->getShape();
  results.push_back(RankedTensorType::get({s[0], s[2] * s[3], s[1]}, in->getElementType()));
  return success();
}

LogicalResult TokensToImageOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                                Adaptor adaptor,
                                                SmallVectorImpl<Type> &results) {
  ShapeChecker c{loc, TokensToImageOp::getOperationName()};
  auto in = c.tensor(adaptor.getInput().getType(), "input", 3);
  if (failed(in))
    return failure();
  int64_t h = static_cast<int64_t>(adaptor.getHeight());
  int64_t w = static_cast<int64_t>(adaptor.getWidth());
  ArrayRef<int64_t> s = in->getShape();
  if (h <= 0 || w <= 0 || h * w != s[1])
    return c.fail("height x width = " + Twine(h) + " x " + Twine(w) + " must equal the " +
                  Twine(s[1]) + " tokens");
  results.push_back(RankedTensorType::get({s[0], s[2], h, w}, in->getElementType()));
  return success();
}

/// The labels of a B x C logits tensor: B class indices, or B x C target
/// distributions.
static LogicalResult checkLabels(const ShapeChecker &c, RankedTensorType logits, Type labelsType) {
  auto labels = dyn_cast<RankedTensorType>(labelsType);
  int64_t batch = logits.getDimSize(0), classes = logits.getDimSize(1);
  if (!labels)
    return c.fail("labels must be a ranked tensor");
  if (labels.getElementType().isInteger(64)) {
    if (labels.getRank() != 1 || labels.getDimSize(0) != batch)
      return c.fail("labels must be (" + Twine(batch) + ") like the batch of the logits");
    return success();
  }
  if (labels.getRank() != 2 || labels.getDimSize(0) != batch || labels.getDimSize(1) != classes)
    return c.fail("target distributions must be (" + Twine(batch) + ", " + Twine(classes) +
                  ") like the logits");
  return success();
}

LogicalResult CrossEntropyOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                               Adaptor adaptor, SmallVectorImpl<Type> &results) {
  ShapeChecker c{loc, CrossEntropyOp::getOperationName()};
  auto logits = c.tensor(adaptor.getLogits().getType(), "logits", 2);
  if (failed(logits) || failed(checkLabels(c, *logits, adaptor.getLabels().getType())))
    return failure();
  results.push_back(RankedTensorType::get({}, logits->getElementType()));
  return success();
}

LogicalResult CrossEntropyGradOp::verify() {
  ShapeChecker c{getLoc(), getOperationName()};
  auto logits = c.tensor(getLogits().getType(), "logits", 2);
  return failure(failed(logits) || failed(checkLabels(c, *logits, getLabels().getType())));
}

//===----------------------------------------------------------------------===//
// Gradient ops: result types and verifiers
//===----------------------------------------------------------------------===//

LogicalResult Conv2DGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                             Adaptor adaptor, SmallVectorImpl<Type> &results) {
  ShapeChecker c{loc, Conv2DGradOp::getOperationName()};
  auto expected = convOutputShape(c, adaptor.getInput(), adaptor.getWeight(), adaptor.getStrides(),
                                  adaptor.getPadding(), static_cast<int64_t>(adaptor.getGroups()));
  auto dy = c.tensor(adaptor.getDy().getType(), "dy", 4);
  if (failed(expected) || failed(dy))
    return failure();
  auto in = cast<RankedTensorType>(adaptor.getInput().getType());
  auto w = cast<RankedTensorType>(adaptor.getWeight().getType());
  if (dy->getShape() != ArrayRef<int64_t>(*expected) || failed(c.sameElement(in, *dy, "dy")))
    return c.fail("dy must have the convolution's output type (" + Twine((*expected)[0]) + ", " +
                  Twine((*expected)[1]) + ", " + Twine((*expected)[2]) + ", " + Twine((*expected)[3]) +
                  ") of the input's element type");
  results.append({in, w, RankedTensorType::get({w.getDimSize(0)}, in.getElementType())});
  return success();
}

LogicalResult LinearGradOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                             Adaptor adaptor, SmallVectorImpl<Type> &results) {
  ShapeChecker c{loc, LinearGradOp::getOperationName()};
  auto in = c.tensor(adaptor.getInput().getType(), "input", -1);
  auto w = c.tensor(adaptor.getWeight().getType(), "weight", 2);
  auto dy = c.tensor(adaptor.getDy().getType(), "dy", -1);
  if (failed(in) || failed(w) || failed(dy))
    return failure();
  SmallVector<int64_t> expected(in->getShape());
  if (expected.empty())
    return c.fail("input must have rank at least 1");
  expected.back() = w->getDimSize(0);
  if (dy->getShape() != ArrayRef<int64_t>(expected) || w->getDimSize(1) != in->getShape().back())
    return c.fail("dy must have the shape of the linear's output, and the weight (out, in) "
                  "must match the input's last dimension");
  results.append({*in, *w, RankedTensorType::get({w->getDimSize(0)}, in->getElementType())});
  return success();
}

/// The per-channel weight of a normalisation gradient has the size of the
/// normalised dimension.
static LogicalResult verifyNormGrad(Operation *op, Value input, Value weight, int64_t channelDim) {
  auto in = cast<RankedTensorType>(input.getType());
  auto w = cast<RankedTensorType>(weight.getType());
  if (!in.hasStaticShape() || !w.hasStaticShape())
    return op->emitOpError("needs static shapes");
  if (in.getRank() < 2)
    return op->emitOpError("input must have rank at least 2");
  int64_t dim = channelDim < 0 ? in.getRank() + channelDim : channelDim;
  if (w.getRank() != 1 || w.getDimSize(0) != in.getDimSize(dim))
    return op->emitOpError("weight must have ") << in.getDimSize(dim) << " elements (input dimension "
                                                << dim << ")";
  return success();
}

LogicalResult BatchNormGradOp::verify() { return verifyNormGrad(*this, getInput(), getWeight(), 1); }
LogicalResult LayerNormGradOp::verify() { return verifyNormGrad(*this, getInput(), getWeight(), -1); }

LogicalResult GlobalAvgPoolGradOp::verify() {
  auto dy = cast<RankedTensorType>(getDy().getType());
  auto dx = cast<RankedTensorType>(getDinput().getType());
  if (dy.getRank() != 2 || dx.getRank() != 4 || dx.getDimSize(0) != dy.getDimSize(0) ||
      dx.getDimSize(1) != dy.getDimSize(1))
    return emitOpError("maps (N, C) to (N, C, H, W); got ") << dy << " -> " << dx;
  return success();
}

LogicalResult DropPathOp::verify() {
  auto x = cast<RankedTensorType>(getInput().getType());
  auto u = cast<RankedTensorType>(getUniform().getType());
  if (x.getRank() < 1 || u.getDimSize(0) != x.getDimSize(0))
    return emitOpError("uniform must hold one draw per image: ")
           << (x.getRank() ? x.getDimSize(0) : 0) << ", got " << u.getDimSize(0);
  double scale = getScale().convertToDouble();
  if (!(scale >= 0.0 && scale <= 1.0))
    return emitOpError("scale must be in [0, 1], got ") << scale;
  return success();
}

LogicalResult DropoutOp::verify() {
  auto x = cast<RankedTensorType>(getInput().getType());
  auto u = cast<RankedTensorType>(getUniform().getType());
  if (x.getShape() != u.getShape())
    return emitOpError("uniform must hold one draw per element: ") << x << ", got " << u;
  double rate = getRate().convertToDouble();
  if (!(rate >= 0.0 && rate < 1.0))
    return emitOpError("rate must be in [0, 1), got ") << rate;
  return success();
}

/// The optimizer ops read the hyper-parameters at the indices of
/// runtime/train_hyper.h.
static LogicalResult verifyHyper(Operation *op, Value hyper) {
  int64_t n = cast<RankedTensorType>(hyper.getType()).getDimSize(0);
  if (n != cmt::train::kNumHyper)
    return op->emitOpError("hyper must hold the ")
           << static_cast<int64_t>(cmt::train::kNumHyper) << " hyper-parameters of runtime/train_hyper.h, got " << n;
  return success();
}

LogicalResult LearningRateOp::verify() { return verifyHyper(*this, getHyper()); }
LogicalResult OptimizerStepOp::verify() { return verifyHyper(*this, getHyper()); }

//===----------------------------------------------------------------------===//
// Graph level: folds

//===----------------------------------------------------------------------===//

// The two reshapes are inverses: a round trip is the identity.
OpFoldResult ImageToTokensOp::fold(FoldAdaptor) {
  if (auto inverse = getInput().getDefiningOp<TokensToImageOp>())
    return inverse.getInput();
  return {};
}

OpFoldResult TokensToImageOp::fold(FoldAdaptor) {
  auto inverse = getInput().getDefiningOp<ImageToTokensOp>();
  if (inverse && inverse.getInput().getType() == getType())
    return inverse.getInput();
  return {};
}

//===----------------------------------------------------------------------===//
// Graph level: costs
//===----------------------------------------------------------------------===//

int64_t Conv2DOp::getMACs() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  int64_t perOutput = w.getDimSize(1) * w.getDimSize(2) * w.getDimSize(3);
  return cast<RankedTensorType>(getOutput().getType()).getNumElements() * perOutput;
}

int64_t LinearOp::getMACs() {
  auto w = cast<RankedTensorType>(getWeight().getType());
  return cast<RankedTensorType>(getOutput().getType()).getNumElements() * w.getDimSize(1);
}

int64_t AttentionOp::getMACs() {
  // q k^T and a v: each batch * N * M * D.
  auto q = cast<RankedTensorType>(getQuery().getType());
  int64_t m = cast<RankedTensorType>(getKey().getType()).getDimSize(1);
  return 2 * q.getNumElements() * m;
}

#define GET_OP_CLASSES
#include "cmt/Dialect/CMT/IR/CMTOps.cpp.inc"

LogicalResult cmt::AllReduceWaitOp::inferReturnTypes(MLIRContext *, std::optional<Location>, ValueRange operands,
                                                     DictionaryAttr, OpaqueProperties, RegionRange,
                                                     SmallVectorImpl<Type> &results) {
  llvm::append_range(results, operands.getTypes());
  return success();
}
