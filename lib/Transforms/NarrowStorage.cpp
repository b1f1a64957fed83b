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
#include "cmt/Transforms/Utils/BufferInit.h"
#include "cmt/Transforms/Utils/Narrowable.h"
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

    narrowLoopNestOutputs(b, func);
    if (products)
      narrowProducts(b, func);

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

  /// Activations a loop nest writes (kNarrowableAttr): the buffer becomes
  /// bf16, each store rounds, and the readers widen.
  void narrowLoopNestOutputs(OpBuilder &b, func::FuncOp func) {
    Type bf16 = b.getBF16Type();
    SmallVector<bufferization::ToTensorOp> narrow;
    func.walk([&](bufferization::ToTensorOp t) {
      auto alloc = t.getBuffer().getDefiningOp<memref::AllocOp>();
      auto type = cast<RankedTensorType>(t.getType());
      if (!alloc || !alloc->hasAttr(cmt::kNarrowableAttr) || !type.getElementType().isF32() ||
          !type.hasStaticShape() || type.getNumElements() < minElements || !readersTakeNarrow(t.getResult()))
        return;
      bool onlyStored = llvm::all_of(alloc->getUses(), [&](OpOperand &use) {
        auto store = dyn_cast<memref::StoreOp>(use.getOwner());
        return use.getOwner() == t || (store && store.getMemRef() == alloc.getResult());
      });
      if (onlyStored)
        narrow.push_back(t);
    });
    for (bufferization::ToTensorOp t : narrow) {
      auto alloc = t.getBuffer().getDefiningOp<memref::AllocOp>();
      for (Operation *user : llvm::to_vector(alloc->getUsers()))
        if (auto store = dyn_cast<memref::StoreOp>(user)) {
          b.setInsertionPoint(store);
          store.getValueMutable().set(arith::TruncFOp::create(b, store.getLoc(), bf16, store.getValueToStore()));
        }
      alloc->getResult(0).setType(cast<MemRefType>(alloc.getType()).clone(bf16));
      t->getResult(0).setType(cast<RankedTensorType>(t.getType()).clone(bf16));
      widenReaders(b, t.getResult());
    }
  }

  /// What sets a product's C before it accumulates: zero, or a bias (a
  /// vector along C's last dimension, broadcast by a copying generic).
  static std::optional<Value> zeroOrBias(linalg::GenericOp product) {
    Value init = product.getDpsInits()[0];
    if (auto fill = init.getDefiningOp<linalg::FillOp>()) {
      FloatAttr value;
      if (matchPattern(fill.getInputs()[0], m_Constant(&value)) && value.getValue().isZero())
        return Value();
      return std::nullopt;
    }
    auto g = init.getDefiningOp<linalg::GenericOp>();
    Value bias = g ? cmt::rowBroadcastSource(g) : Value();
    if (!bias)
      return std::nullopt;
    return bias;
  }

  /// The generic operands reading `v`, through reshapes that keep its last
  /// dimension whole (where a bias runs), one per generic; false if anything
  /// else reads it.
  static bool genericReaders(Value v, SmallVectorImpl<OpOperand *> &readers) {
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      auto keepsLast = [](ArrayRef<ReassociationIndices> groups) { return groups.back().size() == 1; };
      if (auto g = dyn_cast<linalg::GenericOp>(user)) {
        if (!g.isDpsInput(&use) || linalg::isaContractionOpInterface(g) ||
            llvm::any_of(readers, [&](OpOperand *r) { return r->getOwner() == g; }))
          return false;
        readers.push_back(&use);
      } else if (auto c = dyn_cast<tensor::CollapseShapeOp>(user)) {
        if (!keepsLast(c.getReassociationIndices()) || !genericReaders(c.getResult(), readers))
          return false;
      } else if (auto e = dyn_cast<tensor::ExpandShapeOp>(user)) {
        if (!keepsLast(e.getReassociationIndices()) || !genericReaders(e.getResult(), readers))
          return false;
      } else {
        return false;
      }
    }
    return true;
  }

  /// Products whose C starts at zero or at a bias: C is rounded right
  /// after the product (one pass cuBLAS makes part of its store), and a bias
  /// is added by each reader to the value it widens instead of by the product.
  void narrowProducts(OpBuilder &b, func::FuncOp func) {
    Type f32 = b.getF32Type();
    SmallVector<std::pair<linalg::GenericOp, Value>> todo;
    func.walk([&](linalg::GenericOp g) {
      if (!linalg::isaContractionOpInterface(g) || g.getNumResults() != 1)
        return;
      auto type = cast<RankedTensorType>(g.getResult(0).getType());
      std::optional<Value> bias = zeroOrBias(g);
      SmallVector<OpOperand *> readers;
      // cuBLAS stores a bf16 C from bf16 A and B only: an operand must be
      // narrow already (the other is rounded below).
      bool narrowOperand = llvm::any_of(g.getDpsInputs(), [&](Value v) {
        return getElementTypeOrSelf(v.getType()) == b.getBF16Type();
      });
      if (type.getElementType() != f32 || !narrowOperand || !type.hasStaticShape() || type.getRank() != 2 ||
          type.getNumElements() < minElements || !bias || !readersTakeNarrow(g.getResult(0)) ||
          (*bias && !genericReaders(g.getResult(0), readers)))
        return;
      todo.push_back({g, *bias});
    });
    for (auto [product, bias] : todo) {
      SmallVector<OpOperand *> readers;
      // An earlier product's rewrite may have changed what reads this one.
      if (bias && !genericReaders(product.getResult(0), readers))
        continue;
      if (bias) {
        b.setInsertionPoint(product);
        Location loc = product.getLoc();
        auto type = cast<RankedTensorType>(product.getResult(0).getType());
        Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
        Value empty = tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
        Operation *broadcast = product.getDpsInits()[0].getDefiningOp();
        product.getDpsInitsMutable()[0].set(linalg::FillOp::create(b, loc, zero, empty).getResult(0));
        if (broadcast->use_empty())
          broadcast->erase();
      }
      Value result = product.getResult(0);
      Value rounded = round(b, result);
      result.replaceAllUsesExcept(rounded, rounded.getDefiningOp());
      widenReaders(b, rounded);
      for (OpOperand *reader : readers)
        addBias(b, cast<linalg::GenericOp>(reader->getOwner()), reader->getOperandNumber(), bias);
    }
  }

  /// `g` rebuilt with `bias` as one more input, added to the widened value
  /// of its input `operand` (bias[last index of that operand]).
  static void addBias(OpBuilder &b, linalg::GenericOp g, unsigned operand, Value bias) {
    SmallVector<AffineMap> maps = g.getIndexingMapsArray();
    AffineMap read = maps[operand];
    unsigned inputs = g.getNumDpsInputs();
    maps.insert(maps.begin() + inputs, read.getSubMap({read.getNumResults() - 1}));
    SmallVector<Value> ins(g.getDpsInputs());
    ins.push_back(bias);
    b.setInsertionPoint(g);
    auto rebuilt = linalg::GenericOp::create(b, g.getLoc(), g.getResultTypes(), ins, g.getDpsInits(), maps,
                                             g.getIteratorTypesArray());
    rebuilt.getRegion().takeBody(g.getRegion());
    Block &body = rebuilt.getRegion().front();
    BlockArgument biasArg = body.insertArgument(inputs, b.getF32Type(), g.getLoc());
    // widenArgument put the widening first in the body.
    Value wide = nullptr;
    for (Operation *user : body.getArgument(operand).getUsers())
      if (isa<arith::ExtFOp>(user))
        wide = user->getResult(0);
    b.setInsertionPointAfter(wide.getDefiningOp());
    Value sum = arith::AddFOp::create(b, g.getLoc(), wide, biasArg);
    wide.replaceAllUsesExcept(sum, sum.getDefiningOp());
    g.replaceAllUsesWith(rebuilt.getResults());
    g.erase();
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
