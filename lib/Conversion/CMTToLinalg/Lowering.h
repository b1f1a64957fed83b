//===- Lowering.h - graph-level cmt ops -> linalg (private) -----*- C++ -*-===//
//
// The lowering of convert-cmt-to-linalg, shared by its translation units:
// CMTToLinalg.cpp (the forward ops) and TrainToLinalg.cpp (gradient and
// optimizer ops).
//
//===----------------------------------------------------------------------===//
#ifndef CMT_LIB_CONVERSION_CMTTOLINALG_LOWERING_H
#define CMT_LIB_CONVERSION_CMTTOLINALG_LOWERING_H

#include "cmt/Dialect/CMT/IR/CMTOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

namespace cmt::detail {
using namespace mlir;
using utils::IteratorType;
constexpr IteratorType kPar = IteratorType::parallel;
constexpr IteratorType kRed = IteratorType::reduction;
using BodyFn = function_ref<Value(OpBuilder &, Location, ValueRange)>;

class Lowering {
public:
  Lowering(func::FuncOp func, bool gatherWindows, bool syncBatchNorm = false, bool fuseAttention = false,
           bool fuseRowStats = false)
      : func(func), b(func.getContext()), gatherWindows(gatherWindows), syncBatchNorm(syncBatchNorm),
        fuseAttention(fuseAttention), fuseRowStats(fuseRowStats) {}

