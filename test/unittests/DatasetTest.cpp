// The training data sources and the batch loader (runtime/dataset.h): IDX,
// ImageFolder and safetensors sources with their errors, the loader's
// determinism across worker counts and resumption, epochs, evaluation padding,
// undecodable images, and the per-sample preparation.
#include "runtime/dataset.h"
#include "runtime/safetensors.h"
#include "ScratchDir.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <png.h>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>
#include <zlib.h>

using namespace cmt::rt;
using cmt::test::ScratchDir;

namespace {


void writeBytes(const std::string &path, const std::string &bytes, bool gz) {
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    ASSERT_TRUE(f) << path;
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(f), Z_OK);
  } else {
    std::ofstream(path, std::ios::binary) << bytes;
  }
}

// An IDX file: big-endian magic, big-endian uint32 dimensions, then `data`.
void writeIdx(const std::string &path, uint32_t magic, const std::vector<uint32_t> &dims,
              const std::vector<uint8_t> &data, bool gz = true) {
  std::string bytes;
  auto be32 = [&](uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<char>(v >> s));
  };
  be32(magic);
  for (uint32_t d : dims) be32(d);
  bytes.append(data.begin(), data.end());
  writeBytes(path, bytes, gz);
}

uint8_t idxPixel(size_t image, size_t k) { return static_cast<uint8_t>((image * 37 + k * 11 + 5) % 256); }

// PREFIX-images-idx3-ubyte[.gz] (labels.size() images of rows x cols, pixels
// from idxPixel) and PREFIX-labels-idx1-ubyte[.gz].
void writeIdxSet(const std::string &dir, const std::string &prefix, uint32_t rows, uint32_t cols,
                 const std::vector<uint8_t> &labels, bool gz = true) {
  auto n = static_cast<uint32_t>(labels.size());
  std::vector<uint8_t> pixels(size_t(n) * rows * cols);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = idxPixel(i / (rows * cols), i % (rows * cols));
  std::string ext = gz ? ".gz" : "";
  writeIdx(dir + "/" + prefix + "-images-idx3-ubyte" + ext, 0x803, {n, rows, cols}, pixels, gz);
  writeIdx(dir + "/" + prefix + "-labels-idx1-ubyte" + ext, 0x801, {n}, labels, gz);
}

std::vector<uint8_t> iota(size_t n, size_t mod = 256) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i % mod);
  return v;
}

