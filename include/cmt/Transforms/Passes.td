//===- Passes.td - cmt transforms on upstream dialects -----*- tablegen -*-===//
#ifndef CMT_TRANSFORMS_PASSES_TD
#define CMT_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def CMTFuseElementwise : Pass<"cmt-fuse-elementwise", "mlir::func::FuncOp"> {
  let summary = "Fuse chains of elementwise linalg ops, recomputing only small producers";
  let description = [{
    Upstream producer-consumer fusion of `linalg.generic`s, restricted so that
    fusion never costs work: the producer is elementwise and has one use, the
    consumer is elementwise, and the consumer reads the producer through a
    permutation (so no producer element is computed twice; per-channel
    values such as batch-norm scales stay computed once). Contractions are
    never fused into, so the micro-kernel still recognises them.

    Before (GELU then batch norm, two passes over the tensor):
    ```mlir
    %g = linalg.generic {...} ins(%x) outs(%e0) { erf ... }
    %y = linalg.generic {...} ins(%g, %scale, %shift) outs(%e1) { mul, add }
    ```
    After (one pass):
    ```mlir
    %y = linalg.generic {...} ins(%x, %scale, %shift) outs(%e1) { erf ... mul, add }
    ```

    With `recompute-small=N`, a producer of at most N elements is fused
    into every elementwise reader, broadcast or not, and recomputed there:
    on the GPU, the per-channel batch-norm arithmetic (`gamma * rsqrt(var +
    eps)`, `beta - mean * scale`) costs a few instructions per element of
    the kernel that applies it instead of two launches of its own.

    With `fold-reshapes`, a `tensor.collapse_shape` or `tensor.expand_shape`
    between two elementwise generics is folded into one of them by
    expanding its loops (upstream's reshape propagation), and the two fuse:
    CMT switches between images `(B, H, W, C)` and tokens `(B, H*W, C)` at
    every residual add.
  }];
  let options = [
    Option<"recomputeSmall", "recompute-small", "int64_t", /*default=*/"0",
           "Fuse and recompute producers of at most this many elements into "
           "every elementwise reader (0: never recompute)">,
    Option<"foldReshapes", "fold-reshapes", "bool", /*default=*/"false",
           "Fold a reshape between two elementwise ops into one of them (its "
           "loops expanded to the finer shape) so that they fuse: an image's "
           "batch norm with the residual add of its tokens">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

def CMTNarrowStorage : Pass<"cmt-narrow-storage", "mlir::func::FuncOp"> {
  let summary = "Store elementwise results as bf16; compute in f32";
  let description = [{
    An elementwise `linalg.generic` result of at least `min-elements`
    elements, whose output is only written and whose every reader can widen
    it (a generic's input, a `tensor.extract`, the loads of a loop nest's
    read-only `bufferization.to_buffer` view, through reshapes, slices and
    zero padding), is stored as bf16: the body rounds what it yields
    (`arith.truncf`), each reader widens what it reads (`arith.extf`), and
    all arithmetic stays f32. So is a loop nest's output whose allocation is
    marked `cmt.narrowable` (its stores round). Results that leave the
    function and reductions (their accumulators) stay f32, and so do matrix
    products' outputs unless `products` is set. A matrix product with one
    narrowed operand gets the other rounded too (a weight, mostly), so that
    both are bf16 for the tensor cores, accumulating in f32.

    Before:
    ```mlir
    %y = linalg.generic {...} ins(%x : tensor<64x128xf32>) outs(%e : tensor<64x128xf32>) {
      ... linalg.yield %g : f32 }
    %z = linalg.generic {...} ins(%y : tensor<64x128xf32>) ... { ^bb0(%a: f32, ...): ... }
    ```
    After:
    ```mlir
    %y = linalg.generic {...} ins(%x : tensor<64x128xf32>) outs(%e : tensor<64x128xbf16>) {
      ... %r = arith.truncf %g : f32 to bf16
      linalg.yield %r : bf16 }
    %z = linalg.generic {...} ins(%y : tensor<64x128xbf16>) ... {
      ^bb0(%a: bf16, ...): %w = arith.extf %a : bf16 to f32 ... }
    ```
  }];
  let options = [
    Option<"minElements", "min-elements", "int64_t", /*default=*/"16384",
           "Smallest result narrowed (per-channel vectors stay f32)">,
    ListOption<"functions", "functions", "std::string",
               "Narrow only these functions (all when none is named): an executable "
               "holding an f32 and a bf16 forward">,
    Option<"products", "products", "bool", /*default=*/"false",
           "Matrix products' results too (the GPU's choice): a product whose C "
           "starts at zero or at a bias broadcast is followed by its rounding, "
           "which convert-linalg-to-ukernels{blas-layouts} folds into the "
           "cuBLAS call (a bf16 D); a bias moves into every reader, added to "
           "the widened value (each reader must be a generic that is not a "
           "product, through reshapes that keep the last dimension)">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def CMTHoistParameterMath : Pass<"cmt-hoist-parameter-math", "mlir::ModuleOp"> {
  let summary = "Compute what the weights alone decide once, in @F_prepare";
  let description = [{
    In each inference function named, the values computed from parameters
    and buffers alone (weights rounded to bf16, re-laid-out kernels,
    per-channel scales) that the rest of the function reads move to a new
    function `@F_prepare`, which takes the same weight arguments and returns
    them; `@F` takes them as arguments of kind "prepared", named
    "prepared/N" (the runtime runs `@F_prepare` once, after loading the
    weights, and binds its results by name). Not moved: values that take
    only views of a weight, values only written into (a GEMM's bias
    broadcast, which the GEMM's call takes over), and values larger than the
    weights they come from (a broadcast over the batch).

    Before:
    ```mlir
    func.func @forward(%x: tensor<8x64xf32> {cmt.kind = "input"},
                       %w: tensor<32x64xf32> {cmt.kind = "parameter"}) -> tensor<8x32xf32> {
      %wt = linalg.transpose ins(%w : tensor<32x64xf32>) outs(%e : tensor<64x32xf32>) permutation = [1, 0]
      %y = linalg.matmul ins(%x, %wt : ...) outs(%z : tensor<8x32xf32>) -> tensor<8x32xf32>
      return %y : tensor<8x32xf32>
    }
    ```
    After:
    ```mlir
    func.func @forward_prepare(%w: tensor<32x64xf32> {cmt.kind = "parameter"})
        -> (tensor<64x32xf32> {cmt.name = "prepared/0"}) {
      %wt = linalg.transpose ins(%w : ...) ...
      return %wt : tensor<64x32xf32>
    }
    func.func @forward(%x: ..., %w: ...,
                       %wt: tensor<64x32xf32> {cmt.kind = "prepared", cmt.name = "prepared/0"}) ... {
      %y = linalg.matmul ins(%x, %wt : ...) ...
    }
    ```
  }];
  let options = [
    ListOption<"functions", "functions", "std::string",
               "The inference functions to split (each must exist)">,
  ];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def CMTSplitReductions : Pass<"cmt-split-reductions", "mlir::func::FuncOp"> {
  let summary = "Split long sums with few outputs into partial sums and a short sum";
  let description = [{
    A sum (`linalg.generic` yielding `%out + f(...)`) with at most
    `max-outputs` outputs over at least `min-reduced` elements (a training
    batch norm's statistics, a bias gradient) turns its outer reduction
    loops into parallel ones, up to `target-partials` partial sums, laid out
    after the outputs; a second generic sums each output's partials into the
    original initial value. On the GPU the first stage is one thread per
    partial sum, reading channels-last memory coalesced, and the second one
    warp per output over a contiguous run.

    Before (per-channel sum of an NHWC batch):
    ```mlir
    %s = linalg.generic {iterator_types = ["reduction", "reduction", "reduction", "parallel"]}
        ins(%x : tensor<128x80x80x16xf32>) outs(%zeros : tensor<16xf32>) { addf }
    ```
    After:
    ```mlir
    %p = linalg.generic {iterator_types = ["parallel", "parallel", "reduction", "parallel"]}
        ins(%x : tensor<128x80x80x16xf32>) outs(%z : tensor<16x128x80xf32>) { addf }
    %s = linalg.generic {iterator_types = ["parallel", "reduction", "reduction"]}
        ins(%p : tensor<16x128x80xf32>) outs(%zeros : tensor<16xf32>) { addf }
    ```
  }];
  let options = [
    Option<"maxOutputs", "max-outputs", "int64_t", /*default=*/"4096", "Most outputs of a sum split">,
    Option<"minReduced", "min-reduced", "int64_t", /*default=*/"4096",
           "Fewest elements summed into each output of a sum split">,
    Option<"targetPartials", "target-partials", "int64_t", /*default=*/"131072",
           "Partial sums to aim for (threads of the first stage on the GPU)">,
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
}

def CMTRematerialize : Pass<"cmt-rematerialize", "mlir::func::FuncOp"> {
  let summary = "Recompute elementwise results where they are read past the memory peak";
  let description = [{
    A training step keeps the forward values its backward reads alive from
    the forward to the backward, and that is its peak memory. This pass
    estimates where the most tensor bytes are alive (each op's results from
    the op to their last use, views counting as their source) and, for an
    elementwise `linalg.generic` (parallel loops, one result, an empty
    output) computed before that point and read after it, clones it right
    before its first read past the peak and gives the clone those reads,
    provided every large operand (over `small-bytes`) is alive there anyway.
    Its result then dies before the peak; the cost is one more pass. Later
    values are tried first, so chains follow (a batch norm's output, then the
    GELU output it was computed from, back to the GELU's input that the
    backward keeps).

    Before (`%b` alive from the forward through the backward):
    ```mlir
    %b = linalg.generic {...} ins(%g, %mean, %scale) outs(%e0) { ... }  // forward
    ...                                                               // the peak
    %dw = linalg.generic {...} ins(%dy, %b) ...                       // backward
    %dg = linalg.generic {...} ins(%dy2, %g, %mean, %scale) ...       // %g read here
    ```
    After (`%b` gone before the peak, recomputed where it is read):
    ```mlir
    %b = linalg.generic {...} ins(%g, %mean, %scale) outs(%e0) { ... }
    ...
    %e1 = tensor.empty() ...
    %b2 = linalg.generic {...} ins(%g, %mean, %scale) outs(%e1) { ... }
    %dw = linalg.generic {...} ins(%dy, %b2) ...
    ```
  }];
  let options = [
    Option<"smallBytes", "small-bytes", "int64_t", /*default=*/"1 << 16",
           "Operands up to this size (per-channel vectors) need not be alive already">,
    Option<"report", "report", "bool", /*default=*/"false",
           "Afterwards, a remark on each value alive at the peak (what the step keeps)">
  ];
  let dependentDialects = ["::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect"];
}

def CMTApproximateMath : Pass<"cmt-approximate-math", "mlir::func::FuncOp"> {
  let summary = "Replace math.erf and math.exp by polynomial approximations";
  let description = [{
    Rewrites `math.erf` and `math.exp` on f32 into arith ops (MLIR's
    polynomial approximations), so that loops over them vectorise instead of
    calling libm one element at a time.

    Before: `%y = math.erf %x : f32`. After: a few dozen `arith` ops.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def CMTLowerCopies : Pass<"cmt-lower-copies", "mlir::func::FuncOp"> {
  let summary = "Lower memref.copy of static shape to a loop nest";
  let description = [{
    Copies into strided views (a padded tensor's interior, say) would lower
    to calls of `memrefCopy` from MLIR's C runner utilities, which the
    executables do not link (and `convert-linalg-to-loops` turns copying
    generics back into memref.copy). A row-major `scf.for` nest instead,
    whose innermost loop walks the contiguous dimension and vectorises.

    Before: `memref.copy %a, %view : memref<1x8x8x4xf32> to memref<1x8x8x4xf32, strided<...>>`
    After:  four nested `scf.for` with a `memref.load` / `memref.store` pair.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def CMTOutlineKernels : Pass<"cmt-outline-kernels", "mlir::ModuleOp"> {
  let summary = "Move each loop nest on buffers (linalg, copy, scf.parallel) into a function of its own";
  let description = [{
    After bufferization `@forward` is one function holding every loop nest
    of the network; LLVM's optimiser is superlinear in function size, so
    that costs minutes at -O3. Each `linalg` op (and `memref.copy`) on
    buffers moves into a private, never-inlined function, together with the
    chain of view ops (subview, expand/collapse_shape, ...) that feeds it, so
    that every kernel argument is a whole buffer with an identity layout (the
    bare-pointer calling convention needs that). A top-level `scf.parallel`
    (a hand-written nest) is a kernel too; since the CPU runs its points one
    after another, its private arrays (`memref.alloca`) move to the kernel's
    entry: left in the loop, each point would grow the stack.

    Before:
    ```mlir
    func.func @forward(%arg0: memref<1x64x64x3xf32>, ...) {
      %v = memref.subview %alloc[0, 1, 1, 0] [...] : ... to memref<..., strided<...>>
      linalg.generic {...} ins(%arg0 : ...) outs(%v : ...) { ... }
    ```
    After:
    ```mlir
    func.func private @forward_kernel_0(%a: memref<1x64x64x3xf32>, %b: memref<1x66x66x3xf32>)
        attributes {llvm.no_inline} {
      %v = memref.subview %b[0, 1, 1, 0] [...] ...
      linalg.generic {...} ins(%a : ...) outs(%v : ...) { ... }
      return
    }
    func.func @forward(...) {
      call @forward_kernel_0(%arg0, %alloc) : (...) -> ()
    ```
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def CMTMergeGPUModules : Pass<"cmt-merge-gpu-modules", "mlir::ModuleOp"> {
  let summary = "Move every kernel into one gpu.module";
  let description = [{
    `gpu-kernel-outlining` makes one `gpu.module` per kernel, and
    `gpu-module-to-binary` runs ptxas once per module: a training step's
    thousands of kernels cost thousands of ptxas processes (minutes), and the
    executable as many module loads. This pass moves every `gpu.func` into
    the first module, renaming a kernel after its old module where names
    clash, and retargets the launches.

    Before:
    ```mlir
    gpu.module @forward_kernel { gpu.func @forward_kernel(...) kernel {...} }
    gpu.module @forward_kernel_0 { gpu.func @forward_kernel(...) kernel {...} }
    gpu.launch_func @forward_kernel_0::@forward_kernel ...
    ```
    After:
    ```mlir
    gpu.module @forward_kernel {
      gpu.func @forward_kernel(...) kernel {...}
      gpu.func @forward_kernel_0(...) kernel {...}
    }
    gpu.launch_func @forward_kernel::@forward_kernel_0 ...
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def CMTMapToGPU : Pass<"cmt-map-to-gpu", "mlir::ModuleOp"> {
  let summary = "Turn each linalg op and copy on buffers into a 1-D gpu.launch";
  let description = [{
    After bufferization the host function holds one linalg op (or
    `memref.copy`) per fused loop nest. Each becomes one kernel: the
    iterators are interchanged so that the parallel ones come first, the
    parallel iteration space is linearised over a one-dimensional grid of
    `block-size` threads, innermost dimension fastest (so that a warp's
    threads touch consecutive channels of the channels-last tensors, and
    loads coalesce), and each thread runs the reduction loops of its
    element sequentially. Unlike upstream `gpu-map-parallel-loops`, any
    rank and any extent maps (no tile-size divisibility, no more than three
    dimensions needed). A reduction with too few outputs to fill the GPU
    one thread each (layer-norm statistics, softmax rows) instead runs one
    warp per output: the lanes stride through the reduction, innermost
    dimension fastest, and combine with butterfly shuffles; a fill (or a
    copy of a filled buffer) that alone initialises its output becomes the
    kernel's starting value instead of a launch of its own. A top-level
    `scf.parallel` (a hand-written nest, such as the fused attention) maps
    the same way, one thread per point, or one warp per point where its body
    has `scf.for` loops marked `cmt.lanes`: those loops are strided over the
    lanes and their sums completed by shuffles
    (include/cmt/Transforms/Utils/Lanes.h).
    Contractions that `convert-linalg-to-ukernels`
    turned into BLAS calls are host calls and stay as they are.

    Before:
    ```mlir
    linalg.generic {iterator_types = ["parallel", "parallel"]}
        ins(%a : memref<128x46xf32>) outs(%b : memref<128x46xf32>) {...}
    ```
    After:
    ```mlir
    gpu.launch blocks(%bx, ...) in (%gx = %c23, ...) threads(%tx, ...) in (%sx = %c256, ...) {
      %id = ... %bx * 256 + %tx
      scf.if %id < 5888 {
        %i = %id / 46, %j = %id % 46
        memref.load %a[%i, %j] ... memref.store ... %b[%i, %j]
      }
      gpu.terminator
    }
    ```
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">,
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect", "::mlir::linalg::LinalgDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect", "::mlir::memref::MemRefDialect"];
}

def CMTFreeAfterLastUse : Pass<"cmt-free-after-last-use", "mlir::func::FuncOp"> {
  let summary = "Move each memref.dealloc right after the last use of its buffer";
  let description = [{
    Ownership-based buffer deallocation frees buffers at the end of their
    block: in the straight-line `@forward` every intermediate of the network
    is then alive at once (4.5 GB for CMT-Ti at batch 128 on the GPU). This
    pass moves the `memref.dealloc` of each `memref.alloc` in the same block
    to just after the last operation that uses the buffer or anything
    computed from it (views, extracted pointers and the values derived from
    them), so the runtime's allocator reuses memory by liveness. On the GPU
    that is safe because every kernel and library call runs on one stream,
    in program order.

    Before:
    ```mlir
    %a = memref.alloc() : memref<64xf32>
    linalg.generic ... outs(%a) ...
    linalg.generic ... ins(%a) outs(%b) ...
    ... (the rest of the network)
    memref.dealloc %a : memref<64xf32>
    ```
    After: the dealloc directly follows the second generic.
  }];
}

#endif // CMT_TRANSFORMS_PASSES_TD
