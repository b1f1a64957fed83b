// dataset.h - what training executables train and evaluate on, and the
// loader that prepares batches on worker threads ahead of the step.
//
// Three sources, told apart by what --data names:
//   FILE.safetensors   'input' (K x C x H x W, the compiled shape) and 'labels' (K int64): prepared
//                      tensors, used as they are
//   an IDX directory   train-images-idx3-ubyte[.gz] and friends (Fashion-MNIST, MNIST);
//                      "fashion-mnist" is Debian's /usr/share/datasets/fashion-mnist
//   an ImageFolder     one sub-folder per class holding JPEG/PNG files (classes in sorted order);
//                      DIR/train and DIR/val are the two splits when both exist
// Every batch is a function of (seed, epoch, batch index) alone, whatever the
// number of worker threads, so a resumed run sees the data an uninterrupted
// one would have.
#pragma once

#include "runtime/image.h"

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace cmt::rt {

class Dataset {
public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t label(int64_t i) const = 0;
  // Where sample i comes from, for messages ("DIR/cat/001.jpg", "FILE[12]").
  virtual std::string where(int64_t i) const = 0;
  // Prepared tensors (safetensors): sample i as C x H x W floats; nullptr for image sources.
  virtual const float *tensor(int64_t) const { return nullptr; }
  // Soft labels (a safetensors 'labels' K x classes float): sample i's target
  // distribution, its label() being the most probable class; else nullptr.
  virtual const float *target(int64_t) const { return nullptr; }
  virtual int64_t targetWidth() const { return 0; }  // the classes of a target()
  // Image sources: sample i decoded; throws Error naming the file when it cannot.
  virtual Image image(int64_t) const { return {}; }
  // "Fashion-MNIST train (60000 images, 10 classes)", for the start-up summary.
  virtual std::string describe() const = 0;
};

enum class Split { Train, Val };

// The split of the data source `spec` (see above); nullptr when the source has
// no such split (a safetensors file, a plain ImageFolder for Val). `shape` is
// one sample as the executable takes it (C x H x W). Throws Error naming the
// file and what is wrong (missing, truncated, a label out of 0..classes-1).
std::unique_ptr<Dataset> openDataset(const std::string &spec, Split split, const std::vector<int64_t> &shape,
                                     int64_t classes);

struct Augment {
  bool crop = false;        // RandomResizedCrop (else the evaluation resize and centre crop)
  double minScale = 0.08;   // of the area, as torchvision's default (0.08, 1)
  bool flip = false;        // horizontal, p = 0.5
  int randOps = 0, randMagnitude = 9;  // RandAugment(N, M); N = 0: off
  // Mixup and cutmix of a training batch with its own reverse (timm's Mixup,
  // batch mode): with probability mixProb, cutmix (probability switchProb
  // when both are on) or mixup, the weight drawn from Beta(alpha, alpha).
  double mixup = 0, cutmix = 0;  // the alphas; 0: off
  double mixProb = 1, switchProb = 0.5;
  bool mixes() const { return mixup > 0 || cutmix > 0; }
};

struct Batch {
  int64_t epoch = 0, index = 0;  // which batch this is
  int64_t valid = 0;             // samples that are real (evaluation pads the last batch)
  int64_t failed = 0;            // samples that failed to decode and were replaced
  std::vector<float> images;     // batch x C x H x W
  std::vector<int64_t> labels;   // batch
  std::vector<float> targets;    // batch x classes when the data has soft labels, else empty
  // Mixup/cutmix: image i holds `mix` of itself and 1 - mix of image
  // batch - 1 - i (its target is mixed alike); 1 when not mixed.
  double mix = 1;
};

// Mixes a full batch (b.valid images of `sampleShape`, C x H x W) with its
// reverse as `augment` says, drawing from `rng`; sets b.mix. Cutmix pastes a
// box of area about 1 - lambda and sets mix to the area actually kept.
void mixBatch(Batch &b, const Augment &augment, const std::vector<int64_t> &sampleShape, std::mt19937_64 &rng);

// Beta(alpha, alpha), from draws of `rng` alone (the same on every standard library).
double betaDraw(std::mt19937_64 &rng, double alpha);

// Batches of a dataset in order, prepared by `threads` workers up to `depth`
// batches ahead. Training: epoch after epoch, each a permutation drawn from
// (seed, epoch) (or the data in order), its last partial global batch
// dropped. Evaluation: the data in order, every sample once, the last batch
// padded (Batch::valid).
// Data parallelism: a global batch is `ranks` batches, rank r's the r-th, so
// the ranks together see what one process with `ranks` times the batch would.
class Loader {
public:
  enum Order { Shuffled, InOrder, Evaluation };  // the first two: training, epoch after epoch
  Loader(const Dataset &data, const Augment &augment, std::vector<int64_t> sampleShape, int64_t batch, Order order,
         uint64_t seed, int threads, bool skipBadImages, int rank = 0, int ranks = 1, int depth = 4);
  ~Loader();
  Loader(const Loader &) = delete;
  Loader &operator=(const Loader &) = delete;

  int64_t batchesPerEpoch() const { return perEpoch_; }
  // Starts producing at batch `index` of `epoch`, then on through the epochs
  // (training) or to the end of the data (evaluation).
  void start(int64_t epoch, int64_t index);
  // The next batch in order; waits for it. Throws Error when a sample failed
  // to decode (unless skipping) or the evaluation data is exhausted.
  void next(Batch &out);

private:
  struct Slot {
    int64_t position = -1;  // global batch number: epoch * batchesPerEpoch + index
    bool ready = false;
    std::string error;
    Batch batch;
  };
  void work();
  void fill(int64_t position, Batch &b);
  std::shared_ptr<const std::vector<int64_t>> permutation(int64_t epoch);

  const Dataset &data_;
  Augment augment_;
  std::vector<int64_t> shape_;
  int64_t batch_, perEpoch_, sampleSize_, rank_, ranks_;
  Order order_;
  bool skip_;
  uint64_t seed_;
  int threads_;
  std::vector<Slot> slots_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int64_t produced_ = 0, consumed_ = 0, end_ = 0;
  bool stop_ = false;
  std::vector<std::thread> workers_;
  std::mutex permMutex_;
  std::vector<std::pair<int64_t, std::shared_ptr<const std::vector<int64_t>>>> perms_;  // recent epochs
};

// Sample i of an epoch, augmented (training) or resized and centre-cropped
// (evaluation), normalised with the ImageNet statistics, as C x H x W floats.
// `rng` drives the augmentation alone.
void prepareSample(const Image &img, const Augment &augment, int resolution, int channels, std::mt19937_64 &rng,
                   float *out);

// A reproducible uniform draw in [0, 1): the same on every standard library.
inline double unitDraw(std::mt19937_64 &rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace cmt::rt
