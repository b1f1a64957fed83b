//===- TrainToLinalg.cpp - gradient and optimizer ops -> linalg -*- C++ -*-===//
//
// The backward half of convert-cmt-to-linalg. Layouts are the forward's:
// images NHWC (channels last), tokens (B, N, C), weights as given. Products
// are written as the `init + a * b` contractions that
// convert-linalg-to-ukernels sends to the GEMM kernel; a result that nothing
// uses is not computed at all.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"

#include "runtime/train_hyper.h"
#include <cmath>

using namespace mlir;
using namespace cmt;
using namespace cmt::detail;

namespace {
Value fconst(OpBuilder &b, Location l, double v) {
  return arith::ConstantOp::create(b, l, b.getF32FloatAttr(v));
}
} // namespace

//===----------------------------------------------------------------------===//
// Convolution
//===----------------------------------------------------------------------===//

/// The input gradient of a dense or depthwise convolution whose output
/// gradient (NHWC) is `dy`, for the two shapes CMT differentiates through:
/// stride 1 (depthwise: a convolution of dy; dense: a gather of the taps that
/// read each input position), and non-overlapping patches (stride = kernel,
/// no padding: a reshape).
Value Lowering::conv2dInputGrad(Conv2DGradOp op, Value dy, Value w) {
  // The input itself is not read: only its shape (NCHW) matters.
  ArrayRef<int64_t> xs = shapeOf(op.getInput()), ws = shapeOf(w), ys = shapeOf(dy);
  int64_t n = xs[0], C = xs[1], H = xs[2], W = xs[3], kh = ws[2], kw = ws[3];
  int64_t oh = ys[1], ow = ys[2];
  ArrayRef<int64_t> strides = op.getStrides(), padding = op.getPadding();
  bool depthwise = op.getGroups() > 1;
  bool stride1 = strides[0] == 1 && strides[1] == 1 && padding[0] < kh && padding[1] < kw;
  bool patchwise = strides[0] == kh && strides[1] == kw && padding[0] == 0 && padding[1] == 0;
  if (!stride1 && !patchwise) {
    op.emitOpError("input gradient of a convolution with strides [")
        << strides[0] << ", " << strides[1] << "], kernel " << kh << "x" << kw << " and padding ["
        << padding[0] << ", " << padding[1]
        << "] is not implemented (stride 1, or stride = kernel without padding)";
    return {};
  }
  AffineExpr d[6];
  for (unsigned i = 0; i < 6; ++i)
    d[i] = b.getAffineDimExpr(i);
  if (depthwise && stride1) {
    // Input position i is read through tap p by output i + pad - p: dx is the
    // depthwise convolution of dy by the flipped kernel, padded by
    // kernel - 1 - pad. One pass over dy, where the taps below are nine.
    AffineMap flip = map(4, {d[0], d[1], b.getAffineConstantExpr(kh - 1) - d[2],
                             b.getAffineConstantExpr(kw - 1) - d[3]});
    Value flipped = generic({w}, empty(ws), {flip, identity(4)}, {kPar, kPar, kPar, kPar},
                            [](OpBuilder &, Location, ValueRange a) { return a[0]; });
    return this->depthwise(dy, flipped, Value(), {n, H, W, C}, {1, 1},
                           {kh - 1 - padding[0], kw - 1 - padding[1]});
  }
  // Each output tap's contribution, (n, oh, ow, c, kh, kw): for a depthwise
  // convolution dy (n, oh, ow, c) * w (c, kh, kw); dense: the product dy W.
  Value taps;
  if (depthwise) {
    Value wt = collapse(w, {{0, 1}, {2}, {3}}); // (C, kh, kw)
    taps = generic({dy, wt}, empty({n, oh, ow, C, kh, kw}),
                   {dims(6, {0, 1, 2, 3}), dims(6, {3, 4, 5}), identity(6)},
                   SmallVector<IteratorType>(6, kPar),
                   [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                     return arith::MulFOp::create(nb, l, a[0], a[1]);
                   });
  } else {
    Value rows = collapse(dy, {{0, 1, 2}, {3}});            // (R, O)
    Value wmat = collapse(w, {{0}, {1, 2, 3}});             // (O, C kh kw)
    Value prod = contraction(rows, dims(3, {0, 2}), wmat, dims(3, {2, 1}),
                             filled({n * oh * ow, C * kh * kw}, 0.0), dims(3, {0, 1}),
                             {kPar, kPar, kRed});
    taps = expand(prod, {n, oh, ow, C, kh, kw}, {{0, 1, 2}, {3, 4, 5}});
  }
  if (patchwise) {
    // Input position (oh * kh + i, ow * kw + j) is read by exactly one tap.
    Value t = transpose(taps, {0, 1, 4, 2, 5, 3}); // (n, oh, kh, ow, kw, c)
    Value dx = collapse(t, {{0}, {1, 2}, {3, 4}, {5}});
    // Rows and columns past the last full patch were never read.
    return padDims(dx, {0, 0, 0, 0}, {0, H - oh * kh, W - ow * kw, 0});
  }
  // Stride 1: dx (n, i, j, c) = sum over (p, q) of taps (n, i + pad - p, j + pad - q, c, p, q),
  // read from taps padded by kernel - 1 - pad so that every index is in range.
  int64_t qh = kh - 1 - padding[0], qw = kw - 1 - padding[1];
  Value padded = padDims(taps, {0, qh, qw, 0, 0, 0}, {0, qh, qw, 0, 0, 0});
  AffineMap read = map(6, {d[0], d[1] - d[4] + (kh - 1), d[2] - d[5] + (kw - 1), d[3], d[4], d[5]});
  return generic({padded}, filled({n, H, W, C}, 0.0), {read, dims(6, {0, 1, 2, 3})},
                 {kPar, kPar, kPar, kPar, kRed, kRed},
                 [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                   return arith::AddFOp::create(nb, l, a[1], a[0]);
                 });
}

