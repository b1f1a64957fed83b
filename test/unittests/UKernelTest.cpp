// The sgemm micro-kernel against a plain triple loop, for the layouts compiled
// code passes: transposed operands, interleaved heads, edges that do not fill
// a register tile, K longer than one packed slice, and accumulation into C.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

extern "C" void cmt_ukernel_sgemm(int64_t, int64_t, int64_t, int64_t, int64_t,  //
                                  int64_t, int64_t, int64_t, int64_t, int64_t,  //
                                  int64_t, int64_t, int64_t, int64_t, int64_t,  //
                                  int64_t, int64_t, int64_t, int64_t, int64_t);

namespace {
struct Case {
  int64_t m, n, k;
  bool transA, transB;
};

class UKernel : public ::testing::TestWithParam<Case> {};

TEST_P(UKernel, MatchesNaive) {
  auto [M, N, K, transA, transB] = GetParam();
  std::mt19937 rng(42);
  std::normal_distribution<float> dist;
  std::vector<float> a(M * K), b(K * N), c(M * N), ref;
  for (float &x : a) x = dist(rng);
  for (float &x : b) x = dist(rng);
  for (float &x : c) x = dist(rng);  // C accumulates onto its initial value (the bias)
  ref = c;
  // (row, column) strides of the logical A (M x K) and B (K x N).
  int64_t rsA = transA ? 1 : K, csA = transA ? M : 1;
  int64_t rsB = transB ? 1 : N, csB = transB ? K : 1;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = ref[i * N + j];
      for (int64_t p = 0; p < K; ++p) s += double(a[i * rsA + p * csA]) * b[p * rsB + j * csB];
      ref[i * N + j] = float(s);
    }
  cmt_ukernel_sgemm(1, 1, M, N, K, reinterpret_cast<int64_t>(a.data()), 0, 0, rsA, csA,
                    reinterpret_cast<int64_t>(b.data()), 0, 0, rsB, csB,
                    reinterpret_cast<int64_t>(c.data()), 0, 0, N, 1);
  double err = 0, norm = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    err += double(c[i] - ref[i]) * (c[i] - ref[i]);
    norm += double(ref[i]) * ref[i];
  }
  EXPECT_LT(std::sqrt(err / norm), 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Shapes, UKernel,
                         ::testing::Values(Case{1, 1, 1, false, false}, Case{8, 32, 16, false, false},
                                           Case{1600, 165, 46, false, true}, Case{25, 368, 1472, false, true},
                                           Case{37, 29, 300, true, false}, Case{130, 530, 17, true, true},
                                           Case{9, 7, 600, false, true}));

// Two batch dimensions with heads interleaved in the channels, as attention
// scores read them: q (B, N, H, D), k (B, M, H, D) -> s (B, H, N, M).
TEST(UKernelBatch, AttentionScores) {
  const int64_t B = 2, H = 3, N = 11, M = 5, D = 4;
  std::vector<float> q(B * N * H * D), k(B * M * H * D), s(B * H * N * M, 0.f);
  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  for (float &x : q) x = dist(rng);
  for (float &x : k) x = dist(rng);
  cmt_ukernel_sgemm(B, H, N, M, D,                                                          //
                    reinterpret_cast<int64_t>(q.data()), N * H * D, D, H * D, 1,            //
                    reinterpret_cast<int64_t>(k.data()), M * H * D, D, 1, H * D,            //
                    reinterpret_cast<int64_t>(s.data()), H * N * M, N * M, M, 1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m) {
          double ref = 0;
          for (int64_t d = 0; d < D; ++d)
            ref += double(q[((b * N + n) * H + h) * D + d]) * k[((b * M + m) * H + h) * D + d];
          EXPECT_NEAR(s[((b * H + h) * N + n) * M + m], ref, 1e-4);
        }
}
}  // namespace
