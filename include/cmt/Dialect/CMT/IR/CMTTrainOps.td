//===- CMTTrainOps.td - gradients and optimizer updates ----*- tablegen -*-===//
//
// What cmt-generate-backward builds: one `*_grad` op per differentiable
// graph op (the vector-Jacobian product of its gradient rule), and the ops of
// the optimizer step. Included from CMTOps.td.
//
//===----------------------------------------------------------------------===//
#ifndef CMT_TRAIN_OPS_TD
#define CMT_TRAIN_OPS_TD

// Gradient ops infer their result types from the forward operands they
// differentiate; a result that nothing uses is not computed by the lowering
// (an input image's gradient, for one).
class CMT_GradOp<string mnemonic, list<Trait> traits = []>
    : CMT_Op<mnemonic, !listconcat([Pure], traits)>;

def CMT_Conv2DGradOp : CMT_GradOp<"conv2d_grad", [InferTypeOpAdaptor]> {
  let summary = "Gradients of cmt.conv2d with respect to its input, weight and bias";
  let description = [{
    `dy` is the gradient of the convolution's output; the attributes are the
    forward op's. The input gradient is computed for stride 1 (padding at
    most kernel - 1) and for non-overlapping patches (stride = kernel, no
    padding), which covers every convolution of CMT whose input needs one.

    ```mlir
    %dx, %dw, %db = cmt.conv2d_grad %dy, %x, %w strides = [1, 1] padding = [1, 1] groups = 16
        : tensor<4x16x16x16xf32>, tensor<4x16x16x16xf32>, tensor<16x1x3x3xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$dy, CMT_FloatTensor:$input, CMT_FloatTensor:$weight,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$padding,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs CMT_FloatTensor:$dinput, CMT_FloatTensor:$dweight,
                      CMT_FloatTensor:$dbias);
  let assemblyFormat = [{
    $dy `,` $input `,` $weight `strides` `=` $strides `padding` `=` $padding
    `groups` `=` $groups attr-dict `:` type($dy) `,` type($input) `,` type($weight)
  }];
}

class CMT_NormGradOp<string mnemonic, string what, string ex>
    : CMT_GradOp<mnemonic, [AllTypesMatch<["dy", "input", "dinput"]>,
                            AllTypesMatch<["weight", "dweight", "dbias"]>]> {
  let summary = "Gradients of " # what # " with respect to its input, weight and bias";
  let description = [{
    Recomputes the statistics from the saved input (rather than keeping the
    forward's), then the standard closed form:
    `dx = w * rstd * (dy - mean(dy) - xhat * mean(dy * xhat))`,
    `dweight = sum(dy * xhat)`, `dbias = sum(dy)`.

    ```mlir
  }] # ex # [{
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$dy, CMT_FloatTensor:$input, CMT_FloatTensor:$weight,
                       F64Attr:$eps);
  let results = (outs CMT_FloatTensor:$dinput, CMT_FloatTensor:$dweight,
                      CMT_FloatTensor:$dbias);
  let assemblyFormat = [{
    $dy `,` $input `,` $weight `eps` `=` $eps attr-dict `:` type($input) `,` type($weight)
  }];
  let hasVerifier = 1;
}

def CMT_BatchNormGradOp : CMT_NormGradOp<"batch_norm_grad",
    "cmt.batch_norm_train (batch statistics over all but dimension 1)",
    "%dx, %dw, %db = cmt.batch_norm_grad %dy, %x, %w eps = 1.000000e-05 : tensor<4x8x32x32xf32>, tensor<8xf32>">;
def CMT_LayerNormGradOp : CMT_NormGradOp<"layer_norm_grad",
    "cmt.layer_norm (statistics over the last dimension)",
    "%dx, %dw, %db = cmt.layer_norm_grad %dy, %t, %w eps = 1.000000e-06 : tensor<4x256x16xf32>, tensor<16xf32>">;

