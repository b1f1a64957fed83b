// randaugment.cpp - RandAugment as torchvision applies it to PIL images. The
// arithmetic follows Pillow's C code (truncating blends, LUT-based ImageOps,
// its fixed-point affine sampling) so that each op gives Pillow's pixels
// exactly, and models trained here see what torchvision pipelines produce.
#include "runtime/randaugment.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cmt::rt {
namespace detail {
namespace {

constexpr double kPi = 3.14159265358979323846;

// std::uniform_*_distribution differ across standard libraries; this does not.
double unit(std::mt19937_64 &rng) { return double(rng() >> 11) * 0x1.0p-53; }

// torch.linspace(start, end, 31)[i] in float32, with torch's two-sided formula,
// so truncating casts downstream (translate pixels) land where torchvision's do.
float linspace31(float start, float end, int i) {
  const float step = (end - start) / 30.0f;
  return i < 15 ? start + step * float(i) : end - step * float(30 - i);
}

uint8_t clamp8(float v) { return v <= 0.0f ? 0 : v >= 255.0f ? 255 : uint8_t(v); }

// PIL's Image.transform(AFFINE, NEAREST): m maps output pixel centres to input
// coordinates; samples falling outside the input keep the fill, 0. Pillow
// steps pure translations in doubles but anything with shear or rotation in
// 16.16 fixed point (while coordinates stay under 32768), and the two round
// differently at pixel edges, so both are reproduced.
void affine(Image &img, const std::array<double, 6> &m) {
  const int w = img.width, h = img.height, c = img.channels;
  auto fits = [&](int x, int y) {
    return std::fabs(x * m[0] + y * m[1] + m[2]) < 32768.0 && std::fabs(x * m[3] + y * m[4] + m[5]) < 32768.0;
  };
  const bool fixed = (m[1] != 0 || m[3] != 0) && fits(0, 0) && fits(w, h) && fits(0, h) && fits(w, 0);
  auto fix = [](double v) { return int64_t(std::floor(v * 65536.0 + 0.5)); };
  const int64_t f0 = fix(m[0]), f1 = fix(m[1]), f2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5);
  const int64_t f3 = fix(m[3]), f4 = fix(m[4]), f5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5);
  std::vector<uint8_t> out(img.pixels.size(), 0);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int xi, yi;  // any negative coordinate is simply out of range
      if (fixed) {
        const int64_t xx = f2 + y * f1 + x * f0, yy = f5 + y * f4 + x * f3;
        xi = xx < 0 ? -1 : int(xx >> 16), yi = yy < 0 ? -1 : int(yy >> 16);
      } else {
        const double xs = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
        const double ys = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
        xi = xs < 0.0 ? -1 : int(xs), yi = ys < 0.0 ? -1 : int(ys);
      }
      if (xi < 0 || xi >= w || yi < 0 || yi >= h) continue;
      std::copy_n(&img.pixels[(size_t(yi) * w + xi) * c], c, &out[(size_t(y) * w + x) * c]);
    }
  img.pixels.swap(out);
}

// PIL's Image.blend(degenerate, img, factor), which ImageEnhance uses: float
// arithmetic, truncated rather than rounded.
void blend(Image &img, const std::vector<uint8_t> &degenerate, double factor) {
  const float alpha = float(factor);
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    const int d = degenerate[i];
    img.pixels[i] = clamp8(float(d) + alpha * float(int(img.pixels[i]) - d));
  }
}

// PIL's convert("L") for RGB: ITU-R 601-2 in 16-bit fixed point, rounded.
uint8_t luma(const uint8_t *p) { return uint8_t((p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16); }

// ImageFilter.SMOOTH; PIL keeps the one-pixel border and skips images under 3x3.
std::vector<uint8_t> smooth(const Image &img) {
  const int w = img.width, h = img.height, c = img.channels;
  std::vector<uint8_t> out = img.pixels;
  if (w < 3 || h < 3) return out;
  const float k = 1.0f / 13.0f, centre = 5.0f / 13.0f;
  for (int y = 1; y < h - 1; ++y)
    for (int x = 1; x < w - 1; ++x)
      for (int ch = 0; ch < c; ++ch) {
        float s = 0.5f;  // PIL adds 0.5 and truncates: rounds to nearest
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx)
            s += float(img.pixels[(size_t(y + dy) * w + x + dx) * c + ch]) * (dx || dy ? k : centre);
        out[(size_t(y) * w + x) * c + ch] = clamp8(s);
      }
  return out;
}

