// main.cpp - the driver of every executable cmt-compile makes for the CPU.
//
// The compiled object provides the plan (cmt_plan: what the kernel takes, by
// official name) and the kernel (cmt_forward_packed: one pointer per plan
// argument); compiled with --storage=both, also a bf16-storage forward
// (cmt_bf16_plan, cmt_bf16_packed) that --precision bf16 picks; and for each
// forward that takes prepared arguments, the function computing them from
// the weights (cmt_prepare_*, cmt_bf16_prepare_*). This file binds a
// checkpoint to the plan, prepares the input, runs the batch's images on
// worker threads and reports.
#include "runtime/cuda.h"
#include "runtime/driver.h"
#include "runtime/image.h"
#include "runtime/plan.h"
#include "runtime/safetensors.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <malloc.h>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

extern "C" const char cmt_plan[];
extern "C" __attribute__((weak)) const char cmt_bf16_plan[];
extern "C" __attribute__((weak)) void cmt_bf16_packed(void **args);
extern "C" __attribute__((weak)) const char cmt_prepare_plan[];
extern "C" __attribute__((weak)) void cmt_prepare_packed(void **args);
extern "C" __attribute__((weak)) const char cmt_bf16_prepare_plan[];
extern "C" __attribute__((weak)) void cmt_bf16_prepare_packed(void **args);
// Default weights (a safetensors image; empty unless compiled from ONNX).
extern "C" const char cmt_default_weights[];
extern "C" const uint64_t cmt_default_weights_size;

using namespace cmt::rt;

namespace cmt::rt {
// Binds every parameter and buffer of the plan to the checkpoint by official
// name; collects every problem before failing, so one run shows them all.
std::vector<Bound> bindWeights(const Plan &plan, const SafetensorsFile &ckpt) {
  std::vector<Bound> bound(plan.args.size());
  std::vector<std::string> problems;
  for (size_t i = 0; i < plan.args.size(); ++i) {
    const PlanArg &a = plan.args[i];
    if (a.kind != PlanArg::Parameter && a.kind != PlanArg::Buffer) continue;
    const Tensor *t = ckpt.find(a.name);
    if (!t) {
      problems.push_back("missing tensor '" + a.name + "' " + shapeString(a.shape));
      continue;
    }
    if (t->shape != a.shape) {
      problems.push_back("tensor '" + a.name + "' has shape " + t->shapeString() + ", the model needs " +
                         shapeString(a.shape));
      continue;
    }
    if (a.dtype == DType::I64) {
      if (t->dtype != DType::I64) problems.push_back("tensor '" + a.name + "' must be I64, got " + dtypeName(t->dtype));
      else bound[i].data = t->data;
    } else if (t->dtype == DType::F32) {
      bound[i].data = t->data;
    } else if (t->dtype == DType::F64 || t->dtype == DType::F16 || t->dtype == DType::BF16) {
      bound[i].converted = ckpt.getF32(a.name, a.shape);
      bound[i].data = bound[i].converted.data();
    } else {
      problems.push_back("tensor '" + a.name + "' has dtype " + dtypeName(t->dtype) + ", expected a float type");
    }
  }
  for (const Tensor &t : ckpt.tensors()) {
    // Training checkpoints carry optimizer state under their own prefixes.
    if (t.name.rfind("optimizer/", 0) == 0 || t.name.rfind("train/", 0) == 0) continue;
    if (!plan.find(t.name)) problems.push_back("unexpected tensor '" + t.name + "' " + t.shapeString());
  }
  if (!problems.empty()) {
    std::string msg = ckpt.path() + " does not fit model " + plan.model + " (" +
                      std::to_string(problems.size()) + " problems):";
    for (const std::string &p : problems) msg += "\n  " + p;
    throw Error(msg);
  }
  return bound;
}

// One input of the plan read by name from --data (the whole batch).
std::vector<char> readData(const Plan &plan, const PlanArg &a, const SafetensorsFile &f) {
  std::vector<int64_t> shape = a.shape;
  if (!shape.empty()) shape[0] = plan.batch;
  const Tensor &t = f.get(a.name);
  if (t.shape != shape)
    throw Error(f.path() + ": '" + a.name + "' has shape " + t.shapeString() + ", this executable takes " +
                shapeString(shape));
  std::vector<char> bytes;
  if (a.dtype == DType::I64) {
    if (t.dtype != DType::I64) throw Error(f.path() + ": '" + a.name + "' must be I64, got " + dtypeName(t.dtype));
    bytes.assign(t.data, t.data + t.nbytes);
  } else {
    std::vector<float> v = f.getF32(a.name, shape);
    bytes.assign(reinterpret_cast<const char *>(v.data()), reinterpret_cast<const char *>(v.data() + v.size()));
  }
  return bytes;
}

}  // namespace cmt::rt

