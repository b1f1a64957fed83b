//===- ONNXWeights.h - official weights from an ONNX export -----*- C++ -*-===//
//
// The part of the ONNX importer that needs no MLIR (and is fuzzed alone):
// parsing, checking the node types, and recovering every initializer under its
// official PyTorch name.
//
//===----------------------------------------------------------------------===//
#ifndef CMT_IMPORT_ONNXWEIGHTS_H
#define CMT_IMPORT_ONNXWEIGHTS_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cmt {
/// A weight recovered from an ONNX file, under its official PyTorch name.
struct ImportedTensor {
  std::vector<int64_t> shape;
  bool isInt64 = false;
  std::vector<char> bytes; // little-endian float32 (or int64)
};
using ImportedWeights = std::map<std::string, ImportedTensor>;

/// What the importer needs of the graph besides its weights.
struct ONNXGraphInfo {
  std::string name;
  std::string inputName;
  std::vector<int64_t> inputDims; // -1 where symbolic (the batch)
  /// What the graph computes besides its weights, checked against the
  /// structure the weights describe: exact GELUs (one Erf each), attention
  /// softmaxes, and the epsilons of the normalisations.
  int erfs = 0, softmaxes = 0;
  std::vector<float> layerNormEps, batchNormEps; // LayerNormalization only from opset 17
};

/// Parses an ONNX model image and recovers its weights by official name:
/// initializers that carry one are kept; MatMul/Gemm/Conv parameters with
/// anonymous names are named after the node's module scope (linear weights
/// transposed back to PyTorch's (out, in)); a batch norm the exporter folded
/// into its convolution becomes an identity. False with `error` (naming the
/// node, its op type and its position) on anything else.
bool recoverONNXWeights(const void *data, size_t size, const std::string &source,
                        ImportedWeights &weights, ONNXGraphInfo &info, std::string &error);
} // namespace cmt

#endif
