//===- LowerCollectives.cpp - cmt collectives -> runtime calls --*- C++ -*-===//
#include "cmt/Conversion/Passes.h"
#include "cmt/Dialect/CMT/IR/CMTOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"

namespace cmt {
#define GEN_PASS_DEF_CMTLOWERCOLLECTIVES
#include "cmt/Conversion/Passes.h.inc"
} // namespace cmt

using namespace mlir;
using namespace cmt;

namespace {
// The runtime's entry points (runtime/comm.h).
constexpr StringLiteral kAllReduce = "cmt_all_reduce", kAllReduceWait = "cmt_all_reduce_wait";
enum Kind : int64_t { kGradient = 0, kBatchNorm = 1 };

struct LowerCollectivesPass : cmt::impl::CMTLowerCollectivesBase<LowerCollectivesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> ops;
    module.walk([&](Operation *op) {
      if (isa<AllReduceOp, AllReduceWaitOp>(op))
        ops.push_back(op);
    });
    if (ops.empty())
      return;
    OpBuilder b(module.getBodyRegion());
    Type index = b.getIndexType();
    auto declare = [&](StringRef name, unsigned args) {
      if (auto f = module.lookupSymbol<func::FuncOp>(name))
        return f;
      b.setInsertionPointToStart(module.getBody());
      auto f = func::FuncOp::create(b, module.getLoc(), name,
                                    b.getFunctionType(SmallVector<Type>(args, index), {}));
      f.setPrivate();
      return f;
    };
    func::FuncOp reduce = declare(kAllReduce, 3), wait = declare(kAllReduceWait, 0);
    for (Operation *op : ops) {
      b.setInsertionPoint(op);
      Location loc = op->getLoc();
      if (auto r = dyn_cast<AllReduceOp>(op)) {
        // A copy: the input may live on (and be read) after the reduction.
        auto tensor = cast<RankedTensorType>(r.getInput().getType());
        auto memref = MemRefType::get(tensor.getShape(), tensor.getElementType());
        Value in = bufferization::ToBufferOp::create(b, loc, memref, r.getInput(), /*read_only=*/true);
        Value copy = memref::AllocOp::create(b, loc, memref, b.getI64IntegerAttr(64));
        memref::CopyOp::create(b, loc, in, copy);
        Value ptr = memref::ExtractAlignedPointerAsIndexOp::create(b, loc, copy);
        Value count = arith::ConstantIndexOp::create(b, loc, tensor.getNumElements());
        Value kind = arith::ConstantIndexOp::create(b, loc, r.getBatchNorm() ? kBatchNorm : kGradient);
        func::CallOp::create(b, loc, reduce, ValueRange{ptr, count, kind});
        Value out = bufferization::ToTensorOp::create(b, loc, tensor, copy, /*restrict=*/true, /*writable=*/true);
        r.replaceAllUsesWith(out);
      } else {
        func::CallOp::create(b, loc, wait, ValueRange{});
        op->replaceAllUsesWith(op->getOperands());
      }
      op->erase();
    }
  }
};
} // namespace
