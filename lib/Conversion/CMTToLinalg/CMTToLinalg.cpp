//===- CMTToLinalg.cpp - graph-level cmt ops -> linalg on tensors -*- C++ -*-===//
//
// The function is one block of straight-line code, so the lowering walks it
// once, in order, and remembers for every cmt value its lowered tensor. Images
// are kept NHWC: arguments arrive NCHW and are transposed once, on first use;
// tokens are then reshapes of NHWC images and cost nothing.
//
//===----------------------------------------------------------------------===//
#include "cmt/Conversion/Passes.h"
#include "Lowering.h"

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"
#include <cmath>

namespace cmt {
#define GEN_PASS_DEF_CONVERTCMTTOLINALG
#include "cmt/Conversion/Passes.h.inc"
} // namespace cmt

using namespace mlir;
using namespace cmt;
using namespace cmt::detail;

namespace {
/// Inside a generic body: reads an NHWC image, flattened, at one tap of a
/// convolution window, zero where the tap falls into the padding (the
/// coordinates are clamped, the value selected away). Offsets are computed in
/// 32-bit integers where the image fits: on the GPU these gathers are bound
/// by integer instructions, and 64-bit ones cost twice as many.
struct TapReader {
  TapReader(OpBuilder &nb, Location l, Value flatX, ArrayRef<int64_t> nhwc, ArrayRef<int64_t> strides,
            ArrayRef<int64_t> padding)
      : nb(nb), l(l), flatX(flatX), nhwc(nhwc), strides(strides), padding(padding),
        intType(nhwc[0] * nhwc[1] * nhwc[2] * nhwc[3] < (int64_t(1) << 31) ? Type(nb.getI32Type())
                                                                          : Type(nb.getIndexType())) {}

  Value cint(int64_t v) { return arith::ConstantOp::create(nb, l, nb.getIntegerAttr(intType, v)); }
  /// Loop dimension `d` of the generic, in the offsets' integer type.
  Value index(int64_t d) {
    Value i = linalg::IndexOp::create(nb, l, d);
    return intType.isIndex() ? i : arith::IndexCastOp::create(nb, l, intType, i).getResult();
  }
  Value toIndex(Value v) {
    return intType.isIndex() ? v : arith::IndexCastOp::create(nb, l, nb.getIndexType(), v).getResult();
  }
  Value mul(Value a, int64_t v) { return arith::MulIOp::create(nb, l, a, cint(v)); }
  Value add(Value a, Value v) { return arith::AddIOp::create(nb, l, a, v); }

  /// The input element under output (n, oh, ow, c) at tap (th, tw).
  Value read(Value n, Value oh, Value ow, Value c, Value th, Value tw) {
    Value inH, inW;
    Value ih = coord(oh, strides[0], th, padding[0], nhwc[1], inH);
    Value iw = coord(ow, strides[1], tw, padding[1], nhwc[2], inW);
    Value offset = add(mul(add(mul(add(mul(n, nhwc[1]), ih), nhwc[2]), iw), nhwc[3]), c);
    Value v = tensor::ExtractOp::create(nb, l, flatX, ValueRange{toIndex(offset)});
    Value zero = arith::ConstantOp::create(nb, l, nb.getZeroAttr(v.getType()));
    return arith::SelectOp::create(nb, l, arith::AndIOp::create(nb, l, inH, inW), v, zero);
  }

private:
  /// One coordinate of a tap, clamped into the image, and whether it was inside.
  Value coord(Value o, int64_t stride, Value tap, int64_t pad, int64_t size, Value &inside) {
    Value i = add(add(mul(o, stride), tap), cint(-pad));
    Value lo = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::sge, i, cint(0));
    Value hi = arith::CmpIOp::create(nb, l, arith::CmpIPredicate::slt, i, cint(size));
    inside = arith::AndIOp::create(nb, l, lo, hi);
    Value clamped = arith::MaxSIOp::create(nb, l, i, cint(0));
    return arith::MinSIOp::create(nb, l, clamped, cint(size - 1));
  }

  OpBuilder &nb;
  Location l;
  Value flatX;
  ArrayRef<int64_t> nhwc, strides, padding;

public:
  Type intType;
};
} // namespace

