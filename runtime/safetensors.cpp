// safetensors.cpp - see safetensors.h.
#include "runtime/safetensors.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cmt::rt {

namespace {
struct DTypeInfo {
  DType type;
  const char *name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F64, "F64", 8}, {DType::F32, "F32", 4}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I64, "I64", 8}, {DType::I32, "I32", 4},
    {DType::I16, "I16", 2}, {DType::I8, "I8", 1}, {DType::U8, "U8", 1},
    {DType::BOOL, "BOOL", 1},
};

// A JSON reader for exactly what a safetensors header holds: objects, arrays,
// strings, non-negative integers. Errors carry the byte offset.
class HeaderParser {
public:
  HeaderParser(const char *text, size_t size, const std::string &path)
      : p_(text), begin_(text), end_(text + size), path_(path) {}

  [[noreturn]] void fail(const std::string &what) const {
    throw Error(path_ + ": malformed safetensors header at byte " +
                std::to_string(8 + (p_ - begin_)) + ": " + what);
  }
  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }
  bool peek(char c) {
    ws();
    return p_ < end_ && *p_ == c;
  }
  void expect(char c) {
    if (!peek(c)) fail(std::string("expected '") + c + "'");
    ++p_;
  }
  std::string string() {
    expect('"');
    std::string s;
    while (p_ < end_ && *p_ != '"') {
      if (*p_ == '\\') {
        if (++p_ >= end_) break;
        char e = *p_;
        switch (e) {
          case 'n': s += '\n'; break;
          case 't': s += '\t'; break;
          case 'r': s += '\r'; break;
          case 'b': s += '\b'; break;
          case 'f': s += '\f'; break;
          case 'u': {
            if (end_ - p_ < 5) fail("truncated \\u escape");
            unsigned code = 0;
            for (int i = 1; i <= 4; ++i) {
              char h = p_[i];
              code <<= 4;
              if (h >= '0' && h <= '9') code |= h - '0';
              else if (h >= 'a' && h <= 'f') code |= h - 'a' + 10;
              else if (h >= 'A' && h <= 'F') code |= h - 'A' + 10;
              else fail("bad \\u escape");
            }
            p_ += 4;
            // UTF-8 encode (surrogates are passed through as-is, which is harmless for names).
            if (code < 0x80) s += char(code);
            else if (code < 0x800) { s += char(0xC0 | (code >> 6)); s += char(0x80 | (code & 0x3F)); }
            else { s += char(0xE0 | (code >> 12)); s += char(0x80 | ((code >> 6) & 0x3F)); s += char(0x80 | (code & 0x3F)); }
            break;
          }
          default: s += e;
        }
        ++p_;
      } else {
        s += *p_++;
      }
    }
    if (p_ >= end_) fail("unterminated string");
    ++p_;
    return s;
  }
  uint64_t integer() {
    ws();
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') fail("expected a non-negative integer");
    uint64_t v = 0;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      if (v > (UINT64_MAX - 9) / 10) fail("integer too large");
      v = v * 10 + (*p_++ - '0');
    }
    return v;
  }
  std::vector<uint64_t> intArray() {
    std::vector<uint64_t> v;
    expect('[');
    if (peek(']')) { ++p_; return v; }
    for (;;) {
      v.push_back(integer());
      if (peek(',')) { ++p_; continue; }
      expect(']');
      return v;
    }
  }
  // Skips any JSON value (unknown keys are allowed by the format).
  void skipValue() {
    ws();
    if (p_ >= end_) fail("unexpected end");
    char c = *p_;
    if (c == '"') { string(); return; }
    if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++p_;
      if (peek(close)) { ++p_; return; }
      for (;;) {
        if (close == '}') { string(); expect(':'); }
        skipValue();
        if (peek(',')) { ++p_; continue; }
        expect(close);
        return;
      }
    }
    while (p_ < end_ && *p_ != ',' && *p_ != '}' && *p_ != ']' && *p_ != ' ') ++p_;
  }
  // Calls f(key) for each key of an object, with the cursor on the value.
  template <typename F> void object(F f) {
    expect('{');
    if (peek('}')) { ++p_; return; }
    for (;;) {
      std::string key = string();
      expect(':');
      f(key);
      if (peek(',')) { ++p_; continue; }
      expect('}');
      return;
    }
  }
  void end() {
    ws();
    if (p_ != end_) fail("trailing characters after the header object");
  }

private:
  const char *p_, *begin_, *end_;
  const std::string &path_;
};