class CMT_ActivationGradOp<string mnemonic, string what, string formula>
    : CMT_GradOp<mnemonic, [SameOperandsAndResultType]> {
  let summary = "Gradient of " # what;
  let description = "`dx = dy * " # formula # "`.\n\n```mlir\n%dx = cmt." # mnemonic #
                    " %dy, %x : tensor<4x8x32x32xf32>\n```";
  let arguments = (ins CMT_FloatTensor:$dy, CMT_FloatTensor:$input);
  let results = (outs CMT_FloatTensor:$dinput);
  let assemblyFormat = "$dy `,` $input attr-dict `:` type($input)";
}

def CMT_GeluGradOp : CMT_ActivationGradOp<"gelu_grad", "cmt.gelu",
    "(Phi(x) + x * phi(x))">;
def CMT_SwishGradOp : CMT_ActivationGradOp<"swish_grad", "cmt.swish",
    "s * (1 + x * (1 - s)), s = sigmoid(x)">;

def CMT_LinearGradOp : CMT_GradOp<"linear_grad", [InferTypeOpAdaptor]> {
  let summary = "Gradients of cmt.linear with respect to its input, weight and bias";
  let description = [{
    With the leading dimensions flattened to rows: `dx = dy W`,
    `dweight = dy^T x`, `dbias` the column sums of `dy`.

    ```mlir
    %dx, %dw, %db = cmt.linear_grad %dy, %t, %w
        : tensor<4x256x16xf32>, tensor<4x256x16xf32>, tensor<16x16xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$dy, CMT_FloatTensor:$input, CMT_FloatTensor:$weight);
  let results = (outs CMT_FloatTensor:$dinput, CMT_FloatTensor:$dweight,
                      CMT_FloatTensor:$dbias);
  let assemblyFormat = [{
    $dy `,` $input `,` $weight attr-dict `:` type($dy) `,` type($input) `,` type($weight)
  }];
}

def CMT_AttentionGradOp : CMT_GradOp<"attention_grad",
    [AllTypesMatch<["dy", "query", "dquery"]>, AllTypesMatch<["key", "value", "dkey", "dvalue"]>,
     AllTypesMatch<["bias", "dbias"]>]> {
  let summary = "Gradients of cmt.attention with respect to query, key, value and bias";
  let description = [{
    Recomputes the probabilities `p = softmax(q k^T * scale + bias)` per head,
    then `dv = p^T dy`, `ds = p * (dy v^T - rowsum(dy v^T * p))`,
    `dq = ds k * scale`, `dk = ds^T q * scale`, and `dbias` the sum of `ds`
    over the batch.

    ```mlir
    %dq, %dk, %dv, %dpos = cmt.attention_grad %dy, %q, %k, %v, %pos heads = 1 scale = 2.500000e-01
        : tensor<4x256x16xf32>, tensor<4x4x16xf32>, tensor<1x256x4xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$dy, CMT_FloatTensor:$query, CMT_FloatTensor:$key,
                       CMT_FloatTensor:$value, CMT_FloatTensor:$bias,
                       I64Attr:$heads, F64Attr:$scale);
  let results = (outs CMT_FloatTensor:$dquery, CMT_FloatTensor:$dkey, CMT_FloatTensor:$dvalue,
                      CMT_FloatTensor:$dbias);
  let assemblyFormat = [{
    $dy `,` $query `,` $key `,` $value `,` $bias `heads` `=` $heads `scale` `=` $scale attr-dict
    `:` type($query) `,` type($key) `,` type($bias)
  }];
}

def CMT_GlobalAvgPoolGradOp : CMT_GradOp<"global_avg_pool_grad"> {
  let summary = "Gradient of cmt.global_avg_pool: dy / (H * W) at every position";
  let description = [{
    ```mlir
    %dx = cmt.global_avg_pool_grad %dy : tensor<4x96xf32> -> tensor<4x96x2x2xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$dy);
  let results = (outs CMT_FloatTensor:$dinput);
  let assemblyFormat = "$dy attr-dict `:` type($dy) `->` type($dinput)";
  let hasVerifier = 1;
}

def CMT_CrossEntropyGradOp : CMT_GradOp<"cross_entropy_grad",
    [AllTypesMatch<["logits", "dlogits"]>]> {
  let summary = "Gradient of cmt.cross_entropy with respect to the logits";
  let description = [{
    `dlogits = dloss / B * (softmax(logits) sum_c t[c] - t)`, with the
    smoothed target `t` of cmt.cross_entropy (whose sum is 1 for a class
    index or a distribution).

    ```mlir
    %dl = cmt.cross_entropy_grad %dloss, %logits, %labels, %s : tensor<4x10xf32>, tensor<4xi64>
    ```
  }];
  let arguments = (ins CMT_F32Scalar:$dloss, CMT_FloatTensor:$logits,
                       RankedTensorOf<[I64, F32]>:$labels, CMT_F32Scalar:$label_smoothing);
  let results = (outs CMT_FloatTensor:$dlogits);
  let assemblyFormat = [{
    $dloss `,` $logits `,` $labels `,` $label_smoothing attr-dict `:` type($logits) `,` type($labels)
  }];
  let hasVerifier = 1;
}

def CMT_DropPathOp : CMT_Op<"drop_path",
    [Pure, AllTypesMatch<["input", "output"]>, DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Stochastic depth: drops a residual branch for some images of the batch";
  let description = [{
    Image `b` of the batch keeps its branch when `uniform[b] >= p`, with
    `p = rate * scale`, scaled by `1 / (1 - p)`; otherwise the branch is
    zero (timm's `drop_path`). `uniform` holds one draw in [0, 1) per image,
    made by the runtime from its seed and the step; `rate` is the run's
    drop path rate and `scale` this block's share of it (the authors'
    linear schedule over the blocks).

    ```mlir
    %y = cmt.drop_path %x, %u, %rate scale = 5.000000e-01 : tensor<4x256x16xf32>, tensor<4xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, 1DTensorOf<[F32]>:$uniform, CMT_F32Scalar:$rate,
                       F64Attr:$scale);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $uniform `,` $rate `scale` `=` $scale attr-dict `:` type($input) `,` type($uniform)
  }];
  let hasVerifier = 1;
}

