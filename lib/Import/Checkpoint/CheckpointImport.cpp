//===- CheckpointImport.cpp - a cmt.model from a state dict -----*- C++ -*-===//
#include "cmt/Import/Checkpoint.h"
#include "runtime/safetensors.h"

#include "llvm/Support/Path.h"
#include <cmath>
#include <set>

using namespace mlir;
using namespace cmt;

namespace {
/// Thrown with the reason the configuration cannot be inferred.
struct Unknown {
  std::string why;
};

const std::vector<int64_t> &need(const TensorShapes &shapes, const std::string &name,
                                 const std::string &purpose, size_t rank) {
  auto it = shapes.find(name);
  if (it == shapes.end())
    throw Unknown{"tensor '" + name + "' is missing (it gives the " + purpose + ")"};
  if (it->second.size() != rank)
    throw Unknown{"tensor '" + name + "' has shape " + rt::shapeString(it->second) +
                  ", expected rank " + std::to_string(rank)};
  return it->second;
}

int64_t exactSqrt(int64_t v) {
  int64_t r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(v))));
  return r * r == v ? r : -1;
}

bool givesHidden(double ratio, int64_t dim, int64_t hidden) {
  return static_cast<int64_t>(static_cast<double>(dim) * ratio) == hidden;
}

/// The MLP ratio with the fewest decimals that reproduces every stage's
/// hidden width through the released code's int(dim * ratio), so that a
/// checkpoint of CMT-Ti reads back as 3.6; per stage where no ratio fits all.
SmallVector<double, 4> mlpRatios(ArrayRef<int64_t> dims, ArrayRef<int64_t> hidden) {
  auto shortest = [&](double lo, double hi, ArrayRef<unsigned> stages) -> std::optional<double> {
    for (int digits = 0; digits <= 6; ++digits) {
      double scale = std::pow(10.0, digits);
      double m = std::ceil(lo * scale - 1e-9) / scale;
      if (m >= hi)
        continue;
      if (llvm::all_of(stages, [&](unsigned i) { return givesHidden(m, dims[i], hidden[i]); }))
        return m;
    }
    return std::nullopt;
  };
  double lo = 0, hi = INFINITY;
  for (unsigned i = 0; i < 4; ++i) {
    lo = std::max(lo, static_cast<double>(hidden[i]) / dims[i]);
    hi = std::min(hi, static_cast<double>(hidden[i] + 1) / dims[i]);
  }
  if (lo < hi)
    if (auto m = shortest(lo, hi, {0, 1, 2, 3}))
      return {*m, *m, *m, *m};
  SmallVector<double, 4> ratios;
  for (unsigned i = 0; i < 4; ++i) {
    double l = static_cast<double>(hidden[i]) / dims[i], h = static_cast<double>(hidden[i] + 1) / dims[i];
    ratios.push_back(shortest(l, h, {i}).value_or((hidden[i] + 0.5) / dims[i]));
  }
  return ratios;
}

std::string symbolName(StringRef raw) {
  std::string out;
  for (char c : raw)
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out.empty() || std::isdigit(static_cast<unsigned char>(out[0])) ? "cmt_" + out : out;
}
} // namespace

FailureOr<ModelOp> cmt::importCheckpointConfig(StringRef path, OpBuilder &builder,
                                               std::string &error) {
  try {
    rt::SafetensorsFile f(path.str());
    return importCheckpointConfig(f, path, builder, error);
  } catch (const rt::Error &e) {
    error = e.what();
  }
  return failure();
}

FailureOr<ModelOp> cmt::importCheckpointConfig(const void *data, size_t size, StringRef path,
                                               OpBuilder &builder, std::string &error) {
  try {
    rt::SafetensorsFile f(data, size, path.str());
    return importCheckpointConfig(f, path, builder, error);
  } catch (const rt::Error &e) {
    error = e.what();
  }
  return failure();
}

