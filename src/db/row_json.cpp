#include "db/row_json.hpp"

#include <cstdio>

namespace sidecache::db {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The length of the valid UTF-8 sequence starting at s[i], or 0 when it is not one
// (overlong forms, surrogates and code points past U+10FFFF are invalid, RFC 3629).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

bool is_number_text(std::string_view s) {
  // JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
  std::size_t i = 0;
  const auto digit = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == s.size();
}

// A number from the database; SQLite and PostgreSQL print forms JSON does not take ("1.0e+20"
// is fine, ".5", "+1", "1." are not, and NaN/Infinity cannot be numbers at all).
void append_number(std::string& out, std::string_view text) {
  if (is_number_text(text)) {
    out += text;
  } else {
    append_json_string(out, text);
  }
}

// "2024-05-01 10:00:00.5+02" -> "2024-05-01T10:00:00.5+02:00"; other forms pass unchanged.
void append_timestamp(std::string& out, std::string_view text) {
  std::string iso(text);
  if (iso.size() > 10 && iso[10] == ' ') iso[10] = 'T';
  // A zone offset of hours only ("+02" or "-05" at the end, after the time) gets ":00".
  if (iso.size() > 13 && iso.find('T') != std::string::npos) {
    const std::size_t sign = iso.size() - 3;
    if ((iso[sign] == '+' || iso[sign] == '-') && iso[sign + 1] >= '0' && iso[sign + 1] <= '9' &&
        iso[sign + 2] >= '0' && iso[sign + 2] <= '9') {
      iso += ":00";
    }
  }
  append_json_string(out, iso);
}

void append_scalar(std::string& out, ValueKind kind, std::string_view text) {
  switch (kind) {
    case ValueKind::kInteger:
    case ValueKind::kNumber:
      append_number(out, text);
      return;
    case ValueKind::kBoolean:
      if (text == "t" || text == "true") {
        out += "true";
      } else if (text == "f" || text == "false") {
        out += "false";
      } else {
        append_json_string(out, text);
      }
      return;
    case ValueKind::kJson:
      out += text;  // the database validated it
      return;
    case ValueKind::kBytes:
      out += '"';
      append_base64(out, text);
      out += '"';
      return;
    case ValueKind::kTimestamp:
      append_timestamp(out, text);
      return;
    case ValueKind::kText:
      break;
  }
  append_json_string(out, text);
}

// PostgreSQL's array text form: "{1,2,NULL}", "{{1,2},{3,4}}", "{\"a b\",\"c\\\"d\"}", with an
// optional dimension prefix "[0:1]={...}". Elements are unquoted words or quoted strings with
// backslash escapes; NULL (unquoted, any case) is null.
class ArrayWriter {
 public:
  ArrayWriter(std::string& out, ValueKind element, std::string_view text)
      : out_(out), element_(element), text_(text) {}

  // False when the text is not an array literal (the caller then writes it as a string).
  bool write() {
    if (!text_.empty() && text_[0] == '[') {
      const auto eq = text_.find('=');
      if (eq == std::string_view::npos) return false;
      pos_ = eq + 1;
    }
    if (!array()) return false;
    return pos_ == text_.size();
  }

 private:
  bool array() {
    if (pos_ >= text_.size() || text_[pos_] != '{') return false;
    ++pos_;
    out_ += '[';
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      out_ += ']';
      return true;
    }
    for (bool first = true;; first = false) {
      if (!first) out_ += ',';
      if (!element()) return false;
      if (pos_ >= text_.size()) return false;
      if (text_[pos_] == '}') {
        ++pos_;
        out_ += ']';
        return true;
      }
      if (text_[pos_] != ',') return false;
      ++pos_;
    }
  }

  bool element() {
    if (pos_ >= text_.size()) return false;
    if (text_[pos_] == '{') return array();
    std::string value;
    bool quoted = false;
    if (text_[pos_] == '"') {
      quoted = true;
      ++pos_;
      for (;;) {
        if (pos_ >= text_.size()) return false;
        char c = text_[pos_++];
        if (c == '"') break;
        if (c == '\\') {
          if (pos_ >= text_.size()) return false;
          c = text_[pos_++];
        }
        value += c;
      }
    } else {
      while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '}') {
        value += text_[pos_++];
      }
      if (value.empty()) return false;
    }
    if (!quoted && value.size() == 4 && (value[0] | 0x20) == 'n' && (value[1] | 0x20) == 'u' &&
        (value[2] | 0x20) == 'l' && (value[3] | 0x20) == 'l') {
      out_ += "null";
      return true;
    }
    if (element_ == ValueKind::kBytes) {
      const auto bytes = decode_bytea_hex(value);
      if (!bytes) return false;
      append_scalar(out_, element_, *bytes);
      return true;
    }
    append_scalar(out_, element_, value);
    return true;
  }

  std::string& out_;
  ValueKind element_;
  std::string_view text_;
  std::size_t pos_ = 0;
};

void append_value(std::string& out, ColumnType type, std::string_view text) {
  if (type.array) {
    std::string json;
    if (ArrayWriter(json, type.kind, text).write()) {
      out += json;
      return;
    }
    append_json_string(out, text);  // not an array literal after all: keep the text
    return;
  }
  append_scalar(out, type.kind, text);
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out += kReplacement;
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto v = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 0) return;
  unsigned v = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
  if (rest == 2) v |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
  out += kAlphabet[(v >> 18) & 63];
  out += kAlphabet[(v >> 12) & 63];
  out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
  out += '=';
}

std::optional<std::string> decode_bytea_hex(std::string_view text) {
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2 != 0) {
    return std::nullopt;
  }
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string bytes;
  bytes.reserve((text.size() - 2) / 2);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes += static_cast<char>(hi << 4 | lo);
  }
  return bytes;
}

std::string row_json(const Row& row, bool typed) {
  std::string out = "{";
  for (std::size_t i = 0; i < row.columns.size() && i < row.values.size(); ++i) {
    if (i != 0) out += ',';
    append_json_string(out, row.columns[i]);
    out += ':';
    if (!row.values[i]) {
      out += "null";
    } else if (typed && i < row.types.size()) {
      append_value(out, row.types[i], *row.values[i]);
    } else {
      append_json_string(out, *row.values[i]);
    }
  }
  out += '}';
  return out;
}

}  // namespace sidecache::db
