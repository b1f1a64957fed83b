// blas_layout.h - how a strided matrix looks to a BLAS: column-major with a
// leading dimension, or the transpose of one. Shared by the compiler (which
// sends a contraction to cuBLAS only when every operand has such a layout)
// and the CUDA runtime (which makes the call), so the two cannot disagree.
#pragma once

#include <algorithm>
#include <cstdint>

namespace cmt::rt {

// The element type of a GEMM's A and B, and that of its C: the last two
// arguments of cmt_blas_sgemm (a bf16 C is only written, from f32
// accumulators, with no bias).
enum class BlasType : int64_t { F32 = 0, BF16 = 1 };
inline int64_t blasTypeBytes(BlasType t) { return t == BlasType::BF16 ? 2 : 4; }

struct BlasLayout {
  bool ok = false;
  bool rowMajor = false;  // stored row-major: as a column-major matrix it is the transpose
  int64_t ld = 0;         // leading dimension (elements)
};

// A rows x cols matrix whose element (r, c) is at r * rs + c * cs.
inline BlasLayout blasLayout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= cols))
    return {true, true, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= rows))
    return {true, false, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
  return {};
}

}  // namespace cmt::rt