FailureOr<ModelOp> cmt::importCheckpointConfig(const rt::SafetensorsFile &f, StringRef path,
                                               OpBuilder &builder, std::string &error) {
  {
    TensorShapes shapes;
    for (const rt::Tensor &t : f.tensors())
      shapes[t.name] = t.shape;
    auto it = f.metadata().find("model");
    std::string name = it != f.metadata().end() ? it->second : llvm::sys::path::stem(path).str();
    return inferModelConfig(shapes, name, path, builder, error);
  }
}

FailureOr<ModelOp> cmt::inferModelConfig(const TensorShapes &f, StringRef modelName,
                                         StringRef source, OpBuilder &builder,
                                         std::string &error) {
  try {
    const std::vector<int64_t> &stem = need(f, "stem_conv1.weight", "stem width and input channels", 4);
    int64_t stemChannels = stem[0], inChannels = stem[1];
    int64_t resolution = -1;
    SmallVector<int64_t, 4> dims, depths, heads, reductions, hidden;
    for (int i = 0; i < 4; ++i) {
      std::string s(1, static_cast<char>('a' + i));
      const std::vector<int64_t> &proj = need(f, "patch_embed_" + s + ".proj.weight", "stage width", 4);
      const std::vector<int64_t> &pos = need(f, "relative_pos_" + s, "heads, tokens and kv reduction", 3);
      dims.push_back(proj[0]);
      heads.push_back(pos[0]);
      int64_t n = pos[1], m = pos[2];
      int64_t side = exactSqrt(n);
      if (side <= 0 || m <= 0 || n % m != 0 || exactSqrt(n / m) <= 0)
        throw Unknown{"tensor 'relative_pos_" + s + "' has shape " + rt::shapeString(pos) +
                      ": tokens and keys must be squares, the keys dividing the tokens"};
      reductions.push_back(exactSqrt(n / m));
      int64_t res = side * (int64_t{4} << i);
      if (resolution >= 0 && res != resolution)
        throw Unknown{"relative position tensors disagree on the resolution (" +
                      std::to_string(resolution) + " from stage a, " + std::to_string(res) +
                      " from stage " + s + ")"};
      resolution = res;
      std::set<int64_t> blocks;
      std::string prefix = "blocks_" + s + ".";
      for (const auto &[name, shape] : f)
        if (name.rfind(prefix, 0) == 0)
          blocks.insert(std::atoll(name.c_str() + prefix.size()));
      if (blocks.empty())
        throw Unknown{"no tensors 'blocks_" + s + ".*': the depth of stage " + s + " is unknown"};
      depths.push_back(static_cast<int64_t>(blocks.size()));
      hidden.push_back(need(f, prefix + "0.mlp.conv1.0.weight", "IRFFN width", 4)[0]);
    }
    int64_t fcDim = need(f, "_fc.weight", "head width (fc_dim)", 4)[0];
    int64_t classes = need(f, "head.weight", "number of classes", 2)[0];
    SmallVector<double, 4> ratios = mlpRatios(dims, hidden);

    Location loc = builder.getUnknownLoc();
    // Dropout is not stored in a checkpoint: the spec's 0.1 (CMT-B's is 0.3,
    // cmt-compile --head-dropout sets it); the identity in inference.
    auto model = ModelOp::create(builder, loc, symbolName(modelName), resolution, classes, fcDim,
                                 builder.getF64FloatAttr(0.1).getValue(), inChannels);
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToEnd(builder.createBlock(&model.getBody()));
    StemOp::create(builder, loc, stemChannels);
    for (int i = 0; i < 4; ++i)
      StageOp::create(builder, loc, dims[i], depths[i], heads[i], reductions[i],
                      builder.getF64FloatAttr(ratios[i]).getValue());
    HeadOp::create(builder, loc);
    return model;
  } catch (const Unknown &u) {
    error = "cannot infer the CMT configuration from " + source.str() + ": " + u.why;
  }
  return failure();
}
