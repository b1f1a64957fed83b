//===- OutlineKernels.cpp - one function per loop nest ----------*- C++ -*-===//
#include "cmt/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace cmt {
#define GEN_PASS_DEF_CMTOUTLINEKERNELS
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
/// The view ops between `v` and the buffer it views, innermost first.
Value viewRoot(Value v, SmallVectorImpl<Operation *> &chain) {
  while (Operation *def = v.getDefiningOp()) {
    if (auto cast = dyn_cast<memref::CastOp>(def)) {
      chain.push_back(def);
      v = cast.getSource();
      continue;
    }
    auto view = dyn_cast<ViewLikeOpInterface>(def);
    if (!view || def->getNumOperands() != 1 || def->getNumResults() != 1)
      break;
    chain.push_back(def);
    v = view.getViewSource();
  }
  return v;
}

struct OutlineKernelsPass : cmt::impl::CMTOutlineKernelsBase<OutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    for (auto func : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (func.isExternal() || func.isPrivate())
        continue;
      SmallVector<Operation *> kernels;
      func.walk([&](Operation *op) {
        bool onBuffers = isa<memref::CopyOp, scf::ParallelOp>(op) ||
                         (isa<linalg::LinalgOp>(op) &&
                          cast<linalg::LinalgOp>(op).hasPureBufferSemantics());
        if (onBuffers && op->getParentOp() == func)
          kernels.push_back(op);
      });
      unsigned counter = 0;
      for (Operation *op : kernels) {
        if (op->getNumResults() != 0) {
          op->emitError("cmt-outline-kernels: a loop nest with results (an scf.parallel reduction) "
                        "is not supported");
          return signalPassFailure();
        }
        outline(op, func, symbols, counter++);
      }
    }
  }

  void outline(Operation *op, func::FuncOp parent, SymbolTable &symbols, unsigned index) {
    // Kernel arguments: the distinct buffers that the op's operands, and the
    // values its body uses from above, view; and scalars (a fill's value).
    // Constants are cloned into the kernel instead (an scf.parallel's bounds).
    llvm::SetVector<Value> used(op->getOperands().begin(), op->getOperands().end());
    getUsedValuesDefinedAbove(op->getRegions(), used);
    llvm::SetVector<Value> roots;
    llvm::SetVector<Operation *> constants;
    SmallVector<SmallVector<Operation *>> chains;
    for (Value v : used) {
      Operation *def = v.getDefiningOp();
      if (def && def->hasTrait<OpTrait::ConstantLike>())
        constants.insert(def);
      else if (isa<MemRefType>(v.getType()))
        roots.insert(viewRoot(v, chains.emplace_back()));
    }
    for (Value v : used)
      if (!isa<MemRefType>(v.getType()) && !constants.contains(v.getDefiningOp()))
        roots.insert(v);

    OpBuilder b(parent);
    Location loc = op->getLoc();
    SmallVector<Type> types;
    for (Value r : roots)
      types.push_back(r.getType());
    auto kernel = func::FuncOp::create(
        b, loc, (parent.getSymName() + "_kernel_" + llvm::Twine(index)).str(),
        b.getFunctionType(types, {}));
    kernel.setPrivate();
    kernel->setAttr("llvm.no_inline", b.getUnitAttr());
    symbols.insert(kernel);
    Block *body = kernel.addEntryBlock();
    b.setInsertionPointToStart(body);
    IRMapping map;
    for (auto [root, arg] : llvm::zip(roots, body->getArguments()))
      map.map(root, arg);
    for (Operation *c : constants)
      b.clone(*c, map);
    for (auto &chain : chains)
      for (Operation *view : llvm::reverse(chain))
        if (!map.contains(view->getResult(0)))
          b.clone(*view, map);
    b.clone(*op, map);
    func::ReturnOp::create(b, loc);

    // On the CPU the points of a parallel loop run one after another, so one
    // private array serves them all; left in the loop body, an alloca would
    // grow the stack at every point (scf-to-cf keeps no allocation scope).
    SmallVector<memref::AllocaOp> arrays;
    body->walk([&](memref::AllocaOp alloca) {
      if (alloca->getNumOperands() == 0 && alloca->getParentOfType<scf::ParallelOp>())
        arrays.push_back(alloca);
    });
    for (memref::AllocaOp alloca : arrays)
      alloca->moveBefore(body, body->begin());

    OpBuilder at(op);
    func::CallOp::create(at, loc, kernel, roots.getArrayRef());
    op->erase();
    // Views that only fed the op now live in the kernel.
    // Chains share views (a cast of a subview, and the subview): each goes
    // once, users before what they view.
    llvm::SetVector<Operation *> views;
    for (auto &chain : chains)
      views.insert(chain.begin(), chain.end());
    SmallVector<Operation *> order = views.takeVector();
    llvm::sort(order, [](Operation *a, Operation *b) { return b->isBeforeInBlock(a); });
    for (Operation *view : order)
      if (view->use_empty())
        view->erase();
  }
};
} // namespace
