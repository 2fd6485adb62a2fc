// ASCII case helpers for protocol keywords, command names and configuration words. ASCII only,
// no locale: RESP keywords and YAML words compare as Redis compares them (strcasecmp in the C
// locale), whatever locale the process runs in.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sidecache {

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Equal ignoring ASCII case ("GET" and "get"; "LIB-NAME" and "lib-name").
constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// `text` with ASCII letters lower-cased.
inline std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace sidecache
