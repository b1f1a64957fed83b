//===- Pipelines.h - the named cmt pipelines --------------------*- C++ -*-===//
//
// Every pipeline the tools run is built here, so that cmt-opt's named
// pipelines and cmt-compile's stages are one and the same.
//
//===----------------------------------------------------------------------===//
#ifndef CMT_PIPELINES_PIPELINES_H
#define CMT_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace cmt {
struct GraphPipelineOptions : mlir::PassPipelineOptions<GraphPipelineOptions> {
  Option<int64_t> batch{*this, "batch", llvm::cl::desc("Batch size of the compiled graph"),
                        llvm::cl::init(1)};
};

/// Architecture level -> graph level, simplified: cmt-expand-model, canonicalize, cse.
void buildGraphPipeline(mlir::OpPassManager &pm, const GraphPipelineOptions &options);

/// Registers every named pipeline with the pass registry (for cmt-opt).
void registerPipelines();
} // namespace cmt

#endif
