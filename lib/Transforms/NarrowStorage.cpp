//===- NarrowStorage.cpp - activations stored as bf16 -----------*- C++ -*-===//
//
// The network is memory-bound on the GPU: the bytes of the activations, not
// the arithmetic, set its speed. Storing them as bf16 halves those bytes;
// every op still computes in f32 (a load widens, a store rounds), as bf16
// autocast does in PyTorch, and matrix products take bf16 operands on tensor
// cores with f32 accumulation.
//
//===----------------------------------------------------------------------===//
#include "cmt/Transforms/Passes.h"
#include "cmt/Transforms/Utils/Views.h"

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/LinalgInterfaces.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"

namespace cmt {
#define GEN_PASS_DEF_CMTNARROWSTORAGE
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
/// A read-only buffer view of a tensor that only loads read: a hand-written
/// loop nest's input (FusedAttention.cpp), whose loads can widen.
bool isLoadedView(Operation *op) {
  auto view = dyn_cast<bufferization::ToBufferOp>(op);
  return view && view.getReadOnly() &&
         llvm::all_of(view->getUsers(), [](Operation *u) { return isa<memref::LoadOp>(u); });
}

/// Whether every reader of `v`, through views and zero padding, can take it
/// narrowed: as an input of a generic (the body widens it), by
/// tensor.extract (a gather: the extracted value is widened), or by the loads
/// of a loop nest's buffer view.
bool readersTakeNarrow(Value v) {
  for (OpOperand &use : v.getUses()) {
    Operation *user = use.getOwner();
    if (auto g = dyn_cast<linalg::GenericOp>(user)) {
      if (!g.isDpsInput(&use))
        return false;
    } else if (cmt::isTensorView(user) || isa<tensor::PadOp>(user)) {
      // Padding with a constant only (it is rewritten as a bf16 constant).
      auto pad = dyn_cast<tensor::PadOp>(user);
      if (pad && !matchPattern(pad.getConstantPaddingValue(), m_Constant()))
        return false;
      if (use.getOperandNumber() != 0 || !readersTakeNarrow(user->getResult(0)))
        return false;
    } else if (!isa<tensor::ExtractOp>(user) && !isLoadedView(user)) {
      return false;  // returned, handed to a runtime call or a hand-written loop nest
    }
  }
  return true;
}

Type withElement(Type t, Type element) { return cast<RankedTensorType>(t).clone(element); }

struct NarrowStoragePass : cmt::impl::CMTNarrowStorageBase<NarrowStoragePass> {
  using CMTNarrowStorageBase::CMTNarrowStorageBase;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (!functions.empty() && !llvm::is_contained(functions, func.getSymName()))
      return;
    OpBuilder b(&getContext());
    Type f32 = b.getF32Type(), bf16 = b.getBF16Type();

    // Elementwise results that are big enough to matter and whose every
    // reader can widen them; the output is only written (an empty init).
    SmallVector<linalg::GenericOp> narrow;
    func.walk([&](linalg::GenericOp g) {
      if (g.getNumResults() != 1 || g.getNumLoops() != g.getNumParallelLoops())
        return;
      auto type = cast<RankedTensorType>(g.getResult(0).getType());
      Value init = g.getDpsInits()[0];
      if (type.getElementType() != f32 || !type.hasStaticShape() || type.getNumElements() < minElements ||
          !init.getDefiningOp<tensor::EmptyOp>() || g.payloadUsesValueFromOperand(g.getDpsInitOperand(0)) ||
          !readersTakeNarrow(g.getResult(0)))
        return;
      narrow.push_back(g);
    });