// A small 8-bit RGB (channels 3) or grey PNG.
void writePng(const std::string &path, int w, int h, int channels, uint8_t seed) {
  FILE *f = std::fopen(path.c_str(), "wb");
  ASSERT_TRUE(f) << path;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, 8, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  std::vector<uint8_t> row(size_t(w) * channels);
  for (int y = 0; y < h; ++y) {
    for (size_t x = 0; x < row.size(); ++x) row[x] = static_cast<uint8_t>(seed + 7 * y + 3 * x);
    png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

// Expects `f` to throw Error whose message holds every one of `needles`.
void expectError(const std::function<void()> &f, const std::vector<std::string> &needles) {
  try {
    f();
    ADD_FAILURE() << "no Error; expected one containing '" << needles.front() << "'";
  } catch (const Error &e) {
    for (const std::string &n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Sample i prepared for evaluation, as the loader must give it.
std::vector<float> evalSample(const Dataset &d, int64_t i, int channels, int resolution) {
  std::vector<float> v(size_t(channels) * resolution * resolution);
  std::mt19937_64 rng(0);
  prepareSample(d.image(i), Augment{}, resolution, channels, rng, v.data());
  return v;
}

std::vector<float> slice(const Batch &b, int64_t k, size_t per) {
  return {b.images.begin() + k * per, b.images.begin() + (k + 1) * per};
}

Image noise(int w, int h, int c, uint64_t seed) {
  Image img{w, h, c, std::vector<uint8_t>(size_t(w) * h * c)};
  std::mt19937_64 g(seed);
  for (uint8_t &p : img.pixels) p = static_cast<uint8_t>(g() >> 56);
  return img;
}

const float kMean[3] = {0.485f, 0.456f, 0.406f}, kStd[3] = {0.229f, 0.224f, 0.225f};
const std::vector<int64_t> kShape = {3, 32, 32};

}  // namespace

// --- IDX ----------------------------------------------------------------------

TEST(Dataset, IdxGzipTrainAndVal) {
  ScratchDir dir;
  writeIdxSet(dir.path, "train", 3, 4, {0, 1, 9, 2, 9});  // 3 rows x 4 columns
  writeIdxSet(dir.path, "t10k", 3, 4, {7, 3});
  auto train = openDataset(dir.path, Split::Train, kShape, 10);
  ASSERT_TRUE(train);
  ASSERT_EQ(train->size(), 5);
  EXPECT_EQ(train->label(2), 9);
  EXPECT_EQ(train->label(3), 2);
  EXPECT_EQ(train->tensor(0), nullptr);
  for (int64_t i : {0, 4}) {
    Image img = train->image(i);
    EXPECT_EQ(img.channels, 1);
    EXPECT_EQ(img.width, 4);
    EXPECT_EQ(img.height, 3);
    ASSERT_EQ(img.pixels.size(), 12u);
    for (size_t k = 0; k < 12; ++k) EXPECT_EQ(img.pixels[k], idxPixel(i, k)) << "image " << i << " pixel " << k;
  }
  std::string d = train->describe();
  for (const char *s : {"train", "5 grey", "4x3", "IDX"}) EXPECT_NE(d.find(s), std::string::npos) << d;
  EXPECT_NE(train->where(4).find("train-images-idx3-ubyte.gz"), std::string::npos) << train->where(4);

  auto val = openDataset(dir.path, Split::Val, kShape, 10);
  ASSERT_TRUE(val);
  ASSERT_EQ(val->size(), 2);
  EXPECT_EQ(val->label(0), 7);
  EXPECT_EQ(val->label(1), 3);
  EXPECT_EQ(val->image(1).pixels[5], idxPixel(1, 5));
  EXPECT_NE(val->describe().find("t10k"), std::string::npos) << val->describe();
}

TEST(Dataset, IdxPlainFiles) {
  ScratchDir dir;
  writeIdxSet(dir.path, "train", 28, 28, {4, 5, 6}, /*gz=*/false);
  writeIdxSet(dir.path, "t10k", 28, 28, {1}, /*gz=*/false);
  auto train = openDataset(dir.path, Split::Train, kShape, 10);
  ASSERT_TRUE(train);
  ASSERT_EQ(train->size(), 3);
  EXPECT_EQ(train->label(1), 5);
  Image img = train->image(2);
  EXPECT_EQ(img.width, 28);
  EXPECT_EQ(img.height, 28);
  EXPECT_EQ(img.pixels[700], idxPixel(2, 700));
  EXPECT_EQ(openDataset(dir.path, Split::Val, kShape, 10)->size(), 1);
}

TEST(Dataset, IdxErrors) {
  const std::string images = "/train-images-idx3-ubyte.gz", labels = "/train-labels-idx1-ubyte.gz";
  auto open = [](const std::string &d) { return [d] { openDataset(d, Split::Train, kShape, 10); }; };
  {  // the header promises 5 images, the data holds 4 and a half
    ScratchDir dir;
    writeIdx(dir.path + images, 0x803, {5, 4, 4}, std::vector<uint8_t>(72, 1));
    writeIdx(dir.path + labels, 0x801, {5}, iota(5));
    expectError(open(dir.path), {dir.path + images, "truncated or corrupt IDX"});
  }
  {  // bytes beyond what the header declares
    ScratchDir dir;
    writeIdx(dir.path + images, 0x803, {2, 4, 4}, std::vector<uint8_t>(33, 1));
    writeIdx(dir.path + labels, 0x801, {2}, iota(2));
    expectError(open(dir.path), {dir.path + images, "data beyond"});
  }
  {  // a labels file where the images should be
    ScratchDir dir;
    writeIdx(dir.path + images, 0x801, {5}, iota(5));
    writeIdx(dir.path + labels, 0x801, {5}, iota(5));
    expectError(open(dir.path), {dir.path + images, "not an IDX file"});
  }
  {  // wrong magic of the labels: an int32 type byte
    ScratchDir dir;
    writeIdx(dir.path + images, 0x803, {2, 4, 4}, std::vector<uint8_t>(32, 1));
    writeIdx(dir.path + labels, 0xC01, {2}, std::vector<uint8_t>(8, 0));
    expectError(open(dir.path), {dir.path + labels, "not an IDX file"});
  }
  {
    ScratchDir dir;
    writeIdx(dir.path + images, 0x803, {5, 4, 4}, std::vector<uint8_t>(80, 1));
    writeIdx(dir.path + labels, 0x801, {4}, iota(4));
    expectError(open(dir.path), {dir.path, "5 images but 4 labels"});
  }
  {
    ScratchDir dir;
    writeIdxSet(dir.path, "train", 4, 4, {0, 3, 10, 1});
    expectError(open(dir.path), {dir.path + labels, "label 10 of sample 2", "is not a class of this model"});
  }
  {
    ScratchDir dir;
    writeIdxSet(dir.path, "train", 4, 4, {0, 3});
    expectError([&] { openDataset(dir.path, Split::Val, kShape, 10); }, {dir.path, "no t10k-images-idx3-ubyte"});
    std::remove((dir.path + labels).c_str());
    expectError(open(dir.path), {dir.path, "no train-labels-idx1-ubyte"});
  }
  {
    ScratchDir dir;
    std::string missing = dir.path + "/nothing-here";
    expectError(open(missing), {missing, "no such file or directory"});
    std::string file = dir.path + "/data.bin";
    std::ofstream(file) << "x";
    expectError(open(file), {file, "neither a .safetensors file nor a directory"});
  }
}

// --- ImageFolder ---------------------------------------------------------------

TEST(Dataset, ImageFolder) {
  ScratchDir dir;
  std::string cat = dir.sub("cat"), ant = dir.sub("ant"), dog = dir.sub("dog");
  writePng(cat + "/b.png", 20, 14, 3, 1);
  writePng(cat + "/a.PNG", 20, 14, 3, 2);
  writePng(ant + "/x.png", 20, 14, 1, 3);
  writePng(dog + "/y.png", 20, 14, 3, 4);
  std::ofstream(dog + "/bad.png") << "this is not an image";
  std::ofstream(dog + "/notes.txt") << "ignored";
  auto d = openDataset(dir.path, Split::Train, kShape, 3);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->size(), 5);
  // Classes and files in sorted order: ant/x, cat/a.PNG, cat/b, dog/bad, dog/y.
  const std::vector<std::string> files = {"ant/x.png", "cat/a.PNG", "cat/b.png", "dog/bad.png", "dog/y.png"};
  const std::vector<int64_t> labels = {0, 1, 1, 2, 2};
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(d->where(i), dir.path + "/" + files[i]);
    EXPECT_EQ(d->label(i), labels[i]) << files[i];
  }
  Image img = d->image(1);
  EXPECT_EQ(img.width, 20);
  EXPECT_EQ(img.height, 14);
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.pixels[0], 2);  // a.PNG was written with seed 2
  EXPECT_EQ(d->image(0).channels, 1);
  expectError([&] { d->image(3); }, {dir.path + "/dog/bad.png"});
  EXPECT_NE(d->describe().find("5 images in 3 class folders"), std::string::npos) << d->describe();
  EXPECT_EQ(openDataset(dir.path, Split::Val, kShape, 3), nullptr) << "a plain ImageFolder has no val split";
  expectError([&] { openDataset(dir.path, Split::Train, kShape, 10); }, {dir.path, "3 class folders", "10 classes"});

  ScratchDir empty;
  expectError([&] { openDataset(empty.path, Split::Train, kShape, 3); }, {empty.path, "no class sub-folders"});
  empty.sub("a");
  expectError([&] { openDataset(empty.path, Split::Train, kShape, 1); }, {empty.path, "no .jpg, .jpeg or .png"});
}

TEST(Dataset, ImageFolderSplits) {
  ScratchDir dir;
  for (const char *split : {"train", "val"}) {
    std::string root = dir.sub(split);
    for (const char *c : {"a", "b"}) dir.sub(std::string(split) + "/" + c);
    writePng(root + "/a/1.png", 20, 14, 3, 0);
    writePng(root + "/b/1.png", 20, 14, 3, 0);
    if (std::string(split) == "train") writePng(root + "/b/2.png", 20, 14, 3, 0);
  }
  auto train = openDataset(dir.path, Split::Train, kShape, 2);
  auto val = openDataset(dir.path, Split::Val, kShape, 2);
  ASSERT_TRUE(train && val);
  EXPECT_EQ(train->size(), 3);
  EXPECT_EQ(val->size(), 2);
  EXPECT_EQ(train->where(2), dir.path + "/train/b/2.png");
  EXPECT_EQ(val->where(1), dir.path + "/val/b/1.png");
  EXPECT_EQ(val->label(1), 1);
}

// --- safetensors ------------------------------------------------------------------

TEST(Dataset, Safetensors) {
  ScratchDir dir;
  std::string path = dir.path + "/data.safetensors";
  const int64_t k = 5, per = 3 * 8 * 8;
  std::vector<float> input(k * per);
  for (size_t j = 0; j < input.size(); ++j) input[j] = static_cast<float>(j) * 0.5f;
  std::vector<int64_t> labels = {3, 0, 1, 4, 2};
  writeSafetensors(path,
                   {{"input", DType::F32, {k, 3, 8, 8}, input.data()}, {"labels", DType::I64, {k}, labels.data()}});
  auto d = openDataset(path, Split::Train, {3, 8, 8}, 5);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->size(), k);
  for (int64_t i = 0; i < k; ++i) {
    EXPECT_EQ(d->label(i), labels[i]);
    ASSERT_NE(d->tensor(i), nullptr);
    EXPECT_EQ(d->tensor(i)[0], input[i * per]);
    EXPECT_EQ(d->tensor(i)[per - 1], input[i * per + per - 1]);
  }
  EXPECT_EQ(d->where(3), path + "[3]");
  EXPECT_NE(d->describe().find("5 prepared tensors"), std::string::npos) << d->describe();
  EXPECT_EQ(openDataset(path, Split::Val, {3, 8, 8}, 5), nullptr);
  expectError([&] { openDataset(path, Split::Train, {3, 16, 16}, 5); }, {path, "'input' has shape [5, 3, 8, 8]"});
  expectError([&] { openDataset(path, Split::Train, {3, 8, 8}, 4); }, {path, "label 4 of sample 3"});

  std::vector<int32_t> narrow(k, 0);
  writeSafetensors(path,
                   {{"input", DType::F32, {k, 3, 8, 8}, input.data()}, {"labels", DType::I32, {k}, narrow.data()}});
  expectError([&] { openDataset(path, Split::Train, {3, 8, 8}, 5); }, {path, "'labels' must be int64 [5] (classes) or float [5, 5]"});
}

