// dataset.cpp - see dataset.h.
#include "runtime/dataset.h"

#include "runtime/randaugment.h"
#include "runtime/safetensors.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>
#include <zlib.h>

namespace cmt::rt {
namespace {

bool isDirectory(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Sorted entries of a directory (no dot files); throws Error naming it.
std::vector<std::string> listDirectory(const std::string &dir) {
  DIR *d = opendir(dir.c_str());
  if (!d) throw Error(dir + ": cannot open the directory: " + std::strerror(errno));
  std::vector<std::string> names;
  while (dirent *e = readdir(d))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string checkLabels(const std::vector<int64_t> &labels, int64_t classes, const std::string &where) {
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      return where + ": label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) +
             " is not a class of this model (0.." + std::to_string(classes - 1) + ")";
  return "";
}

// --- prepared tensors -------------------------------------------------------
class TensorDataset : public Dataset {
public:
  TensorDataset(const std::string &path, const std::vector<int64_t> &shape, int64_t classes) : path_(path) {
    SafetensorsFile f(path);
    const Tensor &images = f.get("input");
    const Tensor &labels = f.get("labels");
    int64_t k = images.shape.empty() ? 0 : images.shape[0];
    std::vector<int64_t> want = shape;
    want.insert(want.begin(), k);
    if (images.shape != want || k == 0)
      throw Error(path + ": 'input' has shape " + images.shapeString() + ", this executable takes K x " +
                  std::to_string(shape[0]) + " x " + std::to_string(shape[1]) + " x " + std::to_string(shape[2]) +
                  " with K > 0");
    images_ = f.getF32("input", want);
    per_ = images_.size() / static_cast<size_t>(k);
    labels_.resize(static_cast<size_t>(k));
    if (labels.dtype == DType::I64 && labels.shape == std::vector<int64_t>{k}) {
      std::memcpy(labels_.data(), labels.data, labels_.size() * sizeof(int64_t));
      std::string bad = checkLabels(labels_, classes, path + " 'labels'");
      if (!bad.empty()) throw Error(bad);
    } else if (labels.dtype != DType::I64 && labels.shape == std::vector<int64_t>{k, classes}) {
      // Target distributions (soft labels, as distillation or mixing makes);
      // the class a sample counts as for accuracy is its most probable one.
      targets_ = f.getF32("labels", {k, classes});
      for (int64_t i = 0; i < k; ++i) {
        const float *t = targets_.data() + i * classes;
        if (!std::all_of(t, t + classes, [](float v) { return std::isfinite(v); }))
          throw Error(path + ": 'labels' row " + std::to_string(i) + " is not finite");
        labels_[i] = std::max_element(t, t + classes) - t;
      }
      classes_ = classes;
    } else {
      throw Error(path + ": 'labels' must be int64 [" + std::to_string(k) + "] (classes) or float [" +
                  std::to_string(k) + ", " + std::to_string(classes) + "] (target distributions), got " +
                  dtypeName(labels.dtype) + " " + labels.shapeString());
    }
  }
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t label(int64_t i) const override { return labels_[i]; }
  std::string where(int64_t i) const override { return path_ + "[" + std::to_string(i) + "]"; }
  const float *tensor(int64_t i) const override { return images_.data() + i * per_; }
  const float *target(int64_t i) const override { return targets_.empty() ? nullptr : targets_.data() + i * classes_; }
  int64_t targetWidth() const override { return classes_; }
  std::string describe() const override {
    return path_ + " (" + std::to_string(size()) + " prepared tensors" + (targets_.empty() ? "" : " with soft labels") +
           ", used as they are)";
  }

private:
  std::string path_;
  std::vector<float> images_;
  std::vector<int64_t> labels_;
  std::vector<float> targets_;  // K x classes, for soft labels
  int64_t classes_ = 0;
  size_t per_ = 0;
};

// --- IDX (MNIST, Fashion-MNIST) --------------------------------------------
// Big-endian magic 0x0000TTNN (TT 0x08: unsigned bytes, NN: dimensions), the
// dimensions as big-endian uint32, then the data; gzip or plain.
std::vector<uint8_t> readIdx(const std::string &path, int dims, std::vector<int64_t> &shape) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(path + ": cannot open: " + std::strerror(errno));
  auto read = [&](void *p, size_t n, const char *what) {
    int got = gzread(f, p, static_cast<unsigned>(n));
    if (got < 0 || static_cast<size_t>(got) != n) {
      int code = 0;
      std::string why = got < 0 ? gzerror(f, &code) : "the file ends early";
      gzclose(f);
      throw Error(path + ": truncated or corrupt IDX file (reading the " + what + ": " + why + ")");
    }
  };
  uint8_t head[4];
  read(head, 4, "magic number");
  if (head[0] != 0 || head[1] != 0 || head[2] != 0x08 || head[3] != dims) {
    gzclose(f);
    throw Error(path + ": not an IDX file of unsigned bytes with " + std::to_string(dims) +
                " dimensions (magic number " + std::to_string(head[2]) + "/" + std::to_string(head[3]) + ")");
  }
  shape.assign(static_cast<size_t>(dims), 0);
  size_t total = 1;
  for (int d = 0; d < dims; ++d) {
    uint8_t b[4];
    read(b, 4, "dimensions");
    shape[d] = (int64_t(b[0]) << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
    // A corrupt header must not become a huge allocation: 16 GiB at most.
    if (shape[d] <= 0 || static_cast<size_t>(shape[d]) > (size_t(1) << 34) / total) {
      gzclose(f);
      throw Error(path + ": implausible IDX dimension " + std::to_string(shape[d]));
    }
    total *= static_cast<size_t>(shape[d]);
  }
  // Read in pieces into a growing buffer, so that a header claiming more
  // than the file holds ends as "truncated", not as a zero-filled giant.
  std::vector<uint8_t> data;
  data.reserve(std::min<size_t>(total, size_t(64) << 20));
  for (size_t done = 0; done < total;) {
    size_t piece = std::min<size_t>(total - done, size_t(1) << 26);
    data.resize(done + piece);
    read(data.data() + done, piece, "data");
    done += piece;
  }
  uint8_t extra;
  bool trailing = gzread(f, &extra, 1) > 0;
  gzclose(f);
  if (trailing) throw Error(path + ": data beyond the " + std::to_string(total) + " bytes its header declares");
  return data;
}

class IdxDataset : public Dataset {
public:
  IdxDataset(const std::string &dir, Split split, int64_t classes) {
    std::string prefix = split == Split::Train ? "train" : "t10k";
    auto find = [&](const std::string &stem) {
      for (const char *ext : {".gz", ""})
        if (exists(dir + "/" + stem + ext)) return dir + "/" + stem + ext;
      throw Error(dir + ": no " + stem + "[.gz] (an IDX data set needs train- and t10k- images and labels)");
    };
    imagesPath_ = find(prefix + "-images-idx3-ubyte");
    std::string labelsPath = find(prefix + "-labels-idx1-ubyte");
    std::vector<int64_t> ishape, lshape;
    pixels_ = readIdx(imagesPath_, 3, ishape);
    std::vector<uint8_t> labels = readIdx(labelsPath, 1, lshape);
    if (lshape[0] != ishape[0])
      throw Error(dir + ": " + std::to_string(ishape[0]) + " images but " + std::to_string(lshape[0]) + " labels");
    labels_.assign(labels.begin(), labels.end());
    height_ = static_cast<int>(ishape[1]);
    width_ = static_cast<int>(ishape[2]);
    std::string bad = checkLabels(labels_, classes, labelsPath);
    if (!bad.empty()) throw Error(bad);
    name_ = dir + " " + prefix;
  }
  int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
  int64_t label(int64_t i) const override { return labels_[i]; }
  std::string where(int64_t i) const override { return imagesPath_ + "[" + std::to_string(i) + "]"; }
  Image image(int64_t i) const override {
    Image img;
    img.width = width_;
    img.height = height_;
    img.channels = 1;
    size_t n = static_cast<size_t>(width_) * height_;
    img.pixels.assign(pixels_.begin() + i * n, pixels_.begin() + (i + 1) * n);
    return img;
  }
  std::string describe() const override {
    return name_ + " (" + std::to_string(size()) + " grey " + std::to_string(width_) + "x" +
           std::to_string(height_) + " images, IDX)";
  }

private:
  std::string imagesPath_, name_;
  std::vector<uint8_t> pixels_;
  std::vector<int64_t> labels_;
  int width_ = 0, height_ = 0;
};

// --- ImageFolder ------------------------------------------------------------
class FolderDataset : public Dataset {
public:
  FolderDataset(const std::string &root, int64_t classes) : root_(root) {
    std::vector<std::string> names;
    for (const std::string &n : listDirectory(root))
      if (isDirectory(root + "/" + n)) names.push_back(n);
    if (names.empty()) throw Error(root + ": no class sub-folders (an ImageFolder holds one folder per class)");
    if (static_cast<int64_t>(names.size()) != classes)
      throw Error(root + ": " + std::to_string(names.size()) + " class folders, this model has " +
                  std::to_string(classes) + " classes");
    for (size_t c = 0; c < names.size(); ++c)
      for (const std::string &f : listDirectory(root + "/" + names[c])) {
        std::string lower = f;
        for (char &ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        auto endsWith = [&](const char *s) {
          size_t n = std::strlen(s);
          return lower.size() >= n && lower.compare(lower.size() - n, n, s) == 0;
        };
        if (endsWith(".jpg") || endsWith(".jpeg") || endsWith(".png")) {
          files_.push_back(names[c] + "/" + f);
          labels_.push_back(static_cast<int64_t>(c));
        }
      }
    if (files_.empty()) throw Error(root + ": no .jpg, .jpeg or .png files in its class folders");
    classes_ = names.size();
  }
  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t label(int64_t i) const override { return labels_[i]; }
  std::string where(int64_t i) const override { return root_ + "/" + files_[i]; }
  Image image(int64_t i) const override { return loadImage(where(i)); }
  std::string describe() const override {
    return root_ + " (" + std::to_string(size()) + " images in " + std::to_string(classes_) + " class folders)";
  }

private:
  std::string root_;
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
  size_t classes_ = 0;
};

}  // namespace

std::unique_ptr<Dataset> openDataset(const std::string &spec, Split split, const std::vector<int64_t> &shape,
                                     int64_t classes) {
  if (spec.size() > 12 && spec.compare(spec.size() - 12, 12, ".safetensors") == 0) {
    if (split == Split::Val) return nullptr;
    return std::make_unique<TensorDataset>(spec, shape, classes);
  }
  std::string dir = spec == "fashion-mnist" ? "/usr/share/datasets/fashion-mnist" : spec;
  if (!isDirectory(dir)) {
    if (spec == "fashion-mnist")
      throw Error(dir + " does not exist: install Debian's dataset-fashion-mnist package");
    throw Error(spec + ": " + (exists(spec) ? "neither a .safetensors file nor a directory"
                                            : "no such file or directory"));
  }
  for (const char *ext : {".gz", ""})
    if (exists(dir + "/train-images-idx3-ubyte" + ext) || exists(dir + "/t10k-images-idx3-ubyte" + ext))
      return std::make_unique<IdxDataset>(dir, split, classes);
  if (isDirectory(dir + "/train") && isDirectory(dir + "/val"))
    return std::make_unique<FolderDataset>(dir + (split == Split::Train ? "/train" : "/val"), classes);
  if (split == Split::Val) return nullptr;
  return std::make_unique<FolderDataset>(dir, classes);
}

void prepareSample(const Image &src, const Augment &augment, int resolution, int channels, std::mt19937_64 &rng,
                   float *out) {
  const Image *img = &src;
  Image augmented;
  if (augment.randOps > 0) {
    augmented = src;
    randAugment(augmented, augment.randOps, augment.randMagnitude, rng);
    img = &augmented;
  }
  if (!augment.crop) {
    // Evaluation: as preprocess(), except that images already at the
    // resolution or below it (28 x 28 digits) are scaled to fill it.
    bool flip = augment.flip && unitDraw(rng) < 0.5;
    if (std::max(img->width, img->height) <= resolution)
      resampleBox(*img, 0, 0, img->width, img->height, resolution, channels, flip, out);
    else
      preprocess(*img, resolution, channels, out, flip);
    return;
  }
  // torchvision's RandomResizedCrop: ten tries at an area fraction in
  // [minScale, 1] and a log-uniform aspect ratio in [3/4, 4/3], else the
  // whole image clamped to that ratio range.
  double area = static_cast<double>(img->width) * img->height, w = img->width, h = img->height;
  double x0 = 0, y0 = 0;
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    double target = area * (augment.minScale + (1 - augment.minScale) * unitDraw(rng));
    double ratio = std::exp(std::log(3.0 / 4) + (std::log(4.0 / 3) - std::log(3.0 / 4)) * unitDraw(rng));
    double cw = std::round(std::sqrt(target * ratio)), ch = std::round(std::sqrt(target / ratio));
    if (cw > 0 && ch > 0 && cw <= img->width && ch <= img->height) {
      x0 = std::floor(unitDraw(rng) * (img->width - cw + 1));
      y0 = std::floor(unitDraw(rng) * (img->height - ch + 1));
      w = cw;
      h = ch;
      found = true;
    }
  }
  if (!found) {
    double ratio = static_cast<double>(img->width) / img->height;
    if (ratio < 3.0 / 4) h = std::round(w / (3.0 / 4));
    else if (ratio > 4.0 / 3) w = std::round(h * (4.0 / 3));
    x0 = (img->width - w) / 2;
    y0 = (img->height - h) / 2;
  }
  bool flip = augment.flip && unitDraw(rng) < 0.5;
  resampleBox(*img, x0, y0, w, h, resolution, channels, flip, out);
}

// --- mixup and cutmix ------------------------------------------------------
namespace {
double normalDraw(std::mt19937_64 &rng) {  // Box-Muller
  double u = 1 - unitDraw(rng), v = unitDraw(rng);
  return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
}

// Gamma(alpha, 1): Marsaglia and Tsang's method, boosted for alpha < 1.
double gammaDraw(std::mt19937_64 &rng, double alpha) {
  if (alpha < 1) return gammaDraw(rng, alpha + 1) * std::pow(unitDraw(rng), 1 / alpha);
  double d = alpha - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  for (;;) {
    double x, v;
    do {
      x = normalDraw(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    double u = unitDraw(rng);
    if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v))) return d * v;
  }
}
}  // namespace

double betaDraw(std::mt19937_64 &rng, double alpha) {
  double x = gammaDraw(rng, alpha), y = gammaDraw(rng, alpha);
  return x + y > 0 ? x / (x + y) : 0.5;  // both underflow only for a tiny alpha
}

void mixBatch(Batch &b, const Augment &augment, const std::vector<int64_t> &shape, std::mt19937_64 &rng) {
  b.mix = 1;
  if (!augment.mixes() || unitDraw(rng) >= augment.mixProb) return;
  bool cut = augment.cutmix > 0 && (augment.mixup <= 0 || unitDraw(rng) < augment.switchProb);
  double lam = betaDraw(rng, cut ? augment.cutmix : augment.mixup);
  int64_t n = b.valid, channels = shape[0], h = shape[1], w = shape[2], size = channels * h * w;
  // Image i and image n - 1 - i trade places in each other's mix, so a pair
  // is mixed at once, in place. (An odd batch's middle image is its own partner.)
  if (cut) {
    // timm's rand_bbox: a box of sides sqrt(1 - lambda) about a uniform centre, clipped.
    double side = std::sqrt(1 - lam);
    int64_t ch = static_cast<int64_t>(h * side), cw = static_cast<int64_t>(w * side);
    int64_t cy = static_cast<int64_t>(unitDraw(rng) * h), cx = static_cast<int64_t>(unitDraw(rng) * w);
    int64_t y0 = std::clamp<int64_t>(cy - ch / 2, 0, h), y1 = std::clamp<int64_t>(cy + ch / 2, 0, h);
    int64_t x0 = std::clamp<int64_t>(cx - cw / 2, 0, w), x1 = std::clamp<int64_t>(cx + cw / 2, 0, w);
    for (int64_t i = 0; i < n / 2; ++i) {
      float *p = b.images.data() + i * size, *q = b.images.data() + (n - 1 - i) * size;
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t y = y0; y < y1; ++y)
          std::swap_ranges(p + (c * h + y) * w + x0, p + (c * h + y) * w + x1, q + (c * h + y) * w + x0);
    }
    lam = 1 - static_cast<double>((y1 - y0) * (x1 - x0)) / static_cast<double>(h * w);
  } else {
    // As PyTorch computes x * lam + x.flip(0) * (1 - lam) in float.
    float keep = static_cast<float>(lam), take = static_cast<float>(1 - lam);
    for (int64_t i = 0; i < n / 2; ++i) {
      float *p = b.images.data() + i * size, *q = b.images.data() + (n - 1 - i) * size;
      for (int64_t k = 0; k < size; ++k) {
        float u = p[k], v = q[k];
        p[k] = u * keep + v * take;
        q[k] = v * keep + u * take;
      }
    }
  }
  b.mix = lam;
}

// --- the loader -------------------------------------------------------------
Loader::Loader(const Dataset &data, const Augment &augment, std::vector<int64_t> sampleShape, int64_t batch,
               Order order, uint64_t seed, int threads, bool skipBadImages, int rank, int ranks, int depth)
    : data_(data), augment_(augment), shape_(std::move(sampleShape)), batch_(batch), rank_(rank), ranks_(ranks),
      order_(order), skip_(skipBadImages), seed_(seed), threads_(std::max(1, threads)),
      slots_(static_cast<size_t>(depth)) {
  if (batch <= 0 || shape_.size() != 3) throw Error("Loader: a positive batch of C x H x W samples is needed");
  sampleSize_ = shape_[0] * shape_[1] * shape_[2];
  int64_t global = batch * ranks;
  perEpoch_ = order == Evaluation ? (data.size() + global - 1) / global : data.size() / global;
  if (perEpoch_ == 0)
    throw Error(data.describe() + " holds fewer images than one batch (" + std::to_string(global) +
                (ranks > 1 ? ", over all ranks)" : ")"));
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread &t : workers_) t.join();
}

