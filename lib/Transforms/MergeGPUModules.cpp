//===- MergeGPUModules.cpp - every kernel in one gpu.module -----*- C++ -*-===//
#include "cmt/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace cmt {
#define GEN_PASS_DEF_CMTMERGEGPUMODULES
#include "cmt/Transforms/Passes.h.inc"
} // namespace cmt

using namespace mlir;

namespace {
struct MergeGPUModulesPass : cmt::impl::CMTMergeGPUModulesBase<MergeGPUModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> modules = llvm::to_vector(module.getOps<gpu::GPUModuleOp>());
    if (modules.size() < 2)
      return;
    gpu::GPUModuleOp into = modules.front();
    SymbolTable table(into);
    // (old module, old kernel) -> the kernel's name in the merged module.
    DenseMap<std::pair<StringAttr, StringAttr>, StringAttr> renamed;
    for (gpu::GPUModuleOp from : ArrayRef(modules).drop_front()) {
      for (Operation &op : llvm::make_early_inc_range(from.getBody()->getOperations())) {
        auto kernel = dyn_cast<gpu::GPUFuncOp>(op);
        if (!kernel) {
          op.emitError("cmt-merge-gpu-modules: only gpu.func may be merged, found ") << op.getName();
          return signalPassFailure();
        }
        StringAttr old = kernel.getNameAttr();
        kernel->moveBefore(into.getBody(), into.getBody()->end());
        // Outlining names every kernel after its function; the modules' own
        // names are the unique ones.
        if (table.lookup(old))
          kernel.setName(from.getName());
        if (table.lookup(kernel.getNameAttr())) {
          kernel.emitError("cmt-merge-gpu-modules: two kernels named ") << kernel.getName();
          return signalPassFailure();
        }
        table.insert(kernel);
        renamed[{from.getNameAttr(), old}] = kernel.getNameAttr();
      }
    }
    module.walk([&](gpu::LaunchFuncOp launch) {
      auto it = renamed.find({launch.getKernelModuleName(), launch.getKernelName()});
      if (it != renamed.end())
        launch.setKernelAttr(SymbolRefAttr::get(into.getNameAttr(), {FlatSymbolRefAttr::get(it->second)}));
    });
    for (gpu::GPUModuleOp from : ArrayRef(modules).drop_front())
      from.erase();
  }
};
} // namespace