// Soft labels: a distribution per sample, handed on as it is (the loader
// batches them); accuracy counts the most probable class.
TEST(Dataset, SafetensorsSoftLabels) {
  ScratchDir dir;
  std::string path = dir.path + "/soft.safetensors";
  const int64_t k = 4, classes = 3, per = 3 * 2 * 2;
  std::vector<float> input(k * per, 1.f);
  std::vector<float> soft = {0.1f, 0.7f, 0.2f, 1, 0, 0, 0.2f, 0.3f, 0.5f, 0, 0.4f, 0.6f};
  writeSafetensors(path, {{"input", DType::F32, {k, 3, 2, 2}, input.data()},
                          {"labels", DType::F32, {k, classes}, soft.data()}});
  auto d = openDataset(path, Split::Train, {3, 2, 2}, classes);
  EXPECT_EQ(d->targetWidth(), classes);
  std::vector<int64_t> argmax = {1, 0, 2, 2};
  for (int64_t i = 0; i < k; ++i) {
    EXPECT_EQ(d->label(i), argmax[i]);
    ASSERT_NE(d->target(i), nullptr);
    EXPECT_EQ(std::vector<float>(d->target(i), d->target(i) + classes),
              std::vector<float>(soft.begin() + i * classes, soft.begin() + (i + 1) * classes));
  }
  EXPECT_NE(d->describe().find("with soft labels"), std::string::npos) << d->describe();
  Loader l(*d, Augment{}, {3, 2, 2}, 2, Loader::InOrder, 0, 1, false);
  l.start(0, 1);
  Batch b;
  l.next(b);
  EXPECT_EQ(b.targets, std::vector<float>(soft.begin() + 6, soft.end())) << "the second batch's distributions";

  expectError([&] { openDataset(path, Split::Train, {3, 2, 2}, 4); }, {path, "or float [4, 4] (target distributions), got F32 [4, 3]"});
  soft[4] = NAN;
  writeSafetensors(path, {{"input", DType::F32, {k, 3, 2, 2}, input.data()},
                          {"labels", DType::F32, {k, classes}, soft.data()}});
  expectError([&] { openDataset(path, Split::Train, {3, 2, 2}, classes); }, {path, "'labels' row 1 is not finite"});
}

