//===- CMTOps.td - cmt operations --------------------------*- tablegen -*-===//
#ifndef CMT_OPS_TD
#define CMT_OPS_TD

include "cmt/Dialect/CMT/IR/CMTDialect.td"
include "cmt/Dialect/CMT/IR/CMTInterfaces.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Architecture level: the paper's table as IR
//===----------------------------------------------------------------------===//

def CMT_ModelOp : CMT_Op<"model", [Symbol, IsolatedFromAbove, SingleBlock,
                                   NoTerminator, NoRegionArguments]> {
  let summary = "A CMT network: stem, four stages and head";
  let description = [{
    One CMT configuration, holding exactly one `cmt.stem`, four `cmt.stage`
    (a, b, c, d, at 1/4, 1/8, 1/16 and 1/32 of the input resolution) and one
    `cmt.head`, in that order. The head's widths live on the model: `fc_dim`
    channels after the final 1x1 convolution, `head_dropout` before the
    classifier, `classes` outputs.

    ```mlir
    cmt.model @cmt_ti resolution = 160 classes = 1000 fc_dim = 1280 head_dropout = 1.000000e-01 {
      cmt.stem channels = 16
      cmt.stage dim = 46, depth = 2, heads = 1, kv_reduction = 8, mlp_ratio = 3.600000e+00
      cmt.stage dim = 92, depth = 2, heads = 2, kv_reduction = 4, mlp_ratio = 3.600000e+00
      cmt.stage dim = 184, depth = 10, heads = 4, kv_reduction = 2, mlp_ratio = 3.600000e+00
      cmt.stage dim = 368, depth = 2, heads = 8, kv_reduction = 1, mlp_ratio = 3.600000e+00
      cmt.head
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       I64Attr:$resolution,
                       I64Attr:$classes,
                       I64Attr:$fc_dim,
                       F64Attr:$head_dropout,
                       DefaultValuedAttr<I64Attr, "3">:$in_channels);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $sym_name `resolution` `=` $resolution `classes` `=` $classes
    `fc_dim` `=` $fc_dim `head_dropout` `=` $head_dropout
    (`in_channels` `=` $in_channels^)? attr-dict-with-keyword $body
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The stem, stages and head; valid only on a verified op.
    StemOp getStem();
    ::llvm::SmallVector<StageOp, 4> getStages();
  }];
}

def CMT_StemOp : CMT_Op<"stem", [HasParent<"ModelOp">]> {
  let summary = "Convolutional stem: three 3x3 conv -> GELU -> BN, the first with stride 2";
  let description = [{
    ```mlir
    cmt.stem channels = 16
    ```
  }];
  let arguments = (ins I64Attr:$channels);
  let assemblyFormat = "`channels` `=` $channels attr-dict";
  let hasVerifier = 1;
}

def CMT_StageOp : CMT_Op<"stage", [HasParent<"ModelOp">]> {
  let summary = "One stage: a 2x2 patch aggregation then `depth` CMT blocks";
  let description = [{
    Each block is a local perception unit (3x3 depthwise convolution), a
    lightweight multi-head self-attention whose keys and values are reduced
    by a stride-`kv_reduction` depthwise convolution, and an inverted
    residual FFN of hidden width `int(dim * mlp_ratio)`.

    ```mlir
    cmt.stage dim = 46, depth = 2, heads = 1, kv_reduction = 8, mlp_ratio = 3.600000e+00
    ```
  }];
  let arguments = (ins I64Attr:$dim, I64Attr:$depth, I64Attr:$heads,
                       I64Attr:$kv_reduction, F64Attr:$mlp_ratio);
  let assemblyFormat = [{
    `dim` `=` $dim `,` `depth` `=` $depth `,` `heads` `=` $heads `,`
    `kv_reduction` `=` $kv_reduction `,` `mlp_ratio` `=` $mlp_ratio attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Hidden width of the IRFFN, truncated as the released code does.
    int64_t getHiddenDim() {
      return static_cast<int64_t>(static_cast<double>(getDim()) *
                                  getMlpRatio().convertToDouble());
    }
  }];
}

def CMT_HeadOp : CMT_Op<"head", [HasParent<"ModelOp">]> {
  let summary = "Head: 1x1 conv to fc_dim, BN, swish, global pool, dropout, classifier";
  let description = [{
    Marks the end of the network; its widths are the enclosing model's
    `fc_dim` and `classes`.

    ```mlir
    cmt.head
    ```
  }];
  let assemblyFormat = "attr-dict";
}

//===----------------------------------------------------------------------===//
// Graph level: the computation on tensors
//===----------------------------------------------------------------------===//

def CMT_FloatTensor : RankedTensorOf<[AnyFloat]>;
// A run-time scalar (a loss, a learning rate, a hyper-parameter).
def CMT_F32Scalar : 0DTensorOf<[F32]>,
    BuildableType<"::mlir::RankedTensorType::get({}, $_builder.getF32Type())">;
def CMT_I64Scalar : 0DTensorOf<[I64]>,
    BuildableType<"::mlir::RankedTensorType::get({}, $_builder.getI64Type())">;

// Graph ops infer their result types: from shape rules written in C++
// (InferTypeOpAdaptor), or, for elementwise ops, from SameOperandsAndResultType.
class CMT_GraphOp<string mnemonic, list<Trait> traits = []>
    : CMT_Op<mnemonic, !listconcat([Pure, InferTypeOpAdaptor], traits)>;
class CMT_ElementwiseOp<string mnemonic, list<Trait> traits = []>
    : CMT_Op<mnemonic, !listconcat([Pure, SameOperandsAndResultType,
                                    DeclareOpInterfaceMethods<InferTypeOpInterface>], traits)>;

def CMT_Conv2DOp : CMT_GraphOp<"conv2d",
    [DeclareOpInterfaceMethods<CMT_CostOpInterface>, DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "2-D convolution, NCHW input and OIHW weight, with bias and groups";
  let description = [{
    PyTorch's `Conv2d`: `weight` is `(O, C / groups, KH, KW)`, `padding` is
    symmetric per spatial dimension. `groups == C` is a depthwise convolution.

    ```mlir
    %y = cmt.conv2d %x, %w, %b strides = [2, 2] padding = [1, 1] groups = 1
        : (tensor<1x3x160x160xf32>, tensor<16x3x3x3xf32>, tensor<16xf32>)
        -> tensor<1x16x80x80xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, CMT_FloatTensor:$weight,
                       CMT_FloatTensor:$bias,
                       DenseI64ArrayAttr:$strides, DenseI64ArrayAttr:$padding,
                       DefaultValuedAttr<I64Attr, "1">:$groups);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `strides` `=` $strides `padding` `=` $padding
    `groups` `=` $groups attr-dict `:` functional-type(operands, results)
  }];
}

