//===- ExpandModel.cpp - cmt.model -> func.func @forward --------*- C++ -*-===//
//
// Writes out the authors' released CMT code (../shared/CMT-SPEC.md) as
// graph-level cmt ops. Parameters become function arguments named as in the
// official state dict, so that checkpoints bind by name.
//
//===----------------------------------------------------------------------===//
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include "cmt/Dialect/CMT/Transforms/ExpandModel.h"
#include "cmt/Dialect/CMT/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include <cmath>

namespace cmt {
#define GEN_PASS_DEF_CMTEXPANDMODEL
#include "cmt/Dialect/CMT/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;
using namespace cmt;

namespace {
constexpr double kBatchNormEps = 1e-5;
constexpr double kBatchNormMomentum = 0.1;
constexpr double kPatchNormEps = 1e-5;
constexpr double kBlockNormEps = 1e-6;

/// Appends arguments to a function as the body asks for them, and locates each
/// op at the PyTorch module it belongs to.
class ForwardBuilder {
public:
  ForwardBuilder(OpBuilder &b, func::FuncOp func, Location fileLoc, bool train)
      : b(b), func(func), fileLoc(fileLoc), f32(b.getF32Type()), train(train) {
    b.setInsertionPointToStart(&func.getBody().front());
  }

  Value argument(StringRef name, ArrayRef<int64_t> shape, StringRef kind, Type elt = {}) {
    Block &entry = func.getBody().front();
    Value v = entry.addArgument(RankedTensorType::get(shape, elt ? elt : f32), loc(name));
    argAttrs.push_back(b.getDictionaryAttr(
        {b.getNamedAttr(kNameAttr, b.getStringAttr(name)),
         b.getNamedAttr(kKindAttr, b.getStringAttr(kind))}));
    return v;
  }
  Value param(const Twine &name, ArrayRef<int64_t> shape) {
    return argument(b.getStringAttr(name), shape, kKindParameter);
  }
  Value buffer(const Twine &name, ArrayRef<int64_t> shape, Type elt = {}) {
    return argument(b.getStringAttr(name), shape, kKindBuffer, elt);
  }

  Location loc(const Twine &module) { return NameLoc::get(b.getStringAttr(module), fileLoc); }

  Value conv(Value x, const Twine &name, int64_t out, int64_t kernel, int64_t stride,
             int64_t pad, int64_t groups) {
    int64_t in = cast<RankedTensorType>(x.getType()).getDimSize(1);
    Value w = param(name + ".weight", {out, in / groups, kernel, kernel});
    Value bias = param(name + ".bias", {out});
    return Conv2DOp::create(b, loc(name), x, w, bias, b.getDenseI64ArrayAttr({stride, stride}),
                            b.getDenseI64ArrayAttr({pad, pad}), b.getI64IntegerAttr(groups));
  }

  Value batchNorm(Value x, const Twine &name) {
    int64_t c = cast<RankedTensorType>(x.getType()).getDimSize(1);
    Value w = param(name + ".weight", {c}), bias = param(name + ".bias", {c});
    Value mean = buffer(name + ".running_mean", {c});
    Value var = buffer(name + ".running_var", {c});
    Value count = buffer(name + ".num_batches_tracked", {}, b.getI64Type());
    if (!train)
      return BatchNormOp::create(b, loc(name), x, w, bias, mean, var,
                                 b.getF64FloatAttr(kBatchNormEps));
    auto bn = BatchNormTrainOp::create(b, loc(name), x, w, bias, mean, var,
                                       b.getF64FloatAttr(kBatchNormEps),
                                       b.getF64FloatAttr(kBatchNormMomentum));
    statistics.push_back({(name + ".running_mean").str(), bn.getNewRunningMean()});
    statistics.push_back({(name + ".running_var").str(), bn.getNewRunningVar()});
    statistics.push_back({(name + ".num_batches_tracked").str(),
                          IncrementOp::create(b, loc(name), count)});
    return bn.getOutput();
  }

