//===- ONNXExport.h - graph-level cmt -> standard ONNX ----------*- C++ -*-===//
#ifndef CMT_TARGET_ONNX_ONNXEXPORT_H
#define CMT_TARGET_ONNX_ONNXEXPORT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include <functional>
#include <string>
#include <vector>

namespace cmt {
/// Float32 data of a parameter or buffer by official name; false if absent.
using WeightLookup =
    std::function<bool(const std::string &name, const std::vector<int64_t> &shape,
                       std::string &bytes)>;

/// Writes `forward` (graph-level cmt ops, images NCHW) as an ONNX model of
/// opset 17 with a dynamic batch: one standard node (or a short standard
/// pattern) per cmt op, named after its module scope as torch.onnx.export
/// names them, every parameter an initializer under its official name.
mlir::LogicalResult exportONNX(mlir::func::FuncOp forward, const WeightLookup &weights,
                               llvm::StringRef path, std::string &error);
} // namespace cmt

#endif