def CMT_BatchNormOp : CMT_GraphOp<"batch_norm",
    [AllTypesMatch<["weight", "bias", "running_mean", "running_var"]>]> {
  let summary = "Batch normalisation with running statistics (inference form)";
  let description = [{
    Normalises dimension 1 of an `(N, C, ...)` tensor with the stored
    statistics: `(x - mean) / sqrt(var + eps) * weight + bias`.

    ```mlir
    %y = cmt.batch_norm %x, %w, %b, %mean, %var eps = 1.000000e-05
        : tensor<1x16x80x80xf32>, tensor<16xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, CMT_FloatTensor:$weight,
                       CMT_FloatTensor:$bias, CMT_FloatTensor:$running_mean,
                       CMT_FloatTensor:$running_var, F64Attr:$eps);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `,` $running_mean `,` $running_var
    `eps` `=` $eps attr-dict `:` type($input) `,` type($weight)
  }];
}

def CMT_BatchNormTrainOp : CMT_GraphOp<"batch_norm_train",
    [DeclareOpInterfaceMethods<CMT_GradientOpInterface>, AllTypesMatch<["weight", "bias", "running_mean", "running_var",
                    "new_running_mean", "new_running_var"]>]> {
  let summary = "Batch normalisation with batch statistics (training form)";
  let description = [{
    Normalises with the biased batch variance and returns the updated running
    statistics: `new_mean = (1 - momentum) * mean + momentum * batch_mean`,
    likewise for the variance with the unbiased batch estimate.

    ```mlir
    %y, %m, %v = cmt.batch_norm_train %x, %w, %b, %mean, %var
        eps = 1.000000e-05 momentum = 1.000000e-01
        : tensor<8x16x80x80xf32>, tensor<16xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, CMT_FloatTensor:$weight,
                       CMT_FloatTensor:$bias, CMT_FloatTensor:$running_mean,
                       CMT_FloatTensor:$running_var, F64Attr:$eps,
                       F64Attr:$momentum);
  let results = (outs CMT_FloatTensor:$output, CMT_FloatTensor:$new_running_mean,
                      CMT_FloatTensor:$new_running_var);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `,` $running_mean `,` $running_var
    `eps` `=` $eps `momentum` `=` $momentum attr-dict `:` type($input) `,` type($weight)
  }];
}

