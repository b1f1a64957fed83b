// train_hyper.h - the layout of a training step's hyper-parameter vector.
//
// The compiled @train_step takes its hyper-parameters as one float32 vector
// (the input "train/hyper"), so that one executable serves every setting of
// the flags; the compiler (cmt.learning_rate, cmt.optimizer_step) and the
// runtime (which fills it from the command line) both read this header.
#pragma once

namespace cmt::train {

enum Hyper : int {
  kLr,              // peak learning rate
  kMinLr,           // cosine floor
  kWarmupSteps,     // linear warm-up over this many steps (0: none)
  kScheduleSteps,   // the cosine reaches min_lr here
  kCosine,          // 1: cosine after warm-up, 0: constant
  kWeightDecay,
  kOptimizer,       // kAdamW or kSGD
  kBeta1,
  kBeta2,
  kEps,
  kMomentum,
  kNesterov,        // 1: Nesterov momentum (SGD)
  kClipNorm,        // clip the global gradient norm to this (0: no clipping)
  kLabelSmoothing,
  kNumHyper
};

enum Optimizer : int { kAdamW = 0, kSGD = 1 };

}  // namespace cmt::train
