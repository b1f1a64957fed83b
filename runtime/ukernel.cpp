// ukernel.cpp - the matrix-multiply micro-kernel that compiled code calls for
// every contraction (convert-linalg-to-ukernels):
//
//   C[b0, b1, m, n] += sum_k A[b0, b1, m, k] * B[b0, b1, k, n]
//
// with an arbitrary stride for every loop dimension of every operand, so that
// transposed weights, attention heads interleaved in the channel dimension and
// im2col patches are all read in place. BLIS-style: B is packed into NR-wide
// panels, A into MR-high panels (zero-padded), an MR x NR register tile is
// accumulated over a KC-long slice, then added into C.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {
constexpr int64_t MR = 8, NR = 32, KC = 256, MC = 128, NC = 512;
typedef float vf __attribute__((vector_size(64)));
typedef float vfu __attribute__((vector_size(64), aligned(4)));

struct Strides {
  int64_t b0, b1, r, c;  // batch 0, batch 1, row, column
};

// Packs rows [0, mc) x columns [0, kc) of a (row stride rs, column stride cs)
// into MR-row panels: panel p holds, for each k, MR consecutive rows.
void packA(const float *a, int64_t rs, int64_t cs, int64_t mc, int64_t kc, float *out) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR)
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t i = 0; i < MR; ++i)
        *out++ = i0 + i < mc ? a[(i0 + i) * rs + k * cs] : 0.f;
}

// Packs rows (k) [0, kc) x columns (n) [0, nc) into NR-column panels.
void packB(const float *b, int64_t rs, int64_t cs, int64_t kc, int64_t nc, float *out) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR)
    for (int64_t k = 0; k < kc; ++k) {
      const float *row = b + k * rs;
      if (j0 + NR <= nc && cs == 1) {
        std::memcpy(out, row + j0, NR * sizeof(float));
        out += NR;
      } else {
        for (int64_t j = 0; j < NR; ++j) *out++ = j0 + j < nc ? row[(j0 + j) * cs] : 0.f;
      }
    }
}

__attribute__((always_inline)) inline void microKernel(int64_t kc, const float *a, const float *b, float *c, int64_t rsC,
                        int64_t csC, int64_t mr, int64_t nr) {
  vf acc[MR][2] = {};
  for (int64_t k = 0; k < kc; ++k) {
    vf b0 = *reinterpret_cast<const vfu *>(b + k * NR);
    vf b1 = *reinterpret_cast<const vfu *>(b + k * NR + 16);
    const float *ak = a + k * MR;
    for (int64_t i = 0; i < MR; ++i) {
      acc[i][0] += ak[i] * b0;
      acc[i][1] += ak[i] * b1;
    }
  }
  if (mr == MR && nr == NR && csC == 1) {
    for (int64_t i = 0; i < MR; ++i) {
      vfu *row = reinterpret_cast<vfu *>(c + i * rsC);
      row[0] += acc[i][0];
      row[1] += acc[i][1];
    }
    return;
  }
  float tile[MR][NR];
  std::memcpy(tile, acc, sizeof tile);
  for (int64_t i = 0; i < mr; ++i)
    for (int64_t j = 0; j < nr; ++j) c[i * rsC + j * csC] += tile[i][j];
}

__attribute__((always_inline)) inline void gemm(int64_t M, int64_t N, int64_t K, const float *A, Strides sA, const float *B,
          Strides sB, float *C, Strides sC) {
  thread_local std::vector<float> packedA, packedB;
  packedA.resize(static_cast<size_t>(((MC + MR - 1) / MR) * MR * KC));
  packedB.resize(static_cast<size_t>(((NC + NR - 1) / NR) * NR * KC));
  for (int64_t jc = 0; jc < N; jc += NC) {
    int64_t nc = std::min(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = std::min(KC, K - pc);
      packB(B + pc * sB.r + jc * sB.c, sB.r, sB.c, kc, nc, packedB.data());
      for (int64_t ic = 0; ic < M; ic += MC) {
        int64_t mc = std::min(MC, M - ic);
        packA(A + ic * sA.r + pc * sA.c, sA.r, sA.c, mc, kc, packedA.data());
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR)
            microKernel(kc, packedA.data() + ir * kc, packedB.data() + jr * kc,
                        C + (ic + ir) * sC.r + (jc + jr) * sC.c, sC.r, sC.c,
                        std::min(MR, mc - ir), std::min(NR, nc - jr));
      }
    }
  }
}
}  // namespace

// Compiled for three instruction sets; the loader picks the best the CPU has.
extern "C" __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"))) void
cmt_ukernel_sgemm(int64_t batch0, int64_t batch1, int64_t M, int64_t N, int64_t K,  //
                  int64_t a, int64_t sAb0, int64_t sAb1, int64_t sAm, int64_t sAk,   //
                  int64_t b, int64_t sBb0, int64_t sBb1, int64_t sBk, int64_t sBn,   //
                  int64_t c, int64_t sCb0, int64_t sCb1, int64_t sCm, int64_t sCn) {
  const float *A = reinterpret_cast<const float *>(a);
  const float *B = reinterpret_cast<const float *>(b);
  float *C = reinterpret_cast<float *>(c);
  for (int64_t i = 0; i < batch0; ++i)
    for (int64_t j = 0; j < batch1; ++j)
      gemm(M, N, K, A + i * sAb0 + j * sAb1, {sAb0, sAb1, sAm, sAk},
           B + i * sBb0 + j * sBb1, {sBb0, sBb1, sBk, sBn}, C + i * sCb0 + j * sCb1,
           {sCb0, sCb1, sCm, sCn});
}
