//===- Pipelines.h - the named cmt pipelines --------------------*- C++ -*-===//
//
// Every pipeline the tools run is built here, so that cmt-opt's named
// pipelines and cmt-compile's stages (-emit=cmt|linalg|llvm|...) are one and
// the same.
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
  Option<bool> activations{*this, "activations",
                           llvm::cl::desc("Also return the stem, stage and feature activations"),
                           llvm::cl::init(false)};
  Option<bool> train{*this, "train",
                     llvm::cl::desc("Training-mode forward with loss and BN statistics"),
                     llvm::cl::init(false)};
  Option<double> labelSmoothing{*this, "label-smoothing",
                                llvm::cl::desc("Label smoothing of the training-mode loss"),
                                llvm::cl::init(0.0)};
  Option<bool> softTargets{*this, "soft-targets",
                           llvm::cl::desc("Training mode: the loss takes target distributions ('targets')"),
                           llvm::cl::init(false)};
  Option<bool> dropPath{*this, "drop-path",
                        llvm::cl::desc("Training mode: stochastic depth (rate and draws as inputs)"),
                        llvm::cl::init(false)};
};

/// Architecture level -> graph level, simplified: cmt-expand-model, canonicalize, cse.
void buildGraphPipeline(mlir::OpPassManager &pm, const GraphPipelineOptions &options);

/// A training-mode @forward -> @train_step (cmt-generate-backward), simplified;
/// `dataParallel` averages the gradients over the ranks (cmt.all_reduce).
void buildBackwardPipeline(mlir::OpPassManager &pm, bool dataParallel = false);

struct LinalgPipelineOptions : mlir::PassPipelineOptions<LinalgPipelineOptions> {
  Option<bool> gatherWindows{*this, "gather-windows",
                             llvm::cl::desc("Padded convolution windows (depthwise, im2col) read "
                                            "with bounds checks, no padded copy (the GPU's choice)"),
                             llvm::cl::init(false)};
  Option<bool> syncBatchNorm{*this, "sync-batch-norm",
                             llvm::cl::desc("Batch-norm statistics over every rank (runtime --sync-bn)"),
                             llvm::cl::init(false)};
  Option<bool> fuseAttention{*this, "fuse-attention",
                             llvm::cl::desc("Each attention as one loop nest over query rows "
                                            "(one warp per row on the GPU)"),
                             llvm::cl::init(false)};
  Option<int64_t> recomputeSmall{*this, "recompute-small",
                                 llvm::cl::desc("Fuse producers of at most this many elements into "
                                                "every elementwise reader, recomputed (the GPU's choice)"),
                                 llvm::cl::init(0)};
  Option<bool> foldReshapes{*this, "fold-reshapes",
                            llvm::cl::desc("Fold reshapes between elementwise ops so they fuse "
                                           "(the GPU's choice)"),
                            llvm::cl::init(false)};
  Option<bool> splitReductions{*this, "split-reductions",
                                llvm::cl::desc("Long sums with few outputs in two stages "
                                               "(cmt-split-reductions; the GPU's choice)"),
                                llvm::cl::init(false)};
  Option<bool> rowStats{*this, "row-stats",
                        llvm::cl::desc("Each layer norm's statistics one loop nest of a warp per "
                                       "row (the GPU's choice)"),
                        llvm::cl::init(false)};
  Option<bool> bf16Storage{*this, "bf16-storage",
                           llvm::cl::desc("Store activations as bf16, compute in f32 "
                                          "(cmt-narrow-storage; inference on the GPU)"),
                           llvm::cl::init(false)};
  Option<bool> bf16Products{*this, "bf16-products",
                            llvm::cl::desc("With bf16-storage, matrix products' results too, "
                                           "rounded by cuBLAS's store (the GPU's choice)"),
                            llvm::cl::init(false)};
  ListOption<std::string> bf16Functions{*this, "bf16-functions",
                                        llvm::cl::desc("With bf16-storage, only these functions "
                                                       "(all when none is named)")};
  ListOption<std::string> hoistParameterMath{
      *this, "hoist-parameter-math",
      llvm::cl::desc("Inference functions whose weight-only values are computed once, by "
                     "F_prepare (cmt-hoist-parameter-math)")};
  Option<bool> rematerialize{*this, "rematerialize",
                             llvm::cl::desc("Recompute elementwise values read past the memory peak "
                                            "(cmt-rematerialize; a training step's saved activations)"),
                             llvm::cl::init(false)};
};

/// Graph level -> linalg on tensors, channels-last, elementwise chains fused;
/// collectives (cmt.all_reduce) become runtime calls (cmt-lower-collectives).
void buildLinalgPipeline(mlir::OpPassManager &pm, const LinalgPipelineOptions &options = {});

/// linalg on tensors -> LLVM dialect for the host: math approximations,
/// bufferization with results as out-parameters, micro-kernel calls for
/// contractions, loops, and the LLVM conversions (bare-pointer calling
/// convention: every argument is a pointer to its data).
void buildCPULoweringPipeline(mlir::OpPassManager &pm);

struct CUDAPipelineOptions : mlir::PassPipelineOptions<CUDAPipelineOptions> {
  Option<std::string> chip{*this, "chip", llvm::cl::desc("GPU architecture (sm_XX)"),
                           llvm::cl::init("sm_90")};
  Option<std::string> features{*this, "features", llvm::cl::desc("PTX features"),
                               llvm::cl::init("+ptx80")};
};

/// linalg on tensors -> gpu dialect: bufferization as for the CPU,
/// contractions that cuBLAS can run as calls of cmt_ukernel_sgemm (the CUDA
/// runtime implements it with cuBLAS), every other loop nest one 1-D
/// gpu.launch (cmt-map-to-gpu), outlined into a gpu.module with an NVVM
/// target.
void buildCUDAKernelPipeline(mlir::OpPassManager &pm, const CUDAPipelineOptions &options);

/// gpu dialect -> LLVM dialect (host) and NVVM (kernels); gpu-module-to-binary
/// then makes the cubin (the CUDA target does that step).
void buildCUDAToLLVMPipeline(mlir::OpPassManager &pm);

/// Registers every named pipeline with the pass registry (for cmt-opt).
void registerPipelines();
} // namespace cmt

#endif