/// Depthwise convolution as an elementwise generic over (n, oh, ow, c): the
/// body starts from the bias (or zero) and adds the window's taps in (kh, kw) order
/// (the order of the window reduction, so both lowerings round alike).
Value Lowering::depthwiseGather(Value x, Value w, Value bias, ArrayRef<int64_t> outShape,
                                ArrayRef<int64_t> strides, ArrayRef<int64_t> padding) {
  ArrayRef<int64_t> ws = shapeOf(w);
  int64_t kh = ws[2], kw = ws[3];
  Value flatX = collapse(x, {{0, 1, 2, 3}});
  Value flatW = collapse(w, {{0, 1, 2, 3}});
  SmallVector<Value> ins;
  SmallVector<AffineMap> maps;
  if (bias) {
    ins.push_back(bias);
    maps.push_back(dims(4, {3}));
  }
  maps.push_back(identity(4));
  ArrayRef<int64_t> nhwc = shapeOf(x);
  return generic(
      ins, empty(outShape), maps, {kPar, kPar, kPar, kPar},
      [&](OpBuilder &nb, Location l, ValueRange args) -> Value {
        TapReader taps(nb, l, flatX, nhwc, strides, padding);
        Value n = taps.index(0), oh = taps.index(1), ow = taps.index(2), c = taps.index(3);
        Value acc = bias ? args[0] : arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(0.0)).getResult();
        Value weightBase = taps.mul(c, kh * kw);
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            Value v = taps.read(n, oh, ow, c, taps.cint(i), taps.cint(j));
            Value wv = tensor::ExtractOp::create(
                nb, l, flatW, ValueRange{taps.toIndex(taps.add(weightBase, taps.cint(i * kw + j)))});
            acc = arith::AddFOp::create(nb, l, acc, arith::MulFOp::create(nb, l, v, wv));
          }
        return acc;
      });
}

/// The patches (im2col) of a padded convolution without the padded copy
/// (gatherWindows): each patch element reads its tap with a bounds check.
Value Lowering::patchesGather(Value x, ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                              ArrayRef<int64_t> padding, ArrayRef<int64_t> outHW) {
  ArrayRef<int64_t> s = shapeOf(x);
  Value flatX = collapse(x, {{0, 1, 2, 3}});
  return generic({}, empty({s[0], outHW[0], outHW[1], s[3], kernel[0], kernel[1]}), {identity(6)},
                 SmallVector<IteratorType>(6, kPar), [&](OpBuilder &nb, Location l, ValueRange) -> Value {
                   TapReader taps(nb, l, flatX, s, strides, padding);
                   return taps.read(taps.index(0), taps.index(1), taps.index(2), taps.index(3),
                                    taps.index(4), taps.index(5));
                 });
}

Value Lowering::patches(Value x, ArrayRef<int64_t> kernel, ArrayRef<int64_t> strides,
                        ArrayRef<int64_t> padding, ArrayRef<int64_t> outHW) {
  if (gatherWindows && (padding[0] > 0 || padding[1] > 0))
    return patchesGather(x, kernel, strides, padding, outHW);
  Value padded = pad(x, padding[0], padding[1]);
  ArrayRef<int64_t> s = shapeOf(x);
  AffineExpr d0 = b.getAffineDimExpr(0), d1 = b.getAffineDimExpr(1),
             d2 = b.getAffineDimExpr(2), d3 = b.getAffineDimExpr(3),
             d4 = b.getAffineDimExpr(4), d5 = b.getAffineDimExpr(5);
  AffineMap gather = map(6, {d0, d1 * strides[0] + d4, d2 * strides[1] + d5, d3});
  return generic({padded}, empty({s[0], outHW[0], outHW[1], s[3], kernel[0], kernel[1]}),
                 {gather, identity(6)}, SmallVector<IteratorType>(6, kPar),
                 [](OpBuilder &, Location, ValueRange a) { return a[0]; });
}

