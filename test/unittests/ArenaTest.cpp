// The CUDA executor's memory plan (runtime/arena.h) and the plan records the
// CUDA target adds (runtime/plan.h): no GPU needed.
#include "runtime/arena.h"
#include "runtime/plan.h"

#include <gtest/gtest.h>

#include <vector>

using namespace cmt::rt;

namespace {
// The allocation pattern of a compiled forward: buffers freed after last use.
std::vector<uintptr_t> replay(Arena &a) {
  std::vector<uintptr_t> out;
  void *x = a.alloc(1000), *y = a.alloc(5000);
  a.release(x);
  void *z = a.alloc(900);  // fits where x was
  void *w = a.alloc(10000);
  a.release(y);
  a.release(z);
  void *v = a.alloc(6000);  // y and z coalesced
  for (void *p : {x, y, z, w, v}) out.push_back(reinterpret_cast<uintptr_t>(p));
  a.release(w);
  a.release(v);
  return out;
}
}  // namespace

TEST(Arena, DryRunAndRealRunAgree) {
  Arena dry;
  dry.reset(0, SIZE_MAX / 4);
  std::vector<uintptr_t> planned = replay(dry);
  for (uintptr_t p : planned) EXPECT_NE(p, 0u);
  Arena real;
  const uintptr_t base = 1 << 20;
  real.reset(base, dry.peak);
  std::vector<uintptr_t> got = replay(real);
  ASSERT_EQ(planned.size(), got.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i] - base, planned[i] - Arena::kAlign);
  EXPECT_EQ(real.peak, dry.peak);
}

TEST(Arena, ReusesFreedMemory) {
  Arena a;
  a.reset(4096, 1 << 20);
  void *x = a.alloc(1000);
  a.release(x);
  EXPECT_EQ(a.alloc(1024), x);  // same slot after release
  // Liveness decides the peak: 3 buffers of 256 alive at most, not 5.
  Arena b;
  b.reset(4096, 1 << 20);
  void *p[5];
  for (int i = 0; i < 5; ++i) {
    p[i] = b.alloc(256);
    if (i >= 2) b.release(p[i - 2]);
  }
  EXPECT_EQ(b.peak, 3 * 256u);
}

TEST(Arena, CoalescesNeighbours) {
  Arena a;
  a.reset(4096, 3 * 256);
  void *x = a.alloc(256), *y = a.alloc(256), *z = a.alloc(256);
  a.release(x);
  a.release(z);
  a.release(y);  // joins both sides
  EXPECT_EQ(a.free.size(), 1u);
  EXPECT_EQ(a.alloc(3 * 256), x);
}

TEST(Arena, AlignsEveryBuffer) {
  Arena a;
  a.reset(1 << 16, 1 << 20);
  for (size_t bytes : {1, 255, 257, 4000}) {
    auto p = reinterpret_cast<uintptr_t>(a.alloc(bytes));
    EXPECT_EQ(p % Arena::kAlign, 0u) << bytes;
  }
}

TEST(Arena, ErrorsNameTheProblem) {
  Arena a;
  a.reset(4096, 512);
  a.alloc(512);
  EXPECT_THROW(a.alloc(1), Error);
  int notOurs;
  EXPECT_THROW(a.release(&notOurs), Error);
}

TEST(Plan, CudaRecordsRoundTrip) {
  Plan p;
  p.model = "cmt_micro";
  p.target = "cuda";
  p.mode = "infer";
  p.batch = p.kernelBatch = 4;
  p.resolution = 64;
  p.gpuArch = "sm_90";
  p.launches = {"kernel forward_kernel grid 96 block 256 bytes 1024 <- stem_conv1",
                "cublas batch 1x1 M 2048 N 8 K 27 bytes 4 flops 8 <- stem_conv1, stem_norm1"};
  p.args.push_back({PlanArg::Input, "input", DType::F32, {4, 3, 64, 64}});
  Plan q = Plan::parse(p.serialize());
  EXPECT_EQ(q.gpuArch, "sm_90");
  EXPECT_EQ(q.launches, p.launches);
  EXPECT_EQ(q.args.size(), 1u);
  EXPECT_EQ(q.args[0].shape, p.args[0].shape);
}
