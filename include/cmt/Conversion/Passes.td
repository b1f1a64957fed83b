//===- Passes.td - cmt conversion passes -------------------*- tablegen -*-===//
#ifndef CMT_CONVERSION_PASSES_TD
#define CMT_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertCMTToLinalg : Pass<"convert-cmt-to-linalg", "mlir::func::FuncOp"> {
  let summary = "Lower graph-level cmt ops to linalg on tensors, channels-last inside";
  let description = [{
    Every graph-level op becomes linalg (generic, transpose, fill), tensor and
    arith/math ops. Images are NCHW at the function boundary and NHWC inside:
    an image argument is transposed once where it is first used, tokens
    `(B, H*W, C)` are then a free reshape of an NHWC image, and a returned
    image is transposed back. Contractions (linears, 1x1 and im2col
    convolutions, the two attention products) are `linalg.generic`s whose body
    is exactly `c + a * b`, their bias folded into the initial value, so that
    `convert-linalg-to-ukernels` can recognise them.

    Before:
    ```mlir
    %y = cmt.linear %t, %w, %b
        : (tensor<1x16x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<1x16x4xf32>
    ```
    After:
    ```mlir
    %a = tensor.collapse_shape %t [[0, 1], [2]] : tensor<1x16x8xf32> into tensor<16x8xf32>
    %init = linalg.generic {indexing_maps = [(m, n) -> (n), (m, n) -> (m, n)], ...}
        ins(%b : tensor<4xf32>) outs(%e : tensor<16x4xf32>)       // bias broadcast
    %c = linalg.generic {indexing_maps = [(m, n, k) -> (m, k), (m, n, k) -> (n, k),
                                          (m, n, k) -> (m, n)], ...}
        ins(%a, %w : ...) outs(%init : tensor<16x4xf32>) {  %c + %a * %b  }
    %y = tensor.expand_shape %c [[0, 1], [2]] ... into tensor<1x16x4xf32>
    ```
  }];
  let options = [
    Option<"gatherWindows", "gather-windows", "bool", /*default=*/"false",
           "Padded convolution windows read with bounds checks instead of "
           "from a padded copy: a depthwise convolution becomes one "
           "elementwise generic (no bias pass; fuses with what follows it), "
           "a dense one's patches (im2col) one generic of gathers (no fill "
           "and copy of a padded buffer). The GPU pipeline uses it: one "
           "thread per output element. The CPU keeps the padded forms, whose "
           "loops vectorise along channels">,
    Option<"syncBatchNorm", "sync-batch-norm", "bool", /*default=*/"false",
           "Training-mode batch norms (and their gradients) reduce their "
           "statistics over every rank of a data-parallel run through "
           "`cmt.all_reduce batch_norm` (the runtime's --sync-bn; the identity "
           "without it)">,
    Option<"fuseAttention", "fuse-attention", "bool", /*default=*/"false",
           "Each cmt.attention as one `scf.parallel` over query rows on "
           "buffers (`bufferization.to_buffer` in, `to_tensor` out): a row's "
           "scores stay in a private array of m floats, never in memory. "
           "Its channel loops are marked `cmt.lanes`: cmt-map-to-gpu runs a "
           "row per warp and spreads them over the lanes">,
    Option<"rowStats", "row-stats", "bool", /*default=*/"false",
           "Each layer norm's statistics (the row's sum, then its centred sum "
           "of squares) as one `scf.parallel` over rows whose two sums are "
           "`cmt.lanes` loops: one warp per row on the GPU, one kernel and one "
           "read of the row from memory instead of two">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def CMTLowerCollectives : Pass<"cmt-lower-collectives", "mlir::ModuleOp"> {
  let summary = "cmt.all_reduce and cmt.all_reduce_wait -> calls into the runtime";
  let description = [{
    The data-parallel collectives become calls that the executable's runtime
    implements (MPI on the CPU, NCCL on the GPU; nothing in one process):
    `cmt_all_reduce(data, count, kind)` on a fresh copy of the tensor, kind 0
    a gradient (averaged; it may complete later, in a bucket), kind 1 a batch
    norm's sum (`batch_norm`: summed at once, when batch norms are
    synchronised), and `cmt_all_reduce_wait()`. The tensor is bridged to a
    buffer and back, so the rest stays on tensors for one-shot bufferization.

    Before:
    ```mlir
    %r = cmt.all_reduce %g : tensor<16xf32>
    %w = cmt.all_reduce_wait %r : tensor<16xf32>
    ```
    After:
    ```mlir
    %m = bufferization.to_buffer %g read_only : tensor<16xf32> to memref<16xf32>
    %copy = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
    memref.copy %m, %copy : memref<16xf32> to memref<16xf32>
    %p = memref.extract_aligned_pointer_as_index %copy : memref<16xf32> -> index
    call @cmt_all_reduce(%p, %c16, %c0) : (index, index, index) -> ()
    %r = bufferization.to_tensor %copy restrict writable : memref<16xf32> to tensor<16xf32>
    call @cmt_all_reduce_wait() : () -> ()
    ```
  }];
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::func::FuncDialect", "::mlir::arith::ArithDialect"];
}

def ConvertLinalgToUKernels : Pass<"convert-linalg-to-ukernels", "mlir::ModuleOp"> {
  let summary = "Call the runtime's matrix-multiply micro-kernel for contractions on buffers";
  let description = [{
    Replaces each `linalg.generic` on memrefs that is a contraction with at
    most two batch dimensions and one M, N and K dimension (body `c + a * b`)
    by a call to `cmt_ukernel_sgemm`, a packed, register-blocked kernel in the
    runtime (the approach of IREE's micro-kernels). Any operand layout works:
    the call passes the base pointer and the stride of every loop dimension in
    every operand, taken from the memref types. Contractions it cannot express
    stay as they are and become loops.

    Before:
    ```mlir
    linalg.generic {indexing_maps = [(m, n, k) -> (m, k), (m, n, k) -> (n, k), (m, n, k) -> (m, n)],
                    iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%a, %w : memref<16x8xf32>, memref<4x8xf32>) outs(%c : memref<16x4xf32>) { ... }
    ```
    After:
    ```mlir
    call @cmt_ukernel_sgemm(%c1, %c1, %c16, %c4, %c8, %pa, %c0, %c0, %c8, %c1, %pw, %c0, %c0,
                            %c1, %c8, %pc, %c0, %c0, %c4, %c1) : (index, ...) -> ()
    ```
  }];
  let options = [
    Option<"blasLayouts", "blas-layouts", "bool", /*default=*/"false",
           "Only contractions a BLAS runs as one batched call: every matrix "
           "column- or row-major; calls cmt_blas_sgemm, which the CUDA runtime "
           "runs with cuBLAS (strided-batched, or over pointer arrays for two "
           "batch dimensions); the others become kernels. The op that alone "
           "initialises C is folded into the call: a zero fill as beta = 0, a "
           "bias broadcast as cuBLASLt's bias epilogue">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

#endif // CMT_CONVERSION_PASSES_TD