LogicalResult Lowering::lower(Conv2DGradOp op) {
  Value dy = image(op.getDy()), w = plain(op.getWeight());
  ArrayRef<int64_t> ws = shapeOf(w), ys = shapeOf(dy);
  int64_t outC = ws[0], kh = ws[2], kw = ws[3];
  int64_t groups = op.getGroups();
  int64_t inC = shapeOf(op.getInput())[1];
  bool depthwise = groups == inC && outC == inC && groups > 1;
  if (groups != 1 && !depthwise)
    return op.emitOpError("gradients of grouped convolutions other than depthwise are not "
                          "implemented, got groups = ")
           << groups;
  ArrayRef<int64_t> strides = op.getStrides(), padding = op.getPadding();

  if (!op.getDbias().use_empty())
    lowered[op.getDbias()] = reduceSum(dy, {3});

  if (!op.getDweight().use_empty()) {
    Value x = image(op.getInput()), dw;
    if (depthwise) {
      // (kh, kw, n, oh, ow, c): channels innermost, as in the forward.
      Value padded = pad(x, padding[0], padding[1]);
      AffineExpr d0 = b.getAffineDimExpr(0), d1 = b.getAffineDimExpr(1),
                 d2 = b.getAffineDimExpr(2), d3 = b.getAffineDimExpr(3),
                 d4 = b.getAffineDimExpr(4), d5 = b.getAffineDimExpr(5);
      AffineMap in = map(6, {d2, d3 * strides[0] + d0, d4 * strides[1] + d1, d5});
      Value sums = contraction(padded, in, dy, dims(6, {2, 3, 4, 5}), filled({kh, kw, inC}, 0.0),
                               dims(6, {0, 1, 5}), {kPar, kPar, kRed, kRed, kRed, kPar});
      dw = expand(transpose(sums, {2, 0, 1}), {inC, 1, kh, kw}, {{0, 1}, {2}, {3}});
    } else {
      // dW (O, C kh kw) = dy^T (O, R) x patches (R, C kh kw).
      Value rows = collapse(dy, {{0, 1, 2}, {3}});
      bool pointwise = kh == 1 && kw == 1 && strides[0] == 1 && strides[1] == 1 &&
                       padding[0] == 0 && padding[1] == 0;
      Value cols = pointwise ? collapse(x, {{0, 1, 2}, {3}})
                             : collapse(patches(x, {kh, kw}, strides, padding, {ys[1], ys[2]}),
                                        {{0, 1, 2}, {3, 4, 5}});
      int64_t k = shapeOf(cols)[1];
      Value dwmat = contraction(rows, dims(3, {2, 0}), cols, dims(3, {2, 1}), filled({outC, k}, 0.0),
                                dims(3, {0, 1}), {kPar, kPar, kRed});
      dw = expand(dwmat, {outC, inC, kh, kw}, {{0}, {1, 2, 3}});
    }
    setOwnLayout(op.getDweight(), dw);
  }

  if (!op.getDinput().use_empty()) {
    Value dx = conv2dInputGrad(op, dy, w);
    if (!dx)
      return failure();
    lowered[op.getDinput()] = dx;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// Normalisations and activations
//===----------------------------------------------------------------------===//

LogicalResult Lowering::lower(BatchNormGradOp op) {
  Value x = operand(op.getInput()), dy = operand(op.getDy());
  ArrayRef<int64_t> shape = shapeOf(x);
  unsigned rank = shape.size();
  unsigned channel = isImage(op.getInput()) ? rank - 1 : 1;
  double eps = op.getEps().convertToDouble();
  AffineMap id = identity(rank), chan = dims(rank, {channel}), id1 = identity(1);
  auto [mean, sq, count] = channelStats(x, channel);
  SmallVector<Value> ins = {sq};
  SmallVector<AffineMap> maps = {id1};
  withCount(count, ins, maps, 1);
  Value rstd = elementwise(ins, maps, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value var = arith::DivFOp::create(nb, l, a[0], count.in(nb, l, a));
    return math::RsqrtOp::create(nb, l, arith::AddFOp::create(nb, l, var, fconst(nb, l, eps)));
  });
  SmallVector<IteratorType> its(rank, kRed);
  its[channel] = kPar;
  Value sumDy = reduceSum(dy, {channel});
  // sum(dy * xhat) = rstd * sum(dy * (x - mean))
  Value sumDyXc = generic({dy, x, mean}, filled({shape[channel]}, 0.0), {id, id, chan, chan}, its,
                          [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                            Value xc = arith::SubFOp::create(nb, l, a[1], a[2]);
                            return arith::AddFOp::create(nb, l, a[3], arith::MulFOp::create(nb, l, a[0], xc));
                          });
  auto times = [&](Value v, Value r) {
    return elementwise({v, r}, {id1, id1}, [](OpBuilder &nb, Location l, ValueRange a) -> Value {
      return arith::MulFOp::create(nb, l, a[0], a[1]);
    });
  };
  // The weight and bias gradients are this rank's (data parallelism averages
  // them later); the input's gradient needs the sums over the whole batch,
  // every rank's under synchronised batch norm (as PyTorch's SyncBatchNorm).
  lowered[op.getDweight()] = times(sumDyXc, rstd);
  lowered[op.getDbias()] = sumDy;
  if (!op.getDinput().use_empty()) {
    Value allSumDy = syncSum(sumDy), allSumDyXhat = times(syncSum(sumDyXc), rstd);
    SmallVector<Value> ins = {dy, x, mean, rstd, op.getWeight(), allSumDy, allSumDyXhat};
    SmallVector<AffineMap> maps = {id, id, chan, chan, chan, chan, chan};
    withCount(count, ins, maps, rank);
    lowered[op.getDinput()] = elementwise(ins, maps, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
      // w * rstd * (dy - sum(dy) / M - xhat * sum(dy * xhat) / M)
      Value inv = count.global ? arith::DivFOp::create(nb, l, fconst(nb, l, 1.0), a.back()).getResult()
                               : fconst(nb, l, 1.0 / count.local);
      Value xhat = arith::MulFOp::create(nb, l, arith::SubFOp::create(nb, l, a[1], a[2]), a[3]);
      Value t = arith::SubFOp::create(nb, l, a[0], arith::MulFOp::create(nb, l, a[5], inv));
      Value u = arith::MulFOp::create(nb, l, xhat, arith::MulFOp::create(nb, l, a[6], inv));
      Value scale = arith::MulFOp::create(nb, l, a[4], a[3]);
      return arith::MulFOp::create(nb, l, scale, arith::SubFOp::create(nb, l, t, u));
    });
  }
  return success();
}

