// libFuzzer target: the safetensors reader must turn any byte string into
// either tensors it can read in full or one Error, never a crash.
#include "runtime/safetensors.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  try {
    cmt::rt::SafetensorsFile f(data, size, "fuzz");
    for (const cmt::rt::Tensor &t : f.tensors()) {
      volatile uint8_t sink = 0;
      for (size_t i = 0; i < t.nbytes; i += 64) sink ^= t.data[i];  // every byte is in bounds
      if (t.dtype == cmt::rt::DType::F32 || t.dtype == cmt::rt::DType::F16 ||
          t.dtype == cmt::rt::DType::BF16 || t.dtype == cmt::rt::DType::F64)
        if (t.numel() < (1 << 20)) (void)f.getF32(t.name, t.shape);
    }
  } catch (const cmt::rt::Error &) {
  }
  return 0;
}
