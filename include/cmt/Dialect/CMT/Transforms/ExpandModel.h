//===- ExpandModel.h - architecture level -> graph level --------*- C++ -*-===//
#ifndef CMT_DIALECT_CMT_TRANSFORMS_EXPANDMODEL_H
#define CMT_DIALECT_CMT_TRANSFORMS_EXPANDMODEL_H

#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace cmt {
/// Builds `func.func @<name>` computing `model`'s logits at the builder's
/// insertion point; results are named by the `cmt.name` result attribute (as
/// in the golden data). Shared by the cmt-expand-model pass, the statistics
/// and the compiler driver. Head dropout is applied only in training mode,
/// with `dropPath` (its draws are inputs too); a training-mode expansion
/// without it needs a model whose head_dropout is 0.
struct ForwardOptions {
  int64_t batch = 1;
  /// Also return act/stem, act/stage1-4 and act/features.
  bool activations = false;
  /// Training-mode forward: batch statistics in every batch norm (their
  /// updated running statistics are returned under the buffers' names), and
  /// a `labels` input with the mean cross-entropy returned as `loss`.
  bool train = false;
  double labelSmoothing = 0.0;
  /// Training mode: the loss takes a `targets` input, one distribution over
  /// the classes per image (f32, batch x classes: what mixup and cutmix
  /// make), in place of `labels`.
  bool softTargets = false;
  /// Training mode: stochastic depth on the attention and IRFFN branches of
  /// every block, at rate `train/drop_path_rate` (a scalar input) times the
  /// block's share (linear over the blocks, 0 for the first), with the
  /// per-image draws of input `train/drop_path_uniform` (2 rows per block);
  /// and dropout before the head at the model's head_dropout, with the
  /// per-element draws of input `train/dropout_uniform` (batch x fc_dim).
  bool dropPath = false;
};
mlir::func::FuncOp buildForward(ModelOp model, mlir::OpBuilder &builder,
                                llvm::StringRef name, const ForwardOptions &options);
} // namespace cmt

#endif