// --- the loader -----------------------------------------------------------------

namespace {
// An IDX training set of n 28 x 28 images whose label is their index.
std::unique_ptr<Dataset> indexedIdx(const ScratchDir &dir, size_t n) {
  writeIdxSet(dir.path, "train", 28, 28, iota(n));
  return openDataset(dir.path, Split::Train, {3, 16, 16}, static_cast<int64_t>(n));
}

std::vector<Batch> take(Loader &l, int n) {
  std::vector<Batch> out(static_cast<size_t>(n));
  for (Batch &b : out) l.next(b);
  return out;
}
}  // namespace

TEST(Loader, DeterministicAcrossThreadsAndResumption) {
  ScratchDir dir;
  auto d = indexedIdx(dir, 37);
  Augment aug{true, 0.08, true, 2, 9};
  aug.mixup = 0.8;  // the batch-level draws are reproducible too
  aug.cutmix = 1.0;
  const std::vector<int64_t> shape = {3, 16, 16};
  Loader one(*d, aug, shape, 5, Loader::Shuffled, 42, /*threads=*/1, false);
  Loader three(*d, aug, shape, 5, Loader::Shuffled, 42, 3, false);
  ASSERT_EQ(one.batchesPerEpoch(), 7) << "37 / 5: the last partial batch is dropped";
  one.start(0, 0);
  three.start(0, 0);
  std::vector<Batch> a = take(one, 14), b = take(three, 14);
  for (size_t p = 0; p < a.size(); ++p) {
    EXPECT_EQ(a[p].epoch, int64_t(p / 7));
    EXPECT_EQ(a[p].index, int64_t(p % 7));
    EXPECT_EQ(a[p].valid, 5);
    EXPECT_EQ(a[p].failed, 0);
    EXPECT_EQ(a[p].images.size(), 5u * 3 * 16 * 16);
    EXPECT_EQ(a[p].labels, b[p].labels) << "batch " << p;
    EXPECT_EQ(a[p].mix, b[p].mix) << "batch " << p;
    EXPECT_TRUE(a[p].mix > 0 && a[p].mix < 1) << "batch " << p << " not mixed: " << a[p].mix;
    EXPECT_TRUE(sameBits(a[p].images, b[p].images)) << "batch " << p << " differs between 1 and 3 threads";
  }
  // Each epoch: 35 distinct samples, shuffled, and in another order than the other epoch.
  std::vector<int64_t> order[2];
  for (size_t p = 0; p < a.size(); ++p)
    order[p / 7].insert(order[p / 7].end(), a[p].labels.begin(), a[p].labels.end());
  for (auto &o : order) {
    EXPECT_EQ(std::set<int64_t>(o.begin(), o.end()).size(), 35u) << "a sample twice in one epoch";
    for (int64_t l : o) EXPECT_TRUE(l >= 0 && l < 37);
  }
  EXPECT_NE(order[0], order[1]) << "two epochs in the same order";
  std::vector<int64_t> sorted(35);
  for (int64_t i = 0; i < 35; ++i) sorted[i] = i;
  EXPECT_NE(order[0], sorted) << "not shuffled";

  // Resuming at (1, 2) gives the 10th batch of the uninterrupted run, and on from there.
  Loader resumed(*d, aug, shape, 5, Loader::Shuffled, 42, 2, false);
  resumed.start(1, 2);
  std::vector<Batch> r = take(resumed, 3);
  for (size_t q = 0; q < r.size(); ++q) {
    EXPECT_EQ(r[q].epoch, a[9 + q].epoch);
    EXPECT_EQ(r[q].index, a[9 + q].index);
    EXPECT_EQ(r[q].labels, a[9 + q].labels);
    EXPECT_EQ(r[q].mix, a[9 + q].mix);
    EXPECT_TRUE(sameBits(r[q].images, a[9 + q].images)) << "resumed batch " << q;
  }

  // Another seed: another order.
  Loader other(*d, aug, shape, 5, Loader::Shuffled, 43, 1, false);
  other.start(0, 0);
  Batch o;
  other.next(o);
  EXPECT_FALSE(o.labels == a[0].labels && sameBits(o.images, a[0].images)) << "the seed changes nothing";
}