Value Lowering::depthwise(Value x, Value w, Value bias, ArrayRef<int64_t> outShape,
                          ArrayRef<int64_t> strides, ArrayRef<int64_t> padding) {
  if (gatherWindows && (padding[0] > 0 || padding[1] > 0))
    return depthwiseGather(x, w, bias, outShape, strides, padding);
  // Loops (b, oh, ow, kh, kw, c) with the channel innermost, so every access
  // is contiguous and the loop vectorises. The weight is re-laid out
  // (kh, kw, C) for that; it is tiny.
  Value padded = pad(x, padding[0], padding[1]);
  Value wt = transpose(collapse(w, {{0, 1}, {2}, {3}}), {1, 2, 0});
  Value init = bias ? generic({bias}, empty(outShape), {dims(4, {3}), identity(4)},
                              {kPar, kPar, kPar, kPar},
                              [](OpBuilder &, Location, ValueRange a) { return a[0]; })
                    : filled(outShape, 0.0);
  AffineExpr d0 = b.getAffineDimExpr(0), d1 = b.getAffineDimExpr(1), d2 = b.getAffineDimExpr(2),
             d3 = b.getAffineDimExpr(3), d4 = b.getAffineDimExpr(4), d5 = b.getAffineDimExpr(5);
  AffineMap inMap = map(6, {d0, d1 * strides[0] + d3, d2 * strides[1] + d4, d5});
  return generic({padded, wt}, init, {inMap, dims(6, {3, 4, 5}), dims(6, {0, 1, 2, 5})},
                 {kPar, kPar, kPar, kRed, kRed, kPar},
                 [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                   Value mul = arith::MulFOp::create(nb, l, a[0], a[1]);
                   return arith::AddFOp::create(nb, l, a[2], mul);
                 });
}

LogicalResult Lowering::lower(Conv2DOp op) {
  Value x = image(op.getInput()); // N H W C
  Value w = op.getWeight(), bias = op.getBias();
  ArrayRef<int64_t> ws = shapeOf(w);
  int64_t outC = ws[0], kh = ws[2], kw = ws[3];
  int64_t groups = op.getGroups(), inC = shapeOf(x)[3];
  ArrayRef<int64_t> strides = op.getStrides(), padding = op.getPadding();
  ArrayRef<int64_t> outNCHW = cast<RankedTensorType>(op.getType()).getShape();
  int64_t n = outNCHW[0], oh = outNCHW[2], ow = outNCHW[3];
  SmallVector<int64_t> outShape = {n, oh, ow, outC};

  if (groups == inC && outC == inC && groups > 1) {
    lowered[op] = depthwise(x, w, bias, outShape, strides, padding);
    return success();
  }
  if (groups != 1)
    return op.emitOpError("the CPU lowering supports groups == 1 or depthwise convolutions, got "
                          "groups = ")
           << groups;

  // Dense convolution as a matrix product: rows are output pixels, columns
  // the (c, kh, kw) patch in the weight's own OIHW order.
  Value rows;
  if (kh == 1 && kw == 1 && strides[0] == 1 && strides[1] == 1 && padding[0] == 0 &&
      padding[1] == 0) {
    rows = collapse(x, {{0, 1, 2}, {3}});
  } else {
    rows = collapse(patches(x, {kh, kw}, strides, padding, {oh, ow}), {{0, 1, 2}, {3, 4, 5}});
  }
  Value wmat = collapse(w, {{0}, {1, 2, 3}});
  Value out = linearMatmul(rows, wmat, bias);
  lowered[op] = expand(out, outShape, {{0, 1, 2}, {3}});
  return success();
}

LogicalResult Lowering::lower(BatchNormOp op) {
  Value x = operand(op.getInput());
  double eps = op.getEps().convertToDouble();
  // Per-channel scale and shift first, then one multiply-add per element.
  AffineMap id1 = identity(1);
  Value scale = generic({op.getWeight(), op.getRunningVar()}, empty(shapeOf(op.getWeight())),
                        {id1, id1, id1}, {kPar}, [&](OpBuilder &nb, Location l, ValueRange a) {
                          Value e = arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(eps));
                          Value v = arith::AddFOp::create(nb, l, a[1], e);
                          return arith::MulFOp::create(nb, l, a[0], math::RsqrtOp::create(nb, l, v));
                        });
  Value shift = generic({op.getBias(), op.getRunningMean(), scale},
                        empty(shapeOf(op.getWeight())), {id1, id1, id1, id1}, {kPar},
                        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          Value ms = arith::MulFOp::create(nb, l, a[1], a[2]);
                          return arith::SubFOp::create(nb, l, a[0], ms);
                        });
  unsigned rank = shapeOf(x).size();
  // NHWC images and (B, C, ...) tensors of rank < 4 alike: channels are the
  // last dimension of a lowered image, dimension 1 otherwise.
  unsigned channel = isImage(op.getInput()) ? rank - 1 : 1;
  AffineMap chan = dims(rank, {channel});
  lowered[op] = elementwise({x, scale, shift}, {identity(rank), chan, chan},
                            [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                              Value m = arith::MulFOp::create(nb, l, a[0], a[1]);
                              return arith::AddFOp::create(nb, l, m, a[2]);
                            });
  return success();
}