  Value layerNorm(Value t, const Twine &name, double eps) {
    int64_t c = cast<RankedTensorType>(t.getType()).getShape().back();
    Value w = param(name + ".weight", {c}), bias = param(name + ".bias", {c});
    return LayerNormOp::create(b, loc(name), t, w, bias, b.getF64FloatAttr(eps));
  }

  Value linear(Value t, const Twine &name, int64_t out) {
    int64_t in = cast<RankedTensorType>(t.getType()).getShape().back();
    Value w = param(name + ".weight", {out, in}), bias = param(name + ".bias", {out});
    return LinearOp::create(b, loc(name), t, w, bias);
  }

  Value gelu(Value x, const Twine &name) { return GeluOp::create(b, loc(name), x); }
  Value add(Value x, Value y, const Twine &name) { return AddOp::create(b, loc(name), x, y); }
  Value tokens(Value x, const Twine &name) { return ImageToTokensOp::create(b, loc(name), x); }
  Value image(Value t, int64_t h, int64_t w, const Twine &name) {
    return TokensToImageOp::create(b, loc(name), t, b.getI64IntegerAttr(h),
                                   b.getI64IntegerAttr(w));
  }

  /// One CMT block on tokens of an h x w image.
  Value block(Value t, const Twine &prefix, StageOp stage, int64_t h, int64_t w, Value relPos) {
    int64_t dim = stage.getDim(), heads = stage.getHeads(), r = stage.getKvReduction();
    std::string p = prefix.str();

    // Local perception unit.
    Value lpu = conv(image(t, h, w, p + ".proj"), p + ".proj", dim, 3, 1, 1, dim);
    t = add(t, tokens(lpu, p + ".proj"), p);

    // Lightweight multi-head self-attention.
    Value u = layerNorm(t, p + ".norm1", kBlockNormEps);
    Value q = linear(u, p + ".attn.q", dim);
    Value kv = u;
    if (r > 1) {
      Value reduced = conv(image(u, h, w, p + ".attn.sr"), p + ".attn.sr.0", dim, r, r, 0, dim);
      kv = tokens(batchNorm(reduced, p + ".attn.sr.1"), p + ".attn.sr");
    }
    Value k = linear(kv, p + ".attn.k", dim);
    Value v = linear(kv, p + ".attn.v", dim);
    double scale = std::pow(static_cast<double>(dim / heads), -0.5);
    Value o = AttentionOp::create(b, loc(p + ".attn"), q, k, v, relPos,
                                  b.getI64IntegerAttr(heads), b.getF64FloatAttr(scale));
    t = add(t, branch(linear(o, p + ".attn.proj", dim), p), p);

    // Inverted residual feed-forward network.
    t = add(t, branch(IRFFN(t, p, h, w, stage), p), p);
    ++blockIndex;
    return t;
  }