TEST(Loader, ImagesMatchTheirLabels) {
  // Without augmentation, each image of a shuffled batch is its sample's evaluation preparation.
  ScratchDir dir;
  auto d = indexedIdx(dir, 11);
  Loader l(*d, Augment{}, {3, 16, 16}, 4, Loader::Shuffled, 7, 2, false);
  l.start(0, 0);
  for (const Batch &b : take(l, 4))
    for (int64_t k = 0; k < 4; ++k)
      EXPECT_TRUE(sameBits(slice(b, k, 3 * 16 * 16), evalSample(*d, b.labels[k], 3, 16))) << "label " << b.labels[k];

  // Prepared tensors are copied as they are.
  std::string path = dir.path + "/t.safetensors";
  const int64_t n = 9, per = 3 * 4 * 4;
  std::vector<float> input(n * per);
  for (size_t j = 0; j < input.size(); ++j) input[j] = static_cast<float>(j);
  std::vector<int64_t> labels(n);
  for (int64_t i = 0; i < n; ++i) labels[i] = i;
  writeSafetensors(path,
                   {{"input", DType::F32, {n, 3, 4, 4}, input.data()}, {"labels", DType::I64, {n}, labels.data()}});
  auto t = openDataset(path, Split::Train, {3, 4, 4}, n);
  Loader tl(*t, Augment{true, 0.08, true, 2, 9}, {3, 4, 4}, 4, Loader::Shuffled, 7, 3, false);
  ASSERT_EQ(tl.batchesPerEpoch(), 2);
  tl.start(0, 0);
  for (const Batch &b : take(tl, 4))
    for (int64_t k = 0; k < 4; ++k)
      EXPECT_EQ(slice(b, k, per), std::vector<float>(t->tensor(b.labels[k]), t->tensor(b.labels[k]) + per));
}

