// cuda.h - runs a plan compiled for --target=cuda.
//
// The compiled host code (cmt_forward_packed) is a straight-line recording of
// kernel launches, cuBLAS calls and arena allocations. The executor runs it
// three times at most: once without a GPU touched, to size the arena (the
// allocations are first-fit over a free list, so the order of allocation and
// release, fixed by the compiler's deallocation placement, decides the
// offsets); once under stream capture, which records a CUDA graph; then
// every forward is one replay of that graph.
//
// libcuda and libcublas are loaded with dlopen: an executable built for CUDA
// starts anywhere and says plainly what is missing.
#pragma once

#include "runtime/plan.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cmt::rt {

enum class Precision { FP32, TF32, BF16 };
Precision parsePrecision(const std::string &name);  // throws Error naming the choices

// What --precision asks of an executable: cuBLAS's compute type, and which
// forward runs where the executable holds one per activation storage
// (cmt-compile --storage=both). `requested` is empty when not given: then the
// main forward's own (fp32; bf16 for bf16 storage). Throws Error where the
// executable cannot give what was asked.
struct PrecisionChoice {
  Precision precision;
  std::string name;       // as given, or the default
  bool bf16Forward;       // run the bf16-storage forward instead of the main one
};
PrecisionChoice choosePrecision(const Plan &plan, const std::string &requested, bool hasBF16Forward);

class CudaExecutor {
public:
  // Opens `device`; throws Error (no driver, no device, wrong architecture).
  // `entry` is the compiled host code (default cmt_forward_packed; a training
  // executable's evaluation forward is cmt_eval_packed).
  CudaExecutor(const Plan &plan, Precision precision, int device = 0, void (*entry)(void **) = nullptr);
  ~CudaExecutor();

  // `host[i]` is the data of plan argument i: read for inputs, parameters and
  // buffers, written for outputs. Parameters and buffers are uploaded here,
  // once; the forward is captured on the first run().
  void bind(const std::vector<void *> &host);
  // Uploads the inputs, replays the graph, downloads the outputs.
  void run();
  // Frees the device memory of the arguments and the arena (the shared
  // stream, cuBLAS handle and workspace stay): after a run that is not
  // repeated, such as the one computing prepared arguments.
  void release();
  // Device-resident state, for training: one argument between its host
  // buffer (given to bind) and the device, a device-side copy of one
  // argument's data into another (stream-ordered), and one replay with no
  // transfers at all.
  void upload(size_t arg);
  void download(size_t arg);
  void copy(size_t to, size_t from);
  // One replay; with data-parallel peers the wait watches them (comm.h).
  void launch();
  void *stream() const;

  // Replays the graph `iterations` times on device-resident data; returns the
  // milliseconds of each replay (host clock around launch and synchronize).
  std::vector<double> replay(int iterations);

  // Runs one forward outside the graph with an event between launches;
  // returns the milliseconds of each launch (plan.launches says what it is).
  std::vector<double> profile();

  std::string deviceName() const;
  size_t arenaBytes() const;     // intermediates, after liveness-based reuse
  size_t residentBytes() const;  // arena + arguments + cuBLAS workspace
  size_t graphNodes() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What an executor for `plan` would hold on the GPU, found without one (the
// arena-sizing pass alone): intermediates after liveness-based reuse, the
// plan's arguments (inputs, parameters, state, outputs), cuBLAS's workspace.
struct GpuMemory {
  size_t arena = 0, arguments = 0, workspace = 0;
  size_t total() const { return arena + arguments + workspace; }
};
GpuMemory plannedGpuMemory(const Plan &plan, void (*entry)(void **) = nullptr);
void printGpuMemory(const char *what, const GpuMemory &m);

// NCCL for comm.cpp's collectives (data parallelism); all on the
// executors' stream, gradient buckets averaged on a second stream that
// gpuJoin() joins back.
bool gpuPlanning();  // the arena-sizing pass: launch nothing
void gpuMakeNcclId(void *out128);
void gpuStartNccl(int rank, int size, const void *id128, double timeoutSeconds);
void gpuReduceBucket(const std::vector<std::pair<void *, size_t>> &items);
void gpuJoin();
void gpuReduceSumNow(void *data, size_t count);
void gpuHostSum(double *values, int count);

}  // namespace cmt::rt