  /// A residual branch in training with stochastic depth: kept or dropped per
  /// image (the two branches of a block draw apart).
  Value branch(Value v, const std::string &p) {
    if (!dropPathRate)
      return v;
    int64_t row = 2 * blockIndex + (branchParity++ % 2);
    int64_t batch = cast<RankedTensorType>(v.getType()).getDimSize(0);
    auto rowType = RankedTensorType::get({batch}, f32);
    Value u = tensor::ExtractSliceOp::create(
        b, loc(p), rowType, dropPathUniform,
        ArrayRef<OpFoldResult>{b.getIndexAttr(row), b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(batch)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
    double share = totalBlocks > 1 ? static_cast<double>(blockIndex) / (totalBlocks - 1) : 1.0;
    return DropPathOp::create(b, loc(p), v, u, dropPathRate, b.getF64FloatAttr(share));
  }

  Value IRFFN(Value t, const std::string &p, int64_t h, int64_t w, StageOp stage) {
    int64_t dim = stage.getDim(), hidden = stage.getHiddenDim();
    Value u = layerNorm(t, p + ".norm2", kBlockNormEps);
    Value y = image(u, h, w, p + ".mlp");
    y = batchNorm(gelu(conv(y, p + ".mlp.conv1.0", hidden, 1, 1, 0, 1), p + ".mlp.conv1.1"),
                  p + ".mlp.conv1.2");
    Value dw = conv(y, p + ".mlp.proj", hidden, 3, 1, 1, hidden);
    y = batchNorm(gelu(add(dw, y, p + ".mlp.proj"), p + ".mlp.proj_act"), p + ".mlp.proj_bn");
    y = batchNorm(conv(y, p + ".mlp.conv2.0", dim, 1, 1, 0, 1), p + ".mlp.conv2.1");
    return tokens(y, p + ".mlp");
  }

  /// Records a value the function returns, under its golden-data name.
  void output(StringRef name, Value v) {
    results.push_back(v);
    resultAttrs.push_back(b.getDictionaryAttr({b.getNamedAttr(kNameAttr, b.getStringAttr(name))}));
  }

  void finish() {
    func::ReturnOp::create(b, loc("head"), results);
    Block &entry = func.getBody().front();
    func.setFunctionType(
        b.getFunctionType(entry.getArgumentTypes(), ValueRange(results).getTypes()));
    func.setAllArgAttrs(argAttrs);
    func.setAllResultAttrs(resultAttrs);
  }

private:
  OpBuilder &b;
  func::FuncOp func;
  Location fileLoc;
  Type f32;
  SmallVector<Attribute> argAttrs, resultAttrs;
  SmallVector<Value> results;

public:
  bool train;
  /// Stochastic depth (training): the rate input, the draws, and where the
  /// expansion is among the blocks.
  Value dropPathRate, dropPathUniform;
  int64_t totalBlocks = 0, blockIndex = 0, branchParity = 0;
  /// Updated BN running statistics of a training-mode forward, in order.
  SmallVector<std::pair<std::string, Value>> statistics;
};
} // namespace

func::FuncOp cmt::buildForward(ModelOp model, OpBuilder &builder, StringRef name,
                               const ForwardOptions &options) {
  int64_t batch = options.batch;
  OpBuilder::InsertionGuard guard(builder);
  Location fileLoc = model.getLoc();
  auto func = func::FuncOp::create(builder, fileLoc, name, builder.getFunctionType({}, {}));
  func.addEntryBlock();
  SmallVector<NamedAttribute> config = {
      builder.getNamedAttr("model", builder.getStringAttr(model.getSymName())),
      builder.getNamedAttr("resolution", model.getResolutionAttr()),
      builder.getNamedAttr("classes", model.getClassesAttr()),
      builder.getNamedAttr("batch", builder.getI64IntegerAttr(batch)),
      builder.getNamedAttr("train", builder.getBoolAttr(options.train))};
  func->setAttr(kConfigAttr, builder.getDictionaryAttr(config));

  ForwardBuilder fb(builder, func, fileLoc, options.train);
  int64_t res = model.getResolution();
  Value x = fb.argument("input", {batch, static_cast<int64_t>(model.getInChannels()), res, res},
                        kKindInput);
  Value labels;
  if (options.train && options.softTargets)
    labels = fb.argument("targets", {batch, static_cast<int64_t>(model.getClasses())}, kKindInput);
  else if (options.train)
    labels = fb.argument("labels", {batch}, kKindInput, builder.getI64Type());
  if (options.train && options.dropPath) {
    for (StageOp stage : model.getStages())
      fb.totalBlocks += stage.getDepth();
    fb.dropPathRate = fb.argument("train/drop_path_rate", {}, kKindInput);
    fb.dropPathUniform = fb.argument("train/drop_path_uniform", {2 * fb.totalBlocks, batch}, kKindInput);
  }
  Value dropoutUniform;
  if (options.train && options.dropPath && model.getHeadDropout().convertToDouble() > 0.0)
    dropoutUniform = fb.argument("train/dropout_uniform", {batch, static_cast<int64_t>(model.getFcDim())}, kKindInput);

  int64_t stem = model.getStem().getChannels();
  for (int i = 1; i <= 3; ++i) {
    std::string conv = "stem_conv" + std::to_string(i);
    x = fb.conv(x, conv, stem, 3, i == 1 ? 2 : 1, 1, 1);
    x = fb.batchNorm(fb.gelu(x, "stem_relu" + std::to_string(i)),
                     "stem_norm" + std::to_string(i));
  }

  SmallVector<std::pair<std::string, Value>> acts = {{"act/stem", x}};
  int64_t side = res / 2;
  for (auto [i, stage] : llvm::enumerate(model.getStages())) {
    std::string s(1, static_cast<char>('a' + i));
    side /= 2;
    int64_t n = side * side, r = stage.getKvReduction();
    x = fb.conv(x, "patch_embed_" + s + ".proj", stage.getDim(), 2, 2, 0, 1);
    Value t = fb.layerNorm(fb.tokens(x, "patch_embed_" + s), "patch_embed_" + s + ".norm",
                           kPatchNormEps);
    Value relPos = fb.param("relative_pos_" + s, {static_cast<int64_t>(stage.getHeads()), n, n / (r * r)});
    for (int64_t j = 0; j < stage.getDepth(); ++j)
      t = fb.block(t, "blocks_" + s + "." + std::to_string(j), stage, side, side, relPos);
    acts.push_back({"act/stage" + std::to_string(i + 1), t});
    x = fb.image(t, side, side, "blocks_" + s);
  }

  x = fb.batchNorm(fb.conv(x, "_fc", model.getFcDim(), 1, 1, 0, 1), "_bn");
  x = SwishOp::create(builder, fb.loc("_swish"), x);
  x = GlobalAvgPoolOp::create(builder, fb.loc("_avg_pooling"), x);
  acts.push_back({"act/features", x});
  // Dropout is the identity in evaluation mode.
  if (dropoutUniform)
    x = DropoutOp::create(builder, fb.loc("_drop"), x, dropoutUniform, model.getHeadDropoutAttr());
  Value logits = fb.linear(x, "head", model.getClasses());
  fb.output("logits", logits);
  if (options.activations)
    for (auto &[actName, v] : acts)
      fb.output(actName, v);
  if (options.train) {
    Value smoothing = arith::ConstantOp::create(
        builder, fb.loc("loss"),
        DenseElementsAttr::get(RankedTensorType::get({}, builder.getF32Type()),
                               static_cast<float>(options.labelSmoothing)));
    fb.output("loss", CrossEntropyOp::create(builder, fb.loc("loss"), logits, labels, smoothing));
    for (auto &[buffer, v] : fb.statistics)
      fb.output(buffer, v);
  }
  fb.finish();
  return func;
}

namespace {
struct ExpandModelPass : cmt::impl::CMTExpandModelBase<ExpandModelPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<ModelOp> models = llvm::to_vector(module.getOps<ModelOp>());
    if (models.empty())
      return;
    if (batch <= 0) {
      module.emitError("cmt-expand-model: batch must be positive, got ") << batch;
      return signalPassFailure();
    }
    if (models.size() > 1) {
      models[1].emitError("cmt-expand-model expects one cmt.model per module (each becomes "
                          "@forward); found ")
          << models.size();
      return signalPassFailure();
    }
    if (train && !dropPath && models.front().getHeadDropout().convertToDouble() != 0.0) {
      models.front().emitError("cmt-expand-model: a training-mode forward with head_dropout ")
          << models.front().getHeadDropout().convertToDouble()
          << " has no dropout draws (a training step's expansion, drop-path=true, has them): set "
             "head_dropout = 0.0 (cmt-compile --head-dropout=0)";
      return signalPassFailure();
    }
    OpBuilder builder(models.front());
    ForwardOptions options;
    options.batch = batch;
    options.activations = activations;
    options.train = train;
    options.labelSmoothing = labelSmoothing;
    options.softTargets = softTargets;
    options.dropPath = dropPath;
    buildForward(models.front(), builder, "forward", options);
    models.front().erase();
  }
};
} // namespace
