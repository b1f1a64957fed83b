// plot.cpp - training curves as a PNG (see plot.h). Everything is rasterised by
// hand into an RGB buffer, encoded to memory with libpng, then written with the
// same temporary-file-and-rename discipline as writeSafetensors.
#include "runtime/plot.h"
#include "runtime/safetensors.h"  // Error

#include <png.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>

namespace cmt::rt {
namespace {

constexpr int kW = 1200, kH = 500, kPanelW = kW / 2;
using RGB = std::array<uint8_t, 3>;
const RGB kBlack{0, 0, 0}, kGrid{228, 228, 228}, kWhite{255, 255, 255}, kGrey{150, 150, 150};

// 5x7 glyphs, one byte per row, bit 4 = leftmost column (the HD44780 shapes).
// Lower case is included because titles and labels ("loss", "step") are lower case;
// g p q y are drawn 2 rows lower so that their tails descend below the line.
const char kGlyphChars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz .-%/_:+(),=?";
const uint8_t kGlyphs[][7] = {
    {14, 17, 19, 21, 25, 17, 14}, {4, 12, 4, 4, 4, 4, 14},      {14, 17, 1, 2, 4, 8, 31},     // 0 1 2
    {31, 2, 4, 2, 1, 17, 14},     {2, 6, 10, 18, 31, 2, 2},     {31, 16, 30, 1, 1, 17, 14},   // 3 4 5
    {6, 8, 16, 30, 17, 17, 14},   {31, 1, 2, 4, 8, 8, 8},       {14, 17, 17, 14, 17, 17, 14}, // 6 7 8
    {14, 17, 17, 15, 1, 2, 12},                                                               // 9
    {14, 17, 17, 17, 31, 17, 17}, {30, 17, 17, 30, 17, 17, 30}, {14, 17, 16, 16, 16, 17, 14}, // A B C
    {28, 18, 17, 17, 17, 18, 28}, {31, 16, 16, 30, 16, 16, 31}, {31, 16, 16, 30, 16, 16, 16}, // D E F
    {14, 17, 16, 23, 17, 17, 15}, {17, 17, 17, 31, 17, 17, 17}, {14, 4, 4, 4, 4, 4, 14},      // G H I
    {7, 2, 2, 2, 2, 18, 12},      {17, 18, 20, 24, 20, 18, 17}, {16, 16, 16, 16, 16, 16, 31}, // J K L
    {17, 27, 21, 21, 17, 17, 17}, {17, 17, 25, 21, 19, 17, 17}, {14, 17, 17, 17, 17, 17, 14}, // M N O
    {30, 17, 17, 30, 16, 16, 16}, {14, 17, 17, 17, 21, 18, 13}, {30, 17, 17, 30, 20, 18, 17}, // P Q R
    {15, 16, 16, 14, 1, 1, 30},   {31, 4, 4, 4, 4, 4, 4},       {17, 17, 17, 17, 17, 17, 14}, // S T U
    {17, 17, 17, 17, 17, 10, 4},  {17, 17, 17, 21, 21, 21, 10}, {17, 17, 10, 4, 10, 17, 17},  // V W X
    {17, 17, 17, 10, 4, 4, 4},    {31, 1, 2, 4, 8, 16, 31},                                   // Y Z
    {0, 0, 14, 1, 15, 17, 15},    {16, 16, 22, 25, 17, 17, 30}, {0, 0, 14, 16, 16, 17, 14},   // a b c
    {1, 1, 13, 19, 17, 17, 15},   {0, 0, 14, 17, 31, 16, 14},   {6, 9, 8, 28, 8, 8, 8},       // d e f
    {15, 17, 17, 17, 15, 1, 14},  {16, 16, 22, 25, 17, 17, 17}, {4, 0, 12, 4, 4, 4, 14},      // g h i
    {2, 0, 6, 2, 2, 18, 12},      {16, 16, 18, 20, 24, 20, 18}, {12, 4, 4, 4, 4, 4, 14},     // j k l
    {0, 0, 26, 21, 21, 17, 17},   {0, 0, 22, 25, 17, 17, 17},   {0, 0, 14, 17, 17, 17, 14},   // m n o
    {30, 17, 17, 17, 30, 16, 16}, {15, 17, 17, 17, 15, 1, 1},   {0, 0, 22, 25, 16, 16, 16},   // p q r
    {0, 0, 14, 16, 14, 1, 30},    {8, 8, 28, 8, 8, 9, 6},       {0, 0, 17, 17, 17, 19, 13},   // s t u
    {0, 0, 17, 17, 17, 10, 4},    {0, 0, 17, 17, 21, 21, 10},   {0, 0, 17, 10, 4, 10, 17},    // v w x
    {17, 17, 17, 17, 15, 1, 14},  {0, 0, 31, 2, 4, 8, 31},                                    // y z
    {0, 0, 0, 0, 0, 0, 0},        {0, 0, 0, 0, 0, 12, 12},      {0, 0, 0, 31, 0, 0, 0},       // ' ' . -
    {24, 25, 2, 4, 8, 19, 3},     {0, 1, 2, 4, 8, 16, 0},       {0, 0, 0, 0, 0, 0, 31},       // % / _
    {0, 12, 12, 0, 12, 12, 0},    {0, 4, 4, 31, 4, 4, 0},       {2, 4, 8, 8, 8, 4, 2},        // : + (
    {8, 4, 2, 2, 2, 4, 8},        {0, 0, 0, 0, 12, 4, 8},       {0, 0, 31, 0, 31, 0, 0},      // ) , =
    {14, 17, 1, 2, 4, 0, 4}};                                                                 // ?
static_assert(sizeof(kGlyphs) / sizeof(kGlyphs[0]) == sizeof(kGlyphChars) - 1, "one glyph per character");

struct Rect { int x0, y0, x1, y1; };

// Pixel coordinate of a data value; huge or NaN values (a range overflowing to
// inf) are clamped so the conversion to int stays defined.
int toPix(double v) { return !(v > -1e4) ? -10000 : !(v < 1e4) ? 10000 : static_cast<int>(std::lround(v)); }

struct Canvas {
  std::vector<uint8_t> px = std::vector<uint8_t>(size_t(kW) * kH * 3, 255);
  void set(int x, int y, RGB c) {
    if (x >= 0 && y >= 0 && x < kW && y < kH) std::memcpy(&px[(size_t(y) * kW + x) * 3], c.data(), 3);
  }
  void fill(Rect r, RGB c) {
    for (int y = r.y0; y <= r.y1; ++y)
      for (int x = r.x0; x <= r.x1; ++x) set(x, y, c);
  }
  void frame(Rect r, RGB c) {
    fill({r.x0, r.y0, r.x1, r.y0}, c), fill({r.x0, r.y1, r.x1, r.y1}, c);
    fill({r.x0, r.y0, r.x0, r.y1}, c), fill({r.x1, r.y0, r.x1, r.y1}, c);
  }
  // Bresenham with a 2x2 pen, clipped to `clip` so thick lines never cross the axes.
  void line(int x0, int y0, int x1, int y1, RGB c, Rect clip) {
    int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    for (int err = dx + dy;;) {
      for (int k = 0; k < 4; ++k) {
        int x = x0 + (k & 1), y = y0 + (k >> 1);
        if (x > clip.x0 && x < clip.x1 && y > clip.y0 && y < clip.y1) set(x, y, c);
      }
      if (x0 == x1 && y0 == y1) break;
      int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  void text(int x, int y, const std::string &s, int scale, RGB c) {
    for (char ch : s) {
      const char *p = std::strchr(kGlyphChars, ch);
      const uint8_t *g = kGlyphs[ch && p ? p - kGlyphChars : sizeof(kGlyphChars) - 2];  // unknown: '?'
      int dy = ch && std::strchr("gpqy", ch) ? 2 : 0;
      for (int r = 0; r < 7; ++r)
        for (int col = 0; col < 5; ++col)
          if (g[r] & (16 >> col))
            fill({x + col * scale, y + (r + dy) * scale, x + col * scale + scale - 1, y + (r + dy + 1) * scale - 1}, c);
      x += 6 * scale;
    }
  }
};
int textWidth(const std::string &s, int scale) { return int(s.size()) * 6 * scale - scale; }

// The data extent padded by 5%; a degenerate one (single point, constant series)
// is widened first so the data sits mid-panel rather than dividing by zero.
void pad(double &lo, double &hi) {
  if (!(hi > lo)) {
    double d = lo != 0 ? std::fabs(lo) * 0.1 : 1;
    lo -= d, hi += d;
  }
  double m = (hi - lo) * 0.05;
  lo -= m, hi += m;
}

// About `target` ticks at 1, 2 or 5 times a power of ten, as people read axes.
double niceStep(double span, int target) {
  double raw = span / target, p = std::pow(10.0, std::floor(std::log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
}

std::string tickLabel(double v, double step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", std::fabs(v) < step * 1e-6 ? 0.0 : v);  // no "-1.2e-17" for 0
  return buf;
}

template <class F> void forFinite(const Series &s, F f) {
  for (size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i)
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) f(s.x[i], s.y[i]);
}

void drawPanel(Canvas &cv, int left, const std::vector<Series> &series, size_t colour0, const std::string &name) {
  Rect r{left + 70, 60, left + kPanelW - 20, kH - 40};
  cv.text((r.x0 + r.x1 - textWidth(name, 2)) / 2, 36, name, 2, kBlack);
  cv.text((r.x0 + r.x1 - textWidth("step", 1)) / 2, r.y1 + 22, "step", 1, kBlack);
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const Series &s : series)
    forFinite(s, [&](double x, double y) {
      xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
    });
  if (xlo > xhi) {
    cv.frame(r, kBlack);
    cv.text((r.x0 + r.x1 - textWidth("no data", 2)) / 2, (r.y0 + r.y1) / 2 - 7, "no data", 2, kGrey);
    return;
  }
  pad(xlo, xhi), pad(ylo, yhi);
  auto X = [&](double v) { return toPix(r.x0 + (v - xlo) / (xhi - xlo) * (r.x1 - r.x0)); };
  auto Y = [&](double v) { return toPix(r.y1 - (v - ylo) / (yhi - ylo) * (r.y1 - r.y0)); };
  // Grid and ticks; k is a double (huge steps overflow int) and n bounds a pathological range.
  double xs = niceStep(xhi - xlo, 6), ys = niceStep(yhi - ylo, 5);
  for (double n = 0, k = std::ceil(xlo / xs); n < 20 && k * xs <= xhi; ++n, ++k) {
    int px = X(k * xs);
    std::string l = tickLabel(k * xs, xs);
    cv.fill({px, r.y0, px, r.y1}, kGrid), cv.fill({px, r.y1, px, r.y1 + 4}, kBlack);
    cv.text(px - textWidth(l, 1) / 2, r.y1 + 8, l, 1, kBlack);
  }
  for (double n = 0, k = std::ceil(ylo / ys); n < 20 && k * ys <= yhi; ++n, ++k) {
    int py = Y(k * ys);
    std::string l = tickLabel(k * ys, ys);
    cv.fill({r.x0, py, r.x1, py}, kGrid), cv.fill({r.x0 - 4, py, r.x0, py}, kBlack);
    cv.text(r.x0 - 8 - textWidth(l, 1), py - 3, l, 1, kBlack);
  }
  for (size_t i = 0; i < series.size(); ++i) {
    RGB c = seriesColour(colour0 + i);
    int n = 0, px = 0, py = 0;
    forFinite(series[i], [&](double, double) { ++n; });
    bool markers = n <= 30;  // sparse series (per-epoch values, a single point) need visible points
    n = 0;
    forFinite(series[i], [&](double x, double y) {
      int qx = X(x), qy = Y(y);
      if (n++) cv.line(px, py, qx, qy, c, r);
      if (markers) cv.fill({std::max(qx - 2, r.x0 + 1), std::max(qy - 2, r.y0 + 1), std::min(qx + 2, r.x1 - 1), std::min(qy + 2, r.y1 - 1)}, c);
      px = qx, py = qy;
    });
  }
  cv.frame(r, kBlack);
  // Legend in the top- or bottom-right corner, whichever covers fewer data points.
  int w = 0, h = 6;
  for (const Series &s : series) w = std::max(w, textWidth(s.label, 1) + 30), h += 12;
  Rect boxes[2] = {{r.x1 - w - 8, r.y0 + 8, r.x1 - 8, r.y0 + 8 + h}, {r.x1 - w - 8, r.y1 - 8 - h, r.x1 - 8, r.y1 - 8}};
  int covered[2] = {0, 0};
  for (const Series &s : series)
    forFinite(s, [&](double x, double y) {
      for (int b = 0; b < 2; ++b)
        covered[b] += X(x) >= boxes[b].x0 && X(x) <= boxes[b].x1 && Y(y) >= boxes[b].y0 && Y(y) <= boxes[b].y1;
    });
  Rect box = boxes[covered[1] < covered[0]];
  cv.fill(box, kWhite), cv.frame(box, kGrey);
  for (size_t i = 0; i < series.size(); ++i) {
    int y = box.y0 + 6 + int(i) * 12;
    cv.fill({box.x0 + 6, y + 2, box.x0 + 22, y + 4}, seriesColour(colour0 + i));
    cv.text(box.x0 + 28, y, series[i].label, 1, kBlack);
  }
}

void appendBytes(png_structp png, png_bytep data, png_size_t n) {
  try {  // an exception must not unwind through libpng's C frames
    auto *out = static_cast<std::vector<uint8_t> *>(png_get_io_ptr(png));
    out->insert(out->end(), data, data + n);
  } catch (const std::bad_alloc &) {
    png_error(png, "out of memory");
  }
}

// Encodes to memory, so that every file-system failure is handled in one place below.
bool encodePng(const Canvas &cv, std::vector<uint8_t> &out) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) return png_destroy_write_struct(&png, nullptr), false;
  std::vector<png_bytep> rows(kH);  // set up before setjmp: longjmp skips no destructor
  for (int y = 0; y < kH; ++y) rows[y] = const_cast<png_bytep>(&cv.px[size_t(y) * kW * 3]);
  if (setjmp(png_jmpbuf(png))) return png_destroy_write_struct(&png, &info), false;
  png_set_write_fn(png, &out, appendBytes, nullptr);
  png_set_IHDR(png, info, kW, kH, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_rows(png, info, rows.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

std::array<uint8_t, 3> seriesColour(size_t i) {
  static const RGB palette[8] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                 {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {23, 190, 207}};
  return palette[i % 8];
}

void writePlot(const std::string &path, const std::vector<Series> &left, const std::vector<Series> &right,
               const std::string &title) {
  Canvas cv;
  cv.text((kW - textWidth(title, 2)) / 2, 8, title, 2, kBlack);
  drawPanel(cv, 0, left, 0, "loss");
  drawPanel(cv, kPanelW, right, left.size(), "accuracy %");
  std::vector<uint8_t> png;
  if (!encodePng(cv, png)) throw Error(path + ": PNG encoding failed");

  std::string tmp = path + ".tmp." + std::to_string(getpid());
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(path + ": cannot create '" + tmp + "': " + std::strerror(errno));
  auto fail = [&](const char *what, bool open) {
    int e = errno;
    if (open) std::fclose(f);
    std::remove(tmp.c_str());
    throw Error(path + ": " + what + ": " + std::strerror(e) + " (any previous file is untouched)");
  };
  if (std::fwrite(png.data(), 1, png.size(), f) != png.size()) fail("write failed", true);
  if (std::fflush(f) != 0 || fsync(fileno(f)) != 0) fail("flush failed", true);
  if (std::fclose(f) != 0) fail("close failed", false);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("rename failed", false);
}

}  // namespace cmt::rt