// Applies a per-channel table built from that channel's histogram (ImageOps).
template <typename MakeLut>
void perChannelLut(Image &img, MakeLut makeLut) {
  const int c = img.channels;
  for (int ch = 0; ch < c; ++ch) {
    std::array<int64_t, 256> hist{};
    for (size_t i = ch; i < img.pixels.size(); i += c) ++hist[img.pixels[i]];
    const std::array<uint8_t, 256> lut = makeLut(hist);
    for (size_t i = ch; i < img.pixels.size(); i += c) img.pixels[i] = lut[img.pixels[i]];
  }
}

std::array<uint8_t, 256> identityLut() {
  std::array<uint8_t, 256> lut;
  for (int i = 0; i < 256; ++i) lut[i] = uint8_t(i);
  return lut;
}

// ImageOps.autocontrast with cutoff 0: stretch [lo, hi] to [0, 255], truncating.
std::array<uint8_t, 256> autoContrastLut(const std::array<int64_t, 256> &hist) {
  int lo = 0, hi = 255;
  while (lo < 256 && hist[lo] == 0) ++lo;
  while (hi >= 0 && hist[hi] == 0) --hi;
  if (hi <= lo) return identityLut();
  const double scale = 255.0 / (hi - lo), offset = -lo * scale;
  std::array<uint8_t, 256> lut;
  for (int i = 0; i < 256; ++i) lut[i] = uint8_t(std::clamp(int(i * scale + offset), 0, 255));
  return lut;
}

// ImageOps.equalize: the step leaves out the last occupied bin, so the top
// entries can pass 255; PIL's point() clips them.
std::array<uint8_t, 256> equalizeLut(const std::array<int64_t, 256> &hist) {
  int64_t total = 0, last = 0, occupied = 0;
  for (int64_t n : hist)
    if (n) total += n, last = n, ++occupied;
  const int64_t step = (total - last) / 255;
  if (occupied <= 1 || step == 0) return identityLut();
  std::array<uint8_t, 256> lut;
  int64_t n = step / 2;
  for (int i = 0; i < 256; ++i) {
    lut[i] = uint8_t(std::min<int64_t>(n / step, 255));
    n += hist[i];
  }
  return lut;
}

}  // namespace

bool augSigned(AugOp op) {
  return op != AugOp::Identity && op != AugOp::Posterize && op != AugOp::Solarize &&
         op != AugOp::AutoContrast && op != AugOp::Equalize;
}

double augMagnitude(AugOp op, int m, int width, int height) {
  switch (op) {
    case AugOp::ShearX: case AugOp::ShearY: return linspace31(0.0f, 0.3f, m);
    case AugOp::TranslateX: return linspace31(0.0f, float(150.0 / 331.0 * width), m);
    case AugOp::TranslateY: return linspace31(0.0f, float(150.0 / 331.0 * height), m);
    case AugOp::Rotate: return linspace31(0.0f, 30.0f, m);
    case AugOp::Brightness: case AugOp::Color: case AugOp::Contrast: case AugOp::Sharpness:
      return linspace31(0.0f, 0.9f, m);
    case AugOp::Posterize: return 8 - int(std::nearbyint(float(m) / 7.5f));
    case AugOp::Solarize: return linspace31(255.0f, 0.0f, m);
    default: return 0.0;
  }
}

