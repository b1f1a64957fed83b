//===- Pipelines.cpp - the named cmt pipelines ------------------*- C++ -*-===//
#include "cmt/Pipelines/Pipelines.h"
#include "cmt/Dialect/CMT/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void cmt::buildGraphPipeline(OpPassManager &pm, const GraphPipelineOptions &options) {
  pm.addPass(createCMTExpandModel(CMTExpandModelOptions{options.batch}));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void cmt::registerPipelines() {
  PassPipelineRegistration<GraphPipelineOptions>(
      "cmt-graph", "Expand cmt.model to graph-level cmt ops on tensors and simplify",
      buildGraphPipeline);
}
