//===- FusedAttention.cpp - row-wise work as one loop nest ------*- C++ -*-===//
//
// The unfused lowering (CMTToLinalg.cpp) writes the scores (b, h, n, m) and
// passes over them five times: bias, product, maximum, sum, probabilities.
// Keys and values are few (CMT reduces them spatially: m is 49 at 224 x 224),
// so a query row's m scores fit in a private array and the whole attention
// of a row can be one loop iteration: the scores never reach memory.
//
// A layer norm's two row sums (the mean's, then the centred squares') are
// two kernels as linalg reductions, each reading the row from memory; as
// one loop iteration per row they are one kernel, the second pass reading
// what the first brought into cache.
//
//===----------------------------------------------------------------------===//
#include "Lowering.h"
#include "cmt/Transforms/Utils/Lanes.h"
#include "cmt/Transforms/Utils/Narrowable.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace cmt;
using namespace cmt::detail;

static Value indexConstant(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

/// A read-only view of `t`'s buffer for hand-written loops, with a fully
/// dynamic layout: whatever layout bufferization gives `t`, it casts to this.
Value Lowering::readBuffer(Value t) {
  auto type = cast<RankedTensorType>(t.getType());
  SmallVector<int64_t> strides(type.getRank(), ShapedType::kDynamic);
  auto layout = StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, strides);
  auto memref = MemRefType::get(type.getShape(), type.getElementType(), layout);
  return bufferization::ToBufferOp::create(b, loc, memref, t, /*read_only=*/true);
}

