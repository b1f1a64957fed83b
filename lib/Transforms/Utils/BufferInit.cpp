//===- BufferInit.cpp - what set a buffer before an op reads it -*- C++ -*-===//
#include "cmt/Transforms/Utils/BufferInit.h"

#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/SmallPtrSet.h"

using namespace mlir;

Operation *cmt::lastToucher(Value buf, Operation *op, bool skipCopiesOut) {
  llvm::SmallPtrSet<Value, 8> aliases = {buf};
  SmallVector<Value> work = {buf};
  while (!work.empty())
    for (Operation *u : work.pop_back_val().getUsers())
      if (isa<ViewLikeOpInterface>(u))
        for (Value r : u->getResults())
          if (aliases.insert(r).second)
            work.push_back(r);
  for (Operation *prev = op->getPrevNode(); prev; prev = prev->getPrevNode()) {
    auto copy = dyn_cast<memref::CopyOp>(prev);
    if (skipCopiesOut && copy && !aliases.contains(copy.getTarget()))
      continue;
    if (!isa<ViewLikeOpInterface>(prev) &&
        llvm::any_of(prev->getOperands(), [&](Value v) { return aliases.contains(v); }))
      return prev;
  }
  return nullptr;
}

std::optional<cmt::FillSource> cmt::fillSource(Value buf, Operation *reader) {
  if (!buf.getDefiningOp<memref::AllocOp>())
    return std::nullopt;
  Operation *writer = lastToucher(buf, reader);
  if (auto fill = dyn_cast_or_null<linalg::FillOp>(writer)) {
    if (fill.getOutputs()[0] != buf)
      return std::nullopt;
    return FillSource{fill, nullptr, true};
  }
  auto copy = dyn_cast_or_null<memref::CopyOp>(writer);
  if (!copy || copy.getTarget() != buf || !copy.getSource().getDefiningOp<memref::AllocOp>())
    return std::nullopt;
  auto fill = dyn_cast_or_null<linalg::FillOp>(
      lastToucher(copy.getSource(), copy, /*skipCopiesOut=*/true));
  if (!fill || fill.getOutputs()[0] != copy.getSource())
    return std::nullopt;
  bool otherReaders = llvm::any_of(copy.getSource().getUsers(), [&](Operation *u) {
    return u != fill && u != copy && !isa<memref::DeallocOp>(u);
  });
  return FillSource{fill, copy, !otherReaders};
}

Value cmt::rowBroadcastSource(linalg::GenericOp g) {
  if (g.getNumDpsInputs() != 1 || g.getNumDpsInits() != 1)
    return {};
  Block &body = g.getRegion().front();
  bool copiesInput = body.getOperations().size() == 1 && body.getTerminator()->getOperand(0) == body.getArgument(0);
  SmallVector<AffineMap> maps = g.getIndexingMapsArray();
  MLIRContext *ctx = g.getContext();
  if (!copiesInput || maps[0] != AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx) || !maps[1].isIdentity())
    return {};
  return g.getDpsInputs()[0];
}
