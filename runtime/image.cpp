// image.cpp - see image.h.
#include "runtime/image.h"

#include "runtime/safetensors.h"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include <jpeglib.h>
#include <png.h>

namespace cmt::rt {

namespace {
struct FileCloser {
  void operator()(FILE *f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

Image loadPng(FILE *f, const std::string &path) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    throw Error(path + ": cannot initialise the PNG decoder");
  }
  Image img;
  std::vector<png_bytep> rows;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    throw Error(path + ": corrupt or truncated PNG");
  }
  png_init_io(png, f);
  png_read_info(png, info);
  png_set_strip_16(png);
  png_set_packing(png);
  png_set_expand(png);  // palette and low-bit grey to 8 bits, tRNS to alpha
  png_set_strip_alpha(png);
  png_read_update_info(png, info);
  img.width = static_cast<int>(png_get_image_width(png, info));
  img.height = static_cast<int>(png_get_image_height(png, info));
  img.channels = png_get_channels(png, info) >= 3 ? 3 : 1;
  if (png_get_channels(png, info) == 2) png_set_strip_alpha(png);
  size_t rowBytes = png_get_rowbytes(png, info);
  img.pixels.resize(rowBytes * static_cast<size_t>(img.height));
  rows.resize(static_cast<size_t>(img.height));
  for (int y = 0; y < img.height; ++y) rows[y] = img.pixels.data() + y * rowBytes;
  png_read_image(png, rows.data());
  png_destroy_read_struct(&png, &info, nullptr);
  if (rowBytes != static_cast<size_t>(img.width * img.channels))
    throw Error(path + ": unsupported PNG pixel layout");
  return img;
}

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// Corrupt-data warnings (a truncated stream, say) would otherwise decode to a
// partly grey image without a word: treat them as failures.
void jpegMessage(j_common_ptr cinfo, int level) {
  if (level < 0) cinfo->err->error_exit(cinfo);
}

void jpegFail(j_common_ptr cinfo) {
  auto *err = reinterpret_cast<JpegError *>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

Image loadJpeg(FILE *f, const std::string &path) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpegFail;
  err.mgr.emit_message = jpegMessage;
  Image img;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw Error(path + ": corrupt or truncated JPEG (" + err.message + ")");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, f);
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = cinfo.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  img.width = static_cast<int>(cinfo.output_width);
  img.height = static_cast<int>(cinfo.output_height);
  img.channels = cinfo.output_components;
  img.pixels.resize(static_cast<size_t>(img.width) * img.height * img.channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = img.pixels.data() +
                   static_cast<size_t>(cinfo.output_scanline) * img.width * img.channels;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return img;
}
}  // namespace

Image loadImage(const std::string &path) {
  File f(std::fopen(path.c_str(), "rb"));
  if (!f) throw Error(path + ": cannot open: " + std::strerror(errno));
  unsigned char sig[8] = {};
  size_t n = std::fread(sig, 1, 8, f.get());
  std::rewind(f.get());
  Image img;
  if (n == 8 && png_sig_cmp(sig, 0, 8) == 0) img = loadPng(f.get(), path);
  else if (n >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF) img = loadJpeg(f.get(), path);
  else throw Error(path + ": not a PNG or JPEG file");
  if (img.width <= 0 || img.height <= 0) throw Error(path + ": empty image");
  return img;
}

void resampleBox(const Image &img, double x0, double y0, double w, double h, int resolution, int channels,
                 bool flip, float *out) {
  static const float kMean[3] = {0.485f, 0.456f, 0.406f}, kStd[3] = {0.229f, 0.224f, 0.225f};
  auto sample = [&](double sx, double sy, int c) {
    // Bilinear on pixel centres, clamped at the border.
    double fx = std::clamp(sx, 0.0, img.width - 1.0), fy = std::clamp(sy, 0.0, img.height - 1.0);
    int ix = static_cast<int>(fx), iy = static_cast<int>(fy);
    int jx = std::min(ix + 1, img.width - 1), jy = std::min(iy + 1, img.height - 1);
    double ax = fx - ix, ay = fy - iy;
    auto px = [&](int x, int y) {
      return static_cast<double>(img.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels + c]);
    };
    return (1 - ay) * ((1 - ax) * px(ix, iy) + ax * px(jx, iy)) + ay * ((1 - ax) * px(ix, jy) + ax * px(jx, jy));
  };
  double sxScale = w / resolution, syScale = h / resolution;
  for (int y = 0; y < resolution; ++y)
    for (int x = 0; x < resolution; ++x) {
      int ox = flip ? resolution - 1 - x : x;
      double sx = x0 + (ox + 0.5) * sxScale - 0.5, sy = y0 + (y + 0.5) * syScale - 0.5;
      double rgb[3];
      for (int c = 0; c < 3; ++c) rgb[c] = sample(sx, sy, img.channels == 3 ? c : 0) / 255.0;
      size_t plane = static_cast<size_t>(resolution) * resolution, at = static_cast<size_t>(y) * resolution + x;
      if (channels == 1) {
        double grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
        out[at] = static_cast<float>((grey - 0.449) / 0.226);
      } else {
        for (int c = 0; c < 3; ++c) out[c * plane + at] = static_cast<float>((rgb[c] - kMean[c]) / kStd[c]);
      }
    }
}

void preprocess(const Image &img, int resolution, int channels, float *out, bool flip) {
  // torchvision's eval transform: Resize(int(res / 0.875)) then CenterCrop(res).
  double shorter = std::min(img.width, img.height);
  double scale = std::floor(resolution / 0.875) / shorter;
  double rw = img.width * scale, rh = img.height * scale;
  double x0 = (rw - resolution) / 2, y0 = (rh - resolution) / 2;
  resampleBox(img, x0 / scale, y0 / scale, resolution / scale, resolution / scale, resolution, channels, flip,
              out);
}

}  // namespace cmt::rt