/// One scf.parallel iteration per query row (b, n, h); the loops over the
/// head's d channels are marked as lane loops, for one warp per row on the
/// GPU (Lanes.h):
///
///   s[j] = scale * (q . k_j) + bias[h, n, j]    (a sum over channels)
///   s[j] = exp(s[j] - max s), sum += s[j]
///   out[c] = (sum_j s[j] v[j, c]) / sum          (a loop over channels)
///
/// The result is the same as the unfused lowering's up to rounding (the
/// scale multiplies the dot product here, the keys there).
LogicalResult Lowering::fusedAttention(AttentionOp op) {
  Value q = plain(op.getQuery()), k = plain(op.getKey()), v = plain(op.getValue());
  Value bias = plain(op.getBias());
  ArrayRef<int64_t> qs = shapeOf(q);
  int64_t batch = qs[0], n = qs[1], heads = op.getHeads(), d = qs[2] / heads, m = shapeOf(k)[1];
  float scale = static_cast<float>(op.getScale().convertToDouble());

  Value qb = readBuffer(q), kb = readBuffer(k), vb = readBuffer(v), biasb = readBuffer(bias);
  Value out = memref::AllocOp::create(b, loc, MemRefType::get(qs, f32()));
  out.getDefiningOp()->setAttr(kNarrowableAttr, b.getUnitAttr());
  auto cidx = [&](OpBuilder &nb, int64_t x) { return indexConstant(nb, loc, x); };
  auto cf = [&](OpBuilder &nb, double x) -> Value {
    return arith::ConstantOp::create(nb, loc, nb.getF32FloatAttr(static_cast<float>(x)));
  };
  Value zero = cidx(b, 0), one = cidx(b, 1);
  scf::ParallelOp::create(
      b, loc, ValueRange{zero, zero, zero}, ValueRange{cidx(b, batch), cidx(b, n), cidx(b, heads)},
      ValueRange{one, one, one}, [&](OpBuilder &pb, Location l, ValueRange ivs) {
        Value bi = ivs[0], ni = ivs[1], hi = ivs[2];
        // The private array is freed per row: on the CPU the rows are loop
        // iterations of one stack frame.
        auto scope = memref::AllocaScopeOp::create(pb, l, TypeRange{});
        OpBuilder sb = OpBuilder::atBlockBegin(&scope.getBodyRegion().emplaceBlock());
        Value s = memref::AllocaOp::create(sb, l, MemRefType::get({m}, f32()));
        Value base = arith::MulIOp::create(sb, l, hi, cidx(sb, d));
        Value c0 = cidx(sb, 0), c1 = cidx(sb, 1), mEnd = cidx(sb, m), dEnd = cidx(sb, d);
        auto lanes = [&](scf::ForOp loop) {
          loop->setAttr(kLanesAttr, sb.getUnitAttr());
          return loop;
        };

        auto scores = scf::ForOp::create(
            sb, l, c0, mEnd, c1, ValueRange{cf(sb, -INFINITY)},
            [&](OpBuilder &fb, Location fl, Value j, ValueRange iter) {
              auto dot = lanes(scf::ForOp::create(
                  fb, fl, c0, dEnd, c1, ValueRange{cf(fb, 0.0)},
                  [&](OpBuilder &ib, Location il, Value c, ValueRange acc) {
                    Value ch = arith::AddIOp::create(ib, il, base, c);
                    Value qv = memref::LoadOp::create(ib, il, qb, ValueRange{bi, ni, ch});
                    Value kv = memref::LoadOp::create(ib, il, kb, ValueRange{bi, j, ch});
                    Value prod = arith::MulFOp::create(ib, il, qv, kv);
                    scf::YieldOp::create(ib, il, ValueRange{arith::AddFOp::create(ib, il, acc[0], prod)});
                  }));
              Value bv = memref::LoadOp::create(fb, fl, biasb, ValueRange{hi, ni, j});
              Value sc = arith::AddFOp::create(
                  fb, fl, arith::MulFOp::create(fb, fl, dot.getResult(0), cf(fb, scale)), bv);
              memref::StoreOp::create(fb, fl, sc, s, ValueRange{j});
              scf::YieldOp::create(fb, fl, ValueRange{arith::MaximumFOp::create(fb, fl, iter[0], sc)});
            });
        Value max = scores.getResult(0);
        auto exps = scf::ForOp::create(
            sb, l, c0, mEnd, c1, ValueRange{cf(sb, 0.0)},
            [&](OpBuilder &fb, Location fl, Value j, ValueRange iter) {
              Value sj = memref::LoadOp::create(fb, fl, s, ValueRange{j});
              Value e = math::ExpOp::create(fb, fl, arith::SubFOp::create(fb, fl, sj, max));
              memref::StoreOp::create(fb, fl, e, s, ValueRange{j});
              scf::YieldOp::create(fb, fl, ValueRange{arith::AddFOp::create(fb, fl, iter[0], e)});
            });
        Value inv = arith::DivFOp::create(sb, l, cf(sb, 1.0), exps.getResult(0));
        lanes(scf::ForOp::create(
            sb, l, c0, dEnd, c1, ValueRange{}, [&](OpBuilder &fb, Location fl, Value c, ValueRange) {
              Value ch = arith::AddIOp::create(fb, fl, base, c);
              auto weighted = scf::ForOp::create(
                  fb, fl, c0, mEnd, c1, ValueRange{cf(fb, 0.0)},
                  [&](OpBuilder &ib, Location il, Value j, ValueRange acc) {
                    Value p = memref::LoadOp::create(ib, il, s, ValueRange{j});
                    Value vv = memref::LoadOp::create(ib, il, vb, ValueRange{bi, j, ch});
                    Value prod = arith::MulFOp::create(ib, il, p, vv);
                    scf::YieldOp::create(ib, il, ValueRange{arith::AddFOp::create(ib, il, acc[0], prod)});
                  });
              Value o = arith::MulFOp::create(fb, fl, weighted.getResult(0), inv);
              memref::StoreOp::create(fb, fl, o, out, ValueRange{bi, ni, ch});
              scf::YieldOp::create(fb, fl);
            }));
        memref::AllocaScopeReturnOp::create(sb, l, ValueRange{});
      });
  lowered[op] = bufferization::ToTensorOp::create(b, loc, RankedTensorType::get(qs, f32()), out,
                                                  /*restrict=*/true, /*writable=*/true);
  return success();
}