LogicalResult Lowering::lower(LayerNormGradOp op) {
  Value x = operand(op.getInput()), dy = operand(op.getDy()), w = op.getWeight();
  ArrayRef<int64_t> shape = shapeOf(x);
  unsigned rank = shape.size();
  double width = static_cast<double>(shape.back()), eps = op.getEps().convertToDouble();
  SmallVector<unsigned> rowDims;
  for (unsigned i = 0; i + 1 < rank; ++i)
    rowDims.push_back(i);
  SmallVector<int64_t> rowShape(shape.drop_back());
  AffineMap id = identity(rank), row = dims(rank, rowDims), last = dims(rank, {rank - 1});
  SmallVector<IteratorType> reduceRow(rank, kPar);
  reduceRow.back() = kRed;
  auto [sum, sq] = rowStats(x);
  auto xhat = [&](OpBuilder &nb, Location l, Value xv, Value s, Value q) -> Value {
    return layerNormXhat(nb, l, xv, s, q, width, eps).second;
  };
  if (!op.getDweight().use_empty()) {
    SmallVector<IteratorType> its(rank, kRed);
    its.back() = kPar;
    lowered[op.getDweight()] =
        generic({dy, x, sum, sq}, filled({shape.back()}, 0.0), {id, id, row, row, last}, its,
                [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                  Value p = arith::MulFOp::create(nb, l, a[0], xhat(nb, l, a[1], a[2], a[3]));
                  return arith::AddFOp::create(nb, l, a[4], p);
                });
  }
  if (!op.getDbias().use_empty())
    lowered[op.getDbias()] = reduceSum(dy, {rank - 1});
  if (!op.getDinput().use_empty()) {
    // g = dy * w; dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    Value sumG = generic({dy, w}, filled(rowShape, 0.0), {id, last, row}, reduceRow,
                         [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                           return arith::AddFOp::create(nb, l, a[2], arith::MulFOp::create(nb, l, a[0], a[1]));
                         });
    Value sumGX = generic({dy, w, x, sum, sq}, filled(rowShape, 0.0), {id, last, id, row, row, row},
                          reduceRow, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                            Value g = arith::MulFOp::create(nb, l, a[0], a[1]);
                            Value p = arith::MulFOp::create(nb, l, g, xhat(nb, l, a[2], a[3], a[4]));
                            return arith::AddFOp::create(nb, l, a[5], p);
                          });
    lowered[op.getDinput()] = elementwise(
        {dy, w, x, sum, sq, sumG, sumGX}, {id, last, id, row, row, row, row},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value inv = fconst(nb, l, 1.0 / width);
          auto [rstd, xh] = layerNormXhat(nb, l, a[2], a[3], a[4], width, eps);
          Value g = arith::MulFOp::create(nb, l, a[0], a[1]);
          Value t = arith::SubFOp::create(nb, l, g, arith::MulFOp::create(nb, l, a[5], inv));
          Value u = arith::MulFOp::create(nb, l, xh, arith::MulFOp::create(nb, l, a[6], inv));
          return arith::MulFOp::create(nb, l, rstd, arith::SubFOp::create(nb, l, t, u));
        });
  }
  return success();
}

