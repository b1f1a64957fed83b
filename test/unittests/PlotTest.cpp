// The training-curve chart (runtime/plot.h): the PNG decodes to the promised
// size with each series drawn in its colour in its own panel, and a failed write
// throws, leaves no temporary file and never damages the previous chart.
#include "runtime/plot.h"
#include "runtime/safetensors.h"  // Error
#include "ScratchDir.h"

#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <png.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace cmt::rt;
using cmt::test::ScratchDir;
namespace fs = std::filesystem;

namespace {

struct Decoded {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;
  // Pixels of exactly colour `c` with x in [x0, x1).
  int count(std::array<uint8_t, 3> c, int x0, int x1) const {
    int n = 0;
    for (int y = 0; y < height; ++y)
      for (int x = x0; x < x1; ++x) n += std::equal(c.begin(), c.end(), &rgb[(size_t(y) * width + x) * 3]);
    return n;
  }
};

Decoded readPng(const std::string &path) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  Decoded d;
  if (!png_image_begin_read_from_file(&img, path.c_str())) {
    ADD_FAILURE() << path << ": " << img.message;
    return d;
  }
  img.format = PNG_FORMAT_RGB;
  d.rgb.resize(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, d.rgb.data(), 0, nullptr)) {
    ADD_FAILURE() << path << ": " << img.message;
    return d;
  }
  d.width = int(img.width), d.height = int(img.height);
  return d;
}

std::string readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

Series curve(const std::string &label, int n, double x0, double dx, double (*f)(double)) {
  Series s{label, {}, {}};
  for (int i = 0; i < n; ++i) s.x.push_back(x0 + i * dx), s.y.push_back(f(i / double(n)));
  return s;
}

std::vector<Series> lossSeries() {
  return {curve("train loss", 500, 0, 1, [](double t) { return 2.3 * std::exp(-3 * t) + 0.1 * std::sin(40 * t); }),
          curve("val loss", 5, 100, 100, [](double t) { return 2.0 * std::exp(-3 * t); })};
}
std::vector<Series> accuracySeries() {
  return {curve("val top-1", 5, 100, 100, [](double t) { return 100 - 60 * std::exp(-3 * t); }),
          curve("val top-5", 5, 100, 100, [](double t) { return 100 - 20 * std::exp(-3 * t); })};
}
}  // namespace

TEST(Plot, PaletteIsDistinct) {
  for (size_t i = 0; i < 8; ++i)
    for (size_t j = i + 1; j < 8; ++j) EXPECT_NE(seriesColour(i), seriesColour(j)) << i << " " << j;
  for (size_t i = 0; i < 8; ++i) EXPECT_NE(seriesColour(i), (std::array<uint8_t, 3>{255, 255, 255}));
}

TEST(Plot, DrawsEachSeriesInItsPanel) {
  ScratchDir tmp("cmt-plot");
  std::string path = tmp / "curves.png";
  writePlot(path, lossSeries(), accuracySeries(), "cmt-ti test");
  Decoded d = readPng(path);
  ASSERT_EQ(d.width, 1200);
  ASSERT_EQ(d.height, 500);
  // Mostly white background, including the corners.
  EXPECT_GT(d.count({255, 255, 255}, 0, d.width), d.width * d.height / 2);
  EXPECT_EQ(d.count({255, 255, 255}, 0, 1), d.height);
  EXPECT_EQ(d.count({255, 255, 255}, d.width - 1, d.width), d.height);
  // Left series 0, 1 only on the left half, right series 2, 3 only on the right. A
  // 2 px line across most of a 500 px panel is far more than 300 pixels.
  EXPECT_GT(d.count(seriesColour(0), 0, 600), 600);
  for (size_t i = 1; i < 4; ++i) EXPECT_GT(d.count(seriesColour(i), i < 2 ? 0 : 600, i < 2 ? 600 : 1200), 300) << i;
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(d.count(seriesColour(i), i < 2 ? 600 : 0, i < 2 ? 1200 : 600), 0) << i;
  // Text (title, ticks, labels) is black.
  EXPECT_GT(d.count({0, 0, 0}, 0, 1200), 2000);
  // Written through a temporary that is gone now.
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"curves.png"});
}