/// One scf.parallel iteration per row (all but the last dimension), whose
/// two sums over the row are lane loops (one warp per row on the GPU). The
/// arithmetic is rowStats' own, so both lowerings round alike on the CPU.
Lowering::FusedNorm Lowering::fusedRowStats(Value x, Value weight, Value bias, double eps) {
  ArrayRef<int64_t> shape = shapeOf(x);
  SmallVector<int64_t> rowShape(shape.drop_back());
  int64_t width = shape.back();
  Value xb = readBuffer(x);
  // The statistics, or (given a weight) the output.
  auto rowType = MemRefType::get(rowShape, f32());
  Value sum, sq, out, wb, bb;
  if (!weight) {
    sum = memref::AllocOp::create(b, loc, rowType);
    sq = memref::AllocOp::create(b, loc, rowType);
  } else {
    out = memref::AllocOp::create(b, loc, MemRefType::get(shape, f32()));
    out.getDefiningOp()->setAttr(kNarrowableAttr, b.getUnitAttr());
    wb = readBuffer(weight);
    bb = readBuffer(bias);
  }
  auto cidx = [&](OpBuilder &nb, int64_t v) { return indexConstant(nb, loc, v); };
  SmallVector<Value> lbs(rowShape.size(), cidx(b, 0)), steps(rowShape.size(), cidx(b, 1)), ubs;
  for (int64_t d : rowShape)
    ubs.push_back(cidx(b, d));
  scf::ParallelOp::create(b, loc, lbs, ubs, steps, [&](OpBuilder &pb, Location l, ValueRange ivs) {
    // A lane loop over the row: `body` gets the element's index and value.
    using RowBody = function_ref<void(OpBuilder &, Location, ArrayRef<Value>, Value, ValueRange)>;
    auto overRow = [&](ValueRange init, RowBody body) {
      auto loop = scf::ForOp::create(pb, l, cidx(pb, 0), cidx(pb, width), cidx(pb, 1), init,
                                     [&](OpBuilder &ib, Location il, Value c, ValueRange acc) {
                                       SmallVector<Value> index(ivs);
                                       index.push_back(c);
                                       body(ib, il, index, memref::LoadOp::create(ib, il, xb, index), acc);
                                     });
      loop->setAttr(kLanesAttr, pb.getUnitAttr());
      return loop;
    };
    Value zero = arith::ConstantOp::create(pb, l, pb.getF32FloatAttr(0.0f));
    auto rowSum = [&](function_ref<Value(OpBuilder &, Location, Value)> term) -> Value {
      return overRow(ValueRange{zero}, [&](OpBuilder &ib, Location il, ArrayRef<Value>, Value v, ValueRange acc) {
               scf::YieldOp::create(ib, il, ValueRange{arith::AddFOp::create(ib, il, acc[0], term(ib, il, v))});
             })
          .getResult(0);
    };
    Value s = rowSum([](OpBuilder &, Location, Value v) { return v; });
    Value mean = arith::DivFOp::create(pb, l, s, arith::ConstantOp::create(pb, l, pb.getF32FloatAttr(width)));
    Value q = rowSum([&](OpBuilder &ib, Location il, Value v) -> Value {
      Value d = arith::SubFOp::create(ib, il, v, mean);
      return arith::MulFOp::create(ib, il, d, d);
    });
    if (!weight) {
      memref::StoreOp::create(pb, l, s, sum, ivs);
      memref::StoreOp::create(pb, l, q, sq, ivs);
      return;
    }
    overRow(ValueRange{}, [&](OpBuilder &ib, Location il, ArrayRef<Value> index, Value v, ValueRange) {
      Value xhat = layerNormXhat(ib, il, v, s, q, static_cast<double>(width), eps).second;
      Value w = memref::LoadOp::create(ib, il, wb, ValueRange{index.back()});
      Value bv = memref::LoadOp::create(ib, il, bb, ValueRange{index.back()});
      Value y = arith::AddFOp::create(ib, il, arith::MulFOp::create(ib, il, xhat, w), bv);
      memref::StoreOp::create(ib, il, y, out, index);
      scf::YieldOp::create(ib, il);
    });
  });
  auto tensorOf = [&](Value m, ArrayRef<int64_t> s) -> Value {
    return bufferization::ToTensorOp::create(b, loc, RankedTensorType::get(s, f32()), m,
                                             /*restrict=*/true, /*writable=*/true);
  };
  if (weight)
    return {Value(), Value(), tensorOf(out, shape)};
  return {tensorOf(sum, rowShape), tensorOf(sq, rowShape), Value()};
}
