//===- ONNXExport.cpp - graph-level cmt -> standard ONNX ---------*- C++ -*-===//
#include "cmt/Target/ONNX/ONNXExport.h"
#include "cmt/Dialect/CMT/IR/CMTOps.h"

#include "llvm/ADT/TypeSwitch.h"
#include <cmath>
#include <cstdio>
#include <fstream>

#include "onnx/onnx_pb.h"

using namespace mlir;
using namespace cmt;

namespace {
struct ExportError {
  std::string why;
};

class Exporter {
public:
  Exporter(onnx::GraphProto &graph) : graph(graph) {}

  /// The ONNX tensor holding a cmt value.
  const std::string &name(Value v) {
    auto it = names.find(v);
    if (it == names.end())
      throw ExportError{"a value is used before the op defining it was exported"};
    return it->second;
  }

  /// Adds a node; returns its (single) output's name.
  std::string node(const std::string &opType, std::vector<std::string> inputs,
                   std::vector<onnx::AttributeProto> attrs = {}) {
    onnx::NodeProto *n = graph.add_node();
    std::string id = scope + "/" + opType + "_" + std::to_string(counter++);
    n->set_name(id);
    n->set_op_type(opType);
    for (const std::string &i : inputs)
      n->add_input(i);
    std::string out = id + "_output_0";
    n->add_output(out);
    for (onnx::AttributeProto &a : attrs)
      *n->add_attribute() = std::move(a);
    return out;
  }

  std::string scalar(float v) {
    std::string id = "/const_" + std::to_string(counter++);
    onnx::TensorProto *t = graph.add_initializer();
    t->set_name(id);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->set_raw_data(std::string(reinterpret_cast<const char *>(&v), 4));
    return id;
  }

  std::string ints(const std::vector<int64_t> &values) {
    std::string id = "/shape_" + std::to_string(counter++);
    onnx::TensorProto *t = graph.add_initializer();
    t->set_name(id);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    t->set_raw_data(std::string(reinterpret_cast<const char *>(values.data()), values.size() * 8));
    return id;
  }

  static onnx::AttributeProto attr(const std::string &n, std::vector<int64_t> values) {
    onnx::AttributeProto a;
    a.set_name(n);
    a.set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values)
      a.add_ints(v);
    return a;
  }
  static onnx::AttributeProto attr(const std::string &n, int64_t value) {
    onnx::AttributeProto a;
    a.set_name(n);
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(value);
    return a;
  }
  static onnx::AttributeProto attrF(const std::string &n, float value) {
    onnx::AttributeProto a;
    a.set_name(n);
    a.set_type(onnx::AttributeProto::FLOAT);
    a.set_f(value);
    return a;
  }

  /// Reshape keeping dimension 0 (the dynamic batch).
  std::string reshape(const std::string &x, std::vector<int64_t> shape) {
    return node("Reshape", {x, ints(shape)});
  }
  std::string transpose(const std::string &x, std::vector<int64_t> perm) {
    return node("Transpose", {x}, {attr("perm", perm)});
  }

  void exportOp(Operation *op);

  onnx::GraphProto &graph;
  DenseMap<Value, std::string> names;
  std::string scope;
  int counter = 0;
};

static ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }

void Exporter::exportOp(Operation *op) {
  auto loc = dyn_cast<NameLoc>(op->getLoc());
  scope = loc ? "/" + loc.getName().str() : "";
  std::replace(scope.begin(), scope.end(), '.', '/');
  std::string out =
      llvm::TypeSwitch<Operation *, std::string>(op)
          .Case([&](Conv2DOp o) {
            ArrayRef<int64_t> w = shapeOf(o.getWeight()), p = o.getPadding();
            return node("Conv", {name(o.getInput()), name(o.getWeight()), name(o.getBias())},
                        {attr("strides", std::vector<int64_t>(o.getStrides())),
                         attr("pads", {p[0], p[1], p[0], p[1]}),
                         attr("kernel_shape", {w[2], w[3]}),
                         attr("group", static_cast<int64_t>(o.getGroups()))});
          })
          .Case([&](BatchNormOp o) {
            return node("BatchNormalization",
                        {name(o.getInput()), name(o.getWeight()), name(o.getBias()),
                         name(o.getRunningMean()), name(o.getRunningVar())},
                        {attrF("epsilon", static_cast<float>(o.getEps().convertToDouble()))});
          })
          .Case([&](LayerNormOp o) {
            return node("LayerNormalization", {name(o.getInput()), name(o.getWeight()), name(o.getBias())},
                        {attr("axis", int64_t{-1}),
                         attrF("epsilon", static_cast<float>(o.getEps().convertToDouble()))});
          })
          .Case([&](GeluOp o) {
            // 0.5 x (1 + erf(x / sqrt 2)), as the exporter writes exact GELU.
            std::string x = name(o.getInput());
            std::string e = node("Erf", {node("Div", {x, scalar(static_cast<float>(M_SQRT2))})});
            return node("Mul", {node("Mul", {x, node("Add", {e, scalar(1.f)})}), scalar(0.5f)});
          })
          .Case([&](SwishOp o) {
            std::string x = name(o.getInput());
            return node("Mul", {x, node("Sigmoid", {x})});
          })
          .Case([&](AddOp o) { return node("Add", {name(o.getLhs()), name(o.getRhs())}); })
          .Case([&](LinearOp o) {
            ArrayRef<int64_t> s = shapeOf(o.getInput());
            int64_t out = shapeOf(o.getWeight())[0];
            std::vector<onnx::AttributeProto> attrs = {attr("transB", int64_t{1})};
            if (s.size() == 2)
              return node("Gemm", {name(o.getInput()), name(o.getWeight()), name(o.getBias())}, attrs);
            std::string rows = reshape(name(o.getInput()), {-1, s.back()});
            std::string y = node("Gemm", {rows, name(o.getWeight()), name(o.getBias())}, attrs);
            std::vector<int64_t> back(s.begin(), s.end());
            back[0] = -1;
            back.back() = out;
            return reshape(y, back);
          })
          .Case([&](AttentionOp o) {
            ArrayRef<int64_t> q = shapeOf(o.getQuery());
            int64_t n = q[1], dim = q[2], h = o.getHeads(), d = dim / h, m = shapeOf(o.getKey())[1];
            std::string qh = transpose(reshape(name(o.getQuery()), {0, n, h, d}), {0, 2, 1, 3});
            std::string kh = transpose(reshape(name(o.getKey()), {0, m, h, d}), {0, 2, 3, 1});
            std::string vh = transpose(reshape(name(o.getValue()), {0, m, h, d}), {0, 2, 1, 3});
            float scale = static_cast<float>(o.getScale().convertToDouble());
            std::string s = node("Add", {node("Mul", {node("MatMul", {qh, kh}), scalar(scale)}),
                                         name(o.getBias())});
            std::string p = node("Softmax", {s}, {attr("axis", int64_t{-1})});
            return reshape(transpose(node("MatMul", {p, vh}), {0, 2, 1, 3}), {0, n, dim});
          })
          .Case([&](GlobalAvgPoolOp o) {
            return node("Flatten", {node("GlobalAveragePool", {name(o.getInput())})},
                        {attr("axis", int64_t{1})});
          })
          .Case([&](ImageToTokensOp o) {
            ArrayRef<int64_t> s = shapeOf(o.getInput());
            return transpose(reshape(name(o.getInput()), {0, s[1], s[2] * s[3]}), {0, 2, 1});
          })
          .Case([&](TokensToImageOp o) {
            ArrayRef<int64_t> s = shapeOf(o.getInput());
            return reshape(transpose(name(o.getInput()), {0, 2, 1}),
                           {0, s[2], static_cast<int64_t>(o.getHeight()),
                            static_cast<int64_t>(o.getWidth())});
          })
          .Default([&](Operation *other) -> std::string {
            throw ExportError{"'" + other->getName().getStringRef().str() +
                              "' has no ONNX export (inference graphs only)"};
          });
  names[op->getResult(0)] = out;
}

