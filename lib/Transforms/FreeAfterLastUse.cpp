//===- FreeAfterLastUse.cpp - deallocate right after the last use -*- C++ -*-===//
#include "cmt/Transforms/Passes.h"

#include "llvm/ADT/SmallPtrSet.h"

namespace cmt {
#define GEN_PASS_DEF_CMTFREEAFTERLASTUSE
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
struct FreeAfterLastUsePass : cmt::impl::CMTFreeAfterLastUseBase<FreeAfterLastUsePass> {
  void runOnOperation() override {
    getOperation().walk([&](memref::DeallocOp dealloc) {
      auto alloc = dealloc.getMemref().getDefiningOp<memref::AllocOp>();
      Block *block = dealloc->getBlock();
      if (!alloc || alloc->getBlock() != block)
        return;
      // Everything that carries the buffer's address counts as a use: views
      // (memref results), extracted pointers and the index arithmetic on
      // them (a pointer handed to a library call keeps the buffer alive as
      // surely as a view does). Values loaded from it do not.
      Operation *last = alloc;
      SmallVector<Value> work = {alloc.getResult()};
      llvm::SmallPtrSet<Operation *, 16> seen;
      while (!work.empty()) {
        Value v = work.pop_back_val();
        for (Operation *user : v.getUsers()) {
          if (user == dealloc || !seen.insert(user).second)
            continue;
          Operation *top = block->findAncestorOpInBlock(*user);
          if (!top)
            return;  // used outside this block: leave the dealloc where it is
          if (last->isBeforeInBlock(top))
            last = top;
          auto carriesAddress = [](Value r) { return isa<MemRefType, IndexType>(r.getType()); };
          for (Value r : user->getResults())
            if (carriesAddress(r))
              work.push_back(r);
          // A region op can hand such a value out of its body.
          if (top != user)
            for (Value r : top->getResults())
              if (carriesAddress(r))
                work.push_back(r);
        }
      }
      if (last->isBeforeInBlock(dealloc))
        dealloc->moveAfter(last);
    });
  }
};
} // namespace