void applyAugOp(Image &img, AugOp op, double v) {
  const int w = img.width, h = img.height, c = img.channels;
  if (img.pixels.empty()) return;  // the Contrast mean would divide by zero
  // torchvision passes shear as degrees(atan(v)) and F.affine turns it back.
  auto shear = [v] { return std::atan(v) * (180.0 / kPi) * (kPi / 180.0); };
  switch (op) {
    case AugOp::Identity: break;
    // torchvision shears about the top-left corner (center=[0, 0]), as the
    // original AutoAugment code did, not about the image centre.
    case AugOp::ShearX: affine(img, {1, std::tan(shear()), 0, 0, 1, 0}); break;
    case AugOp::ShearY: affine(img, {1, 0, 0, std::sin(shear()) / std::cos(shear()), 1, 0}); break;
    // torchvision truncates the translation to whole pixels with int().
    case AugOp::TranslateX: affine(img, {1, 0, -double(int(v)), 0, 1, 0}); break;
    case AugOp::TranslateY: affine(img, {1, 0, 0, 0, 1, -double(int(v))}); break;
    case AugOp::Rotate: {
      // PIL's Image.rotate: counter-clockwise about (w/2, h/2), with the
      // matrix rounded to 15 decimals.
      const double a = -std::fmod(std::fmod(v, 360.0) + 360.0, 360.0) * (kPi / 180.0);
      auto r15 = [](double x) { return std::round(x * 1e15) / 1e15; };
      const double co = r15(std::cos(a)), si = r15(std::sin(a)), cx = w / 2.0, cy = h / 2.0;
      affine(img, {co, si, co * -cx + si * -cy + cx, -si, co, -si * -cx + co * -cy + cy});
      break;
    }
    case AugOp::Brightness: blend(img, std::vector<uint8_t>(img.pixels.size(), 0), 1.0 + v); break;
    case AugOp::Color: {
      if (c == 1) break;  // convert("L").convert("L") is the image itself
      std::vector<uint8_t> grey(img.pixels.size());
      for (size_t i = 0; i < grey.size(); i += 3) std::fill_n(&grey[i], 3, luma(&img.pixels[i]));
      blend(img, grey, 1.0 + v);
      break;
    }
    case AugOp::Contrast: {
      double sum = 0;
      for (size_t i = 0; i < img.pixels.size(); i += c) sum += c == 1 ? img.pixels[i] : luma(&img.pixels[i]);
      const int mean = int(sum / (double(w) * h) + 0.5);
      blend(img, std::vector<uint8_t>(img.pixels.size(), uint8_t(mean)), 1.0 + v);
      break;
    }
    case AugOp::Sharpness: blend(img, smooth(img), 1.0 + v); break;
    case AugOp::Posterize: {
      const uint8_t mask = uint8_t(~((1u << (8 - int(v))) - 1u));
      for (uint8_t &p : img.pixels) p &= mask;
      break;
    }
    case AugOp::Solarize:
      for (uint8_t &p : img.pixels) p = p < v ? p : uint8_t(255 - p);
      break;
    case AugOp::AutoContrast: perChannelLut(img, autoContrastLut); break;
    case AugOp::Equalize: perChannelLut(img, equalizeLut); break;
  }
}

}  // namespace detail

void randAugment(Image &img, int ops, int magnitude, std::mt19937_64 &rng) {
  using namespace detail;
  if (ops < 0) throw std::invalid_argument("randAugment: ops must be >= 0, got " + std::to_string(ops));
  if (magnitude < 0 || magnitude > 30)
    throw std::invalid_argument("randAugment: magnitude must be in 0..30, got " + std::to_string(magnitude));
  if (img.channels != 1 && img.channels != 3)
    throw std::invalid_argument("randAugment: img.channels must be 1 or 3, got " +
                                std::to_string(img.channels));
  if (img.width < 0 || img.height < 0 ||
      img.pixels.size() != size_t(img.width) * size_t(img.height) * size_t(img.channels))
    throw std::invalid_argument("randAugment: img.pixels does not hold width x height x channels bytes");
  for (int i = 0; i < ops; ++i) {
    const auto op = AugOp(std::min(int(unit(rng) * kNumAugOps), kNumAugOps - 1));
    double v = augMagnitude(op, magnitude, img.width, img.height);
    // Like torchvision, the sign is only drawn for signed ops.
    if (augSigned(op) && (rng() >> 63)) v = -v;
    applyAugOp(img, op, v);
  }
}

}  // namespace cmt::rt