std::string jsonEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') { out += '\\'; out += c; }
    else if (c == '\n') out += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += c;
  }
  return out;
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) bits = sign;
    else {  // subnormal
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) { mant <<= 1; --exp; }
      bits = sign | (exp << 23) | ((mant & 0x3FF) << 13);
    }
  } else if (exp == 31) bits = sign | 0x7F800000u | (mant << 13);
  else bits = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

const char *dtypeName(DType t) {
  for (const auto &d : kDTypes)
    if (d.type == t) return d.name;
  return "?";
}

size_t dtypeSize(DType t) {
  for (const auto &d : kDTypes)
    if (d.type == t) return d.size;
  return 0;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string Tensor::shapeString() const { return rt::shapeString(shape); }

size_t TensorOut::nbytes() const {
  size_t bytes = dtypeSize(dtype);
  for (int64_t d : shape) bytes *= static_cast<size_t>(d);
  return bytes;
}

SafetensorsFile::SafetensorsFile(const std::string &path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(path + ": cannot stat: " + std::strerror(e));
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ < 8) {
    ::close(fd);
    throw Error(path + ": not a safetensors file: " + std::to_string(size_) +
                " bytes, shorter than the 8-byte header length");
  }
  map_ = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw Error(path + ": cannot map: " + std::strerror(errno));
  }
  try {
    parse(static_cast<const uint8_t *>(map_));
  } catch (...) {
    munmap(map_, size_);
    map_ = nullptr;
    throw;
  }
}

SafetensorsFile::SafetensorsFile(const void *data, size_t size, const std::string &label)
    : path_(label), size_(size) {
  if (size_ < 8)
    throw Error(label + ": not a safetensors image: " + std::to_string(size_) +
                " bytes, shorter than the 8-byte header length");
  parse(static_cast<const uint8_t *>(data));
}

void SafetensorsFile::parse(const uint8_t *bytes) {
  const std::string &path = path_;
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | bytes[i];
  if (headerLen > size_ - 8)
    throw Error(path + ": header length " + std::to_string(headerLen) +
                " exceeds the file (" + std::to_string(size_) + " bytes): truncated or not safetensors");
  const uint8_t *data = bytes + 8 + headerLen;
  size_t dataSize = size_ - 8 - headerLen;
  HeaderParser json(reinterpret_cast<const char *>(bytes + 8), headerLen, path);
  json.object([&](const std::string &key) {
    if (key == "__metadata__") {
      json.object([&](const std::string &mk) { metadata_[mk] = json.string(); });
      return;
    }
    Tensor t;
    t.name = key;
    bool haveDtype = false, haveShape = false, haveOffsets = false;
    std::vector<uint64_t> offsets;
    std::set<std::string> fields;
    json.object([&](const std::string &field) {
      // A repeated field would, for "shape", append to the first list and
      // escape the element-count bound (found by the fuzzer).
      if (!fields.insert(field).second)
        throw Error(path + ": tensor '" + key + "' repeats the field '" + field + "'");
      if (field == "dtype") {
        std::string name = json.string();
        for (const auto &d : kDTypes)
          if (name == d.name) { t.dtype = d.type; haveDtype = true; }
        if (!haveDtype) throw Error(path + ": tensor '" + key + "' has unknown dtype '" + name + "'");
      } else if (field == "shape") {
        // Bounded so that the element count cannot overflow below.
        uint64_t count = 1;
        for (uint64_t d : json.intArray()) {
          if (d > 0 && count > (1ull << 40) / d)
            throw Error(path + ": tensor '" + key + "' has an absurd shape (more than 2^40 elements)");
          count *= d;
          t.shape.push_back(static_cast<int64_t>(d));
        }
        haveShape = true;
      } else if (field == "data_offsets") {
        offsets = json.intArray();
        haveOffsets = true;
      } else {
        json.skipValue();
      }
    });
    if (!haveDtype || !haveShape || !haveOffsets)
      throw Error(path + ": tensor '" + key + "' lacks " +
                  (!haveDtype ? "dtype" : !haveShape ? "shape" : "data_offsets"));
    if (offsets.size() != 2 || offsets[0] > offsets[1])
      throw Error(path + ": tensor '" + key + "' has malformed data_offsets");
    if (offsets[1] > dataSize)
      throw Error(path + ": tensor '" + key + "' data [" + std::to_string(offsets[0]) + ", " +
                  std::to_string(offsets[1]) + ") lies beyond the " + std::to_string(dataSize) +
                  " data bytes: truncated file or bad offsets");
    t.nbytes = offsets[1] - offsets[0];
    if (static_cast<uint64_t>(t.numel()) * dtypeSize(t.dtype) != t.nbytes)
      throw Error(path + ": tensor '" + key + "' of shape " + t.shapeString() + " and dtype " +
                  dtypeName(t.dtype) + " needs " + std::to_string(t.numel() * dtypeSize(t.dtype)) +
                  " bytes but its offsets span " + std::to_string(t.nbytes));
    t.data = data + offsets[0];
    if (index_.count(key)) throw Error(path + ": tensor '" + key + "' appears twice");
    index_[key] = tensors_.size();
    tensors_.push_back(std::move(t));
  });
  json.end();
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(map_, size_);
}