def CMT_LayerNormOp : CMT_GraphOp<"layer_norm",
    [DeclareOpInterfaceMethods<CMT_GradientOpInterface>, AllTypesMatch<["weight", "bias"]>]> {
  let summary = "Layer normalisation over the last dimension";
  let description = [{
    ```mlir
    %y = cmt.layer_norm %t, %w, %b eps = 9.9999999999999995E-7
        : tensor<1x1600x46xf32>, tensor<46xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, CMT_FloatTensor:$weight,
                       CMT_FloatTensor:$bias, F64Attr:$eps);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `eps` `=` $eps attr-dict `:` type($input) `,` type($weight)
  }];
}

class CMT_UnaryOp<string mnemonic, string sum, string ex>
    : CMT_ElementwiseOp<mnemonic, [DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = sum;
  let description = "```mlir\n" # ex # "\n```";
  let arguments = (ins CMT_FloatTensor:$input);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def CMT_GeluOp : CMT_UnaryOp<"gelu", "GELU, exact (erf) form",
    "%y = cmt.gelu %x : tensor<1x16x80x80xf32>">;
def CMT_SwishOp : CMT_UnaryOp<"swish", "Swish: x * sigmoid(x)",
    "%y = cmt.swish %x : tensor<1x1280x5x5xf32>">;

def CMT_AddOp : CMT_ElementwiseOp<"add", [Commutative, DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Elementwise sum of two tensors of one type (residual connections)";
  let description = [{
    ```mlir
    %y = cmt.add %a, %b : tensor<1x1600x46xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$lhs, CMT_FloatTensor:$rhs);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($output)";
}

def CMT_LinearOp : CMT_GraphOp<"linear",
    [DeclareOpInterfaceMethods<CMT_CostOpInterface>, DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Fully connected layer on the last dimension: x W^T + b";
  let description = [{
    `weight` is `(out, in)` as in PyTorch's `Linear`.

    ```mlir
    %q = cmt.linear %t, %w, %b
        : (tensor<1x1600x46xf32>, tensor<46x46xf32>, tensor<46xf32>) -> tensor<1x1600x46xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, CMT_FloatTensor:$weight,
                       CMT_FloatTensor:$bias);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = "$input `,` $weight `,` $bias attr-dict `:` functional-type(operands, results)";
}

def CMT_AttentionOp : CMT_GraphOp<"attention",
    [DeclareOpInterfaceMethods<CMT_CostOpInterface>, DeclareOpInterfaceMethods<CMT_GradientOpInterface>,
     AllTypesMatch<["key", "value"]>]> {
  let summary = "Multi-head attention with an additive bias and separate key/value tokens";
  let description = [{
    `query` is `(B, N, D)`, `key` and `value` are `(B, M, D)` (M = N / r^2
    after the kv reduction), `bias` is `(heads, N, M)` and is shared by the
    batch. Per head of width `d = D / heads`:
    `softmax(q k^T * scale + bias) v`, heads concatenated back to `D`.

    ```mlir
    %o = cmt.attention %q, %k, %v, %pos heads = 1 scale = 0.14744195615489714
        : tensor<1x1600x46xf32>, tensor<1x25x46xf32>, tensor<1x1600x25xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$query, CMT_FloatTensor:$key,
                       CMT_FloatTensor:$value, CMT_FloatTensor:$bias,
                       I64Attr:$heads, F64Attr:$scale);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $bias `heads` `=` $heads `scale` `=` $scale attr-dict
    `:` type($query) `,` type($key) `,` type($bias)
  }];
}

