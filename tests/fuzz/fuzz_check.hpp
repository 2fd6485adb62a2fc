// Shared helpers for the RESP fuzz targets. Each target defines its entry point through
// SIDECACHE_FUZZ_ENTRY so the replay build (SIDECACHE_FUZZ_REPLAY) can link both into one binary.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

// Aborts with a message: a failed invariant is a finding, like a crash.
#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

#ifdef SIDECACHE_FUZZ_REPLAY
#define SIDECACHE_FUZZ_ENTRY(name) int name(const std::uint8_t* data, std::size_t size)
#else
#define SIDECACHE_FUZZ_ENTRY(name) \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
#endif

namespace sidecache::fuzz {

// An exact-size heap copy: ASan sees any read past the end; every call gets a new address.
class ExactCopy {
 public:
  explicit ExactCopy(std::string_view s) : size_(s.size()), data_(new char[s.size()]) {
    if (size_ != 0) std::memcpy(data_.get(), s.data(), size_);
  }
  std::string_view view() const { return {data_.get(), size_}; }

 private:
  std::size_t size_;
  std::unique_ptr<char[]> data_;
};

// The first bytes of the input steer the run: limits choice and the split point.
struct Control {
  bool small_limits = false;
  std::size_t split = 0;
  std::string_view input;
};

inline Control take_control(const std::uint8_t* data, std::size_t size) {
  Control c;
  if (size < 3) {
    c.input = {reinterpret_cast<const char*>(data), size};
    return c;
  }
  c.small_limits = (data[0] & 1) != 0;
  c.input = {reinterpret_cast<const char*>(data) + 3, size - 3};
  c.split = (static_cast<std::size_t>(data[1]) << 8 | data[2]) % (c.input.size() + 1);
  return c;
}

}  // namespace sidecache::fuzz
