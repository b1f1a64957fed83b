//===- Passes.td - cmt dialect passes ----------------------*- tablegen -*-===//
#ifndef CMT_TRANSFORMS_PASSES_TD
#define CMT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def CMTExpandModel : Pass<"cmt-expand-model", "mlir::ModuleOp"> {
  let summary = "Expand a cmt.model (architecture level) into func.func @forward on tensors";
  let description = [{
    Replaces the module's `cmt.model` with a function that computes the
    logits with graph-level cmt ops, exactly as the authors' released code
    does in evaluation mode. Its arguments are the NCHW input image and every
    parameter and buffer of the model, each carrying its official PyTorch
    state-dict name in `cmt.name` and its role in `cmt.kind`. Every op is
    located at the name of the PyTorch module it comes from.

    Before:
    ```mlir
    cmt.model @tiny resolution = 64 classes = 10 fc_dim = 96 head_dropout = 1.000000e-01 {
      cmt.stem channels = 8
      cmt.stage dim = 16, depth = 1, heads = 1, kv_reduction = 8, mlp_ratio = 3.600000e+00
      ...
      cmt.head
    }
    ```
    After (`batch=4`):
    ```mlir
    func.func @forward(%input: tensor<4x3x64x64xf32> {cmt.kind = "input", cmt.name = "input"},
                       %w: tensor<8x3x3x3xf32> {cmt.kind = "parameter", cmt.name = "stem_conv1.weight"},
                       ...) -> tensor<4x10xf32> attributes {cmt.config = {...}} {
      %0 = cmt.conv2d %input, %w, %b strides = [2, 2] padding = [1, 1] groups = 1 : ...
      %1 = cmt.gelu %0 : tensor<4x8x32x32xf32>
      %2 = cmt.batch_norm %1, ... eps = 1.000000e-05 : tensor<4x8x32x32xf32>, tensor<8xf32>
      ...
      return %logits : tensor<4x10xf32>
    }
    ```
  }];
  let options = [
    Option<"batch", "batch", "int64_t", /*default=*/"1",
           "Batch size of the expanded function (shapes are static)">,
    Option<"activations", "activations", "bool", /*default=*/"false",
           "Also return act/stem (NCHW), act/stage1-4 (tokens) and act/features, "
           "named by the cmt.name result attribute">,
    Option<"train", "train", "bool", /*default=*/"false",
           "Training-mode forward: batch statistics, updated BN running statistics "
           "and the mean cross-entropy of a `labels` input (no gradients yet)">,
    Option<"labelSmoothing", "label-smoothing", "double", /*default=*/"0.0",
           "Label smoothing of the training-mode loss">,
    Option<"softTargets", "soft-targets", "bool", /*default=*/"false",
           "Training mode: the loss takes `targets` (batch x classes, f32: one "
           "distribution per image, as mixup and cutmix make) in place of `labels`">,
    Option<"dropPath", "drop-path", "bool", /*default=*/"false",
           "Training mode: stochastic depth on every block's attention and IRFFN "
           "branches, with inputs train/drop_path_rate and train/drop_path_uniform, "
           "and the model's head dropout with input train/dropout_uniform">,
  ];
  let dependentDialects = ["::cmt::CMTDialect", "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect"];
}

