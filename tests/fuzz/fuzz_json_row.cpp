// libFuzzer target for write::parse_json_columns (the json mapping of write-through/behind).
// Input: the JSON text itself. Invariants checked beyond "no crash":
//  - on failure `out` is empty and the error is "invalid JSON at byte N: ..." with N <= size,
//    or names a member ("JSON member '...' appears twice");
//  - on success names are unique, every name and value is valid UTF-8 (a nested object or
//    array is kept as its JSON text);
//  - success is stable: the columns written back as JSON parse to the same columns, and
//    trailing blanks do not change the result; cutting the closing brace makes it fail.
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "write/json_row.hpp"

namespace {

using sidecache::fuzz::ExactCopy;
using sidecache::write::JsonColumns;
using sidecache::write::parse_json_columns;

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    std::size_t len = b0 < 0x80         ? 1
                      : (b0 >> 5) == 6  ? 2
                      : (b0 >> 4) == 14 ? 3
                      : (b0 >> 3) == 30 ? 4
                                        : 0;
    if (len == 0 || i + len > s.size()) return false;
    std::uint32_t cp = len == 1 ? b0 : b0 & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 8259 number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
bool json_number(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    return i > from;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

void append_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  out += '"';
}

std::string encode(const JsonColumns& columns) {
  std::string out = "{";
  for (const auto& [name, value] : columns) {
    if (out.size() > 1) out += ',';
    append_string(out, name);
    out += ':';
    if (!value) {
      out += "null";
    } else if (*value == "true" || *value == "false" || json_number(*value)) {
      out += *value;  // a literal or a number keeps its text; strings equal to those are
                      // indistinguishable here, and that is fine for a round trip
    } else {
      append_string(out, *value);
    }
  }
  return out + "}";
}

bool parse(std::string_view text, JsonColumns& out, std::string& error) {
  const ExactCopy copy(text);
  return parse_json_columns(copy.view(), out, error);
}

void check_failure(std::string_view text, const JsonColumns& out, const std::string& error) {
  FUZZ_CHECK(out.empty());
  FUZZ_CHECK(!error.empty());
  static constexpr std::string_view kAt = "invalid JSON at byte ";
  if (error.rfind(kAt, 0) == 0) {
    const std::size_t offset = std::stoul(error.substr(kAt.size()));
    FUZZ_CHECK(offset <= text.size());
  } else {
    FUZZ_CHECK(error.rfind("JSON member '", 0) == 0);
  }
}

void check_success(std::string_view text, const JsonColumns& out) {
  for (std::size_t i = 0; i < out.size(); ++i) {
    FUZZ_CHECK(valid_utf8(out[i].first));
    for (std::size_t j = 0; j < i; ++j) FUZZ_CHECK(out[j].first != out[i].first);
    if (out[i].second) FUZZ_CHECK(valid_utf8(*out[i].second));
  }
  JsonColumns again;
  std::string error;
  FUZZ_CHECK(parse(encode(out), again, error));
  FUZZ_CHECK(again.size() == out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    FUZZ_CHECK(again[i].first == out[i].first);
    FUZZ_CHECK(again[i].second.has_value() == out[i].second.has_value());
    if (out[i].second) FUZZ_CHECK(*again[i].second == *out[i].second);
  }
  FUZZ_CHECK(parse(std::string(text) + " \n\t\r", again, error));
  FUZZ_CHECK(again == out);
  std::string_view trimmed = text;
  while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\n' ||
                              trimmed.back() == '\r' || trimmed.back() == '\t')) {
    trimmed.remove_suffix(1);
  }
  FUZZ_CHECK(!trimmed.empty() && trimmed.back() == '}');
  FUZZ_CHECK(!parse(trimmed.substr(0, trimmed.size() - 1), again, error));
}

}  // namespace

SIDECACHE_FUZZ_ENTRY(fuzz_json_row) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  JsonColumns out{{"stale", std::nullopt}};
  std::string error = "stale";
  if (parse(text, out, error)) {
    FUZZ_CHECK(error.empty());
    check_success(text, out);
  } else {
    check_failure(text, out, error);
  }
  return 0;
}
