// randaugment.h - RandAugment (Cubuk et al. 2020) on decoded images, matching
// torchvision.transforms.RandAugment as it applies to a PIL image.
#pragma once

#include "runtime/image.h"

#include <random>

namespace cmt::rt {

// Applies `ops` operations drawn uniformly (with replacement) from the 14 in
// detail::AugOp, each at bin `magnitude` of torchvision's 31 (0..30) and with a
// random sign where the op is signed. Geometric ops sample nearest-neighbour
// with fill 0; rotation turns about the centre, shear (as in torchvision)
// about the top-left corner. Draws use raw rng() outputs only, so the same
// rng state gives the same image on any standard library: per op, one draw
// picks AugOp(floor(((rng() >> 11) * 2^-53) * 14)), then a signed op takes a
// second and is negated when that one's top bit is set. Throws std::invalid_argument naming the argument if ops < 0,
// magnitude is outside 0..30, img.channels is not 1 or 3 or img.pixels does
// not hold width x height x channels bytes.
void randAugment(Image &img, int ops, int magnitude, std::mt19937_64 &rng);

namespace detail {

// In torchvision's _augmentation_space order: the draw picks by index.
enum class AugOp {
  Identity, ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness,
  Color, Contrast, Sharpness, Posterize, Solarize, AutoContrast, Equalize
};
constexpr int kNumAugOps = 14;

// Whether torchvision flips the op's sign at random.
bool augSigned(AugOp op);

// The unsigned value torchvision's _augmentation_space gives `op` at bin
// `magnitude` (0..30) for a width x height image: shear factor, pixels,
// degrees, enhance delta, bits kept or solarize threshold.
double augMagnitude(AugOp op, int magnitude, int width, int height);

// Applies one op with a signed value in the units of augMagnitude, as
// torchvision's _apply_op does with PIL. Trusts img to be well formed:
// randAugment is the one that checks.
void applyAugOp(Image &img, AugOp op, double value);

}  // namespace detail
}  // namespace cmt::rt