void Loader::start(int64_t epoch, int64_t index) {
  if (!workers_.empty()) throw Error("Loader::start: the loader is already running");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    produced_ = consumed_ = epoch * perEpoch_ + index;
    end_ = order_ == Evaluation ? perEpoch_ : INT64_MAX;
  }
  for (int t = 0; t < threads_; ++t) workers_.emplace_back([this] { work(); });
}

std::shared_ptr<const std::vector<int64_t>> Loader::permutation(int64_t epoch) {
  std::lock_guard<std::mutex> lock(permMutex_);
  for (auto &[e, p] : perms_)
    if (e == epoch) return p;
  auto p = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(data_.size()));
  for (int64_t i = 0; i < data_.size(); ++i) (*p)[i] = i;
  if (order_ == Shuffled) {
    // Fisher-Yates with our own draws: the same order on every standard library.
    std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32), static_cast<uint32_t>(epoch),
                      static_cast<uint32_t>(epoch >> 32), 0x7065726du};
    std::mt19937_64 rng(seq);
    for (int64_t i = data_.size() - 1; i > 0; --i)
      std::swap((*p)[i], (*p)[static_cast<int64_t>(unitDraw(rng) * (i + 1))]);
  }
  if (perms_.size() >= 3) perms_.erase(perms_.begin());  // callers hold their own reference
  perms_.push_back({epoch, p});
  return p;
}

