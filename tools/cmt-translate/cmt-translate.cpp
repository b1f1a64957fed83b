//===- cmt-translate.cpp - model files <-> cmt IR ---------------*- C++ -*-===//
//
//   cmt-translate --import-onnx model.onnx          the cmt.model an ONNX export describes
//   cmt-translate --import-checkpoint ckpt.safetensors
//
// The imported IR is what cmt-compile compiles; pipe it into cmt-opt to
// inspect any stage (cmt-opt -cmt-graph, -cmt-linalg, ...).
//
//===----------------------------------------------------------------------===//
#include "cmt/Dialect/CMT/IR/CMTDialect.h"
#include "cmt/Import/Checkpoint.h"
#include "cmt/Import/ONNX.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

namespace {
/// Wraps an importer that builds one cmt.model into a module.
OwningOpRef<Operation *>
importWith(llvm::SourceMgr &sources, MLIRContext *ctx,
           llvm::function_ref<FailureOr<cmt::ModelOp>(const llvm::MemoryBuffer &, StringRef,
                                                      OpBuilder &, std::string &)>
               import) {
  ctx->loadDialect<cmt::CMTDialect>();
  const llvm::MemoryBuffer *file = sources.getMemoryBuffer(sources.getMainFileID());
  OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(ctx));
  OpBuilder b = OpBuilder::atBlockEnd(module->getBody());
  std::string error;
  if (failed(import(*file, file->getBufferIdentifier(), b, error))) {
    emitError(UnknownLoc::get(ctx)) << error;
    return nullptr;
  }
  return OwningOpRef<Operation *>(module.release());
}
} // namespace

int main(int argc, char **argv) {
  TranslateToMLIRRegistration onnx(
      "import-onnx", "the cmt.model of an ONNX export of CMT",
      [](llvm::SourceMgr &sources, MLIRContext *ctx) {
        return importWith(sources, ctx, [](const llvm::MemoryBuffer &file, StringRef path,
                                           OpBuilder &b, std::string &error) {
          cmt::ImportedWeights weights;
          return cmt::importONNX(file, path, b, weights, error);
        });
      });
  TranslateToMLIRRegistration checkpoint(
      "import-checkpoint", "the cmt.model of a CMT checkpoint (safetensors)",
      [](llvm::SourceMgr &sources, MLIRContext *ctx) {
        return importWith(sources, ctx, [](const llvm::MemoryBuffer &file, StringRef path,
                                           OpBuilder &b, std::string &error) {
          return cmt::importCheckpointConfig(file.getBufferStart(), file.getBufferSize(), path, b,
                                             error);
        });
      });
  return failed(mlirTranslateMain(argc, argv, "CMT translation tool"));
}