TEST(Plot, EmptyPanelsNonFiniteAndDegenerateSeries) {
  ScratchDir tmp("cmt-plot");
  std::string path = tmp / "sparse.png";
  Series holes{"loss", {0, 1, 2, 3, 4, 5}, {1.0, NAN, INFINITY, 0.5, -INFINITY, 0.25}};
  Series single{"val", {3}, {0.75}};
  Series nothing{"all nan", {1, 2}, {NAN, NAN}};
  writePlot(path, {holes, single, nothing}, {}, "");
  Decoded d = readPng(path);
  ASSERT_EQ(d.width, 1200);
  EXPECT_GT(d.count(seriesColour(0), 0, 600), 100);
  // "all nan" shows only its legend swatch; the single point has a marker besides.
  EXPECT_GT(d.count(seriesColour(2), 0, 600), 0);
  EXPECT_GE(d.count(seriesColour(1), 0, 600), d.count(seriesColour(2), 0, 600) + 16);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(d.count(seriesColour(i), 600, 1200), 0) << i;
  // The right panel still has its frame and "no data" text, not a blank half.
  EXPECT_GT(d.count({0, 0, 0}, 600, 1200), 1000);

  // A constant series and both panels without any finite point.
  writePlot(path, {Series{"flat", {0, 10, 20}, {2, 2, 2}}}, {Series{"nan", {0}, {NAN}}}, "flat");
  d = readPng(path);
  EXPECT_GT(d.count(seriesColour(0), 0, 600), 300);
  writePlot(path, {}, {}, "empty");
  d = readPng(path);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(d.count(seriesColour(i), 0, 1200), 0) << i;
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"sparse.png"});
}

TEST(Plot, MissingDirectoryThrowsAndLeavesNothing) {
  ScratchDir tmp("cmt-plot");
  std::string path = tmp / "missing/curves.png";
  try {
    writePlot(path, lossSeries(), accuracySeries(), "t");
    ADD_FAILURE() << "no Error";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  EXPECT_TRUE(tmp.entries().empty());
}

TEST(Plot, TargetIsADirectoryThrowsAndLeavesNoTemporary) {
  ScratchDir tmp("cmt-plot");
  fs::create_directory(tmp / "curves.png");
  EXPECT_THROW(writePlot(tmp / "curves.png", lossSeries(), accuracySeries(), "t"), Error);
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"curves.png"});
  EXPECT_TRUE(fs::is_directory(tmp / "curves.png"));
}

// A write error part-way (as on a full disk), simulated with a file-size limit,
// which binds root too: the previous chart must survive byte for byte.
TEST(Plot, FailedWriteKeepsPreviousFile) {
  ScratchDir tmp("cmt-plot");
  std::string path = tmp / "curves.png";
  writePlot(path, lossSeries(), {}, "previous");
  std::string before = readFile(path);
  ASSERT_GT(before.size(), 1000u);
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto oldHandler = std::signal(SIGXFSZ, SIG_IGN);  // so the write fails with EFBIG instead of killing us
  rlimit small = saved;
  small.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  try {
    writePlot(path, lossSeries(), accuracySeries(), "replacement");
  } catch (const Error &e) {
    threw = std::string(e.what()).find(path) != std::string::npos;
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, oldHandler);
  EXPECT_TRUE(threw);
  EXPECT_EQ(readFile(path), before);
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"curves.png"});
}

// The temporary cannot be created in a read-only directory. Root ignores
// permissions, so there the cases above (missing directory, write error) stand in.
TEST(Plot, ReadOnlyDirectoryKeepsPreviousFile) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  ScratchDir tmp("cmt-plot");
  std::string path = tmp / "curves.png";
  writePlot(path, lossSeries(), {}, "previous");
  std::string before = readFile(path);
  ASSERT_EQ(chmod(tmp.path.c_str(), 0500), 0);
  EXPECT_THROW(writePlot(path, lossSeries(), accuracySeries(), "replacement"), Error);
  chmod(tmp.path.c_str(), 0700);
  EXPECT_EQ(readFile(path), before);
  EXPECT_EQ(tmp.entries(), std::vector<std::string>{"curves.png"});
}
