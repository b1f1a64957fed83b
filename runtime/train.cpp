// train.cpp - the driver of training executables (cmt-compile --mode=train).
//
// The compiled @train_step takes every parameter, buffer and optimizer state
// and returns their next values ("next/NAME") with the loss and the
// gradients ("grad/NAME"). This file owns that state: it starts it from a
// checkpoint, a resumed training checkpoint or the initialisation of
// CMT-SPEC.md, feeds batches, refuses non-finite steps before they reach the
// weights, and writes checkpoints.
#include "runtime/cuda.h"
#include "runtime/driver.h"
#include "runtime/train_hyper.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace cmt::rt {
namespace {
using namespace cmt::train;

struct TrainOptions {
  std::string data, weights, resume, save, dumpGrads;
  int64_t steps = -1, scheduleSteps = -1, warmupSteps = 0;
  double lr = 1e-3, minLr = 0, weightDecay = 1e-2, labelSmoothing = 0, beta1 = 0.9, beta2 = 0.999,
         eps = 1e-8, momentum = 0, clipNorm = 0, dropPath = 0;
  std::string optimizer = "adamw", schedule = "cosine", precision = "fp32";
  int device = 0;
  bool nesterov = false, skipNonfinite = false;
  uint64_t seed = 0;
};

[[noreturn]] void usage(const Plan &plan, const std::string &error) {
  if (!error.empty()) {
    std::fprintf(stderr, "error: %s (--help lists the flags)\n", error.c_str());
    std::exit(2);
  }
  std::fprintf(stdout,
               "%s%s"
               "usage: EXE --data FILE.safetensors --steps N [--weights W.safetensors | --resume CKPT.safetensors]\n"
               "           [--save CKPT.safetensors] [--dump-grads OUT.safetensors] [--skip-nonfinite] [--seed S]\n"
               "           [--optimizer adamw|sgd] [--lr X] [--weight-decay X] [--beta1 X] [--beta2 X] [--eps X]\n"
               "           [--momentum X] [--nesterov] [--schedule cosine|constant] [--schedule-steps N]\n"
               "           [--warmup-steps N] [--min-lr X] [--clip-grad-norm X] [--label-smoothing X] [--drop-path X]\n"
               "           [--precision fp32|tf32|bf16] [--device N]   (CUDA executables)\n"
               "  --data holds 'input' (K x %lld x %lld x %lld float) and 'labels' (K int64), K >= %lld; step s\n"
               "  trains on images [s*B, (s+1)*B) mod K. Without --weights or --resume the parameters start\n"
               "  from CMT-SPEC.md's initialisation (seeded by --seed). Defaults: PyTorch's AdamW (lr 1e-3,\n"
               "  weight decay 0.01 on parameters of rank >= 2), cosine over --schedule-steps (default --steps).\n"
               "  model %s, training executable for %s, batch %lld\n",
               error.empty() ? "" : "error: ", error.empty() ? "" : (error + "\n").c_str(),
               (long long)plan.args[0].shape[1], (long long)plan.resolution, (long long)plan.resolution,
               (long long)plan.batch, plan.model.c_str(), plan.target.c_str(), (long long)plan.batch);
  std::exit(0);
}

TrainOptions parseArgs(const Plan &plan, int argc, char **argv) {
  TrainOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string key = a.substr(0, a.find('='));
    auto value = [&]() -> std::string {
      size_t eq = a.find('=');
      if (eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) usage(plan, key + " needs a value");
      return argv[++i];
    };
    auto real = [&](double lo, double hi) {
      std::string v = value();
      char *end = nullptr;
      double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(x >= lo && x <= hi))
        usage(plan, key + " needs a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v + "'");
      return x;
    };
    auto count = [&]() {
      std::string v = value();
      char *end = nullptr;
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0) usage(plan, key + " needs a non-negative integer, got '" + v + "'");
      return static_cast<int64_t>(n);
    };
    if (key == "--data") o.data = value();
    else if (key == "--weights") o.weights = value();
    else if (key == "--resume") o.resume = value();
    else if (key == "--save") o.save = value();
    else if (key == "--dump-grads") o.dumpGrads = value();
    else if (key == "--steps") o.steps = count();
    else if (key == "--schedule-steps") o.scheduleSteps = count();
    else if (key == "--warmup-steps") o.warmupSteps = count();
    else if (key == "--seed") o.seed = static_cast<uint64_t>(count());
    else if (key == "--lr") o.lr = real(0, 1e3);
    else if (key == "--min-lr") o.minLr = real(0, 1e3);
    else if (key == "--weight-decay") o.weightDecay = real(0, 1e3);
    else if (key == "--label-smoothing") o.labelSmoothing = real(0, 1);
    else if (key == "--beta1") o.beta1 = real(0, 0.999999);
    else if (key == "--beta2") o.beta2 = real(0, 0.999999999);
    else if (key == "--eps") o.eps = real(0, 1);
    else if (key == "--momentum") o.momentum = real(0, 1);
    else if (key == "--clip-grad-norm") o.clipNorm = real(0, 1e30);
    else if (key == "--drop-path") o.dropPath = real(0, 0.999);
    else if (key == "--nesterov") o.nesterov = true;
    else if (key == "--skip-nonfinite") o.skipNonfinite = true;
    else if (key == "--optimizer") o.optimizer = value();
    else if (key == "--precision") o.precision = value();
    else if (key == "--device") o.device = static_cast<int>(count());
    else if (key == "--schedule") o.schedule = value();
    else if (key == "--help" || key == "-h") usage(plan, "");
    else usage(plan, "unknown argument '" + a + "'");
  }
  if (o.data.empty()) usage(plan, "--data is required (a safetensors file with 'input' and 'labels')");
  if (o.steps < 0) usage(plan, "--steps is required (the step count to reach, resumed steps included)");
  if (!o.weights.empty() && !o.resume.empty()) usage(plan, "--weights and --resume exclude each other");
  if (o.optimizer != "adamw" && o.optimizer != "sgd") usage(plan, "--optimizer must be adamw or sgd, got '" + o.optimizer + "'");
  if (o.schedule != "cosine" && o.schedule != "constant")
    usage(plan, "--schedule must be cosine or constant, got '" + o.schedule + "'");
  if (o.nesterov && (o.optimizer != "sgd" || o.momentum <= 0)) usage(plan, "--nesterov needs --optimizer sgd and --momentum > 0");
  if (o.scheduleSteps < 0) o.scheduleSteps = o.steps;
  return o;
}

