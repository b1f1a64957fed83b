// train.cpp - the driver of training executables (cmt-compile --mode=train).
//
// The compiled @train_step takes every parameter, buffer and optimizer state
// and returns their next values ("next/NAME") with the loss and the
// gradients ("grad/NAME"); @evaluate is the evaluation-mode forward. This file
// owns the state: it starts it from a checkpoint, a resumed training
// checkpoint or the initialisation of CMT-SPEC.md, feeds batches from the
// loader (dataset.h), refuses non-finite steps before they reach the
// weights, evaluates every epoch, logs, and writes checkpoints (every N
// steps, at the end, and on SIGINT/SIGTERM).
//
// Everything a step computes is a function of the state, the seed and the
// step number, so a run resumed from a checkpoint repeats, bit for bit on the
// CPU, what the uninterrupted run would have done.
#include "runtime/comm.h"
#include "runtime/cuda.h"
#include "runtime/dataset.h"
#include "runtime/driver.h"
#include "runtime/plot.h"
#include "runtime/train_hyper.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

// The evaluation forward; absent from executables made before it existed.
extern "C" __attribute__((weak)) void cmt_eval_packed(void **args);
extern "C" __attribute__((weak)) const char cmt_eval_plan[];

namespace cmt::rt {
namespace {
using namespace cmt::train;

// Defaults are the released CMT-Ti recipe (CMT-SPEC.md): AdamW, lr 8e-4,
// weight decay 0.05, drop path 0.1, label smoothing 0.1, a linear warm-up
// over 20 of 800 epochs (2.5% of the run), cosine to 1e-5.
struct TrainOptions {
  std::string data, valData, weights, resume, save, dumpGrads, log, plot;
  int64_t steps = -1, epochs = -1, scheduleSteps = -1, warmupSteps = -1, saveEvery = 0, evalEvery = 1, printEvery = 1;
  double warmupEpochs = -1;
  double lr = 8e-4, minLr = 1e-5, weightDecay = 0.05, labelSmoothing = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
         momentum = 0, clipNorm = 0, dropPath = 0.1;
  std::string optimizer = "adamw", schedule = "cosine", precision, augment = "auto", shuffle = "auto",
              randAugment = "auto", badImages = "error";
  double cropScale = 0.08;
  double mixup = 0, cutmix = 0, mixProb = 1, mixSwitchProb = 0.5;  // off unless asked: see the usage
  int device = -1, workers = 0;
  bool nesterov = false, skipNonfinite = false, syncBn = false, planMemory = false;
  double bucketMb = 25, commTimeout = 600;
  uint64_t seed = 0;
};

constexpr double kWarmupFraction = 20.0 / 800.0;

[[noreturn]] void usage(const Plan &plan, const std::string &error) {
  if (!error.empty()) {
    std::fprintf(stderr, "error: %s (--help lists the flags)\n", error.c_str());
    std::exit(2);
  }
  std::printf(
      "usage: EXE --data SOURCE (--epochs N | --steps N) [options]\n"
      "data:\n"
      "  --data SOURCE          FILE.safetensors ('input' K x %lld x %lld x %lld float, 'labels' K int64, or\n"
      "                         K x classes float: soft labels, the targets as they are),\n"
      "                         an IDX directory (train-/t10k- images and labels, gzip or not; 'fashion-mnist'\n"
      "                         is /usr/share/datasets/fashion-mnist) or an ImageFolder (one folder per class;\n"
      "                         DIR/train and DIR/val when both exist)\n"
      "  --val-data SOURCE      the validation split (default: the source's own: t10k, DIR/val)\n"
      "  --eval-every N         evaluate (top-1/top-5) every N epochs, 0: never (default 1)\n"
      "  --augment auto|none|flip|crop   crop: RandomResizedCrop + flip (auto: crop for images, none for tensors)\n"
      "  --crop-scale X         smallest crop area fraction (default 0.08)\n"
      "  --rand-augment N,M|0   RandAugment with N ops at magnitude M (auto: 2,9 with crops, else off)\n"
      "  --mixup A --cutmix A   mix each batch with its reverse, the weight from Beta(A, A), targets mixed\n"
      "                         alike (timm's Mixup; the recipe's 0.8 and 1.0; default 0: off)\n"
      "  --mix-prob P           mix a batch with probability P (1)  --mix-switch-prob P  cutmix when both (0.5)\n"
      "  --shuffle auto|on|off  per-epoch shuffling from --seed (auto: on for images, off for tensors)\n"
      "  --bad-images error|skip  an image that fails to decode stops the run, or is replaced and counted\n"
      "  --workers N            data loading threads (default: the cores, at most 8)\n"
      "schedule (defaults: the released CMT-Ti recipe):\n"
      "  --epochs N | --steps N total, resumed ones included\n"
      "  --warmup-epochs X | --warmup-steps N   linear warm-up (default 2.5%% of the run, as 20 of 800 epochs)\n"
      "  --schedule cosine|constant  --schedule-steps N  --lr X (8e-4)  --min-lr X (1e-5)\n"
      "  --optimizer adamw|sgd  --weight-decay X (0.05, rank >= 2 for AdamW)  --beta1 --beta2 --eps\n"
      "  --momentum X  --nesterov  --clip-grad-norm X  --label-smoothing X (0.1)  --drop-path X (0.1)\n"
      "state and output:\n"
      "  --weights W.safetensors | --resume CKPT.safetensors (its configuration, then the command line's)\n"
      "  --save CKPT.safetensors  --save-every N steps  (also at the end, and on SIGINT/SIGTERM)\n"
      "  --log FILE.jsonl       metrics, one JSON object per step and per epoch (default beside --save)\n"
      "  --plot FILE.png        loss and accuracy curves, written at every evaluation and at the end\n"
      "  --print-every N        a progress line every N steps (default 1; the log has every step)\n"
      "  --dump-grads FILE  --skip-nonfinite  --seed S  --precision fp32|tf32|bf16 --device N (CUDA)\n"
      "  --plan-memory          print the GPU memory of a step and of evaluation (found without a GPU), exit\n"
      "data parallelism (mpirun -np N EXE ..., or torchrun's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT):\n"
      "  one process per GPU (the local rank's, unless --device); each rank takes its share of every\n"
      "  global batch (N x the compiled batch); gradients averaged in buckets of --bucket-mb (25);\n"
      "  --sync-bn: batch norms over the global batch (else per rank); --comm-timeout S (600)\n"
      "model %s, training executable for %s, batch %lld\n",
      (long long)plan.args[0].shape[1], (long long)plan.resolution, (long long)plan.resolution, plan.model.c_str(),
      plan.target.c_str(), (long long)plan.batch);
  std::exit(0);
}

// Parses flags in order, later ones winning; a resumed run parses its
// checkpoint's stored configuration first.
void parseInto(TrainOptions &o, const Plan &plan, const std::vector<std::string> &argv) {
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string &a = argv[i];
    std::string key = a.substr(0, a.find('='));
    auto value = [&]() -> std::string {
      size_t eq = a.find('=');
      if (eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argv.size()) usage(plan, key + " needs a value");
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
    auto choice = [&](std::initializer_list<const char *> allowed) {
      std::string v = value(), list;
      for (const char *c : allowed) {
        if (v == c) return v;
        list += std::string(list.empty() ? "" : ", ") + c;
      }
      usage(plan, key + " must be one of " + list + ", got '" + v + "'");
    };
    if (key == "--data") o.data = value();
    else if (key == "--val-data") o.valData = value();
    else if (key == "--weights") o.weights = value();
    else if (key == "--resume") o.resume = value();
    else if (key == "--save") o.save = value();
    else if (key == "--log") o.log = value();
    else if (key == "--plot") o.plot = value();
    else if (key == "--dump-grads") o.dumpGrads = value();
    else if (key == "--steps") o.steps = count(), o.epochs = -1;
    else if (key == "--epochs") o.epochs = count(), o.steps = -1;
    else if (key == "--schedule-steps") o.scheduleSteps = count();
    else if (key == "--warmup-steps") o.warmupSteps = count(), o.warmupEpochs = -1;
    else if (key == "--warmup-epochs") o.warmupEpochs = real(0, 1e6), o.warmupSteps = -1;
    else if (key == "--save-every") o.saveEvery = count();
    else if (key == "--eval-every") o.evalEvery = count();
    else if (key == "--print-every") o.printEvery = std::max<int64_t>(1, count());
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
    else if (key == "--crop-scale") o.cropScale = real(0.01, 1);
    else if (key == "--mixup") o.mixup = real(0, 1e3);
    else if (key == "--cutmix") o.cutmix = real(0, 1e3);
    else if (key == "--mix-prob") o.mixProb = real(0, 1);
    else if (key == "--mix-switch-prob") o.mixSwitchProb = real(0, 1);
    else if (key == "--sync-bn") o.syncBn = true;
    else if (key == "--no-sync-bn") o.syncBn = false;
    else if (key == "--bucket-mb") o.bucketMb = real(0.001, 1e5);
    else if (key == "--comm-timeout") o.commTimeout = real(1, 1e6);
    else if (key == "--nesterov") o.nesterov = true;
    else if (key == "--no-nesterov") o.nesterov = false;
    else if (key == "--skip-nonfinite") o.skipNonfinite = true;
    else if (key == "--plan-memory") o.planMemory = true;
    else if (key == "--optimizer") o.optimizer = choice({"adamw", "sgd"});
    else if (key == "--schedule") o.schedule = choice({"cosine", "constant"});
    else if (key == "--augment") o.augment = choice({"auto", "none", "flip", "crop"});
    else if (key == "--shuffle") o.shuffle = choice({"auto", "on", "off"});
    else if (key == "--bad-images") o.badImages = choice({"error", "skip"});
    else if (key == "--rand-augment") o.randAugment = value();
    else if (key == "--precision") o.precision = value();
    else if (key == "--device") o.device = static_cast<int>(count());
    else if (key == "--workers") o.workers = static_cast<int>(std::max<int64_t>(1, count()));
    else if (key == "--help" || key == "-h") usage(plan, "");
    else usage(plan, "unknown argument '" + a + "'");
  }
}

// What a resumed run takes from its checkpoint: everything that shapes the
// trajectory and where it writes, not where its state came from.
std::vector<std::string> storedConfig(const TrainOptions &o) {
  std::vector<std::string> c;
  auto put = [&](const char *key, const std::string &v) { c.push_back(std::string(key) + "=" + v); };
  auto num = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.17g", x);
    return std::string(b);
  };
  put("--data", o.data);
  if (!o.valData.empty()) put("--val-data", o.valData);
  if (o.epochs >= 0) put("--epochs", std::to_string(o.epochs));
  if (o.steps >= 0) put("--steps", std::to_string(o.steps));
  if (o.warmupEpochs >= 0) put("--warmup-epochs", num(o.warmupEpochs));
  if (o.warmupSteps >= 0) put("--warmup-steps", std::to_string(o.warmupSteps));
  if (o.scheduleSteps >= 0) put("--schedule-steps", std::to_string(o.scheduleSteps));
  put("--eval-every", std::to_string(o.evalEvery));
  put("--seed", std::to_string(o.seed));
  put("--lr", num(o.lr));
  put("--min-lr", num(o.minLr));
  put("--weight-decay", num(o.weightDecay));
  put("--label-smoothing", num(o.labelSmoothing));
  put("--beta1", num(o.beta1));
  put("--beta2", num(o.beta2));
  put("--eps", num(o.eps));
  put("--momentum", num(o.momentum));
  put("--clip-grad-norm", num(o.clipNorm));
  put("--drop-path", num(o.dropPath));
  put("--crop-scale", num(o.cropScale));
  put("--mixup", num(o.mixup));
  put("--cutmix", num(o.cutmix));
  put("--mix-prob", num(o.mixProb));
  put("--mix-switch-prob", num(o.mixSwitchProb));
  c.push_back(o.nesterov ? "--nesterov" : "--no-nesterov");
  c.push_back(o.syncBn ? "--sync-bn" : "--no-sync-bn");
  put("--optimizer", o.optimizer);
  put("--schedule", o.schedule);
  put("--augment", o.augment);
  put("--shuffle", o.shuffle);
  put("--rand-augment", o.randAugment);
  put("--bad-images", o.badImages);
  if (!o.save.empty()) put("--save", o.save);
  if (o.saveEvery) put("--save-every", std::to_string(o.saveEvery));
  if (!o.log.empty()) put("--log", o.log);
  if (!o.plot.empty()) put("--plot", o.plot);
  return c;
}

std::string joinConfig(const std::vector<std::string> &c) {
  std::string s;
  for (const std::string &x : c) s += (s.empty() ? "" : "\n") + x;
  return s;
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
bool isState(const PlanArg &a) {
  return a.kind == PlanArg::Parameter || a.kind == PlanArg::Buffer || a.kind == PlanArg::State;
}

// The first non-finite float of an output, or -1.
int64_t firstNonfinite(const PlanArg &a, const std::vector<char> &bytes) {
  if (a.dtype != DType::F32) return -1;
  const float *v = reinterpret_cast<const float *>(bytes.data());
  for (int64_t i = 0, n = a.numel(); i < n; ++i)
    if (!std::isfinite(v[i])) return i;
  return -1;
}

std::string hexFloat(double x) {
  char b[40];
  std::snprintf(b, sizeof b, "%a", x);
  return b;
}

std::string stem(const std::string &path) {
  size_t dot = path.rfind('.'), slash = path.rfind('/');
  return dot != std::string::npos && (slash == std::string::npos || dot > slash) ? path.substr(0, dot) : path;
}

std::string duration(double seconds) {
  long s = static_cast<long>(std::max(0.0, seconds));
  char b[32];
  std::snprintf(b, sizeof b, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return b;
}

// SIGINT/SIGTERM: finish the step, save, exit.
volatile std::sig_atomic_t interrupted = 0;
void onSignal(int sig) { interrupted = sig; }

// The metrics log: JSON lines, appended and flushed record by record so that
// a kill loses at most the record being written. A resumed run first drops
// the records of steps it is about to repeat.
class MetricsLog {
public:
  void open(const std::string &path, int64_t resumeStep) {
    if (path.empty()) return;
    std::vector<std::string> keep;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      size_t at = line.find("\"step\": ");
      if (line.empty() || line.back() != '}' || at == std::string::npos) continue;  // torn by a kill
      if (std::strtoll(line.c_str() + at + 8, nullptr, 10) <= resumeStep) keep.push_back(line);
    }
    in.close();
    f_ = std::fopen(path.c_str(), "w");
    if (!f_) throw Error(path + ": cannot write the metrics log: " + std::strerror(errno));
    for (const std::string &l : keep) std::fprintf(f_, "%s\n", l.c_str());
    std::fflush(f_);
  }
  ~MetricsLog() {
    if (f_) std::fclose(f_);
  }
  void write(const std::string &record) {
    if (!f_) return;
    std::fprintf(f_, "%s\n", record.c_str());
    std::fflush(f_);
  }

private:
  FILE *f_ = nullptr;
};

// The curves of a metrics log as plot series (the log is the one truth, so
// a resumed run plots its whole history).
void plotLog(const std::string &logPath, const std::string &pngPath, const std::string &title) {
  std::ifstream in(logPath);
  Series train{"train loss", {}, {}}, val{"val loss", {}, {}}, top1{"val top-1", {}, {}}, top5{"val top-5", {}, {}};
  auto field = [](const std::string &line, const char *key, double &out) {
    size_t at = line.find(std::string("\"") + key + "\": ");
    if (at == std::string::npos) return false;
    out = std::strtod(line.c_str() + at + std::strlen(key) + 4, nullptr);
    return true;
  };
  for (std::string line; std::getline(in, line);) {
    double step, v;
    if (!field(line, "step", step)) continue;
    if (line.find("\"kind\": \"step\"") != std::string::npos && field(line, "loss", v)) {
      train.x.push_back(step);
      train.y.push_back(v);
    }
    if (line.find("\"kind\": \"epoch\"") != std::string::npos) {
      if (field(line, "val_loss", v)) val.x.push_back(step), val.y.push_back(v);
      if (field(line, "val_top1", v)) top1.x.push_back(step), top1.y.push_back(v);
      if (field(line, "val_top5", v)) top5.x.push_back(step), top5.y.push_back(v);
    }
  }
  writePlot(pngPath, {train, val}, {top1, top5}, title);
}

struct EvalResult {
  double top1 = 0, top5 = 0, loss = 0;
  int64_t images = 0, failed = 0;
};

}  // namespace

namespace {
int train(const Plan &plan, int argc, char **argv);
}

int trainMain(const Plan &plan, int argc, char **argv) {
  const World &w = initWorld();
  // Rank 0 speaks for the job; the others only report errors.
  if (w.rank != 0 && !std::freopen("/dev/null", "w", stdout)) return 1;
  if (!w.launched) return train(plan, argc, argv);
  try {
    int rc = train(plan, argc, argv);
    finishWorld();
    return rc;
  } catch (const std::exception &e) {
    abortWorld(e.what());  // the others must not wait for this rank in a collective
  }
}

namespace {
int train(const Plan &plan, int argc, char **argv) {
  const World &world = cmt::rt::world();
  TrainOptions opt;
  std::vector<std::string> cli(argv + 1, argv + argc);
  parseInto(opt, plan, cli);
  // A resumed run: the checkpoint's configuration, then the command line's.
  std::unique_ptr<SafetensorsFile> resumed;
  if (!opt.resume.empty()) {
    resumed = std::make_unique<SafetensorsFile>(opt.resume);
    auto it = resumed->metadata().find("train_config");
    if (it != resumed->metadata().end()) {
      std::vector<std::string> stored;
      std::istringstream lines(it->second);
      for (std::string l; std::getline(lines, l);) stored.push_back(l);
      TrainOptions merged;
      parseInto(merged, plan, stored);
      parseInto(merged, plan, cli);
      opt = merged;
    }
  }
  PrecisionChoice precision = choosePrecision(plan, opt.precision, /*hasBF16Forward=*/false);
  if (opt.planMemory) {
    if (plan.target != "cuda") usage(plan, "--plan-memory applies to CUDA executables (this one is for " + plan.target + ")");
    std::string at = plan.model + " at batch " + std::to_string(plan.batch);
    GpuMemory step = plannedGpuMemory(plan);
    printGpuMemory(("training step of " + at).c_str(), step);
    if (cmt_eval_packed && cmt_eval_plan) {
      // Validation runs its own executor beside the step's, with its own parameter copies.
      GpuMemory eval = plannedGpuMemory(Plan::parse(cmt_eval_plan), cmt_eval_packed);
      printGpuMemory("evaluation forward, beside it", eval);
      std::printf("both: %.1f MiB\n", (step.total() + eval.total()) / 1048576.0);
    }
    return 0;
  }
  if (opt.data.empty()) usage(plan, "--data is required (a .safetensors file, an IDX directory or an ImageFolder)");
  if (opt.steps < 0 && opt.epochs < 0) usage(plan, "--epochs or --steps is required (the total, resumed ones included)");
  if (!opt.weights.empty() && !opt.resume.empty()) usage(plan, "--weights and --resume exclude each other");
  if (opt.nesterov && (opt.optimizer != "sgd" || opt.momentum <= 0)) usage(plan, "--nesterov needs --optimizer sgd and --momentum > 0");
  if (opt.saveEvery > 0 && opt.save.empty()) usage(plan, "--save-every needs --save");

  const size_t nargs = plan.args.size();
  std::vector<std::vector<char>> store(nargs);
  std::vector<void *> args(nargs);
  int64_t stepArg = -1, inputArg = -1, targetsArg = -1, hyperArg = -1, rateArg = -1, uniformArg = -1,
          dropoutArg = -1;
  for (size_t i = 0; i < nargs; ++i) {
    const PlanArg &a = plan.args[i];
    store[i].assign(a.bytes(), 0);
    args[i] = store[i].data();
    if (a.name == "train/step") stepArg = static_cast<int64_t>(i);
    if (a.name == "input") inputArg = static_cast<int64_t>(i);
    if (a.name == "targets") targetsArg = static_cast<int64_t>(i);
    if (a.name == "train/hyper") hyperArg = static_cast<int64_t>(i);
    if (a.name == "train/drop_path_rate") rateArg = static_cast<int64_t>(i);
    if (a.name == "train/drop_path_uniform") uniformArg = static_cast<int64_t>(i);
    if (a.name == "train/dropout_uniform") dropoutArg = static_cast<int64_t>(i);
  }
  if (stepArg < 0 || inputArg < 0 || targetsArg < 0 || hyperArg < 0 ||
      plan.args[hyperArg].numel() != kNumHyper || plan.args[targetsArg].shape.size() != 2)
    throw Error("the embedded plan is not a training step of this runtime's version");
  if (opt.dropPath > 0 && (rateArg < 0 || uniformArg < 0))
    throw Error("--drop-path: this executable was compiled without stochastic depth (pass --drop-path 0)");

  // The starting state.
  if (resumed) {
    std::vector<std::string> problems;
    for (size_t i = 0; i < nargs; ++i) {
      const PlanArg &a = plan.args[i];
      if (!isState(a)) continue;
      const Tensor *t = resumed->find(a.name);
      if (!t) problems.push_back("missing tensor '" + a.name + "' " + shapeString(a.shape));
      else if (t->shape != a.shape)
        problems.push_back("tensor '" + a.name + "' has shape " + t->shapeString() + ", the model needs " + shapeString(a.shape));
      else if ((a.dtype == DType::I64) != (t->dtype == DType::I64))
        problems.push_back("tensor '" + a.name + "' has dtype " + dtypeName(t->dtype) + ", expected " + dtypeName(a.dtype));
      else if (a.dtype == DType::I64) std::memcpy(store[i].data(), t->data, a.bytes());
      else {
        std::vector<float> v = resumed->getF32(a.name, a.shape);
        std::memcpy(store[i].data(), v.data(), a.bytes());
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
      if (bound[i].data) std::memcpy(store[i].data(), bound[i].data, plan.args[i].bytes());
  } else {
    std::mt19937_64 rng(opt.seed);
    // Optimizer state and the step count start at zero (as allocated).
    for (size_t i = 0; i < nargs; ++i)
      if (plan.args[i].kind == PlanArg::Parameter || plan.args[i].kind == PlanArg::Buffer)
        initialise(plan.args[i], store[i].data(), rng);
  }
  double resumedEpochLoss = 0;
  int64_t resumedEpochSteps = 0;
  if (resumed) {
    const auto &meta = resumed->metadata();
    auto loss = meta.find("epoch_loss"), steps = meta.find("epoch_steps");
    if (loss != meta.end() && steps != meta.end()) {
      resumedEpochLoss = std::strtod(loss->second.c_str(), nullptr);
      resumedEpochSteps = std::strtoll(steps->second.c_str(), nullptr, 10);
    }
  }
  resumed.reset();
  int64_t &step = *reinterpret_cast<int64_t *>(store[stepArg].data());

  // The data.
  const PlanArg &in = plan.args[inputArg];
  std::vector<int64_t> sampleShape(in.shape.begin() + 1, in.shape.end());
  int64_t classes = 0;
  for (const PlanArg &a : plan.args)
    if (a.name == "logits") classes = a.shape.back();
  if (plan.args[targetsArg].shape != std::vector<int64_t>{plan.batch, classes})
    throw Error("the embedded plan's targets are not batch x classes");
  std::unique_ptr<Dataset> train = openDataset(opt.data, Split::Train, sampleShape, classes);
  std::unique_ptr<Dataset> val = opt.evalEvery == 0 ? nullptr
                                 : opt.valData.empty() ? openDataset(opt.data, Split::Val, sampleShape, classes)
                                                       : openDataset(opt.valData, Split::Val, sampleShape, classes);
  if (!opt.valData.empty() && !val && opt.evalEvery) {
    // A safetensors file as the validation split: all of it.
    val = openDataset(opt.valData, Split::Train, sampleShape, classes);
  }
  bool images = train->tensor(0) == nullptr;
  Augment augment;
  std::string how = opt.augment == "auto" ? (images ? "crop" : "none") : opt.augment;
  augment.crop = how == "crop";
  augment.flip = how == "crop" || how == "flip";
  augment.minScale = opt.cropScale;
  std::string ra = opt.randAugment == "auto" ? (augment.crop ? "2,9" : "0") : opt.randAugment;
  if (ra != "0" && (std::sscanf(ra.c_str(), "%d,%d", &augment.randOps, &augment.randMagnitude) != 2 ||
                    augment.randOps < 1 || augment.randMagnitude < 0 || augment.randMagnitude > 30))
    usage(plan, "--rand-augment takes N,M (ops >= 1, magnitude 0..30) or 0, got '" + ra + "'");
  augment.mixup = opt.mixup;
  augment.cutmix = opt.cutmix;
  augment.mixProb = opt.mixProb;
  augment.switchProb = opt.mixSwitchProb;
  if (!images && (augment.flip || augment.randOps))
    throw Error("--augment and --rand-augment apply to image data; " + opt.data + " holds prepared tensors");
  bool shuffle = opt.shuffle == "auto" ? images : opt.shuffle == "on";
  int workers = opt.workers > 0 ? opt.workers
                                : static_cast<int>(std::clamp<unsigned>(std::thread::hardware_concurrency(), 1, 8));
  Loader loader(*train, augment, sampleShape, plan.batch, shuffle ? Loader::Shuffled : Loader::InOrder, opt.seed,
                workers, opt.badImages == "skip", world.rank, world.size);
  const int64_t globalBatch = plan.batch * world.size;
  const int64_t perEpoch = loader.batchesPerEpoch();
  const int64_t total = opt.epochs >= 0 ? opt.epochs * perEpoch : opt.steps;
  const int64_t warmup = opt.warmupSteps >= 0    ? opt.warmupSteps
                         : opt.warmupEpochs >= 0 ? static_cast<int64_t>(opt.warmupEpochs * perEpoch)
                                                 : static_cast<int64_t>(kWarmupFraction * total);
  const int64_t scheduleSteps = opt.scheduleSteps >= 0 ? opt.scheduleSteps : total;
  const int64_t totalEpochs = (total + perEpoch - 1) / perEpoch;

  float *hyper = reinterpret_cast<float *>(store[hyperArg].data());
  hyper[kLr] = static_cast<float>(opt.lr);
  hyper[kMinLr] = static_cast<float>(opt.minLr);
  hyper[kWarmupSteps] = static_cast<float>(warmup);
  hyper[kScheduleSteps] = static_cast<float>(scheduleSteps);
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
  auto index = [&](const PlanArg *a) { return static_cast<size_t>(a - plan.args.data()); };
  auto scalarOf = [&](const PlanArg *a) { return *reinterpret_cast<const float *>(store[index(a)].data()); };

  // The evaluation forward shares the parameters and buffers, by name.
  std::unique_ptr<Plan> evalPlan;
  std::vector<std::vector<char>> evalStore;
  std::vector<void *> evalArgs;
  int64_t evalInput = -1, evalLogits = -1;
  if (val) {
    if (!cmt_eval_packed || !cmt_eval_plan)
      throw Error("this training executable has no evaluation forward (recompile it, or pass --eval-every 0)");
    evalPlan = std::make_unique<Plan>(Plan::parse(cmt_eval_plan));
    evalStore.resize(evalPlan->args.size());
    for (size_t i = 0; i < evalPlan->args.size(); ++i) {
      const PlanArg &a = evalPlan->args[i];
      const PlanArg *shared = isState(a) ? plan.find(a.name) : nullptr;
      if (isState(a) && !shared) throw Error("the evaluation forward takes '" + a.name + "', which training lacks");
      if (!shared) evalStore[i].assign(a.bytes(), 0);
      evalArgs.push_back(shared ? store[index(shared)].data() : evalStore[i].data());
      if (a.name == "input") evalInput = static_cast<int64_t>(i);
      if (a.name == "logits") evalLogits = static_cast<int64_t>(i);
    }
    if (evalInput < 0 || evalLogits < 0) throw Error("the evaluation forward lacks 'input' or 'logits'");
  }

  // The state lives where the step runs: in `store` on the CPU, on the GPU
  // for CUDA executables (`store` then mirrors what was fetched).
  std::unique_ptr<CudaExecutor> cuda, cudaEval;
  if (plan.target == "cuda") {
    int device = opt.device >= 0 ? opt.device : world.launched ? world.localRank : 0;
    cuda = std::make_unique<CudaExecutor>(plan, precision.precision, device);
    cuda->bind(args);
  }
  CollectiveOptions collectives;
  collectives.syncBatchNorm = opt.syncBn;
  collectives.bucketBytes = static_cast<size_t>(opt.bucketMb * (1 << 20));
  collectives.timeoutSeconds = opt.commTimeout;
  startCollectives(collectives, cuda != nullptr, cuda ? cuda->stream() : nullptr);
  auto fetch = [&](size_t i) {
    if (cuda) cuda->download(i);
  };

  // The running sum of this epoch's losses travels with the checkpoint, so
  // that a run resumed mid-epoch reports the epoch's mean loss as it was.
  double epochLoss = resumedEpochLoss;
  int64_t epochSteps = resumedEpochSteps;
  auto save = [&](const std::string &path, const char *why) {
    if (world.rank != 0) return;  // every rank holds the same state
    std::vector<TensorOut> out;
    for (size_t i = 0; i < nargs; ++i)
      if (isState(plan.args[i])) {
        fetch(i);
        out.push_back({plan.args[i].name, plan.args[i].dtype, plan.args[i].shape, store[i].data()});
      }
    try {
      writeSafetensors(path, out,
                       {{"model", plan.model}, {"step", std::to_string(step)}, {"epoch", std::to_string(step / perEpoch)},
                        {"optimizer", opt.optimizer}, {"train_config", joinConfig(storedConfig(opt))},
                        {"epoch_loss", hexFloat(epochLoss)}, {"epoch_steps", std::to_string(epochSteps)},
                        {"data", train->describe()}});
    } catch (const Error &e) {
      throw Error(std::string("cannot write the checkpoint at step ") + std::to_string(step) + ": " + e.what());
    }
    std::printf("saved %s at step %lld (%s)\n", path.c_str(), (long long)step, why);
    std::fflush(stdout);
  };

  auto evaluate = [&]() {
    EvalResult r;
    if (cuda) {
      for (size_t i = 0; i < nargs; ++i)
        if (isState(plan.args[i])) fetch(i);
      if (!cudaEval) {
        cudaEval = std::make_unique<CudaExecutor>(*evalPlan, precision.precision, opt.device, cmt_eval_packed);
        cudaEval->bind(evalArgs);  // uploads the parameters as fetched
      } else {
        for (size_t i = 0; i < evalPlan->args.size(); ++i)
          if (isState(evalPlan->args[i])) cudaEval->upload(i);
      }
    }
    Loader evalLoader(*val, Augment{}, sampleShape, plan.batch, Loader::Evaluation, opt.seed, workers,
                      opt.badImages == "skip", world.rank, world.size);
    evalLoader.start(0, 0);
    Batch b;
    const float *logits = reinterpret_cast<const float *>(evalArgs[evalLogits]);
    for (int64_t k = 0; k < evalLoader.batchesPerEpoch() && !interrupted; ++k) {
      evalLoader.next(b);
      std::memcpy(evalArgs[evalInput], b.images.data(), b.images.size() * sizeof(float));
      if (cudaEval) {
        cudaEval->run();
      } else {
        cmt_eval_packed(evalArgs.data());
      }
      for (int64_t i = 0; i < b.valid; ++i) {
        const float *row = logits + i * classes;
        int64_t y = b.labels[i];
        double m = *std::max_element(row, row + classes), sum = 0;
        int64_t above = 0;
        for (int64_t c = 0; c < classes; ++c) {
          sum += std::exp(static_cast<double>(row[c]) - m);
          above += row[c] > row[y];
        }
        r.loss += std::log(sum) + m - row[y];
        r.top1 += above < 1;
        r.top5 += above < 5;
      }
      r.images += b.valid;
      r.failed += b.failed;
    }
    double sums[5] = {r.loss, r.top1, r.top5, static_cast<double>(r.images), static_cast<double>(r.failed)};
    allReduceSum(sums, 5);
    r.loss = sums[0], r.top1 = sums[1], r.top5 = sums[2];
    r.images = static_cast<int64_t>(sums[3]), r.failed = static_cast<int64_t>(sums[4]);
    if (r.images) {
      r.loss /= r.images;
      r.top1 *= 100.0 / r.images;
      r.top5 *= 100.0 / r.images;
    }
    return r;
  };

  // The effective configuration, once.
  std::printf("training %s: batch %lld, steps %lld -> %lld (%lld per epoch, %lld epochs), %s lr %g (%s to %g, warm-up %lld, "
              "over %lld), weight decay %g, label smoothing %g, drop path %g, seed %llu\n",
              plan.model.c_str(), (long long)plan.batch, (long long)step, (long long)total, (long long)perEpoch,
              (long long)totalEpochs, opt.optimizer.c_str(), opt.lr, opt.schedule.c_str(), opt.minLr,
              (long long)warmup, (long long)scheduleSteps, opt.weightDecay, opt.labelSmoothing, opt.dropPath,
              (unsigned long long)opt.seed);
  std::vector<std::string> parts;
  char buf[160];
  if (augment.crop) parts.push_back("RandomResizedCrop (scale " + std::to_string(opt.cropScale).substr(0, 4) + "-1)");
  if (augment.flip) parts.push_back("flip");
  if (augment.randOps)
    parts.push_back("RandAugment(" + std::to_string(augment.randOps) + ", " + std::to_string(augment.randMagnitude) + ")");
  if (augment.mixes()) {
    std::snprintf(buf, sizeof buf, "mixup %g / cutmix %g (p %g, switch %g)", augment.mixup, augment.cutmix,
                  augment.mixProb, augment.switchProb);
    parts.push_back(buf);
  }
  std::string augmentation = parts.empty() ? "no augmentation" : parts[0];
  for (size_t k = 1; k < parts.size(); ++k) augmentation += " + " + parts[k];
  std::printf("data: %s; %s, %s, %d loader threads\n", train->describe().c_str(), augmentation.c_str(),
              shuffle ? "shuffled per epoch" : "in order", workers);
  if (world.launched)
    std::printf("data parallel: %d ranks (%s), global batch %lld, batch norm %s, gradient buckets of %g MiB\n",
                world.size, world.launcher.c_str(), (long long)globalBatch,
                opt.syncBn ? "synchronised over the ranks (--sync-bn)" : "per rank", opt.bucketMb);
  std::printf("validation: %s\n", val ? (val->describe() + ", every " + std::to_string(opt.evalEvery) + " epoch(s)").c_str()
                                      : "none");
  std::fflush(stdout);

  std::string logPath = opt.log.empty() && !opt.save.empty() ? stem(opt.save) + ".metrics.jsonl" : opt.log;
  std::string plotPath = opt.plot.empty() && !logPath.empty() ? stem(logPath) + ".png" : opt.plot;
  if (!plotPath.empty() && logPath.empty()) usage(plan, "--plot draws the metrics log: pass --log or --save");
  MetricsLog log;
  log.open(world.rank == 0 ? logPath : "", step);
  auto plot = [&]() {
    if (plotPath.empty() || world.rank != 0) return;
    try {
      plotLog(logPath, plotPath, plan.model + " on " + opt.data);
    } catch (const Error &e) {
      std::fprintf(stderr, "warning: no plot: %s\n", e.what());
    }
  };

  if (cuda) {
    cuda->upload(hyperArg);
    if (rateArg >= 0) cuda->upload(rateArg);
  }
  // The draws of drop path and of the head's dropout: a function of the
  // seed, the step and the rank alone, so a resumed run draws what the
  // uninterrupted one would have.
  auto drawDropPath = [&]() {
    std::seed_seq seq{static_cast<uint32_t>(opt.seed), static_cast<uint32_t>(opt.seed >> 32),
                      static_cast<uint32_t>(step), static_cast<uint32_t>(step >> 32), static_cast<uint32_t>(world.rank),
                      0x64726f70u};
    std::mt19937 rng(seq);
    std::uniform_real_distribution<float> uniform(0.f, 1.f);
    for (int64_t arg : {uniformArg, dropoutArg}) {
      if (arg < 0) continue;
      float *u = reinterpret_cast<float *>(store[arg].data());
      for (int64_t i = 0, n = plan.args[arg].numel(); i < n; ++i) u[i] = uniform(rng);
      if (cuda) cuda->upload(arg);
    }
  };

  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  bool dumped = false;
  int64_t skipped = 0, failedImages = 0;
  std::vector<double> seconds;
  double recent = 0;  // smoothed seconds per step, for the ETA
  using Clock = std::chrono::steady_clock;
  auto started = Clock::now();
  loader.start(step / perEpoch, step % perEpoch);
  // The loss takes a distribution per image: its soft label, or its label's
  // one-hot, mixed with the reverse image's as the loader mixed the images.
  float *targets = reinterpret_cast<float *>(store[targetsArg].data());
  auto setTargets = [&](const Batch &b) {
    const float keep = static_cast<float>(b.mix), take = static_cast<float>(1 - b.mix);
    for (int64_t i = 0; i < plan.batch; ++i) {
      float *t = targets + i * classes;
      int64_t j = plan.batch - 1 - i;
      if (!b.targets.empty()) {
        for (int64_t c = 0; c < classes; ++c)
          t[c] = keep * b.targets[i * classes + c] + take * b.targets[j * classes + c];
      } else {
        std::fill(t, t + classes, 0.f);
        t[b.labels[i]] += keep;
        t[b.labels[j]] += take;
      }
    }
  };
  Batch batch;
  while (step < total && !interrupted) {
    loader.next(batch);
    failedImages += batch.failed;
    std::memcpy(store[inputArg].data(), batch.images.data(), in.bytes());
    setTargets(batch);
    auto t0 = Clock::now();
    drawDropPath();
    if (cuda) {
      cuda->upload(inputArg);
      cuda->upload(targetsArg);
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
      // What they are the gradients of: the step's batch as mixed.
      grads.push_back({"batch/input", DType::F32, in.shape, store[inputArg].data()});
      grads.push_back({"batch/targets", DType::F32, plan.args[targetsArg].shape, store[targetsArg].data()});
      if (dropoutArg >= 0)
        grads.push_back({"batch/dropout_uniform", DType::F32, plan.args[dropoutArg].shape, store[dropoutArg].data()});
      writeSafetensors(opt.dumpGrads, grads, {{"model", plan.model}, {"step", std::to_string(step)}});
      std::printf("wrote the gradients of step %lld to %s\n", (long long)step, opt.dumpGrads.c_str());
      dumped = true;
    }
    for (auto [o, a] : commits) {
      if (cuda) cuda->copy(a, o);
      else std::memcpy(store[a].data(), store[o].data(), plan.args[a].bytes());
    }
    if (cuda) fetch(stepArg);
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    seconds.push_back(s);
    recent = seconds.size() == 1 ? s : 0.95 * recent + 0.05 * s;
    // The loss of the global batch, and whether any rank was interrupted:
    // every rank stops after the same step.
    double shared[2] = {scalarOf(lossArg), interrupted ? 1.0 : 0.0};
    allReduceSum(shared, 2);
    if (shared[1] > 0 && !interrupted) interrupted = SIGTERM;
    float loss = static_cast<float>(shared[0] / world.size);
    epochLoss += loss;
    ++epochSteps;
    if (step % opt.printEvery == 0 || step == total)
      std::printf("epoch %lld/%lld  step %lld/%lld  loss %.6f  lr %.4g  grad-norm %.4g  %.1f images/s  ETA %s\n",
                (long long)(step - 1) / perEpoch + 1, (long long)totalEpochs, (long long)step, (long long)total, loss,
                scalarOf(lrArg), scalarOf(normArg), globalBatch / s, duration(recent * (total - step)).c_str());
    char rec[320];
    std::snprintf(rec, sizeof rec,
                  "{\"kind\": \"step\", \"step\": %lld, \"epoch\": %lld, \"loss\": %.9g, \"lr\": %.9g, \"grad_norm\": %.9g, "
                  "\"images_per_s\": %.5g}",
                  (long long)step, (long long)(step - 1) / perEpoch, loss, scalarOf(lrArg), scalarOf(normArg),
                  globalBatch / s);
    log.write(rec);

    if (step % perEpoch == 0) {
      int64_t epoch = step / perEpoch;
      std::string summary = "epoch " + std::to_string(epoch) + "/" + std::to_string(totalEpochs) + " done";
      char buf[320];
      std::snprintf(buf, sizeof buf, ": train loss %.4f over %lld steps", epochLoss / std::max<int64_t>(1, epochSteps),
                    (long long)epochSteps);
      summary += buf;
      std::string record = "{\"kind\": \"epoch\", \"epoch\": " + std::to_string(epoch - 1) +
                           ", \"step\": " + std::to_string(step);
      std::snprintf(buf, sizeof buf, ", \"train_loss\": %.7g, \"seconds\": %.4g", epochLoss / std::max<int64_t>(1, epochSteps),
                    std::chrono::duration<double>(Clock::now() - started).count());
      record += buf;
      if (val && (epoch % opt.evalEvery == 0 || step >= total)) {
        auto e0 = Clock::now();
        EvalResult lastEval = evaluate();
        if (!interrupted) {
          std::snprintf(buf, sizeof buf, ", val top-1 %.2f%%  top-5 %.2f%%  loss %.4f on %lld images (%.1f s)",
                        lastEval.top1, lastEval.top5, lastEval.loss, (long long)lastEval.images,
                        std::chrono::duration<double>(Clock::now() - e0).count());
          summary += buf;
          std::snprintf(buf, sizeof buf, ", \"val_loss\": %.7g, \"val_top1\": %.5g, \"val_top5\": %.5g", lastEval.loss,
                        lastEval.top1, lastEval.top5);
          record += buf;
          failedImages += lastEval.failed;
        }
      }
      if (failedImages) {
        summary += ", " + std::to_string(failedImages) + " images failed to decode and were replaced";
        record += ", \"failed_images\": " + std::to_string(failedImages);
      }
      std::printf("%s\n", summary.c_str());
      log.write(record + "}");
      plot();
      epochLoss = 0;
      epochSteps = 0;
    }
    if (opt.saveEvery > 0 && step % opt.saveEvery == 0 && step < total) save(opt.save, "periodic");
    std::fflush(stdout);
  }
  if (interrupted) {
    const char *name = interrupted == SIGINT ? "SIGINT" : "SIGTERM";
    std::printf("%s at step %lld\n", name, (long long)step);
    if (!opt.save.empty()) save(opt.save, name);
    else std::printf("nothing saved (no --save)\n");
    plot();
    return 128 + interrupted;
  }
  if (seconds.size() > 2) {
    std::vector<double> rest(seconds.begin() + 1, seconds.end());  // the first step captures and warms up
    std::sort(rest.begin(), rest.end());
    std::printf("%zu steps: median %.1f images/s (first step excluded)", seconds.size(),
                globalBatch / rest[rest.size() / 2]);
    if (cuda) std::printf(", GPU memory: arena %.1f MiB, resident %.1f MiB", cuda->arenaBytes() / 1048576.0,
                          cuda->residentBytes() / 1048576.0);
    std::printf("\n");
  }
  if (skipped) std::printf("%lld steps skipped for non-finite values\n", (long long)skipped);
  if (!opt.save.empty()) save(opt.save, "end of training");
  plot();
  if (!plotPath.empty()) std::printf("metrics in %s, curves in %s\n", logPath.c_str(), plotPath.c_str());
  return 0;
}

}  // namespace

}  // namespace cmt::rt