Lowering::Stats Lowering::channelStats(Value x, unsigned channel) {
  ArrayRef<int64_t> shape = shapeOf(x);
  unsigned rank = shape.size();
  Count count{static_cast<double>(cast<RankedTensorType>(x.getType()).getNumElements() / shape[channel]), {}};
  if (syncBatchNorm)
    count.global = syncSum(filled({1}, count.local));
  SmallVector<IteratorType> its(rank, kRed);
  its[channel] = kPar;
  AffineMap id = identity(rank), chan = dims(rank, {channel});
  SmallVector<Value> ins = {syncSum(reduceSum(x, {channel}))};
  SmallVector<AffineMap> maps = {identity(1)};
  withCount(count, ins, maps, 1);
  Value mean = elementwise(ins, maps, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    return arith::DivFOp::create(nb, l, a[0], count.in(nb, l, a));
  });
  // Centred second pass, as PyTorch computes the variance.
  Value sq = generic({x, mean}, filled({shape[channel]}, 0.0), {id, chan, chan}, its,
                     [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                       Value d = arith::SubFOp::create(nb, l, a[0], a[1]);
                       return arith::AddFOp::create(nb, l, a[2], arith::MulFOp::create(nb, l, d, d));
                     });
  return {mean, syncSum(sq), count};
}

LogicalResult Lowering::lower(BatchNormTrainOp op) {
  Value x = operand(op.getInput());
  ArrayRef<int64_t> shape = shapeOf(x);
  unsigned rank = shape.size();
  unsigned channel = isImage(op.getInput()) ? rank - 1 : 1;
  double eps = op.getEps().convertToDouble(), momentum = op.getMomentum().convertToDouble();
  AffineMap id = identity(rank), chan = dims(rank, {channel}), id1 = identity(1);
  auto c = [](OpBuilder &nb, Location l, double v) -> Value {
    return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(v));
  };
  auto [mean, sq, count] = channelStats(x, channel);
  // Normalised with the biased variance; the running variance gets the unbiased one.
  SmallVector<Value> ins = {op.getWeight(), sq};
  SmallVector<AffineMap> maps = {id1, id1};
  withCount(count, ins, maps, 1);
  Value scale = elementwise(ins, maps, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value var = arith::DivFOp::create(nb, l, a[1], count.in(nb, l, a));
    Value inv = math::RsqrtOp::create(nb, l, arith::AddFOp::create(nb, l, var, c(nb, l, eps)));
    return arith::MulFOp::create(nb, l, a[0], inv);
  });
  lowered[op.getOutput()] = elementwise(
      {x, mean, scale, op.getBias()}, {id, chan, chan, chan},
      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value centred = arith::SubFOp::create(nb, l, a[0], a[1]);
        return arith::AddFOp::create(nb, l, arith::MulFOp::create(nb, l, centred, a[2]), a[3]);
      });
  // running * (1 - momentum) + momentum * batch * factor, factor 1 for the
  // mean and 1 / (count - 1) for the variance (unbiased).
  auto blend = [&](Value running, Value batch, bool unbiased) {
    SmallVector<Value> ins = {running, batch};
    SmallVector<AffineMap> maps = {id1, id1};
    withCount(count, ins, maps, 1);
    return elementwise(ins, maps, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
      Value kept = arith::MulFOp::create(nb, l, a[0], c(nb, l, 1.0 - momentum));
      if (unbiased && count.global) {
        Value nm1 = arith::SubFOp::create(nb, l, count.in(nb, l, a), c(nb, l, 1.0));
        Value added = arith::MulFOp::create(nb, l, a[1], c(nb, l, momentum));
        return arith::AddFOp::create(nb, l, kept, arith::DivFOp::create(nb, l, added, nm1));
      }
      double factor = !unbiased ? 1.0 : count.local > 1 ? 1.0 / (count.local - 1) : 0.0;
      Value added = arith::MulFOp::create(nb, l, a[1], c(nb, l, momentum * factor));
      return arith::AddFOp::create(nb, l, kept, added);
    });
  };
  lowered[op.getNewRunningMean()] = blend(op.getRunningMean(), mean, false);
  lowered[op.getNewRunningVar()] = blend(op.getRunningVar(), sq, true);
  return success();
}

