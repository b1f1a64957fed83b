// plot.h - training curves as a PNG chart, drawn with libpng only (no plotting
// library), so the training executables can show progress without Python.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cmt::rt {

struct Series {
  std::string label;
  std::vector<double> x, y;  // pairs up to the shorter of the two
};

// A PNG chart of training curves (1200x500, white background): two panels side
// by side, left "loss" against step (e.g. train loss per step and validation loss
// at epoch-end steps), right "accuracy %" against step (e.g. val top-1 and top-5).
// Each panel has axes with numeric tick labels, a title and a legend (colour
// swatch + label); an empty panel says "no data". Non-finite points are skipped.
// Written atomically (temporary file beside `path`, then rename); throws Error
// naming the path on failure (cannot create, write error, full disk), leaving any
// previous file intact.
void writePlot(const std::string &path, const std::vector<Series> &left, const std::vector<Series> &right,
               const std::string &title);

// The RGB colour of the i-th series, counted across both panels, left first
// (so no two series in one chart share a colour until the palette of 8 wraps).
std::array<uint8_t, 3> seriesColour(size_t i);

}  // namespace cmt::rt
