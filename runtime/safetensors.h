// safetensors.h - read (memory-mapped) and write safetensors files.
//
// Format: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the raw
// little-endian data. Every malformed input is an Error naming the file and what
// is wrong; nothing here aborts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace cmt::rt {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

const char *dtypeName(DType t);
size_t dtypeSize(DType t);

// "[4, 3, 64, 64]", for messages.
std::string shapeString(const std::vector<int64_t> &shape);

struct Tensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;  // points into the mapping; valid while the file lives
  size_t nbytes = 0;

  int64_t numel() const;
  std::string shapeString() const;  // "[4, 3, 64, 64]"
};

// A safetensors file mapped read-only into memory.
class SafetensorsFile {
public:
  explicit SafetensorsFile(const std::string &path);
  // Reads a file image already in memory (not copied: it must outlive this).
  SafetensorsFile(const void *data, size_t size, const std::string &label);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;

  const std::string &path() const { return path_; }
  const std::vector<Tensor> &tensors() const { return tensors_; }
  const std::map<std::string, std::string> &metadata() const { return metadata_; }
  // nullptr when absent.
  const Tensor *find(const std::string &name) const;
  // The tensor, or an Error naming the file and the tensor.
  const Tensor &get(const std::string &name) const;
  // The tensor as float32 (converted from f64/f32/f16/bf16), checked against `shape`.
  std::vector<float> getF32(const std::string &name, const std::vector<int64_t> &shape) const;

private:
  void parse(const uint8_t *bytes);

  std::string path_;
  void *map_ = nullptr;
  size_t size_ = 0;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// One tensor to write; `data` holds numel * dtypeSize(dtype) bytes.
struct TensorOut {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void *data = nullptr;

  size_t nbytes() const;
};

// Writes atomically: a temporary file beside `path`, flushed, then renamed over
// it, so that a crash or a full disk leaves any previous file intact.
void writeSafetensors(const std::string &path, const std::vector<TensorOut> &tensors,
                      const std::map<std::string, std::string> &metadata = {});

// The header's JSON, for tools and tests.
std::string safetensorsHeader(const std::vector<TensorOut> &tensors,
                              const std::map<std::string, std::string> &metadata);

// The whole file image (length, header, data) in memory.
std::string safetensorsBytes(const std::vector<TensorOut> &tensors,
                             const std::map<std::string, std::string> &metadata = {});

}  // namespace cmt::rt
