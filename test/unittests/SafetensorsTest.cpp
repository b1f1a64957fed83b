// Tests of the runtime's safetensors reader and writer: round trips, the golden
// files, and one clear error for every kind of damage.
#include "runtime/safetensors.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace cmt::rt;

namespace {
std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "cmt-" + std::to_string(getpid()) + "-" + name;
}

void writeRaw(const std::string &path, const std::string &header, const std::string &data) {
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>(n >> (8 * i)));
  f << header << data;
}

// Expects opening `path` to fail with a message containing `needle`.
void expectError(const std::string &path, const std::string &needle) {
  try {
    SafetensorsFile f(path);
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "error must name the file";
  }
}

bool exists(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}
}  // namespace

TEST(Safetensors, RoundTrip) {
  std::string path = tempPath("roundtrip.safetensors");
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> b = {42};
  writeSafetensors(path,
                   {{"a.weight", DType::F32, {2, 3}, a.data()}, {"n", DType::I64, {}, b.data()}},
                   {{"model", "cmt \"micro\""}});
  SafetensorsFile f(path);
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.metadata().at("model"), "cmt \"micro\"");
  EXPECT_EQ(f.getF32("a.weight", {2, 3}), a);
  const Tensor &n = f.get("n");
  EXPECT_EQ(n.dtype, DType::I64);
  EXPECT_TRUE(n.shape.empty());
  EXPECT_EQ(*reinterpret_cast<const int64_t *>(n.data), 42);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.get("a.weight").data) % 8, 0u) << "data is 8-byte aligned";
  std::remove(path.c_str());
}

TEST(Safetensors, WrongShapeAndMissingNameAreErrors) {
  std::string path = tempPath("shape.safetensors");
  std::vector<float> a(6, 1.f);
  writeSafetensors(path, {{"a", DType::F32, {2, 3}, a.data()}});
  SafetensorsFile f(path);
  EXPECT_THROW(f.getF32("a", {3, 2}), Error);
  EXPECT_THROW(f.get("b"), Error);
  EXPECT_EQ(f.find("b"), nullptr);
  std::remove(path.c_str());
}

TEST(Safetensors, OverwriteKeepsNoTemporaryFile) {
  std::string path = tempPath("atomic.safetensors");
  std::vector<float> a(4, 1.f), b(4, 2.f);
  writeSafetensors(path, {{"x", DType::F32, {4}, a.data()}});
  writeSafetensors(path, {{"x", DType::F32, {4}, b.data()}});
  EXPECT_EQ(SafetensorsFile(path).getF32("x", {4}), b);
  EXPECT_FALSE(exists(path + ".tmp." + std::to_string(getpid())));
  std::remove(path.c_str());
}

TEST(Safetensors, UnwritableDirectoryIsAnErrorAndLeavesNothing) {
  std::vector<float> a(4, 1.f);
  EXPECT_THROW(writeSafetensors("/nonexistent-dir/x.safetensors", {{"x", DType::F32, {4}, a.data()}}),
               Error);
}

TEST(SafetensorsErrors, MissingFile) { expectError(tempPath("absent.safetensors"), "cannot open"); }

TEST(SafetensorsErrors, ShorterThanLength) {
  std::string p = tempPath("short.safetensors");
  std::ofstream(p) << "abc";
  expectError(p, "shorter than the 8-byte header length");
}

TEST(SafetensorsErrors, HeaderLengthBeyondFile) {
  std::string p = tempPath("len.safetensors");
  writeRaw(p, "{}", "");
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.put(static_cast<char>(200));
  f.close();
  expectError(p, "exceeds the file");
}

TEST(SafetensorsErrors, MalformedJson) {
  std::string p = tempPath("json.safetensors");
  writeRaw(p, "{\"a\": {\"dtype\": \"F32\", ", "");
  expectError(p, "malformed safetensors header");
}

TEST(SafetensorsErrors, TrailingGarbage) {
  std::string p = tempPath("trail.safetensors");
  writeRaw(p, "{} x", "");
  expectError(p, "trailing characters");
}

TEST(SafetensorsErrors, UnknownDtype) {
  std::string p = tempPath("dtype.safetensors");
  writeRaw(p, R"({"a":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", std::string(16, '\0'));
  expectError(p, "unknown dtype 'F128'");
}

TEST(SafetensorsErrors, OffsetsBeyondData) {
  std::string p = tempPath("range.safetensors");
  writeRaw(p, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
  expectError(p, "lies beyond the 8 data bytes");
}

TEST(SafetensorsErrors, SizeDisagreesWithShape) {
  std::string p = tempPath("size.safetensors");
  writeRaw(p, R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", std::string(16, '\0'));
  expectError(p, "needs 12 bytes but its offsets span 16");
}

TEST(SafetensorsErrors, ReversedOffsets) {
  std::string p = tempPath("rev.safetensors");
  writeRaw(p, R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", std::string(8, '\0'));
  expectError(p, "malformed data_offsets");
}

TEST(SafetensorsErrors, MissingField) {
  std::string p = tempPath("field.safetensors");
  writeRaw(p, R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", std::string(4, '\0'));
  expectError(p, "lacks shape");
}

TEST(SafetensorsErrors, DuplicateName) {
  std::string p = tempPath("dup.safetensors");
  writeRaw(p,
           R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
           std::string(4, '\0'));
  expectError(p, "appears twice");
}

TEST(SafetensorsErrors, TruncatedGoldenFile) {
  std::string golden = std::string(CMT_GOLDEN_DIR) + "/cmt-micro.weights.safetensors";
  if (!exists(golden)) GTEST_SKIP() << "no golden data at " << golden;
  std::ifstream in(golden, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string p = tempPath("truncated.safetensors");
  std::ofstream(p, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expectError(p, "truncated file or bad offsets");
}

TEST(SafetensorsGolden, ReadsMicroWeightsAndIO) {
  std::string dir = CMT_GOLDEN_DIR;
  if (!exists(dir + "/cmt-micro.io.safetensors")) GTEST_SKIP() << "no golden data in " << dir;
  SafetensorsFile w(dir + "/cmt-micro.weights.safetensors");
  EXPECT_EQ(w.metadata().at("resolution"), "64");
  EXPECT_EQ(w.get("stem_conv1.weight").shapeString(), "[8, 3, 3, 3]");
  EXPECT_EQ(w.get("_bn.num_batches_tracked").dtype, DType::I64);
  SafetensorsFile io(dir + "/cmt-micro.io.safetensors");
  std::vector<float> logits = io.getF32("logits_eval", {4, 10});  // stored as F64
  EXPECT_EQ(logits.size(), 40u);
  EXPECT_EQ(io.get("labels").dtype, DType::I64);
}

TEST(SafetensorsErrors, OverflowingShape) {
  std::string p = tempPath("overflow.safetensors");
  writeRaw(p, R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}})", "");
  expectError(p, "absurd shape");
}

// Regression (found by the fuzzer): a repeated "shape" appended to the first
// list, escaping the bound on the element count.
TEST(SafetensorsErrors, RepeatedField) {
  std::string p = tempPath("repeat.safetensors");
  writeRaw(p, R"({"a":{"dtype":"F16","shape":[2,34444444444],"shape":[2,34444444444],"data_offsets":[0,24]}})",
           std::string(24, '\0'));
  expectError(p, "repeats the field 'shape'");
}
