//===- ONNX.h - a cmt.model and its weights from an ONNX export -*- C++ -*-===//
#ifndef CMT_IMPORT_ONNX_H
#define CMT_IMPORT_ONNX_H

#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "cmt/Import/ONNXWeights.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/MemoryBuffer.h"
#include <map>
#include <string>
#include <vector>

namespace cmt {
/// Reads an ONNX export of CMT (torch.onnx.export of the authors' code, opsets
/// 13-17): recovers its weights by official name (recoverONNXWeights), infers
/// the configuration from their shapes and builds the `cmt.model` at the
/// builder's insertion point, so that the model compiles exactly as a native
/// one.
mlir::FailureOr<ModelOp> importONNX(llvm::StringRef path, mlir::OpBuilder &builder,
                                    ImportedWeights &weights, std::string &error);
/// The same from a file already in memory; `path` names it in errors.
mlir::FailureOr<ModelOp> importONNX(const llvm::MemoryBuffer &file, llvm::StringRef path,
                                    mlir::OpBuilder &builder, ImportedWeights &weights,
                                    std::string &error);

/// Completes `weights` for `forward` (BN counters the export drops are zero)
/// and checks every argument's name and shape; an error lists what is missing.
mlir::LogicalResult completeImportedWeights(mlir::func::FuncOp forward, ImportedWeights &weights,
                                            llvm::StringRef source, std::string &error);
} // namespace cmt

#endif