const Tensor *SafetensorsFile::find(const std::string &name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const Tensor &SafetensorsFile::get(const std::string &name) const {
  if (const Tensor *t = find(name)) return *t;
  throw Error(path_ + ": no tensor named '" + name + "'");
}

std::vector<float> SafetensorsFile::getF32(const std::string &name,
                                           const std::vector<int64_t> &shape) const {
  const Tensor &t = get(name);
  if (t.shape != shape) {
    throw Error(path_ + ": tensor '" + name + "' has shape " + t.shapeString() + ", expected " +
                shapeString(shape));
  }
  std::vector<float> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    const uint8_t *p = t.data + i * dtypeSize(t.dtype);
    switch (t.dtype) {
      case DType::F32: std::memcpy(&out[i], p, 4); break;
      case DType::F64: { double d; std::memcpy(&d, p, 8); out[i] = static_cast<float>(d); break; }
      case DType::F16: { uint16_t h; std::memcpy(&h, p, 2); out[i] = halfToFloat(h); break; }
      case DType::BF16: { uint16_t h; std::memcpy(&h, p, 2); uint32_t b = uint32_t(h) << 16; std::memcpy(&out[i], &b, 4); break; }
      default:
        throw Error(path_ + ": tensor '" + name + "' has dtype " + dtypeName(t.dtype) +
                    ", expected a floating-point type");
    }
  }
  return out;
}

std::string safetensorsHeader(const std::vector<TensorOut> &tensors,
                              const std::map<std::string, std::string> &metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto &[k, v] : metadata) {
      h += (first ? "\"" : ",\"") + jsonEscape(k) + "\":\"" + jsonEscape(v) + "\"";
      first = false;
    }
    h += "}";
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorOut &t = tensors[i];
    uint64_t n = t.nbytes();
    std::string shape;
    for (size_t d = 0; d < t.shape.size(); ++d) shape += (d ? "," : "") + std::to_string(t.shape[d]);
    h += (h.size() > 1 ? ",\"" : "\"") + jsonEscape(t.name) + "\":{\"dtype\":\"" +
         dtypeName(t.dtype) + "\",\"shape\":[" + shape + "],\"data_offsets\":[" +
         std::to_string(offset) + "," + std::to_string(offset + n) + "]}";
    offset += n;
  }
  h += "}";
  // Pad with spaces so that the data starts 8-byte aligned, as the reference writer does.
  while ((8 + h.size()) % 8) h += ' ';
  return h;
}

std::string safetensorsBytes(const std::vector<TensorOut> &tensors,
                             const std::map<std::string, std::string> &metadata) {
  std::string header = safetensorsHeader(tensors, metadata), out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
  out += header;
  for (const TensorOut &t : tensors) out.append(static_cast<const char *>(t.data), t.nbytes());
  return out;
}

void writeSafetensors(const std::string &path, const std::vector<TensorOut> &tensors,
                      const std::map<std::string, std::string> &metadata) {
  std::string header = safetensorsHeader(tensors, metadata);
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  FILE *f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw Error(path + ": cannot create '" + tmp + "': " + std::strerror(errno));
  auto failWrite = [&](const char *what) {
    int e = errno;
    std::fclose(f);
    std::remove(tmp.c_str());
    throw Error(path + ": " + what + ": " + std::strerror(e) + " (any previous file is untouched)");
  };
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  if (std::fwrite(len, 1, 8, f) != 8 || std::fwrite(header.data(), 1, n, f) != n)
    failWrite("write failed");
  for (const TensorOut &t : tensors) {
    size_t bytes = t.nbytes();
    if (bytes && std::fwrite(t.data, 1, bytes, f) != bytes) failWrite("write failed");
  }
  if (std::fflush(f) != 0 || fsync(fileno(f)) != 0) failWrite("flush failed");
  if (std::fclose(f) != 0) {
    std::remove(tmp.c_str());
    throw Error(path + ": close failed: " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    throw Error(path + ": rename failed: " + std::strerror(e));
  }
}

}  // namespace cmt::rt
