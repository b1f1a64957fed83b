//===- Narrowable.h - loop-nest outputs that may be stored as bf16 -*- C++ -*-===//
//
// A lowering that writes a result with its own loop nest (a `memref.alloc`
// filled by `memref.store`s, returned by `bufferization.to_tensor`) marks the
// allocation with `kNarrowableAttr` when the result is an activation:
// cmt-narrow-storage may then store it as bf16, its stores rounding. Values
// that feed later arithmetic at full precision (a layer norm's row sums) are
// not marked and stay f32.
//
//===----------------------------------------------------------------------===//
#ifndef CMT_TRANSFORMS_UTILS_NARROWABLE_H
#define CMT_TRANSFORMS_UTILS_NARROWABLE_H

#include "llvm/ADT/StringRef.h"

namespace cmt {
inline constexpr llvm::StringLiteral kNarrowableAttr = "cmt.narrowable";
} // namespace cmt

#endif