TEST(Loader, EvaluationCoversEverySampleOnceInOrder) {
  ScratchDir dir;
  auto d = indexedIdx(dir, 12);
  const size_t per = 3 * 16 * 16;
  for (int threads : {1, 3}) {
    Loader l(*d, Augment{}, {3, 16, 16}, 5, Loader::Evaluation, 1, threads, false);
    ASSERT_EQ(l.batchesPerEpoch(), 3);
    l.start(0, 0);
    std::vector<Batch> bs = take(l, 3);
    for (int64_t p = 0; p < 3; ++p) {
      EXPECT_EQ(bs[p].index, p);
      EXPECT_EQ(bs[p].valid, p < 2 ? 5 : 2);
      ASSERT_EQ(bs[p].labels.size(), 5u);
      ASSERT_EQ(bs[p].images.size(), 5 * per);
      for (int64_t k = 0; k < bs[p].valid; ++k) {
        EXPECT_EQ(bs[p].labels[k], p * 5 + k);
        EXPECT_TRUE(sameBits(slice(bs[p], k, per), evalSample(*d, p * 5 + k, 3, 16))) << p * 5 + k;
      }
    }
    Batch extra;
    expectError([&] { l.next(extra); }, {"no batch left"});
  }
  EXPECT_THROW({ Loader l(*d, Augment{}, {3, 16, 16}, 13, Loader::Shuffled, 1, 1, false); }, Error)
      << "fewer samples than a batch";
}

TEST(Loader, BadImages) {
  ScratchDir dir;
  std::string a = dir.sub("a"), b = dir.sub("b");
  for (int i = 0; i < 3; ++i) writePng(a + "/" + std::to_string(i) + ".png", 20, 14, 3, uint8_t(i));
  for (int i = 0; i < 2; ++i) writePng(b + "/" + std::to_string(i) + ".png", 20, 14, 3, uint8_t(9 + i));
  std::ofstream(b + "/bad.png") << "\x89PNG\r\n\x1a\n" << std::string(64, 'x');  // a PNG signature, then garbage
  auto d = openDataset(dir.path, Split::Train, {3, 16, 16}, 2);
  ASSERT_EQ(d->size(), 6);  // a/0 a/1 a/2 b/0 b/1 b/bad
  Batch out;
  {
    Loader l(*d, Augment{}, {3, 16, 16}, 3, Loader::Evaluation, 1, 2, /*skip=*/false);
    l.start(0, 0);
    l.next(out);
    EXPECT_EQ(out.failed, 0);
    expectError([&] { l.next(out); }, {b + "/bad.png"});
  }
  {
    Loader l(*d, Augment{}, {3, 16, 16}, 3, Loader::Evaluation, 1, 2, /*skip=*/true);
    l.start(0, 0);
    l.next(out);
    l.next(out);
    EXPECT_EQ(out.failed, 1);
    EXPECT_EQ(out.valid, 3);
    for (int64_t lab : out.labels) EXPECT_TRUE(lab == 0 || lab == 1) << lab;
  }
  {  // training: the one batch of each epoch holds every file, the bad one included
    Loader l(*d, Augment{true, 0.08, true, 1, 9}, {3, 16, 16}, 6, Loader::Shuffled, 5, 3, true);
    l.start(0, 0);
    for (int e = 0; e < 2; ++e) {
      l.next(out);
      EXPECT_GE(out.failed, 1);
      for (int64_t lab : out.labels) EXPECT_TRUE(lab == 0 || lab == 1) << lab;
      for (float v : out.images) ASSERT_TRUE(std::isfinite(v));
    }
  }
}

// --- prepareSample -----------------------------------------------------------------

TEST(Dataset, PrepareSampleEvaluation) {
  const size_t plane = 32 * 32;
  std::mt19937_64 rng(3);
  Image digit = noise(28, 28, 1, 1);
  std::vector<float> out(3 * plane + 8, NAN);
  prepareSample(digit, Augment{}, 32, 3, rng, out.data());
  for (size_t j = 0; j < 3 * plane; ++j) ASSERT_TRUE(std::isfinite(out[j])) << j;
  for (size_t j = 3 * plane; j < out.size(); ++j) EXPECT_TRUE(std::isnan(out[j])) << "wrote past 3 x 32 x 32";
  // A grey image: the same value in every channel before normalisation.
  for (size_t j = 0; j < plane; ++j)
    for (int c = 1; c < 3; ++c)
      ASSERT_NEAR(out[c * plane + j] * kStd[c] + kMean[c], out[j] * kStd[0] + kMean[0], 1e-5) << j;
  float lo = out[0], hi = out[0];
  for (size_t j = 0; j < plane; ++j) lo = std::min(lo, out[j]), hi = std::max(hi, out[j]);
  EXPECT_GT(hi - lo, 1.f) << "the pixels of the digit are lost";

  // Constant images (at, below and above the resolution) give the normalised grey everywhere.
  for (auto [w, h] : {std::pair{28, 28}, std::pair{32, 32}, std::pair{50, 40}}) {
    Image flat{w, h, 1, std::vector<uint8_t>(size_t(w) * h, 100)};
    prepareSample(flat, Augment{}, 32, 3, rng, out.data());
    for (int c = 0; c < 3; ++c)
      for (size_t j = 0; j < plane; ++j)
        ASSERT_NEAR(out[c * plane + j], (100 / 255.f - kMean[c]) / kStd[c], 1e-5) << w << "x" << h << " c" << c;
  }

  // Evaluation with flip: either the plain result or its mirror image, both over some draws.
  Image rgb = noise(28, 28, 3, 2);
  std::vector<float> plain(3 * plane), flipped(3 * plane);
  prepareSample(rgb, Augment{}, 32, 3, rng, plain.data());
  int mirrored = 0, same = 0;
  for (uint64_t s = 0; s < 16; ++s) {
    std::mt19937_64 r(s);
    Augment a;
    a.flip = true;
    prepareSample(rgb, a, 32, 3, r, flipped.data());
    if (flipped == plain) ++same;
    bool mirror = true;
    for (size_t c = 0; c < 3; ++c)
      for (size_t y = 0; y < 32; ++y)
        for (size_t x = 0; x < 32; ++x)
          mirror &= flipped[c * plane + y * 32 + x] == plain[c * plane + y * 32 + 31 - x];
    mirrored += mirror;
  }
  EXPECT_EQ(same + mirrored, 16);
  EXPECT_GT(same, 0);
  EXPECT_GT(mirrored, 0);
}

