#include "write/json_row.hpp"

#include <algorithm>
#include <cstdint>

namespace sidecache::write {
namespace {

class Parser {
 public:
  Parser(std::string_view text, std::string& error) : s_(text), error_(error) {}

  bool object(JsonColumns& out) {
    skip_space();
    if (!expect('{', "expected '{' (the value must be a JSON object)")) return false;
    skip_space();
    if (peek() == '}') {
      ++i_;
    } else {
      for (;;) {
        skip_space();
        std::string name;
        if (peek() != '"') return fail("expected a member name in double quotes");
        if (!string(name)) return false;
        skip_space();
        if (!expect(':', "expected ':' after the member name")) return false;
        skip_space();
        std::optional<std::string> value;
        if (!member_value(name, value)) return false;
        if (std::any_of(out.begin(), out.end(), [&](const auto& m) { return m.first == name; })) {
          error_ = "JSON member '" + name + "' appears twice";
          return false;
        }
        out.emplace_back(std::move(name), std::move(value));
        skip_space();
        if (peek() == ',') {
          ++i_;
          continue;
        }
        if (!expect('}', "expected ',' or '}' after a member")) return false;
        break;
      }
    }
    skip_space();
    if (i_ != s_.size()) return fail("unexpected data after the object");
    return true;
  }

 private:
  int peek() const { return i_ < s_.size() ? static_cast<unsigned char>(s_[i_]) : -1; }

  bool fail(std::string_view what) {
    error_ = "invalid JSON at byte " + std::to_string(i_) + ": ";
    error_ += i_ >= s_.size() ? std::string("unexpected end of input (") + std::string(what) + ")"
                              : std::string(what);
    return false;
  }

  bool expect(char c, std::string_view what) {
    if (peek() != static_cast<unsigned char>(c)) return fail(what);
    ++i_;
    return true;
  }

  void skip_space() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return fail("invalid literal");
    i_ += word.size();
    return true;
  }

  bool member_value(const std::string& name, std::optional<std::string>& value) {
    const int c = peek();
    if (c == '"') {
      value.emplace();
      return string(*value);
    }
    (void)name;
    if (c == '{' || c == '[') {
      value.emplace();
      return nested(*value);
    }
    if (c == 't') {
      value = "true";
      return literal("true");
    }
    if (c == 'f') {
      value = "false";
      return literal("false");
    }
    if (c == 'n') {
      value.reset();
      return literal("null");
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      value.emplace();
      return number(*value);
    }
    return fail("expected a value");
  }

  // A scalar value (string, number, literal), checked and dropped.
  bool scalar() {
    std::string ignored;
    const int c = peek();
    if (c == '"') return string(ignored);
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    if (c == '-' || (c >= '0' && c <= '9')) return number(ignored);
    return fail("expected a value");
  }

  // `"name"` then ':' inside a nested object.
  bool member_name() {
    skip_space();
    if (peek() != '"') return fail("expected a member name in double quotes");
    std::string ignored;
    if (!string(ignored)) return false;
    skip_space();
    return expect(':', "expected ':' after the member name");
  }

  // A nested object or array, checked without recursion (the depth is bounded by the text
  // alone); `out` is its text as written.
  bool nested(std::string& out) {
    const std::size_t start = i_;
    std::string closers;  // what each open level ends with
    bool want_value = true;
    for (;;) {
      skip_space();
      if (want_value) {
        const int c = peek();
        if (c == '{' || c == '[') {
          ++i_;
          closers += c == '{' ? '}' : ']';
          skip_space();
          if (peek() == static_cast<unsigned char>(closers.back())) {
            ++i_;
            closers.pop_back();
            want_value = false;
          } else if (c == '{' && !member_name()) {
            return false;
          }
          continue;
        }
        if (!scalar()) return false;
        want_value = false;
        continue;
      }
      if (closers.empty()) break;
      if (peek() == ',') {
        ++i_;
        if (closers.back() == '}' && !member_name()) return false;
        want_value = true;
      } else if (peek() == static_cast<unsigned char>(closers.back())) {
        ++i_;
        closers.pop_back();
      } else {
        return fail(closers.back() == '}' ? "expected ',' or '}' in an object"
                                          : "expected ',' or ']' in an array");
      }
    }
    out.assign(s_.substr(start, i_ - start));
    return true;
  }

