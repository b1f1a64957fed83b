//===- CPUTarget.h - LLVM dialect -> object file -> executable --*- C++ -*-===//
#ifndef CMT_TARGET_CPU_CPUTARGET_H
#define CMT_TARGET_CPU_CPUTARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include <string>

namespace cmt {
struct CPUTargetOptions {
  /// "host" or an LLVM CPU name (x86-64-v3, znver4, ...).
  std::string cpu = "host";
  /// Where libcmt_runtime.a and libcmt_runtime_main.a are.
  std::string runtimeDir;
  /// -O3 and optimised code generation (the CPU kernels). Off for CUDA host
  /// code: a straight-line recording of launches that runs twice per process
  /// (arena planning, graph capture) and never again, on whose one huge basic
  /// block -O3 spends minutes for a training step (CMT-Ti: 9.5 min) to gain
  /// nothing measurable.
  bool optimize = true;
};

/// Adds the executable's ABI to a module lowered to the LLVM dialect: the
/// text plan as the constant `cmt_plan`, default weights (a safetensors image,
/// possibly empty) as `cmt_default_weights` and `cmt_default_weights_size`, and
/// `cmt_forward_packed(void **)`, which calls `kernel` with one pointer per
/// argument.
mlir::LogicalResult addExecutableInterface(mlir::ModuleOp module, llvm::StringRef kernel,
                                           llvm::StringRef plan,
                                           llvm::StringRef defaultWeights = "");

/// Adds one more entry point: the text plan as the constant `planSymbol` and
/// `packedSymbol(void **)`, which calls `kernel` with one pointer per
/// argument. Training executables carry their evaluation forward this way
/// (`cmt_eval_packed`, `cmt_eval_plan`).
mlir::LogicalResult addEntryPoint(mlir::ModuleOp module, llvm::StringRef kernel,
                                  llvm::StringRef packedSymbol, llvm::StringRef planSymbol,
                                  llvm::StringRef plan);

/// Translates to LLVM IR and optimises it (-O3) for the chosen CPU; writes the
/// IR as text when `objectPath` is empty, else an object file.
mlir::LogicalResult emitLLVM(mlir::ModuleOp module, const CPUTargetOptions &options,
                             llvm::StringRef objectPath, llvm::raw_ostream &irOut);

/// Links an object with the runtime into a self-contained executable.
mlir::LogicalResult linkExecutable(llvm::StringRef objectPath, llvm::StringRef exePath,
                                   const CPUTargetOptions &options);
} // namespace cmt

#endif
