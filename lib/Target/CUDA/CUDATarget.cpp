//===- CUDATarget.cpp - kernels to PTX/cubin, kernel reports ----*- C++ -*-===//
#include "cmt/Target/CUDA/CUDATarget.h"
#include "cmt/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Format.h"

using namespace mlir;

LogicalResult cmt::serializeKernels(ModuleOp module, StringRef format, StringRef toolkit) {
  PassManager pm(module.getContext());
  GpuModuleToBinaryPassOptions options;
  options.compilationTarget = format.str();
  if (!toolkit.empty())
    options.toolkitPath = toolkit.str();
  pm.addPass(createGpuModuleToBinaryPass(options));
  return pm.run(module);
}

void cmt::printPTX(ModuleOp module, raw_ostream &os) {
  module.walk([&](gpu::BinaryOp binary) {
    for (Attribute a : binary.getObjects()) {
      auto object = cast<gpu::ObjectAttr>(a);
      os << "// gpu.binary @" << binary.getSymName() << " for " << object.getTarget() << "\n"
         << object.getObject().getValue() << "\n";
    }
  });
}

/// The model's module names an op computes (a fused op carries several).
static std::string sources(Location loc) {
  llvm::SetVector<StringRef> names;
  loc->walk([&](Location l) {
    if (auto name = dyn_cast<NameLoc>(l))
      names.insert(name.getName().getValue());
    return WalkResult::advance();
  });
  std::string out;
  for (StringRef n : names)
    out += (out.empty() ? "" : ", ") + n.str();
  return out.empty() ? "?" : out;
}

unsigned cmt::reportKernels(ModuleOp module, raw_ostream &os) {
  auto forward = module.lookupSymbol<func::FuncOp>("forward");
  if (!forward)
    return 0;
  unsigned count = 0;
  auto value = [](Value v) {
    std::optional<int64_t> c = getConstantIntValue(v);
    return c ? std::to_string(*c) : std::string("?");
  };
  os << "# kernels of one forward, in launch order\n";
  forward.walk([&](Operation *op) {
    if (auto launch = dyn_cast<gpu::LaunchFuncOp>(op)) {
      gpu::KernelDim3 grid = launch.getGridSizeOperandValues(),
                      block = launch.getBlockSizeOperandValues();
      os << llvm::format("%4u", count++) << "  kernel " << launch.getKernelModuleName().getValue()
         << "  grid " << value(grid.x) << "  block " << value(block.x) << "  <- "
         << sources(launch.getLoc()) << "\n";
    } else if (auto call = dyn_cast<func::CallOp>(op)) {
      if (call.getCallee() != kBlasSgemm)
        return;
      auto arg = [&](unsigned i) { return value(call.getOperand(i)); };
      os << llvm::format("%4u", count++) << "  cublas  batch " << arg(0) << "x" << arg(1) << "  M "
         << arg(2) << "  N " << arg(3) << "  K " << arg(4) << "  <- " << sources(call.getLoc())
         << "\n";
    }
  });
  return count;
}