  bool digits() {
    if (peek() < '0' || peek() > '9') return fail("expected a digit");
    while (peek() >= '0' && peek() <= '9') ++i_;
    return true;
  }

  bool number(std::string& out) {
    const std::size_t start = i_;
    if (peek() == '-') ++i_;
    if (peek() == '0') {
      ++i_;
      if (peek() >= '0' && peek() <= '9') return fail("leading zeros are not allowed");
    } else if (!digits()) {
      return false;
    }
    if (peek() == '.') {
      ++i_;
      if (!digits()) return false;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++i_;
      if (peek() == '+' || peek() == '-') ++i_;
      if (!digits()) return false;
    }
    out.assign(s_.substr(start, i_ - start));
    return true;
  }

  bool hex4(std::uint32_t& out) {
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const int c = peek();
      std::uint32_t d = 0;
      if (c >= '0' && c <= '9') {
        d = static_cast<std::uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        d = static_cast<std::uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        d = static_cast<std::uint32_t>(c - 'A' + 10);
      } else {
        return fail("expected 4 hex digits after \\u");
      }
      out = out * 16 + d;
      ++i_;
    }
    return true;
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool escape(std::string& out) {
    const int c = peek();
    ++i_;
    switch (c) {
      case '"':
      case '\\':
      case '/':
        out += static_cast<char>(c);
        return true;
      case 'b':
        out += '\b';
        return true;
      case 'f':
        out += '\f';
        return true;
      case 'n':
        out += '\n';
        return true;
      case 'r':
        out += '\r';
        return true;
      case 't':
        out += '\t';
        return true;
      case 'u':
        break;
      default:
        --i_;
        return fail("invalid escape");
    }
    std::uint32_t cp = 0;
    if (!hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("lone low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (s_.substr(i_, 2) != "\\u") return fail("high surrogate without its low surrogate");
      i_ += 2;
      std::uint32_t low = 0;
      if (!hex4(low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) return fail("high surrogate without its low surrogate");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, cp);
    return true;
  }

  // One UTF-8 sequence starting at i_ (a byte >= 0x80), copied to `out`.
  bool utf8(std::string& out) {
    const auto b0 = static_cast<unsigned char>(s_[i_]);
    std::size_t len = 0;
    std::uint32_t min = 0;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
      min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      len = 3;
      min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      len = 4;
      min = 0x10000;
    } else {
      return fail("invalid UTF-8");
    }
    if (i_ + len > s_.size()) return fail("invalid UTF-8");
    std::uint32_t cp = b0 & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) {
      const auto b = static_cast<unsigned char>(s_[i_ + k]);
      if ((b & 0xC0) != 0x80) return fail("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return fail("invalid UTF-8");
    }
    out.append(s_.substr(i_, len));
    i_ += len;
    return true;
  }

  bool string(std::string& out) {
    ++i_;  // the opening quote
    for (;;) {
      const int c = peek();
      if (c < 0) return fail("unterminated string");
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c < 0x20) return fail("control character in a string (escape it)");
      if (c == '\\') {
        ++i_;
        if (!escape(out)) return false;
      } else if (c >= 0x80) {
        if (!utf8(out)) return false;
      } else {
        out += static_cast<char>(c);
        ++i_;
      }
    }
  }

  std::string_view s_;
  std::string& error_;
  std::size_t i_ = 0;
};

}  // namespace

bool parse_json_columns(std::string_view text, JsonColumns& out, std::string& error) {
  out.clear();
  error.clear();
  Parser parser(text, error);
  if (parser.object(out)) return true;
  out.clear();
  return false;
}

}  // namespace sidecache::write
