//===- LowerCopies.cpp - memref.copy -> loops -------------------*- C++ -*-===//
#include "cmt/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

namespace cmt {
#define GEN_PASS_DEF_CMTLOWERCOPIES
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
struct LowerCopiesPass : cmt::impl::CMTLowerCopiesBase<LowerCopiesPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation().walk([&](memref::CopyOp op) { copies.push_back(op); });
    for (memref::CopyOp op : copies) {
      auto type = cast<MemRefType>(op.getSource().getType());
      if (!type.hasStaticShape())
        continue;
      OpBuilder b(op);
      Location loc = op.getLoc();
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value one = arith::ConstantIndexOp::create(b, loc, 1);
      SmallVector<Value> ivs;
      // Row-major nest: the innermost loop walks the contiguous dimension.
      for (int64_t size : type.getShape()) {
        auto loop = scf::ForOp::create(b, loc, zero, arith::ConstantIndexOp::create(b, loc, size), one);
        ivs.push_back(loop.getInductionVar());
        b.setInsertionPoint(loop.getBody()->getTerminator());
      }
      Value v = memref::LoadOp::create(b, loc, op.getSource(), ivs);
      memref::StoreOp::create(b, loc, v, op.getTarget(), ivs);
      op.erase();
    }
  }
};
} // namespace