std::pair<Value, Value> Lowering::softmaxStats(Value x) {
  int64_t batch = shapeOf(x)[0];
  AffineMap id = identity(2), row = dims(2, {0});
  SmallVector<IteratorType> reduce = {kPar, kRed};
  Value max = generic({x}, filled({batch}, -INFINITY), {id, row}, reduce,
                      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return arith::MaximumFOp::create(nb, l, a[0], a[1]);
                      });
  Value sumExp = generic({x, max}, filled({batch}, 0.0), {id, row, row}, reduce,
                         [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                           Value e = math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, a[0], a[1]));
                           return arith::AddFOp::create(nb, l, a[2], e);
                         });
  return {max, sumExp};
}

Value Lowering::targetMass(Value labels, Value smoothing, int64_t batch, int64_t classes) {
  if (cast<RankedTensorType>(labels.getType()).getRank() == 1)
    return Value();
  return generic({labels, smoothing}, filled({batch}, 0.0), {identity(2), scalarMap(2), dims(2, {0})},
                 {kPar, kRed}, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                   return arith::AddFOp::create(nb, l, a[2], smoothedTarget(nb, l, a[0], a[1], classes));
                 });
}

LogicalResult Lowering::lower(CrossEntropyOp op) {
  Value x = plain(op.getLogits()), labels = op.getLabels();
  ArrayRef<int64_t> s = shapeOf(x);
  int64_t batch = s[0], classes = s[1];
  Value smoothing = plain(op.getLabelSmoothing());
  AffineMap id = identity(2), row = dims(2, {0}), id1 = identity(1);
  SmallVector<IteratorType> reduce = {kPar, kRed};
  auto c = [](OpBuilder &nb, Location l, double v) -> Value {
    return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(v));
  };
  auto [max, sumExp] = softmaxStats(x);
  // Per image: the smoothed target's weighted logit, sum_c t[c] x[c].
  Value target = generic({x, labels, smoothing}, filled({batch}, 0.0), {id, labelMap(labels), scalarMap(2), row},
                         reduce, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                           Value w = smoothedTarget(nb, l, a[1], a[2], classes);
                           return arith::AddFOp::create(nb, l, a[3], arith::MulFOp::create(nb, l, w, a[0]));
                         });
  // loss = mean over images of mass x logsumexp - target (-log p = logsumexp - x)
  SmallVector<Value> ins = {max, sumExp, target};
  if (Value mass = targetMass(labels, smoothing, batch, classes))
    ins.push_back(mass);
  SmallVector<AffineMap> maps(ins.size(), id1);
  maps.push_back(AffineMap::get(1, 0, {}, b.getContext()));
  Value loss = generic(ins, filled({}, 0.0), maps, {kRed}, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value lse = arith::AddFOp::create(nb, l, a[0], math::LogOp::create(nb, l, a[1]));
    if (a.size() == 5)
      lse = arith::MulFOp::create(nb, l, lse, a[3]);
    Value nll = arith::SubFOp::create(nb, l, lse, a[2]);
    Value scaled = arith::MulFOp::create(nb, l, nll, c(nb, l, 1.0 / batch));
    return arith::AddFOp::create(nb, l, a.back(), scaled);
  });
  lowered[op] = loss;
  return success();
}

std::pair<Value, Value> Lowering::rowStats(Value x) {
  if (fuseRowStats && shapeOf(x).size() > 1) {
    auto [it, inserted] = rowStatsOf.try_emplace(x);
    if (inserted) {
      FusedNorm stats = fusedRowStats(x);
      it->second = {stats.sum, stats.sq};
    }
    return it->second;
  }
  ArrayRef<int64_t> shape = shapeOf(x);
  unsigned rank = shape.size();
  double width = static_cast<double>(shape.back());
  SmallVector<int64_t> rowShape(shape.drop_back());
  SmallVector<unsigned> rowDims;
  for (unsigned i = 0; i + 1 < rank; ++i)
    rowDims.push_back(i);
  AffineMap row = dims(rank, rowDims), id = identity(rank);
  SmallVector<IteratorType> reduce(rank, kPar);
  reduce.back() = kRed;
  Value sum = reduceSum(x, rowDims);
  // Two passes (mean, then the centred variance) as PyTorch computes it.
  Value sq = generic({x, sum}, filled(rowShape, 0.0), {id, row, row}, reduce,
                     [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                       Value m = arith::DivFOp::create(nb, l, a[1], arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(width)));
                       Value d = arith::SubFOp::create(nb, l, a[0], m);
                       return arith::AddFOp::create(nb, l, a[2], arith::MulFOp::create(nb, l, d, d));
                     });
  return {sum, sq};
}