void setType(onnx::ValueInfoProto *info, const std::string &n, ArrayRef<int64_t> shape,
             bool dynamicBatch) {
  info->set_name(n);
  auto *t = info->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (size_t i = 0; i < shape.size(); ++i) {
    auto *d = t->mutable_shape()->add_dim();
    if (i == 0 && dynamicBatch)
      d->set_dim_param("batch");
    else
      d->set_dim_value(shape[i]);
  }
}
} // namespace

LogicalResult cmt::exportONNX(func::FuncOp forward, const WeightLookup &weights, StringRef path,
                              std::string &error) {
  try {
    onnx::ModelProto model;
    model.set_ir_version(8);
    model.set_producer_name("cmt-compile");
    auto *opset = model.add_opset_import();
    opset->set_domain("");
    opset->set_version(17);
    onnx::GraphProto &graph = *model.mutable_graph();
    auto config = forward->getAttrOfType<DictionaryAttr>(kConfigAttr);
    auto modelName = config ? config.getAs<StringAttr>("model") : StringAttr();
    graph.set_name(modelName ? modelName.str() : forward.getSymName().str());
    Exporter ex(graph);

    for (unsigned i = 0; i < forward.getNumArguments(); ++i) {
      Value arg = forward.getArgument(i);
      std::string n = forward.getArgAttrOfType<StringAttr>(i, kNameAttr).str();
      StringRef kind = forward.getArgAttrOfType<StringAttr>(i, kKindAttr).getValue();
      ex.names[arg] = n;
      if (kind == kKindInput) {
        setType(graph.add_input(), n, shapeOf(arg), /*dynamicBatch=*/true);
        continue;
      }
      auto type = cast<RankedTensorType>(arg.getType());
      if (!type.getElementType().isF32())
        continue; // num_batches_tracked: training-only state
      std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
      onnx::TensorProto *t = graph.add_initializer();
      t->set_name(n);
      t->set_data_type(onnx::TensorProto::FLOAT);
      for (int64_t d : shape)
        t->add_dims(d);
      if (!weights(n, shape, *t->mutable_raw_data()))
        throw ExportError{"no weights for '" + n + "'"};
    }
    for (Operation &op : forward.getBody().front().without_terminator())
      ex.exportOp(&op);
    auto ret = cast<func::ReturnOp>(forward.getBody().front().getTerminator());
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      auto n = forward.getResultAttrOfType<StringAttr>(i, kNameAttr);
      std::string outName = n ? n.str() : "output_" + std::to_string(i);
      // Name the graph output by renaming it with an Identity.
      onnx::NodeProto *id = graph.add_node();
      id->set_name("/output_" + std::to_string(i));
      id->set_op_type("Identity");
      id->add_input(ex.name(v));
      id->add_output(outName);
      setType(graph.add_output(), outName, shapeOf(v), /*dynamicBatch=*/true);
    }
    // Written beside the target and renamed: a failed write leaves any previous file.
    std::string tmp = path.str() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out || !model.SerializeToOstream(&out) || !out.flush()) {
        std::remove(tmp.c_str());
        throw ExportError{"cannot write " + path.str()};
      }
    }
    if (std::rename(tmp.c_str(), path.str().c_str()) != 0) {
      std::remove(tmp.c_str());
      throw ExportError{"cannot rename " + tmp + " to " + path.str()};
    }
    return success();
  } catch (const ExportError &e) {
    error = "ONNX export: " + e.why;
  }
  return failure();
}