LogicalResult Lowering::lower(GeluGradOp op) {
  Value dy = operand(op.getDy()), x = operand(op.getInput());
  AffineMap id = identity(shapeOf(x).size());
  lowered[op] = elementwise({dy, x}, {id, id}, [](OpBuilder &nb, Location l, ValueRange a) -> Value {
    // d/dx x Phi(x) = Phi(x) + x phi(x)
    Value cdf = arith::MulFOp::create(
        nb, l, fconst(nb, l, 0.5),
        arith::AddFOp::create(nb, l, fconst(nb, l, 1.0),
                              math::ErfOp::create(nb, l, arith::MulFOp::create(nb, l, a[1], fconst(nb, l, M_SQRT1_2)))));
    Value sq = arith::MulFOp::create(nb, l, a[1], a[1]);
    Value pdf = arith::MulFOp::create(
        nb, l, fconst(nb, l, 0.5 * M_2_SQRTPI * M_SQRT1_2),
        math::ExpOp::create(nb, l, arith::MulFOp::create(nb, l, sq, fconst(nb, l, -0.5))));
    Value d = arith::AddFOp::create(nb, l, cdf, arith::MulFOp::create(nb, l, a[1], pdf));
    return arith::MulFOp::create(nb, l, a[0], d);
  });
  return success();
}

LogicalResult Lowering::lower(SwishGradOp op) {
  Value dy = operand(op.getDy()), x = operand(op.getInput());
  AffineMap id = identity(shapeOf(x).size());
  lowered[op] = elementwise({dy, x}, {id, id}, [](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value one = fconst(nb, l, 1.0);
    Value e = math::ExpOp::create(nb, l, arith::NegFOp::create(nb, l, a[1]));
    Value s = arith::DivFOp::create(nb, l, one, arith::AddFOp::create(nb, l, one, e));
    // s (1 + x (1 - s))
    Value t = arith::MulFOp::create(nb, l, a[1], arith::SubFOp::create(nb, l, one, s));
    Value d = arith::MulFOp::create(nb, l, s, arith::AddFOp::create(nb, l, one, t));
    return arith::MulFOp::create(nb, l, a[0], d);
  });
  return success();
}

