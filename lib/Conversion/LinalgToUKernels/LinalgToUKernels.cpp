//===- LinalgToUKernels.cpp - contractions -> runtime micro-kernel -*- C++ -*-===//
#include "cmt/Conversion/Passes.h"
#include "cmt/Transforms/Utils/BufferInit.h"

#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "runtime/blas_layout.h"

namespace cmt {
#define GEN_PASS_DEF_CONVERTLINALGTOUKERNELS
#include "cmt/Conversion/Passes.h.inc"
} // namespace cmt

using namespace mlir;
using namespace cmt;

namespace {
constexpr unsigned kMaxBatchDims = 2;
constexpr unsigned kNumArgs = 5 + 3 * 5; // sizes, then (pointer, 4 strides) per operand
// cmt_blas_sgemm also takes beta (0: C is only written), a bias pointer (0:
// none), the element type of A and B and that of C (runtime/blas_layout.h's
// BlasType).
constexpr unsigned kNumBlasArgs = kNumArgs + 4;

/// Strides of `loopDims` in an operand read through `map`: the memref stride
/// of the operand dimension a loop dimension indexes, 0 where it indexes none.
std::optional<SmallVector<int64_t>> loopStrides(MemRefType type, AffineMap map,
                                                ArrayRef<unsigned> loopDims) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)) || !map.isProjectedPermutation())
    return std::nullopt;
  SmallVector<int64_t> out;
  for (unsigned loop : loopDims) {
    int64_t s = 0;
    for (unsigned r = 0; r < map.getNumResults(); ++r)
      if (map.getDimPosition(r) == loop)
        s = strides[r];
    if (ShapedType::isDynamic(s))
      return std::nullopt;
    out.push_back(s);
  }
  return out;
}

