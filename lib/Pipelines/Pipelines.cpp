//===- Pipelines.cpp - the named cmt pipelines ------------------*- C++ -*-===//
#include "cmt/Pipelines/Pipelines.h"
#include "cmt/Conversion/Passes.h"
#include "cmt/Dialect/CMT/Transforms/Passes.h"
#include "cmt/Transforms/Passes.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/ErrorHandling.h"

using namespace mlir;

/// Adds upstream passes by their textual names; the spelling is what
/// `cmt-opt --help` lists, and a typo fails loudly here, not silently.
static void addTextual(OpPassManager &pm, StringRef pipeline) {
  if (failed(parsePassPipeline(pipeline, pm)))
    llvm::report_fatal_error(llvm::Twine("bad built-in pipeline: ") + pipeline);
}

void cmt::buildGraphPipeline(OpPassManager &pm, const GraphPipelineOptions &options) {
  CMTExpandModelOptions expand;
  expand.batch = options.batch;
  expand.activations = options.activations;
  expand.train = options.train;
  expand.labelSmoothing = options.labelSmoothing;
  expand.softTargets = options.softTargets;
  expand.dropPath = options.dropPath;
  pm.addPass(createCMTExpandModel(expand));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void cmt::buildBackwardPipeline(OpPassManager &pm, bool dataParallel) {
  CMTGenerateBackwardOptions options;
  options.dataParallel = dataParallel;
  pm.addPass(createCMTGenerateBackward(options));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void cmt::buildLinalgPipeline(OpPassManager &pm, const LinalgPipelineOptions &options) {
  OpPassManager &f = pm.nest<func::FuncOp>();
  ConvertCMTToLinalgOptions conversion;
  conversion.gatherWindows = options.gatherWindows;
  conversion.syncBatchNorm = options.syncBatchNorm;
  conversion.fuseAttention = options.fuseAttention;
  conversion.rowStats = options.rowStats;
  f.addPass(createConvertCMTToLinalg(conversion));
  f.addPass(createCanonicalizerPass());
  f.addPass(createCSEPass());
  CMTFuseElementwiseOptions fusion;
  fusion.recomputeSmall = options.recomputeSmall;
  fusion.foldReshapes = options.foldReshapes;
  f.addPass(createCMTFuseElementwise(fusion));
  f.addPass(createCanonicalizerPass());
  f.addPass(createCSEPass());
  if (options.splitReductions)
    f.addPass(createCMTSplitReductions());
  if (options.rematerialize) {
    // No CSE after this: it would merge the recomputations back.
    f.addPass(createCMTRematerialize());
    f.addPass(createCMTFuseElementwise(fusion));
    f.addPass(createCanonicalizerPass());
  }
  if (options.bf16Storage) {
    CMTNarrowStorageOptions narrow;
    narrow.functions.assign(options.bf16Functions.begin(), options.bf16Functions.end());
    narrow.products = options.bf16Products;
    f.addPass(createCMTNarrowStorage(narrow));
  }
  if (!options.hoistParameterMath.empty()) {
    CMTHoistParameterMathOptions hoist;
    hoist.functions.assign(options.hoistParameterMath.begin(), options.hoistParameterMath.end());
    pm.addPass(createCMTHoistParameterMath(hoist));
  }
  pm.addPass(createCMTLowerCollectives());
}

/// Tensors -> buffers with identity layouts at the function boundary, results
/// as out-parameters (the executables' calling convention), deallocations
/// after last use (what lets the runtime reuse memory by liveness).
static void addBufferization(OpPassManager &pm) {
  addTextual(pm, "one-shot-bufferize{bufferize-function-boundaries "
                 "function-boundary-type-conversion=identity-layout-map},"
                 "buffer-results-to-out-params{modify-public-functions hoist-static-allocs},"
                 "buffer-deallocation-pipeline,"
                 "canonicalize,cse");
  pm.nest<func::FuncOp>().addPass(cmt::createCMTFreeAfterLastUse());
}

void cmt::buildCPULoweringPipeline(OpPassManager &pm) {
  pm.nest<func::FuncOp>().addPass(createCMTApproximateMath());
  addBufferization(pm);
  pm.addPass(createConvertLinalgToUKernels());
  pm.addPass(createCMTOutlineKernels());
  addTextual(pm, "func.func(convert-linalg-to-loops)");
  pm.nest<func::FuncOp>().addPass(createCMTLowerCopies());
  addTextual(pm, "lower-affine,convert-scf-to-cf,expand-strided-metadata,"
                 "finalize-memref-to-llvm,convert-math-to-llvm,convert-math-to-libm,"
                 "convert-arith-to-llvm,convert-index-to-llvm,"
                 "convert-func-to-llvm{use-bare-ptr-memref-call-conv=true},"
                 "convert-cf-to-llvm,reconcile-unrealized-casts");
}

void cmt::buildCUDAKernelPipeline(OpPassManager &pm, const CUDAPipelineOptions &options) {
  addBufferization(pm);
  ConvertLinalgToUKernelsOptions blas;
  blas.blasLayouts = true;
  pm.addPass(createConvertLinalgToUKernels(blas));
  pm.addPass(createCMTMapToGPU());
  addTextual(pm, "gpu-kernel-outlining");
  pm.addPass(createCMTMergeGPUModules());
  addTextual(pm, "nvvm-attach-target{chip=" + options.chip + " features=" + options.features + " O=3}");
}

void cmt::buildCUDAToLLVMPipeline(OpPassManager &pm) {
  // Kernels: structured control flow and strided views first, since
  // convert-gpu-to-nvvm lowers neither. Host: allocations through the
  // runtime's device arena (_mlir_memref_to_llvm_alloc), launches through
  // its mgpu* functions.
  addTextual(pm, "lower-affine,convert-scf-to-cf,expand-strided-metadata,"
                 "gpu.module(convert-gpu-to-nvvm),"
                 "finalize-memref-to-llvm{use-generic-functions=true},"
                 "convert-math-to-llvm,convert-arith-to-llvm,convert-index-to-llvm,"
                 "convert-func-to-llvm{use-bare-ptr-memref-call-conv=true},"
                 "convert-cf-to-llvm,gpu-to-llvm,reconcile-unrealized-casts,canonicalize,cse");
}

void cmt::registerPipelines() {
  PassPipelineRegistration<CUDAPipelineOptions>(
      "cmt-cuda-lowering",
      "Lower linalg on tensors to host LLVM code launching NVVM kernels (before serialization)",
      [](OpPassManager &pm, const CUDAPipelineOptions &options) {
        buildCUDAKernelPipeline(pm, options);
        buildCUDAToLLVMPipeline(pm);
      });
  PassPipelineRegistration<CUDAPipelineOptions>(
      "cmt-cuda-kernels",
      "Lower linalg on tensors to the gpu dialect: cuBLAS calls and one kernel per loop nest",
      buildCUDAKernelPipeline);
  PassPipelineRegistration<GraphPipelineOptions>(
      "cmt-graph", "Expand cmt.model to graph-level cmt ops on tensors and simplify",
      buildGraphPipeline);
  PassPipelineRegistration<>(
      "cmt-backward",
      "Differentiate a training-mode @forward into @train_step (forward, backward, optimizer)",
      [](OpPassManager &pm) { buildBackwardPipeline(pm); });
  PassPipelineRegistration<LinalgPipelineOptions>(
      "cmt-linalg", "Lower graph-level cmt ops to fused linalg on tensors", buildLinalgPipeline);
  PassPipelineRegistration<>("cmt-cpu-lowering",
                             "Lower linalg on tensors to the LLVM dialect for the host CPU",
                             buildCPULoweringPipeline);
}
