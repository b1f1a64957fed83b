//===- cmt-compile.cpp - a CMT model in, an executable out ------*- C++ -*-===//
//
//   cmt-compile MODEL --target=cpu|cuda --mode=infer --batch=N -o EXE
//
// MODEL is a models/*.mlir file (a cmt.model), an official checkpoint
// (.safetensors, the configuration inferred from its tensors) or an ONNX
// export (.onnx; its initializers become the executable's default weights,
// so --weights is optional there). Like the Toy
// tutorial's driver, -emit= stops after any stage and prints it:
//   model   the architecture (cmt.model), e.g. as inferred from a checkpoint
//   cmt     graph-level cmt ops (func.func @forward)
//   linalg  fused linalg on tensors
//   gpu     (cuda) the gpu dialect: cuBLAS calls and one kernel per loop nest
//   ptx     (cuda) the kernels' PTX
//   llvm    optimised LLVM IR (host code)
//   obj     an object file (-o)
//   exe     the executable (-o, the default)
//
//===----------------------------------------------------------------------===//
#include "cmt/Dialect/CMT/IR/CMTDialect.h"
#include "cmt/Dialect/CMT/IR/CMTOps.h"
#include "cmt/Import/Checkpoint.h"
#include "cmt/Import/ONNX.h"
#include "cmt/Pipelines/Pipelines.h"
#include "cmt/Target/CPU/CPUTarget.h"
#include "cmt/Target/CUDA/CUDATarget.h"
#include "cmt/Target/ONNX/ONNXExport.h"
#include "runtime/plan.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory
    options("cmt-compile options",
            "MLIR's pass-manager and printing flags (--mlir-timing, --mlir-print-ir-after-all, "
            "--mlir-print-debuginfo, ...) "
            "also apply; --help-hidden lists them");

static cl::opt<std::string>
    inputPath(cl::Positional, cl::desc("<model.mlir | checkpoint.safetensors | model.onnx>"),
              cl::Required, cl::cat(options));
static cl::opt<std::string> outputPath("o", cl::desc("Output file (the executable with -emit=exe)"),
                                       cl::value_desc("path"), cl::init("-"), cl::cat(options));
static cl::opt<std::string> target("target", cl::desc("cpu or cuda"), cl::init("cpu"),
                                   cl::cat(options));
static cl::opt<std::string> gpuArch("gpu-arch", cl::desc("CUDA architecture (--target=cuda)"),
                                    cl::init("sm_90"), cl::cat(options));
static cl::opt<std::string> cudaPath("cuda-path",
                                     cl::desc("CUDA toolkit for ptxas (default: MLIR's search)"),
                                     cl::init(""), cl::cat(options));
static cl::opt<bool> reportKernels("report-kernels",
                                   cl::desc("(cuda) list the kernels of one forward with the "
                                            "model modules each computes"),
                                   cl::init(false), cl::cat(options));
static cl::opt<std::string> mode(
    "mode",
    cl::desc("infer, train (a training executable: forward, backward and optimizer per step), "
             "or train-forward (the training-mode forward only: loss and updated BN statistics)"),
    cl::init("infer"), cl::cat(options));
static cl::opt<double> labelSmoothing("label-smoothing",
                                      cl::desc("Label smoothing of the train-forward loss"),
                                      cl::init(0.0), cl::cat(options));
static cl::opt<double>
    headDropout("head-dropout",
                cl::desc("Override the model's head dropout (train-forward needs 0)"),
                cl::init(-1.0), cl::cat(options));
static cl::opt<std::string> rematerialize(
    "rematerialize",
    cl::desc("(--mode=train) recompute elementwise values where the backward reads them instead of "
             "keeping them through the memory peak: on, off, or auto (--lowering's choice: on for "
             "the GPU, where memory is the limit; off for the CPU, where it costs time)"),
    cl::init("auto"), cl::cat(options));
static cl::opt<std::string> fuseAttention(
    "fuse-attention",
    cl::desc("each attention as one loop nest over query rows, its scores never in memory (one "
             "warp per row on the GPU): on, off, or auto (--lowering's choice: on for the GPU; off "
             "for the CPU, where the micro-kernel GEMMs of the unfused form are faster)"),
    cl::init("auto"), cl::cat(options));