void Loader::fill(int64_t position, Batch &b) {
  b.epoch = position / perEpoch_;
  b.index = position % perEpoch_;
  b.images.assign(static_cast<size_t>(batch_ * sampleSize_), 0.f);
  b.labels.assign(static_cast<size_t>(batch_), 0);
  b.targets.assign(static_cast<size_t>(batch_ * data_.targetWidth()), 0.f);
  b.failed = 0;
  std::shared_ptr<const std::vector<int64_t>> order = permutation(b.epoch);
  const std::vector<int64_t> &perm = *order;
  int64_t first = (b.index * ranks_ + rank_) * batch_, n = data_.size();
  b.valid = std::clamp<int64_t>(n - first, 0, batch_);
  int channels = static_cast<int>(shape_[0]), resolution = static_cast<int>(shape_[1]);
  for (int64_t k = 0; k < b.valid; ++k) {
    int64_t slot = first + k;
    // The augmentation of a sample depends on (seed, epoch, place) alone.
    std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32),
                      static_cast<uint32_t>(b.epoch), static_cast<uint32_t>(slot), 0x61756775u};
    std::mt19937_64 rng(seq);
    float *out = b.images.data() + k * sampleSize_;
    // A sample that fails to decode is replaced by the next one in the
    // epoch's order (skipping) or ends the run (the default).
    for (int64_t tries = 0;; ++tries) {
      int64_t i = perm[(slot + tries) % n];
      try {
        if (const float *t = data_.tensor(i)) std::copy(t, t + sampleSize_, out);
        else prepareSample(data_.image(i), augment_, resolution, channels, rng, out);
        b.labels[k] = data_.label(i);
        if (const float *t = data_.target(i))
          std::copy(t, t + data_.targetWidth(), b.targets.begin() + k * data_.targetWidth());
        break;
      } catch (const Error &e) {
        if (!skip_) throw;
        ++b.failed;
        if (tries + 1 >= n) throw Error(std::string("no image of the data set decodes; the last: ") + e.what());
      }
    }
  }
  b.mix = 1;
  if (augment_.mixes() && order_ != Evaluation) {
    std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32),
                      static_cast<uint32_t>(b.epoch), static_cast<uint32_t>(first), 0x6d697875u};
    std::mt19937_64 rng(seq);
    mixBatch(b, augment_, shape_, rng);
  }
}

void Loader::work() {
  Batch local;
  for (;;) {
    int64_t position;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] {
        return stop_ || (produced_ < end_ && produced_ < consumed_ + static_cast<int64_t>(slots_.size()));
      });
      if (stop_) return;
      position = produced_++;
    }
    std::string error;
    try {
      fill(position, local);
    } catch (const std::exception &e) {
      error = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      Slot &s = slots_[static_cast<size_t>(position) % slots_.size()];
      s.position = position;
      s.ready = true;
      s.error = error;
      std::swap(s.batch, local);
    }
    cv_.notify_all();
  }
}

void Loader::next(Batch &out) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (consumed_ >= end_) throw Error("the loader has no batch left (evaluation data exhausted)");
  Slot &s = slots_[static_cast<size_t>(consumed_) % slots_.size()];
  cv_.wait(lock, [&] { return s.ready && s.position == consumed_; });
  if (!s.error.empty()) throw Error(s.error);
  std::swap(out, s.batch);
  s.ready = false;
  ++consumed_;
  lock.unlock();
  cv_.notify_all();
}

}  // namespace cmt::rt