LogicalResult Lowering::lower(GlobalAvgPoolGradOp op) {
  Value dy = plain(op.getDy());
  ArrayRef<int64_t> nchw = cast<RankedTensorType>(op.getType()).getShape();
  double inv = 1.0 / static_cast<double>(nchw[2] * nchw[3]);
  lowered[op] = generic({dy}, empty({nchw[0], nchw[2], nchw[3], nchw[1]}),
                        {dims(4, {0, 3}), identity(4)}, {kPar, kPar, kPar, kPar},
                        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                          return arith::MulFOp::create(nb, l, a[0], fconst(nb, l, inv));
                        });
  return success();
}

//===----------------------------------------------------------------------===//
// Products
//===----------------------------------------------------------------------===//

LogicalResult Lowering::lower(LinearGradOp op) {
  Value x = plain(op.getInput()), dy = plain(op.getDy()), w = plain(op.getWeight());
  ArrayRef<int64_t> s = shapeOf(x);
  if (s.size() < 2)
    return op.emitOpError("the lowering needs an input of rank >= 2");
  ReassociationIndices lead;
  for (unsigned i = 0; i + 1 < s.size(); ++i)
    lead.push_back(i);
  SmallVector<ReassociationIndices> groups = {lead, {static_cast<int64_t>(s.size() - 1)}};
  Value xr = s.size() == 2 ? x : collapse(x, groups);
  Value dyr = s.size() == 2 ? dy : collapse(dy, groups);
  int64_t rows = shapeOf(xr)[0], in = s.back(), out = shapeOf(w)[0];
  if (!op.getDinput().use_empty()) {
    // dx (R, in) = dy (R, out) W (out, in)
    Value dx = contraction(dyr, dims(3, {0, 2}), w, dims(3, {2, 1}), filled({rows, in}, 0.0),
                           dims(3, {0, 1}), {kPar, kPar, kRed});
    lowered[op.getDinput()] = s.size() == 2 ? dx : expand(dx, s, groups);
  }
  if (!op.getDweight().use_empty())
    lowered[op.getDweight()] = contraction(dyr, dims(3, {2, 0}), xr, dims(3, {2, 1}),
                                           filled({out, in}, 0.0), dims(3, {0, 1}),
                                           {kPar, kPar, kRed});
  if (!op.getDbias().use_empty())
    lowered[op.getDbias()] = reduceSum(dyr, {1});
  return success();
}

LogicalResult Lowering::lower(AttentionGradOp op) {
  // The probabilities recomputed as the forward computes them.
  double scale = op.getScale().convertToDouble();
  Heads h = attentionHeads(op.getQuery(), op.getKey(), op.getValue(), op.getBias(), op.getHeads(), scale);
  Value qh = h.q, kh = h.k, vh = h.v, p = h.p;
  ArrayRef<int64_t> hs = shapeOf(qh);
  int64_t batch = hs[0], n = hs[1], heads = hs[2], d = hs[3], m = shapeOf(kh)[1];
  SmallVector<ReassociationIndices> split = {{0}, {1}, {2, 3}};
  AffineMap id4 = identity(4), rowMap = dims(4, {0, 1, 2});
  SmallVector<IteratorType> reduce = {kPar, kPar, kPar, kRed};
  Value dyh = expand(plain(op.getDy()), {batch, n, heads, d}, split);
  SmallVector<IteratorType> its5 = {kPar, kPar, kPar, kPar, kRed};

  // dv (b, m, h, k) = sum_n p (b, h, n, m) dy (b, n, h, k); dims b h m k n
  if (!op.getDvalue().use_empty()) {
    Value dv = contraction(p, dims(5, {0, 1, 4, 2}), dyh, dims(5, {0, 4, 1, 3}),
                           filled({batch, m, heads, d}, 0.0), dims(5, {0, 2, 1, 3}), its5);
    lowered[op.getDvalue()] = collapse(dv, split);
  }
  // dp (b, h, n, m) = sum_k dy (b, n, h, k) v (b, m, h, k); ds = p (dp - rowsum(dp p))
  Value dp = contraction(dyh, dims(5, {0, 2, 1, 4}), vh, dims(5, {0, 3, 1, 4}),
                         filled({batch, heads, n, m}, 0.0), dims(5, {0, 1, 2, 3}), its5);
  Value rowDot = generic({dp, p}, filled({batch, heads, n}, 0.0), {id4, id4, rowMap}, reduce,
                         [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                           return arith::AddFOp::create(nb, l, a[2], arith::MulFOp::create(nb, l, a[0], a[1]));
                         });
  Value ds = elementwise({p, dp, rowDot}, {id4, id4, rowMap},
                         [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                           return arith::MulFOp::create(nb, l, a[0], arith::SubFOp::create(nb, l, a[1], a[2]));
                         });
  // dq (b, n, h, k) = sum_m ds (b, h, n, m) key*scale (b, m, h, k); dims b h n k m
  if (!op.getDquery().use_empty()) {
    Value dq = contraction(ds, dims(5, {0, 1, 2, 4}), kh, dims(5, {0, 4, 1, 3}),
                           filled({batch, n, heads, d}, 0.0), dims(5, {0, 2, 1, 3}), its5);
    lowered[op.getDquery()] = collapse(dq, split);
  }
  // dk (b, m, h, k) = scale * sum_n ds (b, h, n, m) q (b, n, h, k); dims b h m k n
  if (!op.getDkey().use_empty()) {
    Value dk = contraction(ds, dims(5, {0, 1, 4, 2}), qh, dims(5, {0, 4, 1, 3}),
                           filled({batch, m, heads, d}, 0.0), dims(5, {0, 2, 1, 3}), its5);
    lowered[op.getDkey()] = scaled(collapse(dk, split), scale);
  }
  if (!op.getDbias().use_empty())
    lowered[op.getDbias()] = reduceSum(ds, {1, 2, 3});
  return success();
}