// CMT-SPEC.md: linear weights truncated normal (std 0.02, cut at 2 std),
// convolution weights Kaiming normal (fan_out), norm weights 1, biases 0,
// relative_pos standard normal; BN running statistics (0, 1), counters 0.
void initialise(const PlanArg &a, void *out, std::mt19937_64 &rng) {
  auto endsWith = [&](const char *s) {
    size_t n = std::strlen(s);
    return a.name.size() >= n && a.name.compare(a.name.size() - n, n, s) == 0;
  };
  std::normal_distribution<double> normal(0.0, 1.0);
  int64_t n = a.numel();
  if (a.dtype == DType::I64) {
    std::memset(out, 0, static_cast<size_t>(n) * sizeof(int64_t));
    return;
  }
  float *f = static_cast<float *>(out);
  auto fill = [&](double v) { std::fill(f, f + n, static_cast<float>(v)); };
  if (a.name.rfind("relative_pos", 0) == 0) {
    for (int64_t i = 0; i < n; ++i) f[i] = static_cast<float>(normal(rng));
  } else if (a.shape.size() == 4 && endsWith(".weight")) {
    double std = std::sqrt(2.0 / static_cast<double>(a.shape[0] * a.shape[2] * a.shape[3]));
    for (int64_t i = 0; i < n; ++i) f[i] = static_cast<float>(std * normal(rng));
  } else if (a.shape.size() == 2 && endsWith(".weight")) {
    for (int64_t i = 0; i < n; ++i) {
      double x;
      do x = normal(rng);
      while (std::fabs(x) > 2.0);
      f[i] = static_cast<float>(0.02 * x);
    }
  } else if (endsWith(".running_var") || (a.shape.size() == 1 && endsWith(".weight"))) {
    fill(1.0);
  } else {
    fill(0.0);  // biases, running means
  }
}