LogicalResult Lowering::lower(LayerNormOp op) {
  Value x = operand(op.getInput());
  ArrayRef<int64_t> shape = shapeOf(x);
  unsigned rank = shape.size();
  double width = static_cast<double>(shape.back());
  double eps = op.getEps().convertToDouble();
  SmallVector<unsigned> rowDims;
  for (unsigned i = 0; i + 1 < rank; ++i)
    rowDims.push_back(i);
  AffineMap row = dims(rank, rowDims), id = identity(rank), last = dims(rank, {rank - 1});
  // Inference: the whole norm one loop nest, its output stored there (a
  // gradient would read it back, so a training forward keeps it elementwise,
  // where cmt-rematerialize can recompute it).
  bool differentiated = llvm::any_of(op.getInput().getUsers(), [](Operation *u) { return isa<LayerNormGradOp>(u); });
  if (fuseRowStats && rank > 1 && !differentiated) {
    lowered[op] = fusedRowStats(x, op.getWeight(), op.getBias(), eps).out;
    return success();
  }
  auto [sum, sq] = rowStats(x);
  lowered[op] = elementwise(
      {x, sum, sq, op.getWeight(), op.getBias()}, {id, row, row, last, last},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value xhat = layerNormXhat(nb, l, a[0], a[1], a[2], width, eps).second;
        return arith::AddFOp::create(nb, l, arith::MulFOp::create(nb, l, xhat, a[3]), a[4]);
      });
  return success();
}

LogicalResult Lowering::lower(LinearOp op) {
  Value x = plain(op.getInput());
  ArrayRef<int64_t> s = shapeOf(x);
  if (s.size() == 1)
    return op.emitOpError("the CPU lowering needs an input of rank >= 2");
  SmallVector<int64_t> outShape(s);
  outShape.back() = shapeOf(op.getWeight())[0];
  ReassociationIndices lead;
  for (unsigned i = 0; i + 1 < s.size(); ++i)
    lead.push_back(i);
  SmallVector<ReassociationIndices> groups = {lead, {static_cast<int64_t>(s.size() - 1)}};
  Value rows = s.size() == 2 ? x : collapse(x, groups);
  Value out = linearMatmul(rows, op.getWeight(), op.getBias());
  lowered[op] = s.size() == 2 ? out : expand(out, outShape, groups);
  return success();
}

Value Lowering::scaled(Value t, double factor) {
  unsigned rank = shapeOf(t).size();
  return elementwise({t}, {identity(rank)}, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    return arith::MulFOp::create(nb, l, a[0], arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(factor)));
  });
}

Lowering::Heads Lowering::attentionHeads(Value query, Value key, Value value, Value bias,
                                         int64_t heads, double scale) {
  Value q = plain(query), k = plain(key), v = plain(value);
  ArrayRef<int64_t> qs = shapeOf(q);
  int64_t batch = qs[0], n = qs[1], d = qs[2] / heads, m = shapeOf(k)[1];
  // Heads are a split of the channel dimension: (B, N, h, d), free. The
  // scale goes on the keys, which are reduced (m <= n): the smaller pass.
  SmallVector<ReassociationIndices> split = {{0}, {1}, {2, 3}};
  Heads h;
  h.q = expand(q, {batch, n, heads, d}, split);
  h.k = expand(scaled(k, scale), {batch, m, heads, d}, split);
  h.v = expand(v, {batch, m, heads, d}, split);

  // scores (b, h, n, m) = bias (h, n, m) + sum_k q (b, n, h, k) * key (b, m, h, k)
  Value scores = generic({bias}, empty({batch, heads, n, m}),
                         {dims(4, {1, 2, 3}), identity(4)}, {kPar, kPar, kPar, kPar},
                         [](OpBuilder &, Location, ValueRange a) { return a[0]; });
  // dims: b h n m k
  scores = contraction(h.q, dims(5, {0, 2, 1, 4}), h.k, dims(5, {0, 3, 1, 4}), scores,
                       dims(5, {0, 1, 2, 3}), {kPar, kPar, kPar, kPar, kRed});

  // softmax over m
  AffineMap id4 = identity(4), rowMap = dims(4, {0, 1, 2});
  SmallVector<IteratorType> reduce = {kPar, kPar, kPar, kRed};
  Value max = generic({scores}, filled({batch, heads, n}, -INFINITY), {id4, rowMap}, reduce,
                      [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return arith::MaximumFOp::create(nb, l, a[0], a[1]);
                      });
  // exp(s - max) is recomputed where it is needed rather than stored: two
  // passes over the scores instead of four.
  auto shifted = [](OpBuilder &nb, Location l, Value s, Value mx) -> Value {
    return math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, s, mx));
  };
  Value sum = generic({scores, max}, filled({batch, heads, n}, 0.0), {id4, rowMap, rowMap}, reduce,
                      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                        return arith::AddFOp::create(nb, l, a[2], shifted(nb, l, a[0], a[1]));
                      });
  h.p = elementwise({scores, max, sum}, {id4, rowMap, rowMap},
                    [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                      return arith::DivFOp::create(nb, l, shifted(nb, l, a[0], a[1]), a[2]);
                    });
  return h;
}