namespace {
struct Options {
  std::string weights, output, data, precision;  // empty: the executable's default
  std::vector<std::string> inputs;
  bool benchmark = false, profile = false, planMemory = false;
  int iterations = 0, threads = 0, top = 5, device = 0;
};

[[noreturn]] void usage(const Plan &plan, const std::string &error) {
  std::fprintf(stderr,
               "%s%s"
               "usage: EXE [--weights W.safetensors] --input X [--input X ...] [--output OUT.safetensors]\n"
               "           [--data FILE.safetensors] [--benchmark] [--iterations N] [--threads N] [--top K]\n"
               "           [--precision fp32|tf32|bf16] (tf32: CUDA executables; bf16: bf16 storage where\n"
               "           compiled with it, else cuBLAS's bf16 math)  [--device N] [--profile]   (CUDA)\n"
               "           [--plan-memory]   the GPU memory it needs, found without a GPU (CUDA executables)\n"
               "  X is FILE.safetensors:NAME (float32 NCHW, %lld x %lld x %lld x %lld) or PNG/JPEG files\n"
               "  (at most %lld; resized and centre-cropped to %lld, ImageNet-normalised).\n"
               "  --data reads every input (for a training-mode forward: input and labels) by name.\n"
               "  model %s, compiled for %s (%s), batch %lld\n",
               error.empty() ? "" : "error: ", error.empty() ? "" : (error + "\n").c_str(),
               (long long)plan.batch, (long long)plan.args[0].shape[1], (long long)plan.resolution,
               (long long)plan.resolution, (long long)plan.batch, (long long)plan.resolution,
               plan.model.c_str(), plan.target.c_str(), plan.mode.c_str(), (long long)plan.batch);
  std::exit(error.empty() ? 0 : 2);
}

Options parseArgs(const Plan &plan, int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      size_t eq = a.find('=');
      if (eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) usage(plan, a + " needs a value");
      return argv[++i];
    };
    auto number = [&](const std::string &v) {
      char *end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n <= 0) usage(plan, a + " needs a positive integer, got '" + v + "'");
      return static_cast<int>(n);
    };
    std::string key = a.substr(0, a.find('='));
    if (key == "--weights") o.weights = value();
    else if (key == "--input") o.inputs.push_back(value());
    else if (key == "--data") o.data = value();
    else if (key == "--output") o.output = value();
    else if (key == "--benchmark") o.benchmark = true;
    else if (key == "--profile") o.profile = true;
    else if (key == "--plan-memory") o.planMemory = true;
    else if (key == "--iterations") o.iterations = number(value());
    else if (key == "--threads") o.threads = number(value());
    else if (key == "--top") o.top = number(value());
    else if (key == "--precision") o.precision = value();
    else if (key == "--device") {
      std::string v = value();
      char *end = nullptr;
      long d = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || d < 0) usage(plan, "--device needs a device number (0, 1, ...), got '" + v + "'");
      o.device = static_cast<int>(d);
    }
    else if (key == "--help" || key == "-h") usage(plan, "");
    else usage(plan, "unknown argument '" + a + "'");
  }
  if (o.planMemory) return o;
  if (o.weights.empty() && cmt_default_weights_size == 0 && !o.benchmark && !o.profile)
    usage(plan, "--weights is required (this executable carries no weights of its own)");
  if (o.inputs.empty() && o.data.empty() && !o.benchmark && !o.profile)
    usage(plan, "--input (or --data) is required, or --benchmark");
  return o;
}