TEST(Dataset, PrepareSampleCrop) {
  Image img = noise(40, 30, 3, 4);
  auto crop = [&](const Augment &a, uint64_t seed) {
    std::vector<float> v(3 * 16 * 16);
    std::mt19937_64 rng(seed);
    prepareSample(img, a, 16, 3, rng, v.data());
    return v;
  };
  for (const Augment &a : {Augment{true, 0.08, false, 0, 9}, Augment{true, 0.08, true, 2, 9}}) {
    std::vector<float> first = crop(a, 1);
    EXPECT_TRUE(sameBits(first, crop(a, 1))) << "the same seed must give the same crop";
    int differ = 0;
    for (uint64_t s = 2; s < 7; ++s) differ += !sameBits(first, crop(a, s));
    EXPECT_GE(differ, 4) << "other seeds should give other crops";
    for (float v : first) ASSERT_TRUE(std::isfinite(v));
  }
  // A constant image stays constant whatever the crop.
  Image flat{40, 30, 1, std::vector<uint8_t>(40 * 30, 200)};
  std::vector<float> v(3 * 16 * 16);
  std::mt19937_64 rng(9);
  prepareSample(flat, Augment{true, 0.08, true, 0, 9}, 16, 3, rng, v.data());
  for (size_t j = 0; j < v.size(); ++j) ASSERT_NEAR(v[j], (200 / 255.f - kMean[j / 256]) / kStd[j / 256], 1e-5);
}

// Training in order (prepared tensors) goes on epoch after epoch; ranks of a
// data-parallel run split every global batch between them.
TEST(Loader, InOrderTrainingAndRanks) {
  ScratchDir dir;
  std::string path = dir.path + "/t.safetensors";
  std::vector<float> images(12 * 3 * 2 * 2);
  std::vector<int64_t> labels(12);
  for (int64_t i = 0; i < 12; ++i) labels[i] = i;
  writeSafetensors(path, {{"input", DType::F32, {12, 3, 2, 2}, images.data()}, {"labels", DType::I64, {12}, labels.data()}});
  auto d = openDataset(path, Split::Train, {3, 2, 2}, 12);
  Loader one(*d, Augment{}, {3, 2, 2}, 4, Loader::InOrder, 0, 1, false);
  EXPECT_EQ(one.batchesPerEpoch(), 3);
  one.start(0, 0);
  Batch b;
  std::vector<int64_t> seen;
  for (int k = 0; k < 5; ++k) {
    one.next(b);
    seen.insert(seen.end(), b.labels.begin(), b.labels.end());
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7}));
  for (int rank = 0; rank < 2; ++rank) {
    Loader part(*d, Augment{}, {3, 2, 2}, 2, Loader::InOrder, 0, 2, false, rank, 2);
    EXPECT_EQ(part.batchesPerEpoch(), 3);
    part.start(0, 1);
    part.next(b);
    EXPECT_EQ(b.labels, (std::vector<int64_t>{4 + 2 * rank, 5 + 2 * rank}));
  }
}

// Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)); a < 1 takes the boosted path.
TEST(Mix, BetaDrawMoments) {
  for (double alpha : {0.2, 0.8, 1.0, 4.0}) {
    std::mt19937_64 rng(7);
    const int n = 40000;
    double sum = 0, sq = 0;
    for (int i = 0; i < n; ++i) {
      double x = betaDraw(rng, alpha);
      ASSERT_TRUE(x >= 0 && x <= 1) << x;
      sum += x;
      sq += x * x;
    }
    double mean = sum / n, var = sq / n - mean * mean, expected = 1 / (4 * (2 * alpha + 1));
    EXPECT_NEAR(mean, 0.5, 0.01) << "alpha " << alpha;
    EXPECT_NEAR(var, expected, 0.04 * expected) << "alpha " << alpha;
  }
}

