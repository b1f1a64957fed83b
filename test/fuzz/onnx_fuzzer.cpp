// libFuzzer target: the ONNX importer's parsing and weight recovery must turn
// any byte string into weights or one error message, never a crash.
#include "cmt/Import/ONNXWeights.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cmt::ImportedWeights weights;
  cmt::ONNXGraphInfo info;
  std::string error;
  (void)cmt::recoverONNXWeights(data, size, "fuzz", weights, info, error);
  return 0;
}
