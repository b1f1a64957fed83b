//===- ONNXImport.cpp - CMT from an ONNX export ------------------*- C++ -*-===//
//
// The weights recovered by recoverONNXWeights give the configuration like a
// checkpoint's tensors do, so that an imported network is compiled by exactly
// the native path.
//
//===----------------------------------------------------------------------===//
#include "cmt/Import/ONNX.h"
#include "cmt/Import/Checkpoint.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include <cmath>

using namespace mlir;
using namespace cmt;

FailureOr<ModelOp> cmt::importONNX(StringRef path, OpBuilder &builder, ImportedWeights &weights,
                                   std::string &error) {
  auto file = llvm::MemoryBuffer::getFile(path, /*IsText=*/false, /*RequiresNullTerminator=*/false);
  if (!file) {
    error = path.str() + ": cannot open: " + file.getError().message();
    return failure();
  }
  return importONNX(**file, path, builder, weights, error);
}

FailureOr<ModelOp> cmt::importONNX(const llvm::MemoryBuffer &file, StringRef path,
                                   OpBuilder &builder, ImportedWeights &weights,
                                   std::string &error) {
  ONNXGraphInfo info;
  if (!recoverONNXWeights(file.getBufferStart(), file.getBufferSize(), path.str(), weights, info,
                          error))
    return failure();

  TensorShapes shapes;
  for (const auto &[name, t] : weights)
    shapes[name] = t.shape;
  std::string name = info.name;
  if (name.empty() || name == "main_graph" || name == "torch_jit")
    name = llvm::sys::path::stem(path).str();
  FailureOr<ModelOp> model = inferModelConfig(shapes, name, path, builder, error);
  if (failed(model))
    return failure();

  // The graph must compute what the weights describe: a graph that merely
  // carries CMT-named weights must not compile silently into a CMT.
  int64_t blocks = 0;
  for (StageOp stage : model->getStages())
    blocks += stage.getDepth();
  auto mismatch = [&](const std::string &what) {
    error = path.str() + ": the graph does not compute the CMT its weights describe (" +
            std::to_string(blocks) + " blocks): " + what;
    model->erase();
    return failure();
  };
  if (info.softmaxes != blocks)
    return mismatch(std::to_string(info.softmaxes) + " Softmax nodes, one per block expected");
  if (info.erfs != 3 + 2 * blocks)
    return mismatch(std::to_string(info.erfs) + " Erf nodes, " + std::to_string(3 + 2 * blocks) +
                    " exact GELUs expected");
  auto near = [](float a, double b) { return std::abs(a - b) <= 1e-3 * b; };
  if (!info.layerNormEps.empty()) {
    if (static_cast<int64_t>(info.layerNormEps.size()) != 4 + 2 * blocks)
      return mismatch(std::to_string(info.layerNormEps.size()) + " LayerNormalization nodes, " +
                      std::to_string(4 + 2 * blocks) + " expected");
    int patch = 0;
    for (float eps : info.layerNormEps) {
      if (near(eps, 1e-5))
        ++patch;
      else if (!near(eps, 1e-6))
        return mismatch("a LayerNormalization with epsilon " + std::to_string(eps) +
                        " (1e-5 in patch aggregation, 1e-6 in blocks expected)");
    }
    if (patch != 4)
      return mismatch(std::to_string(patch) + " LayerNormalization nodes with epsilon 1e-5, 4 expected");
  }
  for (float eps : info.batchNormEps)
    if (!near(eps, 1e-5))
      return mismatch("a BatchNormalization with epsilon " + std::to_string(eps) + " (1e-5 expected)");

  // The graph's input, where static, must agree with the inferred model.
  if (info.inputDims.size() == 4) {
    int64_t expect[4] = {-1, static_cast<int64_t>(model->getInChannels()), model->getResolution(),
                         model->getResolution()};
    for (int d = 1; d < 4; ++d)
      if (info.inputDims[d] >= 0 && info.inputDims[d] != expect[d]) {
        error = path.str() + ": input '" + info.inputName + "' has dimension " + std::to_string(d) +
                " = " + std::to_string(info.inputDims[d]) + ", the weights imply " +
                std::to_string(expect[d]);
        model->erase();
        return failure();
      }
  }
  return model;
}

LogicalResult cmt::completeImportedWeights(func::FuncOp forward, ImportedWeights &weights,
                                           StringRef source, std::string &error) {
  std::vector<std::string> problems;
  for (unsigned i = 0; i < forward.getNumArguments(); ++i) {
    StringRef kind = forward.getArgAttrOfType<StringAttr>(i, kKindAttr).getValue();
    if (kind == kKindInput)
      continue;
    std::string name = forward.getArgAttrOfType<StringAttr>(i, kNameAttr).str();
    auto type = cast<RankedTensorType>(forward.getArgument(i).getType());
    std::vector<int64_t> shape(type.getShape().begin(), type.getShape().end());
    auto it = weights.find(name);
    if (it == weights.end()) {
      if (type.getElementType().isInteger(64)) { // num_batches_tracked: unused in inference
        ImportedTensor zero;
        zero.isInt64 = true;
        zero.bytes.assign(8, 0);
        weights[name] = zero;
        continue;
      }
      problems.push_back("no initializer for '" + name + "'");
    } else if (it->second.shape != shape) {
      problems.push_back("'" + name + "' was recovered with another shape than the model needs");
    }
  }
  if (problems.empty())
    return success();
  error = source.str() + ": the ONNX graph does not hold every weight of the CMT it describes:";
  for (const std::string &p : problems)
    error += "\n  " + p;
  return failure();
}