def CMT_DropoutOp : CMT_Op<"dropout",
    [Pure, AllTypesMatch<["input", "output"]>, DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Dropout: zeroes the elements whose draw falls below the rate";
  let description = [{
    Element `i` is kept when `uniform[i] >= rate` and scaled by
    `1 / (1 - rate)`, else zero (PyTorch's `dropout` in training mode).
    `uniform` holds one draw in [0, 1) per element, made by the runtime from
    its seed and the step; the rate is the model's (CMT's dropout before the
    classifier, `head_dropout`).

    ```mlir
    %y = cmt.dropout %x, %u rate = 1.000000e-01 : tensor<4x96xf32>, tensor<4x96xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, RankedTensorOf<[F32]>:$uniform, F64Attr:$rate);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $uniform `rate` `=` $rate attr-dict `:` type($input) `,` type($uniform)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The optimizer step
//===----------------------------------------------------------------------===//

def CMT_LearningRateOp : CMT_Op<"learning_rate", [Pure]> {
  let summary = "The learning rate of a step: linear warm-up, then constant or cosine";
  let description = [{
    `step` counts the steps done before this one (0 for the first).
    `hyper` holds the run's hyper-parameters in the layout of
    runtime/train_hyper.h. Warm-up: `lr * (step + 1) / warmup_steps` while
    `step < warmup_steps`; then `lr` (constant) or
    `min_lr + (lr - min_lr) * (1 + cos(pi * t)) / 2` with
    `t = (step - warmup_steps) / (schedule_steps - warmup_steps)` clamped to [0, 1].

    ```mlir
    %lr = cmt.learning_rate %step, %hyper : tensor<14xf32>
    ```
  }];
  let arguments = (ins CMT_I64Scalar:$step, 1DTensorOf<[F32]>:$hyper);
  let results = (outs CMT_F32Scalar:$lr);
  let assemblyFormat = "$step `,` $hyper attr-dict `:` type($hyper)";
  let hasVerifier = 1;
}

def CMT_GlobalNormOp : CMT_Op<"global_norm", [Pure]> {
  let summary = "The L2 norm of all the given tensors together";
  let description = [{
    What clipping by global norm divides by.

    ```mlir
    %n = cmt.global_norm %g0, %g1 : tensor<8x3x3x3xf32>, tensor<8xf32>
    ```
  }];
  let arguments = (ins Variadic<CMT_FloatTensor>:$tensors);
  let results = (outs CMT_F32Scalar:$norm);
  let assemblyFormat = "$tensors attr-dict `:` type($tensors)";
}

def CMT_AllReduceOp : CMT_Op<"all_reduce", [AllTypesMatch<["input", "output"]>]> {
  let summary = "A gradient averaged over the ranks of a data-parallel run";
  let description = [{
    Data parallelism: every rank (process, GPU) computes the gradient of its
    own share of the batch; this is their mean. `cmt-generate-backward`
    places it right after the operation that makes a parameter's gradient
    final, in the order the backward completes them (the last layers' first),
    so that the runtime can start reducing a bucket of gradients while the
    rest of the backward runs. The runtime may return before the result is
    complete: it is only read after the `cmt.all_reduce_wait` that takes it.
    In a single process it is the identity.

    With `batch_norm` it is a batch norm's per-channel sum (or count) summed
    over the ranks, at once (no wait), when the runtime synchronises batch
    norms (`--sync-bn`), and the identity otherwise: convert-cmt-to-linalg
    emits these for `sync-batch-norm`.

    ```mlir
    %r = cmt.all_reduce %g : tensor<64x16xf32>
    %s = cmt.all_reduce batch_norm %sum : tensor<16xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, UnitAttr:$batch_norm);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = "(`batch_norm` $batch_norm^)? $input attr-dict `:` type($input)";
}

def CMT_AllReduceWaitOp : CMT_Op<"all_reduce_wait", [DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Waits for every outstanding cmt.all_reduce; returns their results";
  let description = [{
    The reduced gradients are read (by the optimizer) only through this op's
    results, which are its operands once every reduction has completed.

    ```mlir
    %a, %b = cmt.all_reduce_wait %ra, %rb : tensor<64x16xf32>, tensor<16xf32>
    ```
  }];
  let arguments = (ins Variadic<CMT_FloatTensor>:$inputs);
  let results = (outs Variadic<CMT_FloatTensor>:$outputs);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs)";
}