static cl::opt<std::string> storage(
    "storage",
    cl::desc("element type of activations (and, in a training step, their gradients) in memory: "
             "f32, bf16 (arithmetic stays f32, matrix products take bf16 operands with f32 "
             "accumulation; parameters, optimizer state and outputs stay f32; halves most of the "
             "bytes the GPU moves), both (inference: one forward of each, the executable's "
             "--precision picks), or auto (both for CUDA inference, else f32)"),
    cl::init("auto"), cl::cat(options));
static cl::opt<std::string> hoistParameterMath(
    "hoist-parameter-math",
    cl::desc("(inference) compute the values the weights alone decide (bf16 weights, re-laid-out "
             "kernels, per-channel scales) once, when the executable loads its weights, instead of "
             "at every forward: on or off"),
    cl::init("on"), cl::cat(options));
static cl::opt<std::string> lowering(
    "lowering",
    cl::desc("which target's lowering choices: cpu, gpu, or auto (the target's). The GPU's: padded "
             "windows gathered with bounds checks, per-channel arithmetic recomputed where it is "
             "applied, reshapes folded so that elementwise ops fuse, long sums with few outputs split "
             "in two stages, each attention and each layer norm's statistics one loop nest, GEMMs "
             "storing bf16 (with bf16 storage), a training step rematerialised. "
             "--target=cpu --lowering=gpu runs them on the CPU (the tests check their parity there, "
             "without a GPU); on the CPU each costs time"),
    cl::init("auto"), cl::cat(options));
static cl::opt<int64_t>
    resolution("resolution",
               cl::desc("Override the model's input resolution (e.g. 32 for 28 x 28 data)"),
               cl::init(0), cl::cat(options));
static cl::opt<int64_t> batch("batch", cl::desc("Images per run of the executable"), cl::init(1),
                              cl::cat(options));
static cl::opt<bool> activations("activations",
                                 cl::desc("Also output act/stem, act/stage1-4, act/features"),
                                 cl::init(false), cl::cat(options));
static cl::opt<std::string> cpu("cpu", cl::desc("CPU to compile for: host or an LLVM CPU name"),
                                cl::init("host"), cl::cat(options));
static cl::opt<std::string>
    exportOnnx("export-onnx",
               cl::desc("Write the model with its weights as ONNX (opset 17) and stop"),
               cl::value_desc("OUT.onnx"), cl::init(""), cl::cat(options));
static cl::opt<std::string> weightsPath(
    "weights", cl::desc("Weights for --export-onnx (default: the checkpoint or ONNX input itself)"),
    cl::value_desc("W.safetensors"), cl::init(""), cl::cat(options));
static cl::opt<std::string> runtimeDir("runtime-dir", cl::desc("Where libcmt_runtime*.a are"),
                                       cl::init(""), cl::cat(options));
enum class Emit { Model, CMT, Linalg, GPU, PTX, LLVM, Obj, Exe };
static cl::opt<Emit> emit(
    "emit", cl::desc("Stop after this stage and write it"), cl::init(Emit::Exe),
    cl::values(clEnumValN(Emit::Model, "model", "the architecture (cmt.model)"),
               clEnumValN(Emit::CMT, "cmt", "graph-level cmt ops"),
               clEnumValN(Emit::Linalg, "linalg", "fused linalg on tensors"),
               clEnumValN(Emit::GPU, "gpu", "(cuda) the gpu dialect: kernels and cuBLAS calls"),
               clEnumValN(Emit::PTX, "ptx", "(cuda) the kernels' PTX"),
               clEnumValN(Emit::LLVM, "llvm", "optimised LLVM IR"),
               clEnumValN(Emit::Obj, "obj", "an object file"),
               clEnumValN(Emit::Exe, "exe", "a self-contained executable")),
    cl::cat(options));