def CMTGenerateBackward : Pass<"cmt-generate-backward", "mlir::ModuleOp"> {
  let summary = "Turn a training-mode @forward into @train_step: forward, backward, optimizer";
  let description = [{
    Differentiates the loss of a training-mode `@forward` (from
    `cmt-expand-model{train=1}`) with respect to every parameter by calling
    each op's gradient rule (`GradientOpInterface`) in reverse order and
    summing the gradients of values used more than once. Then appends the
    optimizer: the learning rate from the step count (`cmt.learning_rate`),
    the global gradient norm (for clipping), and one `cmt.optimizer_step` per
    parameter, with weight decay only for parameters of two or more
    dimensions. The function becomes `@train_step` with new arguments
    `train/hyper` (hyper-parameters, runtime/train_hyper.h), `train/step`
    and `optimizer/m/P`, `optimizer/v/P` per parameter; the label smoothing
    of the loss is read from `train/hyper`. Results: the forward's (`loss`,
    `logits`), then `next/X` for every parameter, buffer and state X,
    `grad/P` per parameter the loss depends on, `grad_norm` and `lr`. Only
    values that depend on a parameter get gradients; a parameter the loss
    ignores keeps its value and state (as PyTorch's optimizers skip it).

    Saved activations: every value a gradient rule reads stays alive until
    that rule's ops run (bufferization frees it after its last use);
    normalisation statistics and attention probabilities are recomputed.

    With `data-parallel`, each parameter's gradient goes through
    `cmt.all_reduce` (the mean over the ranks) as soon as it is final, in the
    order the backward completes them, and the optimizer reads the results
    of one `cmt.all_reduce_wait`; a runtime can so overlap the reduction of
    early buckets with the rest of the backward.

    Before:
    ```mlir
    func.func @forward(%x: tensor<4x16xf32> {cmt.kind = "input", ...},
                       %w: tensor<10x16xf32> {cmt.kind = "parameter", cmt.name = "head.weight"}, ...)
        -> (tensor<4x10xf32> {cmt.name = "logits"}, tensor<f32> {cmt.name = "loss"}) {
      %logits = cmt.linear %x, %w, %b : ...
      %loss = cmt.cross_entropy %logits, %labels, %s : tensor<4x10xf32>, tensor<4xi64>
      return %logits, %loss : ...
    }
    ```
    After:
    ```mlir
    func.func @train_step(%x, %w, %b, %labels, %hyper: tensor<14xf32>, %step: tensor<i64>,
                          %m_w, %v_w, %m_b, %v_b) -> (...) {
      ...forward...
      %one = arith.constant dense<1.000000e+00> : tensor<f32>
      %dl = cmt.cross_entropy_grad %one, %logits, %labels, %s : tensor<4x10xf32>, tensor<4xi64>
      %dx, %dw, %db = cmt.linear_grad %dl, %x, %w : ...
      %lr = cmt.learning_rate %step, %hyper : tensor<14xf32>
      %norm = cmt.global_norm %dw, %db : ...
      %w1, %mw1, %vw1 = cmt.optimizer_step %w, %dw, %m_w, %v_w, %lr, %norm, %step, %hyper decay = true : ...
      ...
    }
    ```
  }];
  let options = [
    Option<"dataParallel", "data-parallel", "bool", /*default=*/"false",
           "Average each gradient over the ranks (cmt.all_reduce) before the optimizer">,
  ];
  let dependentDialects = ["::cmt::CMTDialect", "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect", "::mlir::tensor::TensorDialect"];
}

def CMTPrintStats : Pass<"cmt-print-stats", "mlir::ModuleOp"> {
  let summary = "Print parameters and multiply-accumulates per stage and in total";
  let description = [{
    For every `cmt.model` (expanded on the side at batch 1) and every
    function on graph-level cmt ops, prints the parameter count (buffers
    such as BN running statistics apart) and the multiply-accumulates per
    image of convolutions, linears and the two attention products, per part
    (stem, stages a-d, head) and in total. The IR is left unchanged.

    ```
    $ cmt-opt models/cmt-ti.mlir --cmt-print-stats -o /dev/null
    model cmt_ti: resolution 160, batch 1
      part          params            MACs
      stem           4,960      29,491,200
      ...
    ```
    With `format=json`, one JSON object per model on its own line, with at
    least the keys `"params"` and `"macs"`.
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"text\"",
           "Output format: text or json">,
  ];
  let dependentDialects = ["::cmt::CMTDialect", "::mlir::func::FuncDialect"];
}

#endif // CMT_TRANSFORMS_PASSES_TD
