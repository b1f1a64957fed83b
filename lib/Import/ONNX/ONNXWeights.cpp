//===- ONNXWeights.cpp - official weights from an ONNX export ---*- C++ -*-===//
//
// torch.onnx.export keeps most parameters under their state-dict names and
// names every node after the module scope it came from ("/blocks_a.0/attn/q/
// MatMul"). Linear weights become anonymous, transposed MatMul initializers,
// and in evaluation mode the exporter folds a batch norm that directly follows
// a convolution into it (attn.sr, mlp.conv2, _fc). This undoes both.
//
//===----------------------------------------------------------------------===//
#include "cmt/Import/ONNXWeights.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>

#include "onnx/onnx_pb.h"

using namespace cmt;

namespace {
struct ImportError {
  std::string why;
};

/// Op types an export of CMT consists of: the network's own ops and the
/// exporter's shape arithmetic around reshapes.
const std::set<std::string> kSupportedOps = {
    "Conv", "BatchNormalization", "LayerNormalization", "MatMul", "Gemm", "Add", "Sub", "Mul",
    "Div", "Erf", "Sigmoid", "Softmax", "GlobalAveragePool", "ReduceMean", "Flatten", "Sqrt",
    "Pow", "Reshape", "Transpose", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice",
    "Cast", "Constant", "ConstantOfShape", "Identity", "Dropout", "Expand", "Range", "Equal",
    "Where"};

std::string describe(const onnx::NodeProto &node, int index) {
  return "node " + std::to_string(index) + " '" + node.name() + "' (op type " + node.op_type() + ")";
}

/// "/blocks_a.0/attn/sr/sr.0/Conv" -> "blocks_a.0.attn.sr.0": the exporter
/// spells a Sequential's child as "<parent>.<index>" after the parent's scope.
std::string modulePath(const std::string &nodeName) {
  std::vector<std::string> parts;
  std::stringstream ss(nodeName);
  for (std::string part; std::getline(ss, part, '/');)
    if (!part.empty())
      parts.push_back(part);
  if (!parts.empty())
    parts.pop_back(); // the op's own name
  std::vector<std::string> path;
  for (const std::string &p : parts) {
    if (!path.empty() && p.rfind(path.back() + ".", 0) == 0)
      path.back() = p;
    else
      path.push_back(p);
  }
  std::string out;
  for (const std::string &p : path)
    out += (out.empty() ? "" : ".") + p;
  return out;
}

ImportedTensor toTensor(const onnx::TensorProto &t) {
  if (t.data_type() != onnx::TensorProto::FLOAT)
    throw ImportError{"initializer '" + t.name() + "' has ONNX data type " +
                      std::to_string(t.data_type()) + ", only float32 weights are supported"};
  // Size the tensor from its dimensions only after checking them against the
  // data actually present (a fuzzer found dimensions that asked for exabytes).
  uint64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || (d > 0 && n > (uint64_t{1} << 40) / static_cast<uint64_t>(d)))
      throw ImportError{"initializer '" + t.name() + "' has an impossible dimension " + std::to_string(d)};
    n *= static_cast<uint64_t>(d);
  }
  uint64_t present = t.has_raw_data() ? t.raw_data().size() / 4 : static_cast<uint64_t>(t.float_data_size());
  if ((t.has_raw_data() && t.raw_data().size() % 4 != 0) || present != n)
    throw ImportError{"initializer '" + t.name() + "' holds " + std::to_string(present) +
                      " floats, its shape needs " + std::to_string(n)};
  ImportedTensor out;
  out.shape.assign(t.dims().begin(), t.dims().end());
  out.bytes.resize(n * 4);
  if (t.has_raw_data())
    std::memcpy(out.bytes.data(), t.raw_data().data(), out.bytes.size());
  else if (n)
    std::memcpy(out.bytes.data(), t.float_data().data(), out.bytes.size());
  return out;
}

ImportedTensor transposed2D(const ImportedTensor &t) {
  ImportedTensor out;
  int64_t rows = t.shape[0], cols = t.shape[1];
  out.shape = {cols, rows};
  out.bytes.resize(t.bytes.size());
  const float *src = reinterpret_cast<const float *>(t.bytes.data());
  float *dst = reinterpret_cast<float *>(out.bytes.data());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      dst[j * rows + i] = src[i * cols + j];
  return out;
}