LogicalResult Lowering::lower(DropoutOp op) {
  Value x = operand(op.getInput()), u = operand(op.getUniform());
  double rate = op.getRate().convertToDouble();
  AffineMap id = identity(shapeOf(x).size());
  // PyTorch scales by 1 / (1 - p) rounded to float.
  lowered[op] = elementwise({x, u}, {id, id}, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value keep = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGE, a[1], fconst(nb, l, rate));
    Value kept = arith::MulFOp::create(nb, l, a[0], fconst(nb, l, 1.0 / (1.0 - rate)));
    return arith::SelectOp::create(nb, l, keep, kept, fconst(nb, l, 0.0));
  });
  return success();
}

LogicalResult Lowering::lower(DropPathOp op) {
  Value x = operand(op.getInput());
  unsigned rank = shapeOf(x).size();
  double scale = op.getScale().convertToDouble();
  lowered[op] = elementwise({x, plain(op.getUniform()), plain(op.getRate())},
                            {identity(rank), dims(rank, {0}), scalarMap(rank)},
                            [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                              Value p = arith::MulFOp::create(nb, l, a[2], fconst(nb, l, scale));
                              Value keep = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGE, a[1], p);
                              Value kept = arith::DivFOp::create(
                                  nb, l, a[0], arith::SubFOp::create(nb, l, fconst(nb, l, 1.0), p));
                              return arith::SelectOp::create(nb, l, keep, kept, fconst(nb, l, 0.0));
                            });
  if (ownLayout.contains(op.getInput()))
    ownLayout.insert(op);
  return success();
}

//===----------------------------------------------------------------------===//
// Loss
//===----------------------------------------------------------------------===//

LogicalResult Lowering::lower(CrossEntropyGradOp op) {
  Value x = plain(op.getLogits()), labels = op.getLabels(), smoothing = plain(op.getLabelSmoothing());
  ArrayRef<int64_t> s = shapeOf(x);
  int64_t batch = s[0], classes = s[1];
  auto [max, sumExp] = softmaxStats(x);
  AffineMap id = identity(2), row = dims(2, {0}), one = scalarMap(2);
  SmallVector<Value> ins = {x, labels, max, sumExp, smoothing, plain(op.getDloss())};
  SmallVector<AffineMap> maps = {id, labelMap(labels), row, row, one, one};
  // d/dx of mass x logsumexp - sum_c t[c] x[c] is mass x softmax - t.
  if (Value mass = targetMass(labels, smoothing, batch, classes)) {
    ins.push_back(mass);
    maps.push_back(row);
  }
  lowered[op] = elementwise(ins, maps, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
    Value target = smoothedTarget(nb, l, a[1], a[4], classes);
    Value e = math::ExpOp::create(nb, l, arith::SubFOp::create(nb, l, a[0], a[2]));
    Value prob = arith::DivFOp::create(nb, l, e, a[3]);
    if (a.size() == 7)
      prob = arith::MulFOp::create(nb, l, prob, a[6]);
    Value scale = arith::DivFOp::create(nb, l, a[5], fconst(nb, l, static_cast<double>(batch)));
    return arith::MulFOp::create(nb, l, scale, arith::SubFOp::create(nb, l, prob, target));
  });
  return success();
}