def CMT_GlobalAvgPoolOp : CMT_GraphOp<"global_avg_pool", [DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Mean over the spatial dimensions: (B, C, H, W) -> (B, C)";
  let description = [{
    ```mlir
    %f = cmt.global_avg_pool %x : tensor<1x1280x5x5xf32> -> tensor<1x1280xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
}

def CMT_ImageToTokensOp : CMT_GraphOp<"image_to_tokens", [DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Flatten an image into tokens: (B, C, H, W) -> (B, H*W, C)";
  let description = [{
    Tokens are in row-major (h, w) order.

    ```mlir
    %t = cmt.image_to_tokens %x : tensor<1x46x40x40xf32> -> tensor<1x1600x46xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($output)";
  let hasFolder = 1;
}

def CMT_TokensToImageOp : CMT_GraphOp<"tokens_to_image", [DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Fold tokens back into an image: (B, H*W, C) -> (B, C, H, W)";
  let description = [{
    ```mlir
    %x = cmt.tokens_to_image %t height = 40 width = 40
        : tensor<1x1600x46xf32> -> tensor<1x46x40x40xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$input, I64Attr:$height, I64Attr:$width);
  let results = (outs CMT_FloatTensor:$output);
  let assemblyFormat = [{
    $input `height` `=` $height `width` `=` $width attr-dict `:` type($input) `->` type($output)
  }];
  let hasFolder = 1;
}

def CMT_IncrementOp : CMT_Op<"increment", [Pure, SameOperandsAndResultType, DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Adds one to an integer counter (a batch norm's num_batches_tracked)";
  let description = [{
    ```mlir
    %n1 = cmt.increment %n : tensor<i64>
    ```
  }];
  let arguments = (ins TensorOf<[I64]>:$input);
  let results = (outs TensorOf<[I64]>:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def CMT_CrossEntropyOp : CMT_GraphOp<"cross_entropy", [DeclareOpInterfaceMethods<CMT_GradientOpInterface>]> {
  let summary = "Softmax cross-entropy with label smoothing, averaged over the batch";
  let description = [{
    PyTorch's `cross_entropy(logits, labels, label_smoothing=s)` with mean
    reduction. `labels` holds either a class index per image (B, i64) or a
    target distribution per image (B x C, f32: mixup and cutmix mix two
    one-hot targets). Per image the loss is `-sum_c t[c] log p[c]` with
    `p = softmax(logits)` and the smoothed target `t = (1 - s) y + s / C`,
    `y` the one-hot label or the given distribution. The smoothing is an
    operand (a scalar tensor) so that a training executable takes it as a
    run-time flag.

    ```mlir
    %s = arith.constant dense<1.000000e-01> : tensor<f32>
    %loss = cmt.cross_entropy %logits, %labels, %s : tensor<4x10xf32>, tensor<4xi64>
    %soft = cmt.cross_entropy %logits, %targets, %s : tensor<4x10xf32>, tensor<4x10xf32>
    ```
  }];
  let arguments = (ins CMT_FloatTensor:$logits, RankedTensorOf<[I64, F32]>:$labels,
                       CMT_F32Scalar:$label_smoothing);
  let results = (outs CMT_FloatTensor:$loss);
  let assemblyFormat = [{
    $logits `,` $labels `,` $label_smoothing attr-dict `:` type($logits) `,` type($labels)
  }];
}

include "cmt/Dialect/CMT/IR/CMTTrainOps.td"

#endif // CMT_OPS_TD
