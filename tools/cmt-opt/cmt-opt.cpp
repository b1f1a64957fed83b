//===- cmt-opt.cpp - mlir-opt with the cmt dialect and passes ---*- C++ -*-===//
#include "cmt/Dialect/CMT/IR/CMTDialect.h"
#include "cmt/Conversion/Passes.h"
#include "cmt/Dialect/CMT/Transforms/Passes.h"
#include "cmt/Pipelines/Pipelines.h"
#include "cmt/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  cmt::registerCMTPasses();
  cmt::registerCMTConversionPasses();
  cmt::registerCMTTransformsPasses();
  cmt::registerPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary translates kernels to LLVM IR in-process.
  mlir::registerAllToLLVMIRTranslations(registry);
  registry.insert<cmt::CMTDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "CMT optimizer driver\n", registry));
}