    for (linalg::GenericOp g : narrow) {
      Location loc = g.getLoc();
      b.setInsertionPoint(g);
      auto type = cast<RankedTensorType>(g.getResult(0).getType());
      Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), bf16);
      g.getDpsInitsMutable()[0].set(empty);
      Block &body = g.getRegion().front();
      body.getArguments().back().setType(bf16);
      Operation *yield = body.getTerminator();
      b.setInsertionPoint(yield);
      yield->setOperand(0, arith::TruncFOp::create(b, loc, bf16, yield->getOperand(0)));
      g.getResult(0).setType(type.clone(bf16));
      widenReaders(b, g.getResult(0));
    }

    // A matrix product takes both operands in one type: an f32 one that
    // meets a narrowed one (a weight, mostly) is rounded first, once for
    // all the products that read it (a training step's forward and backward).
    DenseMap<Value, Value> rounded;
    func.walk([&](linalg::GenericOp g) {
      if (!linalg::isaContractionOpInterface(g) || g.getNumDpsInputs() != 2)
        return;
      auto elem = [&](unsigned i) { return getElementTypeOrSelf(g.getDpsInputs()[i].getType()); };
      if (!((elem(0) == f32 && elem(1) == bf16) || (elem(0) == bf16 && elem(1) == f32)))
        return;
      OpOperand *wide = g.getDpsInputOperand(elem(0) == f32 ? 0 : 1);
      Value &narrowed = rounded[wide->get()];
      if (!narrowed)
        narrowed = round(b, wide->get());
      wide->set(narrowed);
      widenArgument(b, g, *wide);
    });
  }

  /// `v` rounded to bf16 by an elementwise generic right after its
  /// definition, where every reader of `v` can see it.
  static Value round(OpBuilder &b, Value v) {
    if (auto arg = dyn_cast<BlockArgument>(v))
      b.setInsertionPointToStart(arg.getOwner());
    else
      b.setInsertionPointAfter(v.getDefiningOp());
    Type bf16 = b.getBF16Type();
    auto type = cast<RankedTensorType>(v.getType());
    Location loc = v.getLoc();
    AffineMap id = b.getMultiDimIdentityMap(type.getRank());
    auto op = linalg::GenericOp::create(
        b, loc, TypeRange{type.clone(bf16)}, ValueRange{v},
        ValueRange{tensor::EmptyOp::create(b, loc, type.getShape(), bf16)}, ArrayRef<AffineMap>{id, id},
        SmallVector<utils::IteratorType>(type.getRank(), utils::IteratorType::parallel),
        [&](OpBuilder &nb, Location l, ValueRange a) {
          linalg::YieldOp::create(nb, l, ValueRange{arith::TruncFOp::create(nb, l, bf16, a[0])});
        });
    return op.getResult(0);
  }

  /// Makes every reader of `v` (now bf16) take it: block arguments of
  /// generics and extracted values widen to f32, views and padding pass the
  /// narrow type on.
  void widenReaders(OpBuilder &b, Value v) {
    Type bf16 = b.getBF16Type();
    for (OpOperand *use : llvm::to_vector(llvm::make_pointer_range(v.getUses()))) {
      Operation *user = use->getOwner();
      if (auto g = dyn_cast<linalg::GenericOp>(user)) {
        widenArgument(b, g, *use);
      } else if (auto extract = dyn_cast<tensor::ExtractOp>(user)) {
        b.setInsertionPointAfter(extract);
        Value wide = arith::ExtFOp::create(b, extract.getLoc(), b.getF32Type(), extract.getResult());
        extract.getResult().replaceAllUsesExcept(wide, wide.getDefiningOp());
        extract.getResult().setType(bf16);
      } else if (isLoadedView(user)) {
        auto view = cast<bufferization::ToBufferOp>(user);
        view->getResult(0).setType(cast<MemRefType>(view.getType()).clone(bf16));
        for (Operation *load : llvm::to_vector(view->getUsers())) {
          b.setInsertionPointAfter(load);
          Value wide = arith::ExtFOp::create(b, load->getLoc(), b.getF32Type(), load->getResult(0));
          load->getResult(0).replaceAllUsesExcept(wide, wide.getDefiningOp());
          load->getResult(0).setType(bf16);
        }
      } else if (auto pad = dyn_cast<tensor::PadOp>(user)) {
        Operation *yield = pad.getRegion().front().getTerminator();
        b.setInsertionPoint(yield);
        FloatAttr value;
        (void)matchPattern(pad.getConstantPaddingValue(), m_Constant(&value));
        Value zero = arith::ConstantOp::create(b, pad.getLoc(), b.getFloatAttr(bf16, value.getValueAsDouble()));
        yield->setOperand(0, zero);
        pad->getResult(0).setType(withElement(pad.getType(), bf16));
        widenReaders(b, pad.getResult());
      } else {
        user->getResult(0).setType(withElement(user->getResult(0).getType(), bf16));
        widenReaders(b, user->getResult(0));
      }
    }
  }

  /// The block argument of `g` for `input` becomes bf16, widened at the top
  /// of the body.
  static void widenArgument(OpBuilder &b, linalg::GenericOp g, OpOperand &input) {
    BlockArgument arg = g.getMatchingBlockArgument(&input);
    arg.setType(b.getBF16Type());
    b.setInsertionPointToStart(&g.getRegion().front());
    Value wide = arith::ExtFOp::create(b, g.getLoc(), b.getF32Type(), arg);
    arg.replaceAllUsesExcept(wide, wide.getDefiningOp());
  }
};
} // namespace