//===----------------------------------------------------------------------===//
// Optimizer
//===----------------------------------------------------------------------===//

namespace {
/// Scalar arithmetic on f32 values, for the few per-step numbers.
struct Scalars {
  OpBuilder &b;
  Location loc;
  Value c(double v) { return fconst(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinimumFOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaximumFOp::create(b, loc, x, y); }
  Value lt(Value x, Value y) { return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x, y); }
  Value gt(Value x, Value y) { return arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, y); }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(b, loc, c, x, y); }
  Value pow(Value x, Value y) { return math::PowFOp::create(b, loc, x, y); }
  Value toF32(Value i64) { return arith::SIToFPOp::create(b, loc, b.getF32Type(), i64); }
};
} // namespace

LogicalResult Lowering::lower(LearningRateOp op) {
  using namespace cmt::train;
  Value hyper = op.getHyper();
  SmallVector<Value> ins = {plain(op.getStep())};
  for (int i : {kLr, kMinLr, kWarmupSteps, kScheduleSteps, kCosine})
    ins.push_back(element(hyper, i));
  lowered[op] = scalarGeneric(ins, 1, [](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
    Scalars s{nb, l};
    Value step = s.toF32(a[0]), lr = a[1], minLr = a[2], warmup = a[3], total = a[4], cosine = a[5];
    Value warm = s.div(s.mul(lr, s.add(step, s.c(1.0))), s.max(warmup, s.c(1.0)));
    Value span = s.max(s.sub(total, warmup), s.c(1.0));
    Value t = s.min(s.max(s.div(s.sub(step, warmup), span), s.c(0.0)), s.c(1.0));
    Value cos = math::CosOp::create(nb, l, s.mul(t, s.c(M_PI)));
    Value decayed = s.add(minLr, s.mul(s.mul(s.sub(lr, minLr), s.c(0.5)), s.add(s.c(1.0), cos)));
    Value after = s.select(s.gt(cosine, s.c(0.5)), decayed, lr);
    return {s.select(s.lt(step, warmup), warm, after)};
  })[0];
  return success();
}

LogicalResult Lowering::lower(GlobalNormOp op) {
  // Rows first (parallel over the leading dimension), then one sum of the
  // partial sums: a full reduction of a large tensor in one pass would run
  // on a single GPU thread.
  Value acc = filled({}, 0.0);
  for (Value t : op.getTensors()) {
    Value v = plain(t); // the layout does not change a sum of squares
    ArrayRef<int64_t> shape = shapeOf(v);
    if (shape.size() >= 2) {
      SmallVector<ReassociationIndices> groups = {{0}, {}};
      for (unsigned d = 1; d < shape.size(); ++d)
        groups[1].push_back(d);
      v = collapse(v, groups);
      v = generic({v}, filled({shape[0]}, 0.0), {identity(2), dims(2, {0})}, {kPar, kRed},
                  [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                    return arith::AddFOp::create(nb, l, a[1], arith::MulFOp::create(nb, l, a[0], a[0]));
                  });
      acc = generic({v}, acc, {identity(1), scalarMap(1)}, {kRed},
                    [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                      return arith::AddFOp::create(nb, l, a[1], a[0]);
                    });
      continue;
    }
    unsigned rank = shape.size();
    acc = generic({v}, acc, {identity(rank), scalarMap(rank)}, SmallVector<IteratorType>(rank, kRed),
                  [](OpBuilder &nb, Location l, ValueRange a) -> Value {
                    return arith::AddFOp::create(nb, l, a[1], arith::MulFOp::create(nb, l, a[0], a[0]));
                  });
  }
  lowered[op] = scalarGeneric({acc}, 1, [](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
    return {math::SqrtOp::create(nb, l, a[0])};
  })[0];
  return success();
}