def CMT_OptimizerStepOp : CMT_Op<"optimizer_step",
    [Pure, AllTypesMatch<["param", "grad", "m", "v", "new_param", "new_m", "new_v"]>]> {
  let summary = "One AdamW or SGD (momentum, optional Nesterov) update of a parameter";
  let description = [{
    Which optimizer, and its hyper-parameters, come from `hyper` at run time
    (runtime/train_hyper.h). The gradient is first scaled by
    `min(1, clip / (norm + 1e-6))` when clipping is on. AdamW (PyTorch's, with
    bias correction at step `step + 1`): `p *= 1 - lr * wd` (decoupled), then
    `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`. SGD:
    `g += wd * p`, `m = momentum * m + g`, `p -= lr * (nesterov ? g + momentum * m : m)`.
    With `decay = false` the weight decay is zero for this parameter (the
    authors decay only parameters with two or more dimensions). `m` and `v`
    are Adam's moments; SGD keeps its momentum buffer in `m`.

    ```mlir
    %p1, %m1, %v1 = cmt.optimizer_step %p, %g, %m, %v, %lr, %norm, %step, %hyper decay = true
        : tensor<16x16xf32>, tensor<14xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$param, CMT_FloatTensor:$grad, CMT_FloatTensor:$m,
                       CMT_FloatTensor:$v, CMT_F32Scalar:$lr, CMT_F32Scalar:$norm,
                       CMT_I64Scalar:$step, 1DTensorOf<[F32]>:$hyper, BoolAttr:$decay);
  let results = (outs CMT_FloatTensor:$new_param, CMT_FloatTensor:$new_m,
                      CMT_FloatTensor:$new_v);
  let assemblyFormat = [{
    $param `,` $grad `,` $m `,` $v `,` $lr `,` $norm `,` $step `,` $hyper `decay` `=` $decay
    attr-dict `:` type($param) `,` type($hyper)
  }];
  let hasVerifier = 1;
}

#endif // CMT_TRAIN_OPS_TD