namespace {
// A batch of n random C x H x W images.
Batch randomBatch(int64_t n, const std::vector<int64_t> &shape, unsigned seed) {
  Batch b;
  b.valid = n;
  b.images.resize(static_cast<size_t>(n * shape[0] * shape[1] * shape[2]));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (float &v : b.images) v = normal(rng);
  return b;
}
}  // namespace

// Mixup: image i becomes mix x_i + (1 - mix) x_{n-1-i}, as timm's x * lam + x.flip(0) * (1 - lam).
TEST(Mix, MixupBlendsEachImageWithItsReverse) {
  const std::vector<int64_t> shape = {3, 5, 4};
  Augment a;
  a.mixup = 0.8;
  for (int64_t n : {4, 5}) {
    Batch b = randomBatch(n, shape, 1);
    const std::vector<float> x = b.images;
    std::mt19937_64 rng(3);
    mixBatch(b, a, shape, rng);
    ASSERT_TRUE(b.mix > 0 && b.mix < 1) << b.mix;
    size_t size = 3 * 5 * 4;
    for (int64_t i = 0; i < n; ++i)
      for (size_t k = 0; k < size; ++k) {
        float want = x[i * size + k] * b.mix + x[(n - 1 - i) * size + k] * (1 - b.mix);
        ASSERT_NEAR(b.images[i * size + k], want, 1e-6) << "image " << i << " element " << k;
      }
  }
}

// Cutmix: one box, the same in every image and channel, comes from the
// reverse image; mix is the share of the image outside it.
TEST(Mix, CutmixPastesOneBoxAndReportsTheKeptArea) {
  const std::vector<int64_t> shape = {2, 12, 10};
  const int64_t n = 4, h = 12, w = 10, size = 2 * h * w;
  Augment a;
  a.cutmix = 1.0;
  int boxes = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Batch b = randomBatch(n, shape, static_cast<unsigned>(seed));
    const std::vector<float> x = b.images;
    std::mt19937_64 rng(seed);
    mixBatch(b, a, shape, rng);
    std::vector<bool> pasted(static_cast<size_t>(h * w));
    int64_t count = 0;
    for (int64_t p = 0; p < h * w; ++p) {
      pasted[p] = b.images[p] != x[p];
      count += pasted[p];
    }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < size; ++k) {
        int64_t p = k % (h * w);
        float want = pasted[p] ? x[(n - 1 - i) * size + k] : x[i * size + k];
        ASSERT_EQ(b.images[i * size + k], want) << "seed " << seed << " image " << i << " element " << k;
      }
    // The pasted pixels form a rectangle.
    int64_t y0 = h, y1 = -1, x0 = w, x1 = -1;
    for (int64_t p = 0; p < h * w; ++p)
      if (pasted[p]) y0 = std::min(y0, p / w), y1 = std::max(y1, p / w), x0 = std::min(x0, p % w), x1 = std::max(x1, p % w);
    if (count) {
      ++boxes;
      EXPECT_EQ(count, (y1 - y0 + 1) * (x1 - x0 + 1)) << "seed " << seed << ": not a box";
    }
    EXPECT_DOUBLE_EQ(b.mix, 1 - static_cast<double>(count) / (h * w)) << "seed " << seed;
  }
  EXPECT_GT(boxes, 30) << "cutmix rarely pasted anything";
}

// mix-prob 0 leaves batches alone; switch-prob picks cutmix (exact copies) or mixup.
TEST(Mix, ProbabilitiesChooseTheMethod) {
  const std::vector<int64_t> shape = {1, 8, 8};
  Augment a;
  a.mixup = 0.8;
  a.cutmix = 1.0;
  a.mixProb = 0;
  Batch b = randomBatch(4, shape, 2);
  const std::vector<float> x = b.images;
  std::mt19937_64 rng(1);
  mixBatch(b, a, shape, rng);
  EXPECT_EQ(b.mix, 1);
  EXPECT_TRUE(sameBits(b.images, x));
  a.mixProb = 1;
  for (double sw : {0.0, 1.0}) {
    a.switchProb = sw;
    for (uint64_t seed = 0; seed < 10; ++seed) {
      Batch c = randomBatch(4, shape, 2);
      std::mt19937_64 r(seed);
      mixBatch(c, a, shape, r);
      std::set<float> originals(x.begin(), x.end());
      bool copies = std::all_of(c.images.begin(), c.images.end(), [&](float v) { return originals.count(v) > 0; });
      EXPECT_EQ(copies, sw == 1.0) << "switch-prob " << sw << ", seed " << seed;
    }
  }
}