// The input batch (NCHW float32), from a safetensors tensor or image files.
std::vector<float> readInput(const Plan &plan, const PlanArg &input, const std::vector<std::string> &specs,
                             int64_t &images) {
  std::vector<int64_t> shape = input.shape;
  shape[0] = plan.batch;
  int64_t per = input.numel() / input.shape[0];
  std::vector<float> data(static_cast<size_t>(per * plan.batch), 0.f);
  images = plan.batch;
  if (specs.empty()) return data;  // benchmark on zeros
  const std::string &first = specs[0];
  size_t colon = first.rfind(':');
  if (specs.size() == 1 && colon != std::string::npos && first.find(".safetensors") < colon) {
    SafetensorsFile f(first.substr(0, colon));
    std::string name = first.substr(colon + 1);
    const Tensor &t = f.get(name);
    if (t.shape != shape)
      throw Error(first + ": input has shape " + t.shapeString() + ", this executable takes " + shapeString(shape) +
                  " (batch " + std::to_string(plan.batch) + ", " + std::to_string(shape[1]) + " channels, " +
                  std::to_string(plan.resolution) + " x " + std::to_string(plan.resolution) + ")");
    data = f.getF32(name, shape);
    return data;
  }
  if (static_cast<int64_t>(specs.size()) > plan.batch)
    throw Error(std::to_string(specs.size()) + " images given, this executable was compiled for batch " +
                std::to_string(plan.batch));
  for (size_t i = 0; i < specs.size(); ++i)
    preprocess(loadImage(specs[i]), static_cast<int>(plan.resolution), static_cast<int>(shape[1]),
               data.data() + i * per);
  images = static_cast<int64_t>(specs.size());
  return data;
}

// The forward's prepared arguments (cmt-hoist-parameter-math): its
// F_prepare run once on the bound weights, each result bound by name.
void prepareArguments(const Plan &plan, std::vector<Bound> &bound, const char *preparePlan,
                      void (*prepare)(void **), Precision precision, int device) {
  if (std::none_of(plan.args.begin(), plan.args.end(), [](const PlanArg &a) { return a.kind == PlanArg::Prepared; }))
    return;
  if (!preparePlan || !prepare) throw Error("this executable lacks the function computing its prepared arguments");
  Plan pp = Plan::parse(preparePlan);
  std::vector<void *> args;
  for (const PlanArg &a : pp.args) {
    const PlanArg *match = plan.find(a.name);
    if (!match || (a.kind == PlanArg::Output) != (match->kind == PlanArg::Prepared) || match->bytes() != a.bytes())
      throw Error("the prepared arguments do not match the forward at '" + a.name + "'");
    Bound &b = bound[static_cast<size_t>(match - plan.args.data())];
    if (a.kind == PlanArg::Output) {
      b.converted.assign((a.bytes() + sizeof(float) - 1) / sizeof(float), 0.f);
      b.data = b.converted.data();
    }
    args.push_back(const_cast<void *>(b.data));
  }
  if (plan.target == "cuda") {
    CudaExecutor once(pp, precision, device, prepare);
    once.bind(args);
    once.run();
    once.release();
  } else {
    prepare(args.data());
  }
}

struct Runner {
  const Plan &plan;
  void (*entry)(void **);
  std::vector<void *> base;                 // per argument: start of the whole batch's data
  std::vector<int64_t> stride;              // per argument: bytes per kernel call (0: shared)
  int threads;

  void run() {
    int64_t calls = plan.batch / plan.kernelBatch;
    std::atomic<int64_t> next{0};
    auto work = [&] {
      std::vector<void *> args(base.size());
      for (int64_t c; (c = next.fetch_add(1)) < calls;) {
        for (size_t i = 0; i < base.size(); ++i)
          args[i] = static_cast<char *>(base[i]) + c * stride[i];
        entry(args.data());
      }
    };
    int n = static_cast<int>(std::min<int64_t>(threads, calls));
    std::vector<std::thread> pool;
    for (int t = 1; t < n; ++t) pool.emplace_back(work);
    work();
    for (auto &t : pool) t.join();
  }
};

