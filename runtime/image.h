// image.h - PNG/JPEG decoding and ImageNet-style preprocessing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cmt::rt {

struct Image {
  int width = 0, height = 0, channels = 0;  // channels: 1 (grey) or 3 (RGB)
  std::vector<uint8_t> pixels;               // row-major, interleaved
};

// Decodes a PNG or JPEG file (told apart by their signatures); throws Error
// naming the file on anything it cannot decode.
Image loadImage(const std::string &path);

// Resizes the shorter side to resolution / 0.875 (bilinear), crops the centre
// resolution x resolution, normalises with the ImageNet mean and std and
// writes `channels` x resolution x resolution floats (CHW) to `out`.
// channels == 1 takes the luminance; 3 replicates a grey image. `flip`
// mirrors the result (training's flip-only augmentation).
void preprocess(const Image &img, int resolution, int channels, float *out, bool flip = false);

// The box (x0, y0, w, h) of `img`, in pixels, resampled bilinearly to
// resolution x resolution (mirrored when `flip`) and normalised as above.
void resampleBox(const Image &img, double x0, double y0, double w, double h, int resolution, int channels,
                 bool flip, float *out);

}  // namespace cmt::rt
