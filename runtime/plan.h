// plan.h - what a compiled executable computes: its kernel's arguments, with
// official names and shapes, in the order the kernel takes them. cmt-compile
// embeds the plan as text in the executable (the symbol cmt_plan).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/safetensors.h"

namespace cmt::rt {

struct PlanArg {
  // State: training state saved with checkpoints (optimizer moments, step).
  // Prepared: computed from the weights alone, once, by the plan's
  // F_prepare (whose outputs carry the same names).
  enum Kind { Input, Parameter, Buffer, Output, State, Prepared } kind;
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;  // as the kernel sees it (kernel_batch images)

  int64_t numel() const;
  size_t bytes() const;  // numel x the dtype's size
};

struct Plan {
  std::string model, target, mode;
  std::string gpuArch;       // the CUDA target's sm_XX; empty for the CPU
  std::string storage = "f32";  // activations in memory: f32 or bf16 (cmt-compile --storage)
  int64_t batch = 1;         // images per run of the executable
  int64_t kernelBatch = 1;   // images per call of the kernel
  int64_t resolution = 0;
  std::vector<PlanArg> args;
  std::vector<std::string> launches;  // CUDA: what each launch computes, in order

  // Parses the text format that serialize() writes; throws Error on anything else.
  static Plan parse(const std::string &text);
  std::string serialize() const;

  const PlanArg *find(const std::string &name) const;
};

}  // namespace cmt::rt