namespace {
int fail(const llvm::Twine &msg) {
  llvm::errs() << "cmt-compile: error: " << msg << "\n";
  return 1;
}

/// The model as a module holding one cmt.model (and, from ONNX, its weights).
OwningOpRef<ModuleOp> loadModel(MLIRContext &ctx, cmt::ImportedWeights &weights,
                                std::string &error) {
  StringRef ext = llvm::sys::path::extension(inputPath);
  if (ext == ".safetensors") {
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
    OpBuilder b = OpBuilder::atBlockEnd(module->getBody());
    if (failed(cmt::importCheckpointConfig(inputPath, b, error)))
      return nullptr;
    return module;
  }
  if (ext == ".onnx") {
    OwningOpRef<ModuleOp> module = ModuleOp::create(UnknownLoc::get(&ctx));
    OpBuilder b = OpBuilder::atBlockEnd(module->getBody());
    if (failed(cmt::importONNX(inputPath, b, weights, error)))
      return nullptr;
    return module;
  }
  llvm::SourceMgr sources;
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(inputPath, sources, &ctx);
  if (!module) {
    error = "cannot parse " + inputPath + " (see the diagnostics above)";
    return nullptr;
  }
  auto models = module->getOps<cmt::ModelOp>();
  if (std::distance(models.begin(), models.end()) != 1) {
    error = inputPath + " must hold exactly one cmt.model";
    return nullptr;
  }
  return module;
}

/// The evaluation forward of a training executable.
constexpr llvm::StringLiteral kEvaluate = "evaluate";
/// The largest producer (elements) fused and recomputed into its readers on
/// the GPU: every per-channel vector of the CMT family (CMT-B: 2,432 channels
/// in its widest IRFFN).
constexpr int64_t kRecomputeSmall = 4096;

/// The bf16-storage forward beside an f32 one (--storage=both).
constexpr llvm::StringLiteral kForwardBF16 = "forward_bf16";

/// The function the executable calls: @train_step for --mode=train.
std::string kernelName() { return mode == "train" ? "train_step" : "forward"; }

/// A plan read off `function` at the graph level: its arguments, then its
/// results (which bufferization turns into trailing out-parameters, in order).
std::optional<cmt::rt::Plan> makePlan(ModuleOp module, StringRef function, StringRef planMode,
                                      int64_t kernelBatch, std::string &error) {
  auto forward = module.lookupSymbol<func::FuncOp>(function);
  if (!forward) {
    error = "no @" + function.str() + " after expansion";
    return std::nullopt;
  }
  cmt::rt::Plan plan;
  auto config = forward->getAttrOfType<DictionaryAttr>(cmt::kConfigAttr);
  plan.model = config.getAs<StringAttr>("model").str();
  plan.resolution = config.getAs<IntegerAttr>("resolution").getInt();
  plan.target = target;
  plan.mode = planMode.str();
  plan.batch = batch;
  plan.kernelBatch = kernelBatch;
  auto addArg = [&](cmt::rt::PlanArg::Kind kind, StringAttr name, Type type) {
    auto t = cast<RankedTensorType>(type);
    cmt::rt::PlanArg a;
    a.kind = kind;
    a.name = name ? name.str() : "";
    Type e = t.getElementType();
    a.dtype = e.isInteger(64) ? cmt::rt::DType::I64 : e.isBF16() ? cmt::rt::DType::BF16 : cmt::rt::DType::F32;
    a.shape.assign(t.getShape().begin(), t.getShape().end());
    plan.args.push_back(a);
  };
  for (unsigned i = 0; i < forward.getNumArguments(); ++i) {
    StringRef kind = forward.getArgAttrOfType<StringAttr>(i, cmt::kKindAttr).getValue();
    addArg(kind == cmt::kKindInput       ? cmt::rt::PlanArg::Input
           : kind == cmt::kKindParameter ? cmt::rt::PlanArg::Parameter
           : kind == cmt::kKindState     ? cmt::rt::PlanArg::State
           : kind == cmt::kKindPrepared  ? cmt::rt::PlanArg::Prepared
                                         : cmt::rt::PlanArg::Buffer,
           forward.getArgAttrOfType<StringAttr>(i, cmt::kNameAttr), forward.getArgument(i).getType());
  }
  for (unsigned i = 0; i < forward.getNumResults(); ++i)
    addArg(cmt::rt::PlanArg::Output, forward.getResultAttrOfType<StringAttr>(i, cmt::kNameAttr),
           forward.getFunctionType().getResult(i));
  return plan;
}

/// A function the executable calls, the symbols it is called through, and its plan.
struct Entry {
  std::string function, packedSymbol, planSymbol, planMode, storage;
  /// The symbols' prefix for its @F_prepare (cmt-hoist-parameter-math).
  std::string preparePrefix;
  cmt::rt::Plan plan;

