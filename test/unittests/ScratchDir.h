// A fresh directory under the test's temporary directory, removed with its
// contents when the test ends (even one a test made read-only).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace cmt::test {
struct ScratchDir {
  std::string path;
  explicit ScratchDir(const std::string &prefix = "cmt-test") {
    std::string tmpl = ::testing::TempDir() + prefix + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~ScratchDir() {
    chmod(path.c_str(), 0700);
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;

  std::string operator/(const std::string &name) const { return path + "/" + name; }
  // A subdirectory, created.
  std::string sub(const std::string &name) const {
    std::string p = path + "/" + name;
    mkdir(p.c_str(), 0755);
    return p;
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto &e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
    return out;
  }
};
}  // namespace cmt::test