ImportedTensor filled(int64_t channels, float value) {
  ImportedTensor t;
  t.shape = {channels};
  t.bytes.resize(static_cast<size_t>(channels) * 4);
  float *p = reinterpret_cast<float *>(t.bytes.data());
  std::fill(p, p + channels, value);
  return t;
}

/// Whether an initializer carries a CMT state-dict name (exporters call the
/// others "onnx::MatMul_1338", or just "1338").
bool isOfficial(const std::string &name) {
  static const char *kRoots[] = {"stem_", "patch_embed_", "relative_pos_", "blocks_", "_fc.", "_bn.",
                                 "head."};
  if (name.find('/') != std::string::npos || name.find("::") != std::string::npos)
    return false;
  for (const char *root : kRoots)
    if (name.rfind(root, 0) == 0)
      return true;
  return false;
}

/// The batch norm a folded convolution swallowed: Sequential(conv, bn) gives
/// "x.0" -> "x.1"; the head's `_fc` is followed by `_bn`.
std::string foldedBatchNorm(const std::string &conv) {
  if (conv == "_fc")
    return "_bn";
  if (conv.size() > 2 && conv.compare(conv.size() - 2, 2, ".0") == 0)
    return conv.substr(0, conv.size() - 2) + ".1";
  return "";
}
} // namespace