  LogicalResult makePlan(ModuleOp module, int64_t kernelBatch, std::string &error) {
    std::optional<cmt::rt::Plan> made = ::makePlan(module, function, planMode, kernelBatch, error);
    if (!made)
      return failure();
    plan = std::move(*made);
    plan.storage = storage;
    return success();
  }
};

/// The imported weights as a safetensors image, in the plan's order.
std::string serializeWeights(const cmt::rt::Plan &plan, const cmt::ImportedWeights &weights) {
  std::vector<cmt::rt::TensorOut> tensors;
  for (const cmt::rt::PlanArg &a : plan.args) {
    auto it = weights.find(a.name);
    if (it == weights.end())
      continue;
    tensors.push_back({a.name, it->second.isInt64 ? cmt::rt::DType::I64 : cmt::rt::DType::F32,
                       it->second.shape, it->second.bytes.data()});
  }
  return cmt::rt::safetensorsBytes(tensors, {{"source", inputPath}});
}

/// --export-onnx: the graph with weights from --weights, the checkpoint given
/// as the model, or the ONNX file's own initializers.
int exportToONNX(ModuleOp module, const cmt::ImportedWeights &imported) {
  std::string source = weightsPath;
  if (source.empty() && llvm::sys::path::extension(inputPath) == ".safetensors")
    source = inputPath;
  std::unique_ptr<cmt::rt::SafetensorsFile> ckpt;
  if (!source.empty()) {
    try {
      ckpt = std::make_unique<cmt::rt::SafetensorsFile>(source);
    } catch (const cmt::rt::Error &e) {
      return fail(e.what());
    }
  } else if (imported.empty()) {
    return fail("--export-onnx needs weights: pass --weights W.safetensors");
  }
  std::string problem;
  auto lookup = [&](const std::string &name, const std::vector<int64_t> &shape,
                    std::string &bytes) -> bool {
    if (ckpt) {
      try {
        std::vector<float> data = ckpt->getF32(name, shape);
        bytes.assign(reinterpret_cast<const char *>(data.data()), data.size() * sizeof(float));
        return true;
      } catch (const cmt::rt::Error &e) {
        problem = e.what();
        return false;
      }
    }
    auto it = imported.find(name);
    if (it == imported.end() || it->second.shape != shape)
      return false;
    bytes.assign(it->second.bytes.begin(), it->second.bytes.end());
    return true;
  };
  std::string error;
  if (failed(cmt::exportONNX(module.lookupSymbol<func::FuncOp>("forward"), lookup, exportOnnx, error)))
    return fail(error + (problem.empty() ? "" : " (" + problem + ")"));
  llvm::outs() << "wrote " << exportOnnx << "\n";
  return 0;
}

LogicalResult runPipeline(ModuleOp module, llvm::function_ref<void(OpPassManager &)> build) {
  PassManager pm(module.getContext());
  // --mlir-timing, --mlir-print-ir-after-all, ...: as mlir-opt.
  if (failed(applyPassManagerCLOptions(pm)))
    return failure();
  auto timing = std::make_unique<DefaultTimingManager>();
  applyDefaultTimingManagerCLOptions(*timing);
  if (timing->isEnabled())
    pm.enableTiming(std::move(timing));
  build(pm);
  return pm.run(module);
}

std::string defaultRuntimeDir(const char *argv0) {
  std::string exe = llvm::sys::fs::getMainExecutable(argv0, reinterpret_cast<void *>(&fail));
  SmallString<256> dir(llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(dir, "lib");
  return std::string(dir);
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  registerAllPasses();
  registerPassManagerCLOptions();
  registerDefaultTimingManagerCLOptions();
  registerAsmPrinterCLOptions();  // --mlir-print-debuginfo: the model's module names on every op
  registerMLIRContextCLOptions();
  // Without this, --help lists every LLVM backend flag linked into the tool.
  cl::HideUnrelatedOptions(options);
  cl::ParseCommandLineOptions(argc, argv, "CMT compiler: a model in, an executable out\n");

  bool cuda = target == "cuda";
  if (target != "cpu" && !cuda)
    return fail("--target=" + target + " is not supported (cpu and cuda are)");
  if (!cuda && (emit == Emit::GPU || emit == Emit::PTX || reportKernels))
    return fail("-emit=gpu, -emit=ptx and --report-kernels need --target=cuda");
  if (cuda && !llvm::StringRef(gpuArch).starts_with("sm_"))
    return fail("--gpu-arch must name an sm_XX architecture, got '" + gpuArch + "'");
  bool trainStep = mode == "train";
  bool train = mode == "train-forward" || trainStep;
  if (mode != "infer" && !train)
    return fail("--mode=" + mode + " is not supported (infer, train and train-forward are)");
  if (batch <= 0)
    return fail("--batch must be positive");
  if (storage != "f32" && storage != "bf16" && storage != "both" && storage != "auto")
    return fail("--storage must be f32, bf16, both or auto, got '" + storage + "'");
  if (storage == "both" && mode != "infer")
    return fail("--storage=both is for inference; a training executable has one storage (f32 or bf16)");
  // CUDA inference holds both forwards, so that the executable's --precision
  // bf16 means bf16 activations, as users of the GPU expect.
  bool bothStorages = storage == "both" || (storage == "auto" && cuda && mode == "infer");
  bool bf16Only = storage == "bf16";
  if (lowering != "auto" && lowering != "cpu" && lowering != "gpu")
    return fail("--lowering must be cpu, gpu or auto, got '" + lowering + "'");
  for (const cl::opt<std::string> *flag : {&rematerialize, &fuseAttention})
    if (*flag != "auto" && *flag != "on" && *flag != "off")
      return fail("--" + flag->ArgStr.str() + " must be on, off or auto, got '" + *flag + "'");
  if (hoistParameterMath != "on" && hoistParameterMath != "off")
    return fail("--hoist-parameter-math must be on or off, got '" + hoistParameterMath + "'");
  if ((emit == Emit::Obj || emit == Emit::Exe) && outputPath == "-" && exportOnnx.empty())
    return fail("-o is required for -emit=obj and -emit=exe");

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
  registry.insert<cmt::CMTDialect>();
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();

  std::string error;
  cmt::ImportedWeights imported;
  OwningOpRef<ModuleOp> module = loadModel(ctx, imported, error);
  if (!module)
    return fail(error);
  if (failed(verify(*module)))
    return fail("the model is not valid (see the diagnostics above)");

  auto write = [&](llvm::function_ref<void(raw_ostream &)> print) -> int {
    std::string err;
    auto out = openOutputFile(outputPath, &err);
    if (!out)
      return fail(err);
    print(out->os());
    out->keep();
    return 0;
  };
  if (emit == Emit::Model)
    return write([&](raw_ostream &os) { module->print(os); });

  for (auto model : module->getOps<cmt::ModelOp>()) {
    if (headDropout >= 0.0)
      model.setHeadDropout(llvm::APFloat(static_cast<double>(headDropout)));
    if (resolution > 0)
      model.setResolution(resolution);
  }
  if (resolution > 0 && failed(verify(*module)))
    return fail("--resolution=" + std::to_string(resolution) + " does not suit the model (see above)");

  // Evaluation-mode batch norm makes images independent: the CPU kernel takes
  // one image and the runtime spreads the batch over threads. Training-mode
  // batch statistics need the whole batch in one call, and so does the GPU
  // (one graph for the batch).
  int64_t kernelBatch = train || cuda ? batch : 1;
  cmt::GraphPipelineOptions graph;
  graph.batch = kernelBatch;
  graph.activations = activations;
  graph.train = train;
  graph.labelSmoothing = labelSmoothing;
  graph.dropPath = trainStep;
  // Mixup and cutmix mix labels: a training step takes a distribution per image.
  graph.softTargets = trainStep;
  // A training executable also evaluates (validation every epoch): the
  // evaluation-mode forward at the same batch, as @evaluate beside @train_step.
  if (trainStep) {
    OwningOpRef<ModuleOp> evalModule = module->clone();
    cmt::GraphPipelineOptions eval;
    eval.batch = kernelBatch;
    if (failed(runPipeline(*evalModule, [&](OpPassManager &pm) { cmt::buildGraphPipeline(pm, eval); })))
      return fail("expansion of the evaluation forward failed");
    auto evaluate = evalModule->lookupSymbol<func::FuncOp>("forward");
    evaluate.setSymName(kEvaluate);
    evaluate->remove();
    module->push_back(evaluate);
  }
  if (failed(runPipeline(*module, [&](OpPassManager &pm) {
        cmt::buildGraphPipeline(pm, graph);
        if (trainStep)
          cmt::buildBackwardPipeline(pm, /*dataParallel=*/true);
      })))
    return fail(trainStep ? "expansion or differentiation failed" : "expansion failed");
  if (emit == Emit::CMT)
    return write([&](raw_ostream &os) { module->print(os); });
  if (!exportOnnx.empty())
    return exportToONNX(*module, imported);

  if (bothStorages) {
    func::FuncOp narrowed = module->lookupSymbol<func::FuncOp>("forward").clone();
    narrowed.setSymName(kForwardBF16);
    module->push_back(narrowed);
  }
  // The functions the executable calls: the first is its main one.
  std::string mainStorage = bf16Only ? "bf16" : "f32";
  std::vector<Entry> entries = {{kernelName(), "cmt_forward_packed", "cmt_plan", mode, mainStorage, "cmt_prepare", {}}};
  if (trainStep)
    entries.push_back({kEvaluate.str(), "cmt_eval_packed", "cmt_eval_plan", "infer", mainStorage, "", {}});
  if (bothStorages)
    entries.push_back({kForwardBF16.str(), "cmt_bf16_packed", "cmt_bf16_plan", mode, "bf16", "cmt_bf16_prepare", {}});
  for (Entry &e : entries)
    if (failed(e.makePlan(*module, kernelBatch, error)))
      return fail(error);
  std::string defaultWeights;
  if (!imported.empty()) {
    if (failed(cmt::completeImportedWeights(module->lookupSymbol<func::FuncOp>("forward"), imported,
                                            inputPath, error)))
      return fail(error);
    defaultWeights = serializeWeights(entries[0].plan, imported);
  }

  // The GPU's lowering choices trade arithmetic and index math for bytes
  // and launches; on the CPU each measured slower (docs/training.md).
  bool gpuLowering = lowering == "gpu" || (lowering == "auto" && cuda);
  auto choice = [&](const std::string &flag) { return flag == "on" || (flag == "auto" && gpuLowering); };
  cmt::LinalgPipelineOptions linalgOptions;
  linalgOptions.gatherWindows = gpuLowering;
  linalgOptions.recomputeSmall = gpuLowering ? kRecomputeSmall : 0;
  linalgOptions.foldReshapes = gpuLowering;
  linalgOptions.splitReductions = gpuLowering;
  linalgOptions.rowStats = gpuLowering;
  linalgOptions.bf16Products = gpuLowering;
  linalgOptions.fuseAttention = choice(fuseAttention);
  // Training executables run data-parallel (mpirun, torchrun) as well as alone.
  linalgOptions.syncBatchNorm = trainStep;
  // A training step's peak is the activations saved for its backward.
  linalgOptions.rematerialize = trainStep && choice(rematerialize);
  linalgOptions.bf16Storage = bf16Only || bothStorages;
  if (bothStorages)
    linalgOptions.bf16Functions = ArrayRef<std::string>{kForwardBF16.str()};
  // Weights are fixed through an inference executable's life (not through
  // a training step's).
  SmallVector<std::string> hoisted;
  if (mode == "infer" && hoistParameterMath == "on")
    for (const Entry &e : entries)
      hoisted.push_back(e.function);
  linalgOptions.hoistParameterMath = hoisted;
  if (failed(runPipeline(*module, [&](OpPassManager &pm) {
        cmt::buildLinalgPipeline(pm, linalgOptions);
      })))
    return fail("lowering to linalg failed");
  // A hoisting function takes new arguments, and its @F_prepare is called too.
  for (size_t i = 0, n = entries.size(); i < n; ++i) {
    std::string prepare = entries[i].function + "_prepare";
    if (!module->lookupSymbol<func::FuncOp>(prepare))
      continue;
    std::string prefix = entries[i].preparePrefix;
    entries.push_back({prepare, prefix + "_packed", prefix + "_plan", "prepare", entries[i].storage, "", {}});
    if (failed(entries[i].makePlan(*module, kernelBatch, error)) ||
        failed(entries.back().makePlan(*module, kernelBatch, error)))
      return fail(error);
  }
  if (emit == Emit::Linalg)
    return write([&](raw_ostream &os) { module->print(os); });

  if (cuda) {
    cmt::CUDAPipelineOptions cudaOptions;
    cudaOptions.chip = gpuArch;
    if (failed(runPipeline(*module, [&](OpPassManager &pm) {
          cmt::buildCUDAKernelPipeline(pm, cudaOptions);
        })))
      return fail("lowering to the gpu dialect failed");
    // The plan carries the list, so that the executable's --profile can name
    // what it times.
    for (Entry &e : entries) {
      e.plan.launches = cmt::listLaunches(*module, e.function);
      if (reportKernels)
        cmt::reportKernels(e.plan.launches, e.function, llvm::outs());
    }
    if (emit == Emit::GPU)
      return write([&](raw_ostream &os) { module->print(os); });
    if (failed(runPipeline(*module, cmt::buildCUDAToLLVMPipeline)))
      return fail("lowering to LLVM and NVVM failed");
    if (failed(cmt::serializeKernels(*module, emit == Emit::PTX ? "isa" : "bin", cudaPath)))
      return fail("compiling the kernels failed (ptxas; see above)");
    if (emit == Emit::PTX)
      return write([&](raw_ostream &os) { cmt::printPTX(*module, os); });
    for (Entry &e : entries)
      e.plan.gpuArch = gpuArch;
  } else if (failed(runPipeline(*module, cmt::buildCPULoweringPipeline))) {
    return fail("lowering to LLVM failed");
  }
  if (failed(cmt::addExecutableInterface(*module, kernelName(), entries[0].plan.serialize(), defaultWeights)))
    return fail("cannot add the executable interface");
  for (const Entry &e : llvm::ArrayRef<Entry>(entries).drop_front())
    if (failed(cmt::addEntryPoint(*module, e.function, e.packedSymbol, e.planSymbol, e.plan.serialize())))
      return fail("cannot add the executable interface");

  cmt::CPUTargetOptions options;
  options.cpu = cpu;
  options.optimize = !cuda;
  options.runtimeDir = runtimeDir.empty() ? defaultRuntimeDir(argv[0]) : std::string(runtimeDir);
  if (emit == Emit::LLVM)
    return write([&](raw_ostream &os) { (void)cmt::emitLLVM(*module, options, "", os); });

  std::string objectPath = outputPath;
  SmallString<128> tmp;
  if (emit == Emit::Exe) {
    if (std::error_code ec = llvm::sys::fs::createTemporaryFile("cmt-model", "o", tmp))
      return fail("cannot create a temporary object file: " + ec.message());
    objectPath = std::string(tmp);
  }
  if (failed(cmt::emitLLVM(*module, options, objectPath, llvm::nulls())))
    return fail("code generation failed");
  if (emit == Emit::Obj)
    return 0;
  LogicalResult linked = cmt::linkExecutable(objectPath, outputPath, options);
  llvm::sys::fs::remove(objectPath);
  return succeeded(linked) ? 0 : 1;
}
