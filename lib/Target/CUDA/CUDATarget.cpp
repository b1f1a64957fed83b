//===- CUDATarget.cpp - kernels to PTX/cubin, kernel reports ----*- C++ -*-===//
#include "cmt/Target/CUDA/CUDATarget.h"
#include "cmt/Conversion/Passes.h"

#include "runtime/blas_layout.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include <cstdlib>

using namespace mlir;

LogicalResult cmt::serializeKernels(ModuleOp module, StringRef format, StringRef toolkit) {
  // MLIR looks at CUDA_ROOT, CUDA_HOME and CUDA_PATH; test runners clear
  // those, and a toolkit found nowhere means kernels without libdevice
  // (math functions unresolved at ptxas time), so fall back to the usual
  // install location and say so when even that is missing.
  std::string path = toolkit.str();
  for (const char *var : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
    if (path.empty() && std::getenv(var))
      path = std::getenv(var);
  if (path.empty() && llvm::sys::fs::exists("/usr/local/cuda/bin/ptxas"))
    path = "/usr/local/cuda";
  if (path.empty() || !llvm::sys::fs::exists(path + "/bin/ptxas"))
    return module.emitError("no CUDA toolkit (bin/ptxas, nvvm/libdevice) found")
           << (path.empty() ? std::string() : " at " + path)
           << ": pass --cuda-path or set CUDA_HOME";
  PassManager pm(module.getContext());
  GpuModuleToBinaryPassOptions options;
  options.compilationTarget = format.str();
  options.toolkitPath = path;
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

std::vector<std::string> cmt::listLaunches(ModuleOp module, StringRef function) {
  std::vector<std::string> out;
  auto fn = module.lookupSymbol<func::FuncOp>(function);
  if (!fn)
    return out;
  auto value = [](Value v) {
    std::optional<int64_t> c = getConstantIntValue(v);
    return c ? std::to_string(*c) : std::string("?");
  };
  fn.walk([&](Operation *op) {
    std::string line;
    llvm::raw_string_ostream os(line);
    if (auto launch = dyn_cast<gpu::LaunchFuncOp>(op)) {
      gpu::KernelDim3 grid = launch.getGridSizeOperandValues(),
                      block = launch.getBlockSizeOperandValues();
      // Bytes: every buffer the kernel takes, once (an upper bound on its
      // DRAM traffic when caches serve the re-reads).
      llvm::SetVector<Value> buffers;
      for (Value v : launch.getKernelOperands())
        if (auto t = dyn_cast<MemRefType>(v.getType()); t && t.hasStaticShape())
          buffers.insert(v);
      int64_t bytes = 0;
      for (Value v : buffers) {
        auto t = cast<MemRefType>(v.getType());
        bytes += t.getNumElements() * static_cast<int64_t>(t.getElementTypeBitWidth() / 8);
      }
      os << "kernel " << launch.getKernelName().getValue() << " grid " << value(grid.x)
         << " block " << value(block.x) << " bytes " << bytes << " <- " << sources(launch.getLoc());
    } else if (auto call = dyn_cast<func::CallOp>(op)) {
      if (call.getCallee() != kBlasSgemm)
        return;
      auto arg = [&](unsigned i) { return value(call.getOperand(i)); };
      auto num = [&](unsigned i) { return getConstantIntValue(call.getOperand(i)).value_or(0); };
      int64_t batch = num(0) * num(1), m = num(2), n = num(3), k = num(4), beta = num(20);
      auto abType = static_cast<rt::BlasType>(num(22)), cType = static_cast<rt::BlasType>(num(23));
      // A and B read, C written, and read too where beta = 1; FLOPs: 2 per MAC.
      int64_t bytes = batch * (rt::blasTypeBytes(abType) * (m * k + k * n) +
                               rt::blasTypeBytes(cType) * (1 + beta) * m * n);
      os << "cublas batch " << arg(0) << "x" << arg(1) << " M " << arg(2) << " N " << arg(3)
         << " K " << arg(4) << (abType == rt::BlasType::BF16 ? " bf16" : "")
         << (cType == rt::BlasType::BF16 ? " to bf16" : "") << " bytes " << bytes
         << " flops " << 2 * batch * m * n * k << " <- " << sources(call.getLoc());
    } else {
      return;
    }
    out.push_back(line);
  });
  return out;
}

void cmt::reportKernels(ArrayRef<std::string> launches, StringRef function, raw_ostream &os) {
  os << "# " << launches.size() << " launches in one @" << function << ", in order\n";
  for (auto [i, line] : llvm::enumerate(launches))
    os << llvm::format("%4u", static_cast<unsigned>(i)) << "  " << line << "\n";
}