bool cmt::recoverONNXWeights(const void *data, size_t size, const std::string &source,
                             ImportedWeights &weights, ONNXGraphInfo &info, std::string &error) {
  try {
    onnx::ModelProto model;
    if (size > static_cast<size_t>(INT32_MAX) || !model.ParseFromArray(data, static_cast<int>(size)))
      throw ImportError{"not an ONNX model (the protobuf does not parse)"};
    const onnx::GraphProto &graph = model.graph();
    for (const auto &opset : model.opset_import())
      if ((opset.domain().empty() || opset.domain() == "ai.onnx") &&
          (opset.version() < 13 || opset.version() > 17))
        throw ImportError{"opset " + std::to_string(opset.version()) +
                          " is not supported (exports of opset 13 to 17 are)"};
    info.name = graph.name();
    if (graph.input_size() > 0) {
      info.inputName = graph.input(0).name();
      for (const auto &d : graph.input(0).type().tensor_type().shape().dim())
        info.inputDims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    }
    std::map<std::string, const onnx::TensorProto *> initializers;
    for (const auto &t : graph.initializer())
      initializers[t.name()] = &t;
    for (const auto &t : graph.initializer())
      if (isOfficial(t.name()))
        weights[t.name()] = toTensor(t);

    std::set<std::string> consumedByBatchNorm;
    for (const auto &node : graph.node())
      if (node.op_type() == "BatchNormalization" && node.input_size() > 0)
        consumedByBatchNorm.insert(node.input(0));

    std::map<std::string, int64_t> foldedChannels; // batch norm name -> channels
    // Names a node's anonymous parameters after `module`.
    auto place = [&](const onnx::NodeProto &node, const std::string &module,
                     const onnx::TensorProto *w, const onnx::TensorProto *b) {
      bool conv = node.op_type() == "Conv", matmul = node.op_type() == "MatMul",
           gemm = node.op_type() == "Gemm";
      if (w) {
        ImportedTensor t = toTensor(*w);
        if (matmul && t.shape.size() == 2)
          t = transposed2D(t); // x @ W^T was exported as x @ (W^T)
        bool transB = false;
        for (const auto &a : node.attribute())
          if (a.name() == "transB")
            transB = a.i() != 0;
        if (gemm && !transB && t.shape.size() == 2)
          t = transposed2D(t);
        weights[module + ".weight"] = std::move(t);
      }
      if (b)
        weights[module + ".bias"] = toTensor(*b);
      std::string bn = conv ? foldedBatchNorm(module) : "";
      if (!bn.empty() && node.output_size() == 1 && !consumedByBatchNorm.count(node.output(0)) &&
          weights[module + ".weight"].shape.size() == 4)
        foldedChannels[bn] = weights[module + ".weight"].shape[0];
    };
    struct Unscoped {
      int index;
      const onnx::NodeProto *node;
      const onnx::TensorProto *w, *b;
    };
    std::vector<Unscoped> unscoped;
    // Exporters before torch 1.13 name nodes "MatMul_12", without scopes: the
    // anonymous parameters are then assigned in execution order, which the
    // official tensors (depths, reductions) determine.
    auto placeByOrder = [&](const std::vector<Unscoped> &nodes) {
      std::vector<std::pair<bool, std::string>> expected; // (is a convolution, module)
      for (int st = 0; st < 4; ++st) {
        std::string s(1, static_cast<char>('a' + st));
        auto pos = weights.find("relative_pos_" + s);
        int64_t r = 1;
        if (pos != weights.end() && pos->second.shape.size() == 3 && pos->second.shape[2] > 0)
          while (r * r * pos->second.shape[2] < pos->second.shape[1]) ++r;
        std::set<int64_t> blocks;
        std::string prefix = "blocks_" + s + ".";
        for (const auto &[name, t] : weights)
          if (name.rfind(prefix, 0) == 0)
            blocks.insert(std::atoll(name.c_str() + prefix.size()));
        for (int64_t j : blocks) {
          std::string p = prefix + std::to_string(j) + ".";
          expected.push_back({false, p + "attn.q"});
          if (r > 1)
            expected.push_back({true, p + "attn.sr.0"});
          for (const char *m : {"attn.k", "attn.v", "attn.proj"})
            expected.push_back({false, p + m});
          expected.push_back({true, p + "mlp.conv2.0"});
        }
      }
      expected.push_back({true, "_fc"});
      expected.push_back({false, "head"});
      size_t next = 0;
      for (const Unscoped &u : nodes) {
        bool conv = u.node->op_type() == "Conv";
        // Skip modules the export named officially.
        while (next < expected.size() &&
               (weights.count(expected[next].second + ".weight") || expected[next].first != conv))
          ++next;
        if (next == expected.size())
          throw ImportError{describe(*u.node, u.index) + ": its weights have no official names, " +
                            "the node no module scope, and it does not fit the CMT structure " +
                            "that the named weights describe"};
        place(*u.node, expected[next++].second, u.w, u.b);
      }
    };
    for (int i = 0; i < graph.node_size(); ++i) {
      const onnx::NodeProto &node = graph.node(i);
      if (!kSupportedOps.count(node.op_type()))
        throw ImportError{describe(node, i) + " cannot be imported: it is not part of a CMT export"};
      auto epsilon = [&](float fallback) {
        for (const auto &a : node.attribute())
          if (a.name() == "epsilon")
            return a.f();
        return fallback;
      };
      if (node.op_type() == "Erf")
        ++info.erfs;
      else if (node.op_type() == "Softmax")
        ++info.softmaxes;
      else if (node.op_type() == "LayerNormalization")
        info.layerNormEps.push_back(epsilon(1e-5f));
      else if (node.op_type() == "BatchNormalization")
        info.batchNormEps.push_back(epsilon(1e-5f));
      bool conv = node.op_type() == "Conv", matmul = node.op_type() == "MatMul",
           gemm = node.op_type() == "Gemm";
      if (!conv && !matmul && !gemm)
        continue;
      // Parameters of this node that are initializers with anonymous names.
      auto anonymous = [&](int input) -> const onnx::TensorProto * {
        if (node.input_size() <= input)
          return nullptr;
        auto it = initializers.find(node.input(input));
        return it != initializers.end() && !isOfficial(it->first) ? it->second : nullptr;
      };
      const onnx::TensorProto *w = anonymous(1), *b = anonymous(2);
      if (!w && !b)
        continue;
      std::string module = modulePath(node.name());
      if (module.empty())
        unscoped.push_back({i, &node, w, b});
      else
        place(node, module, w, b);
    }
    if (!unscoped.empty())
      placeByOrder(unscoped);
    // The folded batch norms become identities: their scale and shift already
    // live in the convolution. (1 - eps) + eps is 1 in float32 to rounding.
    for (const auto &[bn, channels] : foldedChannels) {
      weights[bn + ".weight"] = filled(channels, 1.f);
      weights[bn + ".bias"] = filled(channels, 0.f);
      weights[bn + ".running_mean"] = filled(channels, 0.f);
      weights[bn + ".running_var"] = filled(channels, 1.f - 1e-5f);
    }

    return true;
  } catch (const ImportError &e) {
    error = source + ": " + e.why;
  }
  return false;
}
