//===- Lanes.h - loops a GPU warp may share ---------------------*- C++ -*-===//
//
// A lowering that knows a loop nest is best run one warp per iteration on the
// GPU says so with an attribute, and the IR stays valid and sequential for
// the CPU: cmt-map-to-gpu gives each point of a top-level `scf.parallel` one
// warp when its body holds `scf.for` loops marked `kLanesAttr`, and spreads
// their iterations over the warp's 32 lanes. Such a loop's iterations must be
// independent, except through its iter_args, which must be sums
// (`yield %acc + x`, the partial sum used for nothing else): each lane sums
// its share and a butterfly of shuffles gives every lane the total. It must
// not write a private array (`memref.alloca`): each lane would hold only its
// share of it. cmt-map-to-gpu rejects both.
//
// Only the loops carry the mark, because canonicalization rebuilds an
// `scf.parallel` (dropping a unit dimension, say) without its attributes.
// Losing a mark costs speed, never correctness: the lanes of a warp then all
// run that loop whole, computing the same sums and storing the same values.
//
//===----------------------------------------------------------------------===//
#ifndef CMT_TRANSFORMS_UTILS_LANES_H
#define CMT_TRANSFORMS_UTILS_LANES_H

#include "llvm/ADT/StringRef.h"

namespace cmt {
inline constexpr llvm::StringLiteral kLanesAttr = "cmt.lanes";
} // namespace cmt

#endif
