//===- ONNX.h - a cmt.model and its weights from an ONNX export -*- C++ -*-===//
#ifndef CMT_IMPORT_ONNX_H
#define CMT_IMPORT_ONNX_H

#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
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

/// Reads an ONNX export of CMT (torch.onnx.export of the authors' code, opsets
/// 13-17): checks that every node is one such an export holds, recovers the
/// official name of every initializer from the exporter's module scopes
/// (linear weights transposed back; convolutions the exporter folded batch
/// norm into get an identity batch norm), infers the configuration from the
/// recovered shapes and builds the `cmt.model` at the builder's insertion
/// point, so that the model compiles exactly as a native one. Errors name the
/// node, its op type and its position.
mlir::FailureOr<ModelOp> importONNX(llvm::StringRef path, mlir::OpBuilder &builder,
                                    ImportedWeights &weights, std::string &error);

/// Completes `weights` for `forward` (BN counters the export drops are zero)
/// and checks every argument's name and shape; an error lists what is missing.
mlir::LogicalResult completeImportedWeights(mlir::func::FuncOp forward, ImportedWeights &weights,
                                            llvm::StringRef source, std::string &error);
} // namespace cmt

#endif