void printTop(const float *logits, int64_t classes, int top, int64_t image) {
  std::vector<double> p(static_cast<size_t>(classes));
  double max = *std::max_element(logits, logits + classes), sum = 0;
  for (int64_t c = 0; c < classes; ++c) sum += p[c] = std::exp(logits[c] - max);
  std::vector<int64_t> idx(static_cast<size_t>(classes));
  for (int64_t c = 0; c < classes; ++c) idx[c] = c;
  int k = static_cast<int>(std::min<int64_t>(top, classes));
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  std::printf("image %lld:", (long long)image);
  for (int i = 0; i < k; ++i) std::printf("  class %lld (%.4f)", (long long)idx[i], p[idx[i]] / sum);
  std::printf("\n");
}

// --profile: the time of every launch of one forward, by what it computes.
void printProfile(const Plan &plan, const std::vector<double> &ms) {
  double total = 0, blasTotal = 0;
  std::vector<size_t> order(ms.size());
  for (size_t i = 0; i < ms.size(); ++i) {
    order[i] = i;
    total += ms[i];
    if (i < plan.launches.size() && plan.launches[i].rfind("cublas", 0) == 0) blasTotal += ms[i];
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ms[a] > ms[b]; });
  // Bytes and FLOPs as the compiler counted them (kernel arguments, GEMM shapes).
  double bytes = 0, flops = 0;
  for (const std::string &l : plan.launches) {
    size_t at = l.find(" bytes ");
    if (at != std::string::npos) bytes += std::atof(l.c_str() + at + 7);
    at = l.find(" flops ");
    if (at != std::string::npos) flops += std::atof(l.c_str() + at + 7);
  }
  std::printf("profile: %zu launches, %.3f ms (cuBLAS %.3f ms), run eagerly with events in between\n",
              ms.size(), total, blasTotal);
  std::printf("counted: %.1f MB over kernel arguments and GEMM operands (%.0f GB/s), %.2f GFLOP in GEMMs "
              "(%.1f TFLOP/s over the whole forward)\n",
              bytes / 1e6, bytes / 1e6 / total, flops / 1e9, flops / 1e9 / total);
  // By what the launch computes, block numbers dropped: "blocks_c.3.attn" counts as "attn".
  std::map<std::string, std::pair<double, int>> byModule;
  for (size_t i = 0; i < ms.size() && i < plan.launches.size(); ++i) {
    const std::string &l = plan.launches[i];
    size_t from = l.find("<- ");
    std::string src = from == std::string::npos ? "?" : l.substr(from + 3);
    src = src.substr(0, src.find(','));
    size_t dot = src.find('.');
    if (src.rfind("blocks", 0) == 0 && dot != std::string::npos) {
      size_t next = src.find('.', dot + 1);
      src = next == std::string::npos ? "block" : src.substr(next + 1);
    }
    auto &slot = byModule[(l.rfind("cublas", 0) == 0 ? "cublas " : "kernel ") + src];
    slot.first += ms[i];
    slot.second += 1;
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> groups(byModule.begin(), byModule.end());
  std::sort(groups.begin(), groups.end(), [](auto &a, auto &b) { return a.second.first > b.second.first; });
  std::printf("by module (all blocks together):\n");
  for (auto &[name, v] : groups)
    std::printf("  %8.3f ms  %5.1f%%  %4d launches  %s\n", v.first, 100 * v.first / total, v.second, name.c_str());
  std::printf("slowest launches:\n");
  for (size_t r = 0; r < std::min<size_t>(order.size(), 25); ++r)
    std::printf("  %8.3f ms  %5.1f%%  #%zu %s\n", ms[order[r]], 100 * ms[order[r]] / total, order[r],
                order[r] < plan.launches.size() ? plan.launches[order[r]].c_str() : "?");
}