LogicalResult Lowering::lower(AttentionOp op) {
  // A row's scores live in a private array: past a few thousand keys (no
  // reduction at high resolution) it would overflow a GPU thread's local
  // memory budget, and the unfused form's GEMMs win anyway.
  constexpr int64_t kMaxFusedKeys = 1024;
  if (fuseAttention && shapeOf(plain(op.getKey()))[1] <= kMaxFusedKeys)
    return fusedAttention(op);
  Heads h = attentionHeads(op.getQuery(), op.getKey(), op.getValue(), op.getBias(), op.getHeads(),
                           op.getScale().convertToDouble());
  Value p = h.p, vh = h.v;
  ArrayRef<int64_t> qs = shapeOf(h.q);
  int64_t batch = qs[0], n = qs[1], heads = qs[2], d = qs[3];
  SmallVector<ReassociationIndices> split = {{0}, {1}, {2, 3}};

  // out (b, n, h, k) = sum_m p (b, h, n, m) * value (b, m, h, k); dims: b h n k m
  Value out = contraction(p, dims(5, {0, 1, 2, 4}), vh, dims(5, {0, 4, 1, 3}),
                          filled({batch, n, heads, d}, 0.0), dims(5, {0, 2, 1, 3}),
                          {kPar, kPar, kPar, kPar, kRed});
  lowered[op] = collapse(out, split);
  return success();
}

Value Lowering::gelu(Value x) {
  unsigned rank = shapeOf(x).size();
  return elementwise({x}, {identity(rank)}, [](OpBuilder &nb, Location l, ValueRange a) -> Value {
    auto c = [&](double v) -> Value { return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(v)); };
    Value erf = math::ErfOp::create(nb, l, arith::MulFOp::create(nb, l, a[0], c(M_SQRT1_2)));
    Value half = arith::MulFOp::create(nb, l, a[0], c(0.5));
    return arith::MulFOp::create(nb, l, half, arith::AddFOp::create(nb, l, erf, c(1.0)));
  });
}

Value Lowering::swish(Value x) {
  unsigned rank = shapeOf(x).size();
  return elementwise({x}, {identity(rank)}, [](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value one = arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(1.0));
    Value e = math::ExpOp::create(nb, l, arith::NegFOp::create(nb, l, a[0]));
    return arith::DivFOp::create(nb, l, a[0], arith::AddFOp::create(nb, l, one, e));
  });
}