/// clip scale, 1 - lr * wd, lr / (1 - b1^t), sqrt(1 - b2^t), and the
/// hyper-parameters the update reads (wd, b1, b2, eps, momentum, lr, flags).
SmallVector<Value> Lowering::optimizerCoefficients(OptimizerStepOp op) {
  using namespace cmt::train;
  auto key = std::make_tuple(op.getLr(), op.getNorm(), op.getStep(), op.getHyper(), unsigned(op.getDecay()));
  auto it = coefficients.find(key);
  if (it != coefficients.end())
    return it->second;
  Value hyper = op.getHyper();
  SmallVector<Value> ins = {plain(op.getLr()), plain(op.getNorm()), plain(op.getStep())};
  for (int i : {kClipNorm, kWeightDecay, kBeta1, kBeta2, kEps, kMomentum, kOptimizer, kNesterov})
    ins.push_back(element(hyper, i));
  bool decay = op.getDecay();
  SmallVector<Value> c = scalarGeneric(ins, 11, [&](OpBuilder &nb, Location l, ValueRange a) -> SmallVector<Value> {
    Scalars s{nb, l};
    Value lr = a[0], norm = a[1], t = s.add(s.toF32(a[2]), s.c(1.0)), clip = a[3];
    Value wd = decay ? a[4] : s.c(0.0);
    Value beta1 = a[5], beta2 = a[6];
    Value clipScale = s.select(s.gt(clip, s.c(0.0)), s.min(s.c(1.0), s.div(clip, s.add(norm, s.c(1e-6)))), s.c(1.0));
    Value shrink = s.sub(s.c(1.0), s.mul(lr, wd));
    Value stepSize = s.div(lr, s.sub(s.c(1.0), s.pow(beta1, t)));
    Value sqrtBc2 = math::SqrtOp::create(nb, l, s.sub(s.c(1.0), s.pow(beta2, t)));
    return {clipScale, shrink, stepSize, sqrtBc2, wd, beta1, beta2, a[7], a[8], a[9], a[10]};
  });
  c.push_back(plain(op.getLr()));
  coefficients[key] = c;
  return c;
}

LogicalResult Lowering::lower(OptimizerStepOp op) {
  using namespace cmt::train;
  SmallVector<Value> c = optimizerCoefficients(op);
  // The parameter's own layout throughout: p, g, m and v are read alike.
  Value p = plain(op.getParam()), g = plain(op.getGrad()), m = plain(op.getM()), v = plain(op.getV());
  unsigned rank = shapeOf(p).size();
  AffineMap id = identity(rank), one = scalarMap(rank);
  SmallVector<Value> ins = {p, g, m, v};
  ins.append(c);
  SmallVector<AffineMap> maps(4, id);
  maps.append(c.size(), one);
  maps.append(3, id);
  auto type = p.getType();
  auto update = linalg::GenericOp::create(
      b, loc, TypeRange{type, type, type}, ins,
      ValueRange{empty(shapeOf(p)), empty(shapeOf(p)), empty(shapeOf(p))}, maps,
      SmallVector<IteratorType>(rank, kPar), [&](OpBuilder &nb, Location l, ValueRange a) {
        Scalars e{nb, l};
        Value clipScale = a[4], shrink = a[5], stepSize = a[6], sqrtBc2 = a[7], wd = a[8], beta1 = a[9],
              beta2 = a[10], eps = a[11], momentum = a[12], lr = a[15];
        Value isSgd = e.gt(a[13], e.c(0.5)), nesterov = e.gt(a[14], e.c(0.5));
        Value param = a[0], grad = e.mul(a[1], clipScale), mv = a[2], vv = a[3];
        // AdamW
        Value m1 = e.add(e.mul(beta1, mv), e.mul(e.sub(e.c(1.0), beta1), grad));
        Value v1 = e.add(e.mul(beta2, vv), e.mul(e.sub(e.c(1.0), beta2), e.mul(grad, grad)));
        Value denom = e.add(e.div(math::SqrtOp::create(nb, l, v1), sqrtBc2), eps);
        Value adam = e.sub(e.mul(param, shrink), e.mul(stepSize, e.div(m1, denom)));
        // SGD with momentum (L2 weight decay, as torch.optim.SGD)
        Value gd = e.add(grad, e.mul(wd, param));
        Value buf = e.add(e.mul(momentum, mv), gd);
        Value dir = e.select(nesterov, e.add(gd, e.mul(momentum, buf)), buf);
        Value sgd = e.sub(param, e.mul(lr, dir));
        linalg::YieldOp::create(nb, l, ValueRange{e.select(isSgd, sgd, adam), e.select(isSgd, buf, m1),
                                                  e.select(isSgd, vv, v1)});
      });
  for (unsigned i = 0; i < 3; ++i) {
    if (rank == 4)
      setOwnLayout(op->getResult(i), update.getResult(i));
    else
      lowered[op->getResult(i)] = update.getResult(i);
  }
  return success();
}