struct ConvertLinalgToUKernelsPass
    : cmt::impl::ConvertLinalgToUKernelsBase<ConvertLinalgToUKernelsPass> {
  using ConvertLinalgToUKernelsBase::ConvertLinalgToUKernelsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<linalg::GenericOp> candidates;
    module.walk([&](linalg::GenericOp op) {
      if (op.hasPureBufferSemantics() && linalg::isaContractionOpInterface(op))
        candidates.push_back(op);
    });
    if (candidates.empty())
      return;

    OpBuilder b(module.getBodyRegion());
    auto indexType = b.getIndexType();
    StringRef name = blasLayouts ? kBlasSgemm : kSgemmUKernel;
    func::FuncOp callee = module.lookupSymbol<func::FuncOp>(name);
    if (!callee) {
      b.setInsertionPointToStart(module.getBody());
      callee = func::FuncOp::create(
          b, module.getLoc(), name,
          b.getFunctionType(SmallVector<Type>(blasLayouts ? kNumBlasArgs : kNumArgs, indexType), {}));
      callee.setPrivate();
    }
    for (linalg::GenericOp op : candidates)
      (void)rewrite(op, callee);
  }

  /// Loop dimensions of each operand's matrix: A (m, k), B (k, n), C (m, n).
  SmallVector<SmallVector<unsigned>> order(const linalg::ContractionDimensions &dims) {
    return {{dims.m[0], dims.k[0]}, {dims.k[0], dims.n[0]}, {dims.m[0], dims.n[0]}};
  }

  /// Whether one batched BLAS call computes `op`: every operand's matrix
  /// row- or column-major (any batch strides: two batch dimensions become a
  /// pointer-array batch).
  bool fitsBlas(linalg::GenericOp op, ArrayRef<int64_t> extents, ArrayRef<unsigned> batch,
                ArrayRef<SmallVector<unsigned>> order) {
    // extents: b0, b1, m, n, k
    int64_t m = extents[2], n = extents[3], k = extents[4];
    int64_t rows[3] = {m, k, m}, cols[3] = {k, n, n};
    for (unsigned i = 0; i < 3; ++i) {
      OpOperand &operand = op->getOpOperand(i);
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      if (!type)
        return false;
      auto strides = loopStrides(type, op.getMatchingIndexingMap(&operand), order[i]);
      if (!strides || !cmt::rt::blasLayout(rows[i], cols[i], (*strides)[0], (*strides)[1]).ok)
        return false;
    }
    return true;
  }

  /// Replaces `op` by a kernel call where it fits the kernel's shape;
  /// otherwise leaves it to become loops.
  LogicalResult rewrite(linalg::GenericOp op, func::FuncOp callee) {
    FailureOr<linalg::ContractionDimensions> dims = linalg::inferContractionDims(op);
    if (failed(dims) || dims->m.size() != 1 || dims->n.size() != 1 || dims->k.size() != 1 ||
        op.getNumDpsInputs() != 2 ||
        op.getNumDpsInits() != 1)
      return failure();
    SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    if (llvm::any_of(ranges, ShapedType::isDynamic))
      return failure();

    // Loop dimensions in the kernel's order: batch0, batch1, m, n, k (a
    // missing batch dimension has extent 1 and stride 0).
    SmallVector<int64_t> extents;
    SmallVector<unsigned> batch(dims->batch.begin(), dims->batch.end());
    // Batch dimensions of extent 1 (a batch of one image) are no batch at all.
    llvm::erase_if(batch, [&](unsigned d) { return ranges[d] == 1; });
    if (batch.size() > kMaxBatchDims)
      return failure();
    for (unsigned i = 0; i < kMaxBatchDims; ++i)
      extents.push_back(i < batch.size() ? ranges[batch[i]] : 1);
    extents.append({ranges[dims->m[0]], ranges[dims->n[0]], ranges[dims->k[0]]});

    if (blasLayouts && !fitsBlas(op, extents, batch, order(*dims)))
      return failure();

    // C's initialiser, looked up before this rewrite adds users of C.
    Initialiser init;
    linalg::GenericOp rounding;
    if (blasLayouts) {
      init = initialiser(op, batch.empty(), dims->m[0], dims->n[0]);
      rounding = roundingOf(op, init);
    }
    // D is allocated where the rounding wrote it, after the product: the
    // call writes it (its static allocation has no operands to dominate).
    if (rounding)
      rounding.getDpsInits()[0].getDefiningOp()->moveBefore(op);
    Location loc = op.getLoc();
    OpBuilder b(op);
    auto cidx = [&](int64_t v) -> Value { return arith::ConstantIndexOp::create(b, loc, v); };
    SmallVector<Value> args;
    for (int64_t e : extents)
      args.push_back(cidx(e));

    // A and B both f32, or (cuBLAS) both bf16, each with an f32 C.
    Type abType = cast<MemRefType>(op->getOperand(0).getType()).getElementType();
    if (!(abType.isF32() || (blasLayouts && abType.isBF16())))
      return failure();
    SmallVector<SmallVector<unsigned>> order = this->order(*dims);
    for (unsigned i = 0; i < 3; ++i) {
      OpOperand &operand = op->getOpOperand(i);
      auto type = dyn_cast<MemRefType>(operand.get().getType());
      if (!type || type.getElementType() != (i < 2 ? abType : b.getF32Type()))
        return failure();
      // A rounded C: cuBLAS stores the bf16 D the rounding wrote (same
      // shape, identity layout: the same strides).
      Value stored = i == 2 && rounding ? rounding.getDpsInits()[0] : operand.get();
      SmallVector<unsigned> loops;
      for (unsigned j = 0; j < kMaxBatchDims; ++j)
        loops.push_back(j < batch.size() ? batch[j] : ~0u);
      loops.append(order[i]);
      auto strides = loopStrides(type, op.getMatchingIndexingMap(&operand), loops);
      SmallVector<int64_t> layoutStrides;
      int64_t offset;
      if (!strides || failed(type.getStridesAndOffset(layoutStrides, offset)) ||
          ShapedType::isDynamic(offset))
        return failure();
      Value base = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, stored);
      int64_t bits = cast<MemRefType>(stored.getType()).getElementTypeBitWidth();
      args.push_back(arith::AddIOp::create(b, loc, base, cidx(offset * bits / 8)));
      for (int64_t s : *strides)
        args.push_back(cidx(s));
    }
    if (blasLayouts) {
      // C's initial value, where a zero fill or a bias broadcast alone sets
      // it: folded into the call (beta = 0, cuBLASLt's bias epilogue), one
      // pass over C fewer for the writer and one for cuBLAS.
      Value beta = cidx(init.folded.empty() ? 1 : 0), bias = cidx(0);
      if (init.bias)
        bias = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, init.bias);
      auto blasType = [](bool bf16) {
        return static_cast<int64_t>(bf16 ? cmt::rt::BlasType::BF16 : cmt::rt::BlasType::F32);
      };
      args.append({beta, bias, cidx(blasType(abType.isBF16())), cidx(blasType(bool(rounding)))});
      func::CallOp::create(b, loc, callee, args);
      for (Operation *dead : init.folded)
        dead->erase();
      if (rounding) {
        // C is left with its allocation and deallocation: both go.
        Value c = op.getDpsInits()[0];
        rounding.erase();
        op.erase();
        for (Operation *user : llvm::to_vector(c.getUsers()))
          if (isa<memref::DeallocOp>(user))
            user->erase();
        if (c.use_empty())
          c.getDefiningOp()->erase();
        return success();
      }
    } else {
      func::CallOp::create(b, loc, callee, args);
    }
    op.erase();
    return success();
  }

  static bool isZero(Value v) {
    auto cst = v.getDefiningOp<arith::ConstantOp>();
    auto value = cst ? dyn_cast<FloatAttr>(cst.getValue()) : nullptr;
    return value && value.getValue().isZero();
  }

  /// What alone sets the contraction's output before it, folded into the
  /// call: `folded` are the ops that go (none: C keeps its value, beta 1),
  /// `bias` the vector a broadcast wrote.
  struct Initialiser {
    SmallVector<Operation *> folded;
    Value bias;
  };

  /// The generic that only rounds C to bf16 (into a fresh buffer D of C's
  /// shape, identity layouts) where C starts at zero and nothing else reads
  /// it, and A and B are bf16: cmt-narrow-storage{products} puts it after a
  /// product, and cuBLAS can store D itself.
  linalg::GenericOp roundingOf(linalg::GenericOp op, const Initialiser &init) {
    Value c = op.getDpsInits()[0];
    auto cType = dyn_cast<MemRefType>(c.getType());
    // cuBLAS takes a bf16 C with bf16 A and B only.
    bool narrowOperands = llvm::all_of(op.getDpsInputs(), [](Value v) {
      return getElementTypeOrSelf(v.getType()).isBF16();
    });
    if (!narrowOperands || init.folded.empty() || init.bias || !cType || !cType.getLayout().isIdentity() ||
        !c.getDefiningOp<memref::AllocOp>())
      return {};
    linalg::GenericOp rounding;
    for (Operation *user : c.getUsers()) {
      if (user == op || isa<memref::DeallocOp>(user) || llvm::is_contained(init.folded, user))
        continue;
      auto g = dyn_cast<linalg::GenericOp>(user);
      if (rounding || !g || g->getBlock() != op->getBlock() || !op->isBeforeInBlock(g))
        return {};
      rounding = g;
    }
    if (!rounding || rounding.getNumDpsInputs() != 1 || rounding.getNumDpsInits() != 1 ||
        rounding.getDpsInputs()[0] != c)
      return {};
    Value d = rounding.getDpsInits()[0];
    auto dType = dyn_cast<MemRefType>(d.getType());
    Block &body = rounding.getRegion().front();
    auto trunc = dyn_cast<arith::TruncFOp>(&body.front());
    if (!dType || !dType.getElementType().isBF16() || dType.getShape() != cType.getShape() ||
        !dType.getLayout().isIdentity() || !d.getDefiningOp<memref::AllocOp>() ||
        d.getDefiningOp()->getNumOperands() != 0 ||
        !llvm::all_of(rounding.getIndexingMapsArray(), [](AffineMap m) { return m.isIdentity(); }) ||
        body.getOperations().size() != 2 || !trunc || trunc.getIn() != body.getArgument(0) ||
        trunc.getRoundingmodeAttr() || body.getTerminator()->getOperand(0) != trunc.getResult())
      return {};
    // D moves up to the call: nothing may touch it in between (its
    // allocation, in this block, and the rounding aside), nor before.
    Operation *alloc = d.getDefiningOp();
    if (alloc->getBlock() != op->getBlock())
      return {};
    for (Operation *user : d.getUsers())
      if (user != rounding && (user->getBlock() != op->getBlock() || !rounding->isBeforeInBlock(user)))
        return {};
    return rounding;
  }

  /// A fill with 0 (written into C, or into a buffer copied whole into C), or
  /// (with `allowBias`, and C row-major with a unit column stride) a generic
  /// broadcasting a vector with identity layout along the columns. Nothing
  /// if anything else wrote or read the buffer since.
  Initialiser initialiser(linalg::GenericOp op, bool allowBias, unsigned m, unsigned n) {
    Value c = op.getDpsInits()[0];
    auto cType = dyn_cast<MemRefType>(c.getType());
    AffineMap cMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    if (!c.getDefiningOp<memref::AllocOp>() || !cType)
      return {};
    // A bias runs along C's unit-stride dimension n of a plain matrix.
    allowBias = allowBias && cType.getRank() == 2 && cType.getLayout().isIdentity() &&
                cMap.getNumResults() == 2 && cMap.isProjectedPermutation() &&
                cMap.getDimPosition(0) == m && cMap.getDimPosition(1) == n;
    // A zero fill, written into C or copied whole into it (the copy goes;
    // the fill too where nothing else reads its buffer).
    if (std::optional<cmt::FillSource> source = cmt::fillSource(c, op)) {
      if (!isZero(source->fill.getInputs()[0]))
        return {};
      Initialiser init;
      init.folded.append(source->foldedOps());
      return init;
    }
    auto g = dyn_cast_or_null<linalg::GenericOp>(cmt::lastToucher(c, op));
    Value bias = g ? cmt::rowBroadcastSource(g) : Value();
    if (!allowBias || !bias || g.getDpsInits()[0] != c)
      return {};
    auto biasType = dyn_cast<MemRefType>(bias.getType());
    if (!biasType || biasType.getRank() != 1 || !biasType.getLayout().isIdentity())
      return {};
    return {{g}, bias};
  }
};
} // namespace