bool isPrefixed(const std::string &s, const char *prefix) { return s.rfind(prefix, 0) == 0; }

// The first non-finite float of an output, or -1.
int64_t firstNonfinite(const PlanArg &a, const std::vector<char> &bytes) {
  if (a.dtype != DType::F32) return -1;
  const float *v = reinterpret_cast<const float *>(bytes.data());
  for (int64_t i = 0, n = a.numel(); i < n; ++i)
    if (!std::isfinite(v[i])) return i;
  return -1;
}
}  // namespace

int trainMain(const Plan &plan, int argc, char **argv) {
  TrainOptions opt = parseArgs(plan, argc, argv);
  const size_t nargs = plan.args.size();
  std::vector<std::vector<char>> store(nargs);
  std::vector<void *> args(nargs);
  auto bytesOf = [](const PlanArg &a) { return static_cast<size_t>(a.numel()) * dtypeSize(a.dtype); };
  int64_t stepArg = -1, inputArg = -1, labelsArg = -1, hyperArg = -1, rateArg = -1, uniformArg = -1;
  for (size_t i = 0; i < nargs; ++i) {
    const PlanArg &a = plan.args[i];
    store[i].assign(bytesOf(a), 0);
    args[i] = store[i].data();
    if (a.name == "train/step") stepArg = static_cast<int64_t>(i);
    if (a.name == "input") inputArg = static_cast<int64_t>(i);
    if (a.name == "labels") labelsArg = static_cast<int64_t>(i);
    if (a.name == "train/hyper") hyperArg = static_cast<int64_t>(i);
    if (a.name == "train/drop_path_rate") rateArg = static_cast<int64_t>(i);
    if (a.name == "train/drop_path_uniform") uniformArg = static_cast<int64_t>(i);
  }
  if (stepArg < 0 || inputArg < 0 || labelsArg < 0 || hyperArg < 0 ||
      plan.args[hyperArg].numel() != kNumHyper)
    throw Error("the embedded plan is not a training step of this runtime's version");
  auto isState = [](const PlanArg &a) {
    return a.kind == PlanArg::Parameter || a.kind == PlanArg::Buffer || a.kind == PlanArg::State;
  };

  // The starting state.
  if (!opt.resume.empty()) {
    SafetensorsFile ckpt(opt.resume);
    std::vector<std::string> problems;
    for (size_t i = 0; i < nargs; ++i) {
      const PlanArg &a = plan.args[i];
      if (!isState(a)) continue;
      const Tensor *t = ckpt.find(a.name);
      if (!t) problems.push_back("missing tensor '" + a.name + "' " + shapeString(a.shape));
      else if (t->shape != a.shape)
        problems.push_back("tensor '" + a.name + "' has shape " + t->shapeString() + ", the model needs " + shapeString(a.shape));
      else if ((a.dtype == DType::I64) != (t->dtype == DType::I64))
        problems.push_back("tensor '" + a.name + "' has dtype " + dtypeName(t->dtype) + ", expected " + dtypeName(a.dtype));
      else if (a.dtype == DType::I64) std::memcpy(store[i].data(), t->data, bytesOf(a));
      else {
        std::vector<float> v = ckpt.getF32(a.name, a.shape);
        std::memcpy(store[i].data(), v.data(), bytesOf(a));
      }
    }
    if (!problems.empty()) {
      std::string msg = opt.resume + " is not a training checkpoint of this executable (" +
                        std::to_string(problems.size()) + " problems; --resume takes what --save wrote, "
                        "--weights takes model weights):";
      for (size_t p = 0; p < problems.size() && p < 8; ++p) msg += "\n  " + problems[p];
      if (problems.size() > 8) msg += "\n  ... and " + std::to_string(problems.size() - 8) + " more";
      throw Error(msg);
    }
  } else if (!opt.weights.empty()) {
    SafetensorsFile ckpt(opt.weights);
    std::vector<Bound> bound = bindWeights(plan, ckpt);
    for (size_t i = 0; i < nargs; ++i)
      if (bound[i].data) std::memcpy(store[i].data(), bound[i].data, bytesOf(plan.args[i]));
  } else {
    std::mt19937_64 rng(opt.seed);
    // Optimizer state and the step count start at zero (as allocated).
    for (size_t i = 0; i < nargs; ++i)
      if (plan.args[i].kind == PlanArg::Parameter || plan.args[i].kind == PlanArg::Buffer)
        initialise(plan.args[i], store[i].data(), rng);
  }
  int64_t &step = *reinterpret_cast<int64_t *>(store[stepArg].data());

  // The data: every image once as float32, every label checked.
  SafetensorsFile data(opt.data);
  const PlanArg &in = plan.args[inputArg];
  const Tensor &images = data.get("input");
  const Tensor &labelT = data.get("labels");
  int64_t per = in.numel() / plan.batch, available = images.shape.empty() ? 0 : images.shape[0];
  std::vector<int64_t> want = in.shape;
  want[0] = available;
  if (images.shape != want || available < plan.batch)
    throw Error(opt.data + ": 'input' has shape " + images.shapeString() + ", this executable takes K x " +
                std::to_string(in.shape[1]) + " x " + std::to_string(plan.resolution) + " x " +
                std::to_string(plan.resolution) + " with K >= the batch " + std::to_string(plan.batch));
  if (labelT.dtype != DType::I64 || labelT.shape != std::vector<int64_t>{available})
    throw Error(opt.data + ": 'labels' must be int64 of shape [" + std::to_string(available) + "], got " +
                dtypeName(labelT.dtype) + " " + labelT.shapeString());
  std::vector<float> allImages = data.getF32("input", want);
  std::vector<int64_t> allLabels(static_cast<size_t>(available));
  std::memcpy(allLabels.data(), labelT.data, allLabels.size() * sizeof(int64_t));
  int64_t classes = 0;
  for (const PlanArg &a : plan.args)
    if (a.name == "logits") classes = a.shape.back();
  for (int64_t i = 0; i < available; ++i)
    if (allLabels[i] < 0 || allLabels[i] >= classes)
      throw Error(opt.data + ": labels[" + std::to_string(i) + "] = " + std::to_string(allLabels[i]) +
                  " is not a class of this model (0.." + std::to_string(classes - 1) + ")");
  int64_t batchesInData = available / plan.batch;

  float *hyper = reinterpret_cast<float *>(store[hyperArg].data());
  hyper[kLr] = static_cast<float>(opt.lr);
  hyper[kMinLr] = static_cast<float>(opt.minLr);
  hyper[kWarmupSteps] = static_cast<float>(opt.warmupSteps);
  hyper[kScheduleSteps] = static_cast<float>(opt.scheduleSteps);
  hyper[kCosine] = opt.schedule == "cosine" ? 1.f : 0.f;
  hyper[kWeightDecay] = static_cast<float>(opt.weightDecay);
  hyper[kOptimizer] = static_cast<float>(opt.optimizer == "sgd" ? kSGD : kAdamW);
  hyper[kBeta1] = static_cast<float>(opt.beta1);
  hyper[kBeta2] = static_cast<float>(opt.beta2);
  hyper[kEps] = static_cast<float>(opt.eps);
  hyper[kMomentum] = static_cast<float>(opt.momentum);
  hyper[kNesterov] = opt.nesterov ? 1.f : 0.f;
  hyper[kClipNorm] = static_cast<float>(opt.clipNorm);
  hyper[kLabelSmoothing] = static_cast<float>(opt.labelSmoothing);
  if (opt.dropPath > 0 && (rateArg < 0 || uniformArg < 0))
    throw Error("--drop-path: this executable was compiled without stochastic depth");
  if (rateArg >= 0) *reinterpret_cast<float *>(store[rateArg].data()) = static_cast<float>(opt.dropPath);

  // Where each "next/X" goes back to.
  std::vector<std::pair<size_t, size_t>> commits;  // (output, argument)
  const PlanArg *lossArg = nullptr, *lrArg = nullptr, *normArg = nullptr;
  std::vector<size_t> checked;  // the loss, then the gradients in the order the backward makes them
  for (size_t i = 0; i < nargs; ++i) {
    const PlanArg &a = plan.args[i];
    if (a.kind != PlanArg::Output) continue;
    if (isPrefixed(a.name, "next/")) {
      const PlanArg *target = plan.find(a.name.substr(5));
      if (!target) throw Error("the embedded plan updates '" + a.name.substr(5) + "', which it does not take");
      commits.push_back({i, static_cast<size_t>(target - plan.args.data())});
    }
    if (a.name == "loss") { lossArg = &a; checked.insert(checked.begin(), i); }
    if (isPrefixed(a.name, "grad/")) checked.push_back(i);
    if (a.name == "lr") lrArg = &a;
    if (a.name == "grad_norm") normArg = &a;
  }
  if (!lossArg || !lrArg || !normArg) throw Error("the embedded plan lacks loss, lr or grad_norm");
  auto scalarOf = [&](const PlanArg *a) { return *reinterpret_cast<const float *>(store[a - plan.args.data()].data()); };

  // The state lives where the step runs: in `store` on the CPU, on the GPU
  // for CUDA executables (`store` then mirrors what was fetched).
  std::unique_ptr<CudaExecutor> cuda;
  if (plan.target == "cuda") {
    cuda = std::make_unique<CudaExecutor>(plan, parsePrecision(opt.precision), opt.device);
    cuda->bind(args);
  } else if (opt.precision != "fp32") {
    throw Error("--precision applies to CUDA executables; this one trains on the CPU in fp32");
  }
  auto fetch = [&](size_t i) {
    if (cuda) cuda->download(i);
  };
  auto index = [&](const PlanArg *a) { return static_cast<size_t>(a - plan.args.data()); };

  auto save = [&](const std::string &path, const char *why) {
    std::vector<TensorOut> out;
    for (size_t i = 0; i < nargs; ++i)
      if (isState(plan.args[i])) {
        fetch(i);
        out.push_back({plan.args[i].name, plan.args[i].dtype, plan.args[i].shape, store[i].data()});
      }
    writeSafetensors(path, out, {{"model", plan.model}, {"step", std::to_string(step)}, {"optimizer", opt.optimizer}});
    std::printf("saved %s at step %lld (%s)\n", path.c_str(), (long long)step, why);
    std::fflush(stdout);
  };

  std::printf("training %s: batch %lld, steps %lld -> %lld, %s lr %g (%s, warm-up %lld, over %lld), weight decay %g, "
              "label smoothing %g, drop path %g\n",
              plan.model.c_str(), (long long)plan.batch, (long long)step, (long long)opt.steps, opt.optimizer.c_str(),
              opt.lr, opt.schedule.c_str(), (long long)opt.warmupSteps, (long long)opt.scheduleSteps, opt.weightDecay,
              opt.labelSmoothing, opt.dropPath);
  if (cuda) {
    cuda->upload(hyperArg);
    if (rateArg >= 0) cuda->upload(rateArg);
  }
  // Stochastic depth draws: a function of the seed and the step alone, so a
  // resumed run draws what the uninterrupted one would have.
  auto drawDropPath = [&]() {
    if (uniformArg < 0) return;
    std::seed_seq seq{static_cast<uint32_t>(opt.seed), static_cast<uint32_t>(opt.seed >> 32),
                      static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32), 0x64726f70u};
    std::mt19937 rng(seq);
    std::uniform_real_distribution<float> uniform(0.f, 1.f);
    float *u = reinterpret_cast<float *>(store[uniformArg].data());
    for (int64_t i = 0, n = plan.args[uniformArg].numel(); i < n; ++i) u[i] = uniform(rng);
    if (cuda) cuda->upload(uniformArg);
  };
  bool dumped = false;
  int64_t skipped = 0;
  std::vector<double> seconds;
  using Clock = std::chrono::steady_clock;
  while (step < opt.steps) {
    int64_t slot = step % batchesInData;
    std::memcpy(store[inputArg].data(), allImages.data() + slot * plan.batch * per, bytesOf(in));
    std::memcpy(store[labelsArg].data(), allLabels.data() + slot * plan.batch, bytesOf(plan.args[labelsArg]));
    auto t0 = Clock::now();
    drawDropPath();
    if (cuda) {
      cuda->upload(inputArg);
      cuda->upload(labelsArg);
      cuda->launch();
    } else {
      cmt_forward_packed(args.data());
    }
    for (const PlanArg *a : {lossArg, lrArg, normArg}) fetch(index(a));

    // Nothing non-finite reaches the weights. The gradient norm is finite
    // exactly when every gradient is (short of overflowing its square), so
    // the gradients themselves are only searched to name the culprit.
    if (!std::isfinite(scalarOf(lossArg)) || !std::isfinite(scalarOf(normArg))) {
      std::string bad = std::isfinite(scalarOf(lossArg)) ? "grad_norm" : "loss";
      int64_t badAt = 0;
      for (size_t i : checked) {
        fetch(i);
        if ((badAt = firstNonfinite(plan.args[i], store[i])) >= 0) {
          bad = plan.args[i].name;
          break;
        }
      }
      std::string what = "step " + std::to_string(step) + ": '" + bad + "' is not finite (element " +
                         std::to_string(std::max<int64_t>(badAt, 0)) + ")";
      if (!opt.skipNonfinite) {
        if (!opt.save.empty()) save(opt.save, "the last finite state");
        throw Error(what + "; stopped with the weights of before this step (--skip-nonfinite skips such steps)");
      }
      std::printf("%s: step skipped, weights unchanged\n", what.c_str());
      ++skipped;
      ++step;
      if (cuda) cuda->upload(stepArg);
      continue;
    }
    if (!opt.dumpGrads.empty() && !dumped) {
      std::vector<TensorOut> grads;
      for (size_t i : checked)
        if (isPrefixed(plan.args[i].name, "grad/")) {
          fetch(i);
          grads.push_back({plan.args[i].name, plan.args[i].dtype, plan.args[i].shape, store[i].data()});
        }
      grads.push_back({"loss", DType::F32, {}, store[index(lossArg)].data()});
      writeSafetensors(opt.dumpGrads, grads, {{"model", plan.model}, {"step", std::to_string(step)}});
      std::printf("wrote the gradients of step %lld to %s\n", (long long)step, opt.dumpGrads.c_str());
      dumped = true;
    }
    for (auto [o, a] : commits) {
      if (cuda) cuda->copy(a, o);
      else std::memcpy(store[a].data(), store[o].data(), bytesOf(plan.args[a]));
    }
    if (cuda) fetch(stepArg);
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    std::printf("step %lld/%lld  loss %.6f  lr %.4g  grad-norm %.4g  %.1f images/s\n", (long long)step,
                (long long)opt.steps, scalarOf(lossArg), scalarOf(lrArg), scalarOf(normArg), plan.batch / seconds.back());
    std::fflush(stdout);
  }
  if (seconds.size() > 2) {
    std::vector<double> rest(seconds.begin() + 1, seconds.end());  // the first step captures and warms up
    std::sort(rest.begin(), rest.end());
    std::printf("%zu steps: median %.1f images/s (first step excluded)", seconds.size(),
                plan.batch / rest[rest.size() / 2]);
    if (cuda) std::printf(", GPU memory: arena %.1f MiB, resident %.1f MiB", cuda->arenaBytes() / 1048576.0,
                          cuda->residentBytes() / 1048576.0);
    std::printf("\n");
  }
  if (skipped) std::printf("%lld steps skipped for non-finite values\n", (long long)skipped);
  if (!opt.save.empty()) save(opt.save, "end of training");
  return 0;
}

}  // namespace cmt::rt
