// Internal helpers shared by the RESP codec sources (not part of the module interface).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

namespace sidecache::resp::detail {

// Strict decimal parsing with the rules of Redis's string2ll: optional '-', no '+', no spaces,
// no leading zeros (only "0" itself), at most 20 characters, overflow rejected.
inline bool parse_int64(std::string_view s, std::int64_t& value) {
  if (s.empty() || s.size() > 20) return false;
  if (s.size() == 1 && s[0] == '0') {
    value = 0;
    return true;
  }
  std::size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative && ++i == s.size()) return false;
  if (s[i] < '1' || s[i] > '9') return false;
  std::uint64_t v = static_cast<std::uint64_t>(s[i] - '0');
  for (++i; i < s.size(); ++i) {
    const char c = s[i];
    if (c < '0' || c > '9') return false;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
    v = v * 10 + d;
  }
  constexpr auto kMaxPositive =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (v > kMaxPositive + 1) return false;
    value = v == kMaxPositive + 1 ? std::numeric_limits<std::int64_t>::min()
                                  : -static_cast<std::int64_t>(v);
  } else {
    if (v > kMaxPositive) return false;
    value = static_cast<std::int64_t>(v);
  }
  return true;
}

}  // namespace sidecache::resp::detail