int realMain(int argc, char **argv) {
  Plan compiled = Plan::parse(cmt_plan);
  if (compiled.mode == "train") return trainMain(compiled, argc, argv);
  Options opt = parseArgs(compiled, argc, argv);
  PrecisionChoice precision = choosePrecision(compiled, opt.precision, cmt_bf16_plan && cmt_bf16_packed);
  const Plan plan = precision.bf16Forward ? Plan::parse(cmt_bf16_plan) : compiled;
  void (*entry)(void **) = precision.bf16Forward ? cmt_bf16_packed : cmt_forward_packed;
  if (opt.planMemory) {
    if (plan.target != "cuda") usage(plan, "--plan-memory applies to CUDA executables (this one is for " + plan.target + ")");
    printGpuMemory(("forward of " + plan.model + " at batch " + std::to_string(plan.batch) + ", " + plan.storage +
                    " activations").c_str(),
                   plannedGpuMemory(plan, entry));
    return 0;
  }
  // Large intermediate buffers come and go every call: keep them in the heap
  // instead of mapping and unmapping (and faulting in) fresh pages each time.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);

  std::unique_ptr<SafetensorsFile> ckpt;
  std::vector<Bound> bound;
  if (opt.weights.empty() && cmt_default_weights_size == 0) {
    // Timing only: no data-dependent control flow anywhere, zeros time the same.
    std::printf("note: no --weights: timing with zero weights\n");
    bound.resize(plan.args.size());
    for (size_t i = 0; i < plan.args.size(); ++i) {
      bound[i].converted.assign(static_cast<size_t>(plan.args[i].numel() * 2), 0.f);  // I64 fits too
      bound[i].data = bound[i].converted.data();
    }
  } else {
    ckpt = opt.weights.empty() ? std::make_unique<SafetensorsFile>(cmt_default_weights, cmt_default_weights_size,
                                                                   "the executable's own weights")
                               : std::make_unique<SafetensorsFile>(opt.weights);
    bound = bindWeights(plan, *ckpt);
  }
  prepareArguments(plan, bound, precision.bf16Forward ? cmt_bf16_prepare_plan : cmt_prepare_plan,
                   precision.bf16Forward ? cmt_bf16_prepare_packed : cmt_prepare_packed, precision.precision,
                   opt.device);

  int64_t calls = plan.batch / plan.kernelBatch, images = 0;
  Runner runner{plan, entry, {}, {}, opt.threads ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))};
  std::vector<std::vector<char>> outputs;
  std::vector<float> input;
  std::vector<std::vector<char>> dataInputs;
  std::unique_ptr<SafetensorsFile> data;
  if (!opt.data.empty()) data = std::make_unique<SafetensorsFile>(opt.data);
  dataInputs.reserve(plan.args.size());
  outputs.reserve(plan.args.size());
  for (size_t i = 0; i < plan.args.size(); ++i) {
    const PlanArg &a = plan.args[i];
    switch (a.kind) {
      case PlanArg::Input:
        if (data) {
          dataInputs.push_back(readData(plan, a, *data));
          runner.base.push_back(dataInputs.back().data());
          images = plan.batch;
        } else if (a.name == "input") {
          input = readInput(plan, a, opt.inputs, images);
          runner.base.push_back(input.data());
        } else if (opt.benchmark && opt.inputs.empty()) {  // zeros (labels: class 0)
          dataInputs.emplace_back(a.bytes() * static_cast<size_t>(calls), 0);
          runner.base.push_back(dataInputs.back().data());
        } else {
          throw Error("this executable also takes '" + a.name + "': pass --data FILE.safetensors holding " +
                      "every input by name");
        }
        runner.stride.push_back(static_cast<int64_t>(a.bytes()));
        break;
      case PlanArg::State:  // training plans run in train.cpp
      case PlanArg::Parameter:
      case PlanArg::Buffer:
      case PlanArg::Prepared:
        runner.base.push_back(const_cast<void *>(bound[i].data));
        runner.stride.push_back(0);
        break;
      case PlanArg::Output:
        outputs.emplace_back(a.bytes() * static_cast<size_t>(calls), 0);
        runner.base.push_back(outputs.back().data());
        runner.stride.push_back(static_cast<int64_t>(a.bytes()));
        break;
    }
  }

  // CUDA plans take the whole batch in one call: the executor keeps weights
  // and intermediates on the device and replays a captured graph.
  std::unique_ptr<CudaExecutor> cuda;
  if (plan.target == "cuda") {
    cuda = std::make_unique<CudaExecutor>(plan, precision.precision, opt.device, entry);
    cuda->bind(runner.base);
  }
  auto forward = [&] { cuda ? cuda->run() : runner.run(); };

  forward();
  const float *logits = nullptr;
  int64_t classes = 0;
  size_t o = 0;
  std::vector<TensorOut> written;
  for (const PlanArg &a : plan.args) {
    if (a.kind != PlanArg::Output) continue;
    std::vector<int64_t> shape = a.shape;
    if (calls > 1) shape[0] *= calls;  // per-image kernels: outputs stack on the batch
    const float *values = reinterpret_cast<const float *>(outputs[o].data());
    if (a.name == "logits") {
      logits = values;
      classes = a.shape.back();
    }
    for (int64_t i = 0, n = a.numel() * calls; a.dtype == DType::F32 && i < n; ++i)
      if (!std::isfinite(values[i]))
        throw Error("output '" + a.name + "' holds a non-finite value (element " + std::to_string(i) +
                    "): check the input and the weights");
    written.push_back({a.name, a.dtype, shape, outputs[o].data()});
    ++o;
  }
  if ((!opt.inputs.empty() || data) && logits)
    for (int64_t i = 0; i < images; ++i) printTop(logits + i * classes, classes, opt.top, i);
  for (size_t i = 0; i < written.size(); ++i)
    if (written[i].name == "loss") std::printf("loss %.6f\n", *static_cast<const float *>(written[i].data));
  if (!opt.output.empty()) {
    writeSafetensors(opt.output, written, {{"model", plan.model}, {"batch", std::to_string(plan.batch)}});
    std::printf("wrote %s\n", opt.output.c_str());
  }

  if (opt.profile) {
    if (!cuda) throw Error("--profile is for CUDA executables");
    printProfile(plan, cuda->profile());
  }

  if (opt.benchmark) {
    using Clock = std::chrono::steady_clock;
    // CUDA: replays on device-resident data (what a serving loop does).
    auto once = [&] {
      if (cuda) return cuda->replay(1)[0];
      auto t0 = Clock::now();
      runner.run();
      return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    };
    for (int i = 0; i < (cuda ? 20 : 1); ++i) once();  // warm-up
    std::vector<double> ms;
    auto start = Clock::now();
    int target = opt.iterations ? opt.iterations : 1000;
    while (static_cast<int>(ms.size()) < target) {
      ms.push_back(once());
      // Without --iterations: about three seconds, at least five runs.
      if (!opt.iterations && ms.size() >= 5 && Clock::now() - start > std::chrono::seconds(3)) break;
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    auto pct = [&](double q) { return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * sorted.size()))]; };
    if (cuda)
      std::printf("benchmark: model %s, batch %lld, %s, precision %s, %s activations, %zu runs, CUDA graph of "
                  "%zu nodes, arena %.1f MiB, resident %.1f MiB\n",
                  plan.model.c_str(), (long long)plan.batch, cuda->deviceName().c_str(), precision.name.c_str(),
                  plan.storage.c_str(),
                  ms.size(), cuda->graphNodes(), cuda->arenaBytes() / 1048576.0, cuda->residentBytes() / 1048576.0);
    else
      std::printf("benchmark: model %s, batch %lld, %d threads, %s activations, %zu runs\n", plan.model.c_str(),
                  (long long)plan.batch, runner.threads, plan.storage.c_str(), ms.size());
    std::printf("  %.1f images/s (median)   latency per batch ms: p50 %.2f  p90 %.2f  p99 %.2f  min %.2f\n",
                plan.batch * 1000.0 / pct(0.5), pct(0.5), pct(0.9), pct(0.99), sorted.front());
  }
  return 0;
}
}  // namespace

int main(int argc, char **argv) {
  try {
    return realMain(argc, argv);
  } catch (const Error &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc &) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  }
}
