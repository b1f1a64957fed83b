//===- Checkpoint.h - a cmt.model from an official checkpoint ---*- C++ -*-===//
#ifndef CMT_IMPORT_CHECKPOINT_H
#define CMT_IMPORT_CHECKPOINT_H

#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "mlir/IR/Builders.h"
#include <map>
#include <string>
#include <vector>

namespace cmt {
/// Infers a CMT configuration from the tensor names and shapes of a
/// safetensors state dict (stem, dims, depths, heads and kv reduction from the
/// relative position tensors, MLP width, fc_dim, classes, resolution) and
/// builds the `cmt.model` at the builder's insertion point. What cannot be
/// inferred is an error naming the tensor; the checkpoint is not otherwise
/// checked here (binding does that, by name and shape).
mlir::FailureOr<ModelOp> importCheckpointConfig(llvm::StringRef path, mlir::OpBuilder &builder,
                                                std::string &error);
namespace rt {
class SafetensorsFile;
}
/// The same from an open file or a file image already in memory; `path`
/// names it in errors.
mlir::FailureOr<ModelOp> importCheckpointConfig(const rt::SafetensorsFile &file,
                                                llvm::StringRef path, mlir::OpBuilder &builder,
                                                std::string &error);
mlir::FailureOr<ModelOp> importCheckpointConfig(const void *data, size_t size, llvm::StringRef path,
                                                mlir::OpBuilder &builder, std::string &error);

/// The same inference from tensor names and shapes alone (shared by the ONNX
/// importer); `source` names where they come from in error messages.
using TensorShapes = std::map<std::string, std::vector<int64_t>>;
mlir::FailureOr<ModelOp> inferModelConfig(const TensorShapes &shapes, llvm::StringRef modelName,
                                          llvm::StringRef source, mlir::OpBuilder &builder,
                                          std::string &error);
} // namespace cmt

#endif