  LogicalResult run();

private:
  //===--- building blocks ---------------------------------------------===//
  RankedTensorType type(ArrayRef<int64_t> shape) { return RankedTensorType::get(shape, f32()); }
  Type f32() { return b.getF32Type(); }
  Value cst(double v) { return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v)); }
  Value empty(ArrayRef<int64_t> shape) { return tensor::EmptyOp::create(b, loc, shape, f32()); }
  Value filled(ArrayRef<int64_t> shape, double v) {
    return linalg::FillOp::create(b, loc, ValueRange{cst(v)}, ValueRange{empty(shape)})
        .getResult(0);
  }
  static ArrayRef<int64_t> shapeOf(Value v) { return cast<RankedTensorType>(v.getType()).getShape(); }

  AffineMap map(unsigned numDims, ArrayRef<AffineExpr> exprs) {
    return AffineMap::get(numDims, 0, exprs, b.getContext());
  }
  AffineMap dims(unsigned numDims, ArrayRef<unsigned> which) {
    SmallVector<AffineExpr> e;
    for (unsigned d : which)
      e.push_back(b.getAffineDimExpr(d));
    return map(numDims, e);
  }
  AffineMap identity(unsigned n) { return b.getMultiDimIdentityMap(n); }

  /// One linalg.generic with one result; `body` gets the input elements and
  /// the output element and returns the value to yield.
  Value generic(ValueRange ins, Value init, ArrayRef<AffineMap> maps,
                ArrayRef<IteratorType> iterators, BodyFn body) {
    auto op = linalg::GenericOp::create(
        b, loc, TypeRange{init.getType()}, ins, ValueRange{init}, maps, iterators,
        [&](OpBuilder &nb, Location l, ValueRange args) {
          linalg::YieldOp::create(nb, l, body(nb, l, args));
        });
    return op.getResult(0);
  }

  /// Elementwise op over tensors of one shape, `ins` read through `maps` (the
  /// output map is the identity).
  Value elementwise(ValueRange ins, ArrayRef<AffineMap> inMaps, BodyFn body) {
    ArrayRef<int64_t> shape = shapeOf(ins[0]);
    SmallVector<AffineMap> maps(inMaps);
    maps.push_back(identity(shape.size()));
    SmallVector<IteratorType> its(shape.size(), kPar);
    return generic(ins, empty(shape), maps, its,
                   [&](OpBuilder &nb, Location l, ValueRange args) {
                     return body(nb, l, args.drop_back());
                   });
  }

  /// `init + sum(a * b)`: the body convert-linalg-to-ukernels recognises.
  Value contraction(Value a, AffineMap mapA, Value bv, AffineMap mapB, Value init,
                    AffineMap mapC, ArrayRef<IteratorType> its) {
    return generic({a, bv}, init, {mapA, mapB, mapC}, its,
                   [](OpBuilder &nb, Location l, ValueRange args) -> Value {
                     Value mul = arith::MulFOp::create(nb, l, args[0], args[1]);
                     return arith::AddFOp::create(nb, l, args[2], mul);
                   });
  }

  /// `a (M x K) * w^T` with w (N x K), plus bias (N): PyTorch's linear.
  Value linearMatmul(Value a, Value w, Value bias) {
    int64_t m = shapeOf(a)[0], n = shapeOf(w)[0];
    Value init = generic({bias}, empty({m, n}), {dims(2, {1}), identity(2)}, {kPar, kPar},
                         [](OpBuilder &, Location, ValueRange args) { return args[0]; });
    return contraction(a, dims(3, {0, 2}), w, dims(3, {1, 2}), init, dims(3, {0, 1}),
                       {kPar, kPar, kRed});
  }

  Value collapse(Value v, ArrayRef<ReassociationIndices> groups) {
    return tensor::CollapseShapeOp::create(b, loc, v, groups);
  }
  Value expand(Value v, ArrayRef<int64_t> shape, ArrayRef<ReassociationIndices> groups) {
    return tensor::ExpandShapeOp::create(b, loc, type(shape), v, groups);
  }
  Value transpose(Value v, ArrayRef<int64_t> perm) {
    ArrayRef<int64_t> s = shapeOf(v);
    SmallVector<int64_t> out;
    for (int64_t p : perm)
      out.push_back(s[p]);
    return linalg::TransposeOp::create(b, loc, v, empty(out), perm).getResult()[0];
  }
  Value pad(Value nhwc, int64_t ph, int64_t pw) {
    if (ph == 0 && pw == 0)
      return nhwc;
    ArrayRef<int64_t> s = shapeOf(nhwc);
    SmallVector<OpFoldResult> lo = {b.getIndexAttr(0), b.getIndexAttr(ph), b.getIndexAttr(pw),
                                    b.getIndexAttr(0)};
    SmallVector<OpFoldResult> hi = lo;
    return tensor::PadOp::create(b, loc, type({s[0], s[1] + 2 * ph, s[2] + 2 * pw, s[3]}),
                                 nhwc, lo, hi, cst(0.0));
  }

  /// Zero padding of any tensor, `lo`/`hi` elements per dimension.
  Value padDims(Value v, ArrayRef<int64_t> lo, ArrayRef<int64_t> hi) {
    if (llvm::all_of(lo, [](int64_t x) { return x == 0; }) &&
        llvm::all_of(hi, [](int64_t x) { return x == 0; }))
      return v;
    ArrayRef<int64_t> s = shapeOf(v);
    SmallVector<int64_t> out;
    SmallVector<OpFoldResult> l, h;
    for (size_t i = 0; i < s.size(); ++i) {
      out.push_back(s[i] + lo[i] + hi[i]);
      l.push_back(b.getIndexAttr(lo[i]));
      h.push_back(b.getIndexAttr(hi[i]));
    }
    return tensor::PadOp::create(b, loc, type(out), v, l, h, cst(0.0));
  }
  /// Entry `i` of a vector (the hyper-parameters) as a 0-d tensor: a view,
  /// so that kernels read it where it lies (on the GPU, device memory).
  Value element(Value vector, int64_t i) {
    auto t = RankedTensorType::get({}, cast<RankedTensorType>(vector.getType()).getElementType());
    return tensor::ExtractSliceOp::create(b, loc, t, plain(vector), ArrayRef<OpFoldResult>{b.getIndexAttr(i)},
                                          ArrayRef<OpFoldResult>{b.getIndexAttr(1)},
                                          ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  }
  /// In a loop over (image, class): the smoothed target probability of the
  /// class, (1 - s) y + s / C, where `label` is the image's class index
  /// (y = [class == label]) or the class's entry of its target distribution.
  static Value smoothedTarget(OpBuilder &nb, Location l, Value label, Value s, int64_t classes) {
    Value off = arith::DivFOp::create(
        nb, l, s, arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(static_cast<double>(classes))));
    Value one = arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(1.0));
    Value keep = arith::SubFOp::create(nb, l, one, s);
    if (isa<FloatType>(label.getType()))
      return arith::AddFOp::create(nb, l, arith::MulFOp::create(nb, l, keep, label), off);
    Value k = arith::IndexCastOp::create(nb, l, nb.getI64Type(), linalg::IndexOp::create(nb, l, 1));
    Value hit = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::eq, k, label);
    return arith::SelectOp::create(nb, l, hit, arith::AddFOp::create(nb, l, keep, off), off);
  }
  /// The map that reads the labels of cross-entropy in a loop over (image,
  /// class): one index per image, or a distribution per image.
  AffineMap labelMap(Value labels) {
    return cast<RankedTensorType>(labels.getType()).getRank() == 1 ? dims(2, {0}) : identity(2);
  }
  /// Per image, the mass of its smoothed target distribution: whatever it
  /// sums to (mixup's sum to 1, a user's need not). Null for class indices,
  /// whose mass is 1.
  Value targetMass(Value labels, Value smoothing, int64_t batch, int64_t classes);
  /// The map that reads a 0-d tensor from a loop nest of `numDims` loops.
  AffineMap scalarMap(unsigned numDims) { return AffineMap::get(numDims, 0, {}, b.getContext()); }
  /// A computation on run-time scalars (0-d tensors) with 0-d results: one
  /// loop-free generic, a single-thread kernel on the GPU.
  SmallVector<Value> scalarGeneric(ValueRange ins, unsigned numResults,
                                   function_ref<SmallVector<Value>(OpBuilder &, Location, ValueRange)> body) {
    SmallVector<Value> inits;
    for (unsigned i = 0; i < numResults; ++i)
      inits.push_back(empty({}));
    SmallVector<AffineMap> maps(ins.size() + numResults, scalarMap(0));
    auto op = linalg::GenericOp::create(
        b, loc, ValueRange(inits).getTypes(), ins, inits, maps, ArrayRef<IteratorType>{},
        [&](OpBuilder &nb, Location l, ValueRange args) {
          linalg::YieldOp::create(nb, l, body(nb, l, args.take_front(ins.size())));
        });
    return SmallVector<Value>(op.getResults());
  }
  /// Sum over every dimension but those in `keep` (kept in order).
  Value reduceSum(Value x, ArrayRef<unsigned> keep) {
    ArrayRef<int64_t> s = shapeOf(x);
    SmallVector<IteratorType> its(s.size(), kRed);
    SmallVector<int64_t> outShape;
    for (unsigned d : keep) {
      its[d] = kPar;
      outShape.push_back(s[d]);
    }
    return generic({x}, filled(outShape, 0.0), {identity(s.size()), dims(s.size(), keep)}, its,
                   [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                     return arith::AddFOp::create(nb, l, a[1], a[0]);
                   });
  }
  /// Patches of a convolution's input (im2col): (n, oh, ow, c, kh, kw), from
  /// a padded copy, or gathered with bounds checks (gatherWindows).
  Value patches(Value nhwc, ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                ArrayRef<int64_t> padding, ArrayRef<int64_t> outHW);
  Value patchesGather(Value nhwc, ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                      ArrayRef<int64_t> padding, ArrayRef<int64_t> outHW);
  /// Per-channel statistics of a batch norm over every dimension but
  /// `channel`: the mean, the centred sum of squares and the count they are
  /// over. With synchronised batch norm the three are over every rank's
  /// batch: sums go through `cmt.all_reduce batch_norm`, and the count is a
  /// tensor<1xf32> (`global`) summed the same way, so that no world size is
  /// compiled in.
  struct Count {
    double local;
    Value global;  // null: `local` is the count
    /// The count inside a generic body whose inputs `a` end with `inputs()`.
    Value in(OpBuilder &nb, Location l, ValueRange a) const {
      return global ? a.back() : arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(local)).getResult();
    }
  };
  struct Stats {
    Value mean, sq;
    Count count;
  };
  Stats channelStats(Value x, unsigned channel);
  /// `ins` and `maps` with the global count appended (broadcast over `rank`
  /// loop dimensions) when there is one.
  void withCount(const Count &c, SmallVector<Value> &ins, SmallVector<AffineMap> &maps, unsigned rank) {
    if (!c.global)
      return;
    ins.push_back(c.global);
    maps.push_back(map(rank, {b.getAffineConstantExpr(0)}));
  }
  /// A batch-norm statistic summed over the ranks (synchronised batch norm).
  Value syncSum(Value t) { return syncBatchNorm ? AllReduceOp::create(b, loc, t, /*batch_norm=*/true).getResult() : t; }
  /// Per-row statistics of a layer norm (last dimension): the sum and the
  /// centred sum of squares.
  std::pair<Value, Value> rowStats(Value x);
  /// rowStats as one loop nest over rows, its sums lane loops
  /// (FusedAttention.cpp); given a weight, the layer norm's output too
  /// (xhat * weight + bias), in a third lane loop.
  struct FusedNorm {
    Value sum, sq, out;
  };
  FusedNorm fusedRowStats(Value x, Value weight = {}, Value bias = {}, double eps = 0.0);
  /// In a loop over a layer norm's elements: 1/std of the row and the
  /// normalised element, from the row's sum and centred sum of squares
  /// (rowStats), for the forward and its gradient alike.
  static std::pair<Value, Value> layerNormXhat(OpBuilder &nb, Location l, Value x, Value sum,
                                               Value sq, double width, double eps) {
    auto c = [&](double v) -> Value { return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(v)); };
    Value var = arith::DivFOp::create(nb, l, sq, c(width));
    Value rstd = math::RsqrtOp::create(nb, l, arith::AddFOp::create(nb, l, var, c(eps)));
    Value centred = arith::SubFOp::create(nb, l, x, arith::DivFOp::create(nb, l, sum, c(width)));
    return {rstd, arith::MulFOp::create(nb, l, centred, rstd)};
  }
  /// Row maxima and sums of exp(x - max) of a (B, C) matrix.
  std::pair<Value, Value> softmaxStats(Value x);

  //===--- values and layouts ------------------------------------------===//
  /// The lowered NHWC tensor of a 4-D cmt value: lowered images are NHWC
  /// already; arguments (NCHW) are transposed once.
  Value image(Value v) {
    auto it = lowered.find(v);
    if (it != lowered.end())
      return it->second;
    Value t = transpose(v, {0, 2, 3, 1});
    lowered[v] = t;
    return t;
  }
  /// Any non-image value: lowered, or the argument itself.
  Value plain(Value v) {
    auto it = lowered.find(v);
    return it == lowered.end() ? v : it->second;
  }
  /// Rank-4 values are NHWC images once lowered, except those lowered in
  /// their own layout (a convolution weight's gradient, say: OIHW).
  bool isImage(Value v) {
    return cast<RankedTensorType>(v.getType()).getRank() == 4 && !ownLayout.contains(v);
  }
  void setOwnLayout(Value v, Value lowered4) {
    lowered[v] = lowered4;
    ownLayout.insert(v);
  }
  Value operand(Value v) { return isImage(v) ? image(v) : plain(v); }

  //===--- ops ---------------------------------------------------------===//
  LogicalResult lower(Conv2DOp op);
  LogicalResult lower(BatchNormOp op);
  LogicalResult lower(LayerNormOp op);
  LogicalResult lower(BatchNormTrainOp op);
  LogicalResult lower(CrossEntropyOp op);
  LogicalResult lower(LinearOp op);
  LogicalResult lower(AttentionOp op);
  Value gelu(Value x);
  Value swish(Value x);
  /// `t * factor`, elementwise.
  Value scaled(Value t, double factor);
  /// Attention split into heads: queries (b, n, h, d), keys with the scale
  /// applied and values (b, m, h, d), and the probabilities p (b, h, n, m).
  struct Heads {
    Value q, k, v, p;
  };
  Heads attentionHeads(Value query, Value key, Value value, Value bias, int64_t heads, double scale);
  /// cmt.attention as one loop nest over query rows (FusedAttention.cpp).
  LogicalResult fusedAttention(AttentionOp op);
  /// A read-only buffer of tensor `t` for hand-written loops.
  Value readBuffer(Value t);

  // Gradients and the optimizer (TrainToLinalg.cpp).
  LogicalResult lower(DropPathOp op);
  LogicalResult lower(DropoutOp op);
  LogicalResult lower(Conv2DGradOp op);
  LogicalResult lower(BatchNormGradOp op);
  LogicalResult lower(LayerNormGradOp op);
  LogicalResult lower(GeluGradOp op);
  LogicalResult lower(SwishGradOp op);
  LogicalResult lower(LinearGradOp op);
  LogicalResult lower(AttentionGradOp op);
  LogicalResult lower(GlobalAvgPoolGradOp op);
  LogicalResult lower(CrossEntropyGradOp op);
  LogicalResult lower(LearningRateOp op);
  LogicalResult lower(GlobalNormOp op);
  LogicalResult lower(OptimizerStepOp op);
  Value conv2dInputGrad(Conv2DGradOp op, Value dyRows, Value w);
  /// Per-step optimizer coefficients, computed once per (decay) class.
  SmallVector<Value> optimizerCoefficients(OptimizerStepOp op);
  DenseMap<std::tuple<Value, Value, Value, Value, unsigned>, SmallVector<Value>> coefficients;
  /// rowStats per input: a layer norm's gradient reuses its forward's (as CSE
  /// merges the linalg form; the fused loop nest writes buffers CSE leaves).
  DenseMap<Value, std::pair<Value, Value>> rowStatsOf;

  /// Depthwise convolution of NHWC `x` by `w` (C, 1, kh, kw), plus `bias`
  /// (C) where given: bounds-checked gathers on the GPU (gatherWindows),
  /// a windowed generic otherwise.
  Value depthwise(Value x, Value w, Value bias, ArrayRef<int64_t> outShape,
                  ArrayRef<int64_t> strides, ArrayRef<int64_t> padding);
  Value depthwiseGather(Value x, Value w, Value bias, ArrayRef<int64_t> outShape,
                        ArrayRef<int64_t> strides, ArrayRef<int64_t> padding);

  func::FuncOp func;
  OpBuilder b;
  bool gatherWindows, syncBatchNorm, fuseAttention, fuseRowStats;
  Location loc = b.getUnknownLoc();
  DenseMap<Value, Value> lowered;
  llvm::DenseSet<Value> ownLayout;
};
} // namespace cmt::detail

#endif
