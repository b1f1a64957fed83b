//===- CPUTarget.cpp - LLVM dialect -> object file -> executable -*- C++ -*-===//
#include "cmt/Target/CPU/CPUTarget.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

LogicalResult cmt::addEntryPoint(ModuleOp module, StringRef kernel, StringRef packedSymbol,
                                 StringRef planSymbol, StringRef plan) {
  auto forward = module.lookupSymbol<LLVM::LLVMFuncOp>(kernel);
  if (!forward)
    return module.emitError("no LLVM function @") << kernel << " to wrap";
  MLIRContext *ctx = module.getContext();
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  for (Type t : forward.getFunctionType().getParams())
    if (t != ptr)
      return forward.emitError("expects every argument to be a bare pointer, got ") << t;

  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  std::string text = plan.str();
  text.push_back('\0');
  LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), text.size()),
                         /*isConstant=*/true, LLVM::Linkage::External, planSymbol,
                         b.getStringAttr(text));

  auto entry = LLVM::LLVMFuncOp::create(
      b, loc, packedSymbol, LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptr}));
  Block *body = entry.addEntryBlock(b);
  b.setInsertionPointToStart(body);
  SmallVector<Value> args;
  for (unsigned i = 0; i < forward.getNumArguments(); ++i) {
    Value slot = LLVM::GEPOp::create(b, loc, ptr, ptr, body->getArgument(0),
                                     ArrayRef<LLVM::GEPArg>{static_cast<int32_t>(i)});
    args.push_back(LLVM::LoadOp::create(b, loc, ptr, slot));
  }
  LLVM::CallOp::create(b, loc, forward, args);
  LLVM::ReturnOp::create(b, loc, ValueRange{});
  return success();
}

LogicalResult cmt::addExecutableInterface(ModuleOp module, StringRef kernel, StringRef plan,
                                          StringRef defaultWeights) {
  // Outlined kernels (cmt-outline-kernels) stay functions of their own: the
  // discardable marker survives the conversion to LLVM, the inherent
  // attribute is what translation honours.
  module.walk([](LLVM::LLVMFuncOp f) {
    if (f->removeAttr("llvm.no_inline")) {
      f.setNoInline(true);
      f.setLinkage(LLVM::Linkage::Internal);
    }
  });
  if (failed(addEntryPoint(module, kernel, "cmt_forward_packed", "cmt_plan", plan)))
    return failure();

  MLIRContext *ctx = module.getContext();
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = module.getLoc();
  // Alignment 64 keeps every float32 tensor of the image aligned for the kernels.
  auto weights = LLVM::GlobalOp::create(
      b, loc, LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), std::max<size_t>(1, defaultWeights.size())),
      /*isConstant=*/true, LLVM::Linkage::External, "cmt_default_weights",
      b.getStringAttr(defaultWeights.empty() ? StringRef("\0", 1) : defaultWeights));
  weights.setAlignment(64);
  LLVM::GlobalOp::create(b, loc, IntegerType::get(ctx, 64), /*isConstant=*/true,
                         LLVM::Linkage::External, "cmt_default_weights_size",
                         b.getI64IntegerAttr(static_cast<int64_t>(defaultWeights.size())));
  return success();
}

/// -O3 without full unrolling: with static shapes LLVM would otherwise unroll
/// every short loop of every kernel, multiplying code size (and compile time)
/// for no measurable speed; vectorisation and interleaving stay on.
static void optimize(llvm::Module &module, llvm::TargetMachine &machine) {
  llvm::PipelineTuningOptions tuning;
  tuning.LoopUnrolling = false;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&machine, tuning);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(module, mam);
}

