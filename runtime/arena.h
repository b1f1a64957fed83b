// arena.h - the CUDA executor's memory plan: first-fit over a free list,
// with neighbours coalesced on release. Offsets are relative to `base`,
// which is 0 during the dry run that sizes the arena (pointers are then
// offset + kAlign, so that none is null); the same sequence of allocations
// and releases gives the same offsets again once `base` is real, which is
// what lets a captured CUDA graph use them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "runtime/safetensors.h"  // Error

namespace cmt::rt {

struct Arena {
  static constexpr size_t kAlign = 256;

  uintptr_t base = 0;
  size_t size = 0, peak = 0;
  std::map<size_t, size_t> free;  // offset -> length
  std::map<size_t, size_t> used;

  void reset(uintptr_t b, size_t capacity) {
    base = b;
    size = capacity;
    peak = 0;
    free.clear();
    used.clear();
    free[0] = capacity;
  }

  void *alloc(size_t bytes) {
    bytes = std::max<size_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
    for (auto it = free.begin(); it != free.end(); ++it) {
      if (it->second < bytes) continue;
      size_t off = it->first, len = it->second;
      free.erase(it);
      if (len > bytes) free[off + bytes] = len - bytes;
      used[off] = bytes;
      peak = std::max(peak, off + bytes);
      return reinterpret_cast<void *>(base + off + (base ? 0 : kAlign));
    }
    throw Error("device arena exhausted (" + std::to_string(size) + " bytes)");
  }

  void release(void *p) {
    size_t off = reinterpret_cast<uintptr_t>(p) - base - (base ? 0 : kAlign);
    auto it = used.find(off);
    if (it == used.end()) throw Error("compiled code freed memory it did not allocate");
    size_t len = it->second;
    used.erase(it);
    auto next = free.lower_bound(off);
    if (next != free.end() && off + len == next->first) {
      len += next->second;
      free.erase(next);
    }
    auto prev = free.lower_bound(off);
    if (prev != free.begin() && std::prev(prev)->first + std::prev(prev)->second == off) {
      --prev;
      prev->second += len;
    } else {
      free[off] = len;
    }
  }
};

}  // namespace cmt::rt
