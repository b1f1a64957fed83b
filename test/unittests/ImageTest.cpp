// PNG/JPEG decoding and the ImageNet preprocessing of the executables.
#include "runtime/image.h"
#include "runtime/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <jpeglib.h>
#include <png.h>
#include <unistd.h>
#include <vector>

using namespace cmt::rt;

namespace {
std::string tempPath(const std::string &name) {
  return ::testing::TempDir() + "cmt-img-" + std::to_string(getpid()) + "-" + name;
}

void writePng(const std::string &path, int w, int h, int channels, const std::vector<uint8_t> &px) {
  FILE *f = std::fopen(path.c_str(), "wb");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, 8, channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; ++y) png_write_row(png, const_cast<uint8_t *>(px.data() + y * w * channels));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

void writeJpeg(const std::string &path, int w, int h, const std::vector<uint8_t> &rgb) {
  FILE *f = std::fopen(path.c_str(), "wb");
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t *>(rgb.data() + c.next_scanline * w * 3);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  std::fclose(f);
}

std::vector<uint8_t> solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  std::vector<uint8_t> px;
  for (int i = 0; i < w * h; ++i) px.insert(px.end(), {r, g, b});
  return px;
}
}  // namespace

TEST(Image, PngRoundTripAndNormalisation) {
  std::string p = tempPath("a.png");
  writePng(p, 40, 30, 3, solid(40, 30, 255, 128, 0));
  Image img = loadImage(p);
  EXPECT_EQ(img.width, 40);
  EXPECT_EQ(img.height, 30);
  EXPECT_EQ(img.channels, 3);
  std::vector<float> out(3 * 16 * 16);
  preprocess(img, 16, 3, out.data());
  // A solid colour stays solid through resize and crop; then (v/255 - mean) / std.
  EXPECT_NEAR(out[0], (1.0 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(out[256 + 17], (128 / 255.0 - 0.456) / 0.224, 1e-5);
  EXPECT_NEAR(out[512 + 255], (0.0 - 0.406) / 0.225, 1e-5);
  std::remove(p.c_str());
}

TEST(Image, GreyPngIsReplicated) {
  std::string p = tempPath("g.png");
  writePng(p, 8, 8, 1, std::vector<uint8_t>(64, 51));
  Image img = loadImage(p);
  EXPECT_EQ(img.channels, 1);
  std::vector<float> out(3 * 4 * 4);
  preprocess(img, 4, 3, out.data());
  EXPECT_NEAR(out[0], (0.2 - 0.485) / 0.229, 1e-5);
  EXPECT_NEAR(out[16], (0.2 - 0.456) / 0.224, 1e-5);
  std::remove(p.c_str());
}

TEST(Image, JpegDecodes) {
  std::string p = tempPath("a.jpg");
  writeJpeg(p, 33, 21, solid(33, 21, 10, 200, 90));
  Image img = loadImage(p);
  EXPECT_EQ(img.width, 33);
  EXPECT_EQ(img.height, 21);
  EXPECT_EQ(img.channels, 3);
  EXPECT_NEAR(img.pixels[1], 200, 3);  // lossy, but close at quality 100
  std::remove(p.c_str());
}

TEST(Image, CorruptFilesAreErrors) {
  std::string png = tempPath("t.png"), jpg = tempPath("t.jpg"), txt = tempPath("t.txt");
  writePng(png, 40, 30, 3, solid(40, 30, 1, 2, 3));
  writeJpeg(jpg, 40, 30, solid(40, 30, 1, 2, 3));
  for (const std::string &p : {png, jpg}) {
    std::ifstream in(p, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(p, std::ios::binary) << bytes.substr(0, bytes.size() / 3);
    EXPECT_THROW(loadImage(p), Error) << p;
  }
  std::ofstream(txt) << "hello";
  EXPECT_THROW(loadImage(txt), Error);
  EXPECT_THROW(loadImage(tempPath("absent.png")), Error);
}