LogicalResult cmt::emitLLVM(ModuleOp module, const CPUTargetOptions &options,
                            StringRef objectPath, raw_ostream &irOut) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());

  // Argument attributes of other dialects (cmt.name and cmt.kind on the entry
  // point's arguments) mean nothing to LLVM. The translation would emit a
  // warning for each one with the whole function printed into it: minutes for
  // a training step's host function with its thousand arguments.
  auto isLLVM = [](NamedAttribute a) { return a.getName().getValue().starts_with("llvm."); };
  module.walk([&](LLVM::LLVMFuncOp func) {
    auto iface = cast<FunctionOpInterface>(func.getOperation());
    for (unsigned i = 0, e = iface.getNumArguments(); i < e; ++i) {
      ArrayRef<NamedAttribute> attrs = iface.getArgAttrs(i);
      if (llvm::all_of(attrs, isLLVM))
        continue;
      SmallVector<NamedAttribute> kept;
      llvm::copy_if(attrs, std::back_inserter(kept), isLLVM);
      iface.setArgAttrs(i, kept);
    }
  });
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule = translateModuleToLLVMIR(module, llvmContext);
  if (!llvmModule)
    return module.emitError("translation to LLVM IR failed");

  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  std::string error;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return module.emitError("no LLVM target for ") << triple.str() << ": " << error;
  std::string cpu = options.cpu, features;
  if (cpu == "host") {
    cpu = llvm::sys::getHostCPUName().str();
    for (auto &f : llvm::sys::getHostCPUFeatures())
      features += (features.empty() ? "" : ",") + std::string(f.second ? "+" : "-") + f.first().str();
  }
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      triple, cpu, features, llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt,
      options.optimize ? llvm::CodeGenOptLevel::Default : llvm::CodeGenOptLevel::None));
  if (!machine)
    return module.emitError("cannot create a target machine for CPU '") << cpu << "'";
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);

  if (options.optimize)
    optimize(*llvmModule, *machine);

  if (objectPath.empty()) {
    llvmModule->print(irOut, nullptr);
    return success();
  }
  std::error_code ec;
  llvm::raw_fd_ostream out(objectPath, ec, llvm::sys::fs::OF_None);
  if (ec)
    return module.emitError("cannot write ") << objectPath << ": " << ec.message();
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, out, nullptr, llvm::CodeGenFileType::ObjectFile))
    return module.emitError("the target cannot emit object files");
  codegen.run(*llvmModule);
  return success();
}

LogicalResult cmt::linkExecutable(StringRef objectPath, StringRef exePath,
                                  const CPUTargetOptions &options) {
  llvm::ErrorOr<std::string> cxx = llvm::sys::findProgramByName("c++");
  if (!cxx)
    cxx = llvm::sys::findProgramByName("g++");
  if (!cxx) {
    llvm::errs() << "error: no C++ linker driver (c++ or g++) on PATH to link " << exePath << "\n";
    return failure();
  }
  SmallString<256> runtime(options.runtimeDir), runtimeMain(options.runtimeDir);
  llvm::sys::path::append(runtime, "libcmt_runtime.a");
  llvm::sys::path::append(runtimeMain, "libcmt_runtime_main.a");
  for (StringRef lib : {runtime.str(), runtimeMain.str()})
    if (!llvm::sys::fs::exists(lib)) {
      llvm::errs() << "error: runtime library " << lib
                   << " not found (build it, or pass --runtime-dir)\n";
      return failure();
    }
  // Image decoders and the C++ runtime linked in statically: the executable
  // runs on machines that have neither (GPU servers often lack libjpeg).
  SmallVector<StringRef> args = {*cxx, objectPath, runtimeMain.str(), runtime.str(), "-o", exePath,
                                 "-static-libstdc++", "-static-libgcc", "-Wl,-Bstatic", "-lpng16",
                                 "-ljpeg", "-lz", "-Wl,-Bdynamic", "-lpthread", "-lm", "-ldl"};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*cxx, args, std::nullopt, {}, 0, 0, &message);
  if (rc != 0) {
    llvm::errs() << "error: linking " << exePath << " failed (" << *cxx << " exited with " << rc
                 << ")" << (message.empty() ? "" : ": " + message) << "\n";
    return failure();
  }
  return success();
}