LogicalResult Lowering::run() {
  Block &body = func.getBody().front();
  SmallVector<Operation *> cmtOps;
  for (Operation &op : body) {
    if (!isa<CMTDialect>(op.getDialect()))
      continue;
    cmtOps.push_back(&op);
    b.setInsertionPoint(&op);
    loc = op.getLoc();
    LogicalResult result =
        TypeSwitch<Operation *, LogicalResult>(&op)
            .Case<Conv2DOp, BatchNormOp, BatchNormTrainOp, CrossEntropyOp, LayerNormOp,
                  LinearOp, AttentionOp, DropPathOp, DropoutOp, Conv2DGradOp, BatchNormGradOp, LayerNormGradOp,
                  GeluGradOp, SwishGradOp, LinearGradOp, AttentionGradOp, GlobalAvgPoolGradOp,
                  CrossEntropyGradOp, LearningRateOp, GlobalNormOp, OptimizerStepOp>(
                [&](auto o) { return lower(o); })
            .Case([&](IncrementOp o) {
              auto type = cast<RankedTensorType>(o.getType());
              AffineMap id = identity(type.getRank());
              Value init = tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
              lowered[o] = generic({o.getInput()}, init, {id, id},
                                   SmallVector<IteratorType>(type.getRank(), kPar),
                                   [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                                     Value one = arith::ConstantOp::create(nb, l, nb.getI64IntegerAttr(1));
                                     return arith::AddIOp::create(nb, l, a[0], one);
                                   });
              return success();
            })
            .Case([&](AllReduceOp o) {
              // Stays a cmt op (cmt-lower-collectives makes it a runtime
              // call), now on the lowered value, in its layout.
              lowered[o] = AllReduceOp::create(b, loc, operand(o.getInput()), o.getBatchNorm());
              if (ownLayout.contains(o.getInput()))
                ownLayout.insert(o);
              return success();
            })
            .Case([&](AllReduceWaitOp o) {
              SmallVector<Value> ins;
              for (Value v : o.getInputs())
                ins.push_back(operand(v));
              auto wait = AllReduceWaitOp::create(b, loc, ins);
              for (auto [old, now] : llvm::zip(o.getResults(), wait.getResults())) {
                lowered[old] = now;
                if (ownLayout.contains(o.getInputs()[cast<OpResult>(old).getResultNumber()]))
                  ownLayout.insert(old);
              }
              return success();
            })
            .Case([&](GeluOp o) {
              lowered[o] = gelu(operand(o.getInput()));
              return success();
            })
            .Case([&](SwishOp o) {
              lowered[o] = swish(operand(o.getInput()));
              return success();
            })
            .Case([&](AddOp o) {
              Value l = operand(o.getLhs()), r = operand(o.getRhs());
              AffineMap id = identity(shapeOf(l).size());
              lowered[o] = elementwise({l, r}, {id, id},
                                       [](OpBuilder &nb, Location lc, ValueRange a) -> Value {
                                         return arith::AddFOp::create(nb, lc, a[0], a[1]);
                                       });
              // Summed weight gradients keep the weights' layout.
              if (ownLayout.contains(o.getLhs()) || ownLayout.contains(o.getRhs()))
                ownLayout.insert(o);
              return success();
            })
            .Case([&](GlobalAvgPoolOp o) {
              Value x = image(o.getInput());
              ArrayRef<int64_t> s = shapeOf(x);
              Value sum = generic({x}, filled({s[0], s[3]}, 0.0), {identity(4), dims(4, {0, 3})},
                                  {kPar, kRed, kRed, kPar},
                                  [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                                    return arith::AddFOp::create(nb, l, a[1], a[0]);
                                  });
              double inv = 1.0 / static_cast<double>(s[1] * s[2]);
              lowered[o] = elementwise({sum}, {identity(2)},
                                       [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                                         return arith::MulFOp::create(
                                             nb, l, a[0],
                                             arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(inv)));
                                       });
              return success();
            })
            .Case([&](ImageToTokensOp o) {
              lowered[o] = collapse(image(o.getInput()), {{0}, {1, 2}, {3}});
              return success();
            })
            .Case([&](TokensToImageOp o) {
              ArrayRef<int64_t> t = shapeOf(o.getInput());
              lowered[o] = expand(plain(o.getInput()),
                                  {t[0], static_cast<int64_t>(o.getHeight()),
                                   static_cast<int64_t>(o.getWidth()), t[2]},
                                  {{0}, {1, 2}, {3}});
              return success();
            })
            .Default([&](Operation *other) {
              return other->emitOpError("has no lowering to linalg for the CPU yet");
            });
    if (failed(result))
      return failure();
  }

  // Returned images go back to NCHW; everything else is returned as lowered.
  Operation *ret = body.getTerminator();
  b.setInsertionPoint(ret);
  loc = ret->getLoc();
  for (OpOperand &use : ret->getOpOperands()) {
    Value v = use.get();
    if (!lowered.count(v))
      continue;
    use.set(isImage(v) ? transpose(lowered[v], {0, 3, 1, 2}) : lowered[v]);
  }
  for (Operation *op : llvm::reverse(cmtOps)) {
    if (!op->use_empty())
      return op->emitOpError("is still used after lowering (used outside @forward's body?)");
    op->erase();
  }
  return success();
}

namespace {
struct ConvertCMTToLinalgPass : cmt::impl::ConvertCMTToLinalgBase<ConvertCMTToLinalgPass> {
  using ConvertCMTToLinalgBase::ConvertCMTToLinalgBase;
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    if (!func.getBody().hasOneBlock()) {
      func.emitError("convert-cmt-to-linalg expects a function of one block");
      return signalPassFailure();
    }
    Lowering lowering(func, gatherWindows, syncBatchNorm, fuseAttention, rowStats);
    if (failed(lowering.run()))
      signalPassFailure();
  }
};
} // namespace
