// driver.h - what the inference driver (main.cpp) and the training driver
// (train.cpp) of the executables share.
#pragma once

#include "runtime/plan.h"
#include "runtime/safetensors.h"

#include <vector>

extern "C" void cmt_forward_packed(void **args);

namespace cmt::rt {

// Float data of a checkpoint tensor: in place when it is float32, converted otherwise.
struct Bound {
  const void *data = nullptr;
  std::vector<float> converted;
};

// Binds every parameter and buffer of the plan to the checkpoint by official
// name; collects every problem before failing, so one run shows them all.
std::vector<Bound> bindWeights(const Plan &plan, const SafetensorsFile &ckpt);

// One input of the plan read by name from --data (the whole batch).
std::vector<char> readData(const Plan &plan, const PlanArg &a, const SafetensorsFile &f);

// The training executable's main (plans of mode "train").
int trainMain(const Plan &plan, int argc, char **argv);

}  // namespace cmt::rt
