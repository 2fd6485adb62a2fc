// The strict JSON object parser of the json mapping's writes: what it accepts, and a table of
// bad inputs, each with the byte offset its error names.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "write/json_row.hpp"

namespace sidecache::write {
namespace {

using Member = std::pair<std::string, std::optional<std::string>>;

TEST_CASE("a flat object maps to column values", "[write][json]") {
  JsonColumns out;
  std::string error;
  REQUIRE(parse_json_columns(
      " {\"name\" : \"ann\", \"n\":-12.5e+3,\"z\":0, \"ok\":true,\"no\":false, \"gone\":null}\r\n",
      out, error));
  CHECK(error.empty());
  REQUIRE(out.size() == 6);
  CHECK(out[0] == Member{"name", "ann"});
  CHECK(out[1] == Member{"n", "-12.5e+3"});
  CHECK(out[2] == Member{"z", "0"});
  CHECK(out[3] == Member{"ok", "true"});
  CHECK(out[4] == Member{"no", "false"});
  CHECK(out[5] == Member{"gone", std::nullopt});
  REQUIRE(parse_json_columns("{}", out, error));
  CHECK(out.empty());
}

TEST_CASE("string escapes decode to UTF-8", "[write][json]") {
  JsonColumns out;
  std::string error;
  REQUIRE(parse_json_columns(R"({"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac\ud83d\ude00", "raw":"é€😀"})",
                             out, error));
  REQUIRE(out.size() == 2);
  CHECK(*out[0].second == "a\"b\\c/d\b\f\n\r\t\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  CHECK(*out[1].second == "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
}

TEST_CASE("bad inputs answer an error with the offending byte", "[write][json]") {
  struct Bad {
    std::string text;
    std::string error;
  };
  const std::vector<Bad> table = {
      {"",
       "invalid JSON at byte 0: unexpected end of input (expected '{' (the value must be a "
       "JSON object))"},
      {"plain text", "invalid JSON at byte 0: expected '{' (the value must be a JSON object)"},
      {"[1,2]", "invalid JSON at byte 0: expected '{' (the value must be a JSON object)"},
      {"\"s\"", "invalid JSON at byte 0: expected '{' (the value must be a JSON object)"},
      {"{",
       "invalid JSON at byte 1: unexpected end of input (expected a member name in double "
       "quotes)"},
      {"{\"a\"}", "invalid JSON at byte 4: expected ':' after the member name"},
      {"{\"a\":}", "invalid JSON at byte 5: expected a value"},
      {"{\"a\":1,}", "invalid JSON at byte 7: expected a member name in double quotes"},
      {"{\"a\":1 \"b\":2}", "invalid JSON at byte 7: expected ',' or '}' after a member"},
      {"{a:1}", "invalid JSON at byte 1: expected a member name in double quotes"},
      {"{'a':1}", "invalid JSON at byte 1: expected a member name in double quotes"},
      {"{\"a\":01}", "invalid JSON at byte 6: leading zeros are not allowed"},
      {"{\"a\":-}", "invalid JSON at byte 6: expected a digit"},
      {"{\"a\":1.}", "invalid JSON at byte 7: expected a digit"},
      {"{\"a\":1e}", "invalid JSON at byte 7: expected a digit"},
      {"{\"a\":+1}", "invalid JSON at byte 5: expected a value"},
      {"{\"a\":.5}", "invalid JSON at byte 5: expected a value"},
      {"{\"a\":NaN}", "invalid JSON at byte 5: expected a value"},
      {"{\"a\":tru}", "invalid JSON at byte 5: invalid literal"},
      {"{\"a\":nul", "invalid JSON at byte 5: invalid literal"},
      {"{\"a\":\"x}", "invalid JSON at byte 8: unexpected end of input (unterminated string)"},
      {"{\"a\":\"x\ny\"}", "invalid JSON at byte 7: control character in a string (escape it)"},
      {"{\"a\":\"\\x\"}", "invalid JSON at byte 7: invalid escape"},
      {"{\"a\":\"\\u12\"}", "invalid JSON at byte 10: expected 4 hex digits after \\u"},
      {"{\"a\":\"\\udc00\"}", "invalid JSON at byte 12: lone low surrogate"},
      {"{\"a\":\"\\ud800x\"}", "invalid JSON at byte 12: high surrogate without its low surrogate"},
      {"{\"a\":\"\xff\"}", "invalid JSON at byte 6: invalid UTF-8"},
      {"{\"a\":\"\xc3\"}", "invalid JSON at byte 6: invalid UTF-8"},
      {"{\"a\":\"\xc0\xaf\"}", "invalid JSON at byte 6: invalid UTF-8"},      // overlong
      {"{\"a\":\"\xed\xa0\x80\"}", "invalid JSON at byte 6: invalid UTF-8"},  // surrogate
      {"{\"a\":1} x", "invalid JSON at byte 8: unexpected data after the object"},
      {"{\"a\":1}{}", "invalid JSON at byte 7: unexpected data after the object"},
      {"{\"a\":{\"b\":}}", "invalid JSON at byte 10: expected a value"},
      {"{\"a\":{\"b\" 1}}", "invalid JSON at byte 10: expected ':' after the member name"},
      {"{\"a\":[1,]}", "invalid JSON at byte 8: expected a value"},
      {"{\"a\":[1}", "invalid JSON at byte 7: expected ',' or ']' in an array"},
      {"{\"a\":{\"b\":1]}", "invalid JSON at byte 11: expected ',' or '}' in an object"},
      {"{\"a\":[[[", "invalid JSON at byte 8: unexpected end of input (expected a value)"},
      {"{\"a\":1,\"a\":2}", "JSON member 'a' appears twice"},
      {std::string("{\"a\":\"x\0\"}", 10),
       "invalid JSON at byte 7: control character in a string (escape it)"},
  };
  for (const auto& bad : table) {
    INFO("input: " << bad.text);
    JsonColumns out{{"stale", "x"}};
    std::string error;
    CHECK_FALSE(parse_json_columns(bad.text, out, error));
    CHECK(error == bad.error);
    CHECK(out.empty());
  }
}

TEST_CASE("nested objects and arrays are kept as their JSON text", "[write][json]") {
  JsonColumns out;
  std::string error;
  REQUIRE(parse_json_columns(R"({"tags": ["a", {"b": [1, 2.5, null]}, []], "doc":{ }, "n":1})", out,
                             error));
  REQUIRE(out.size() == 3);
  CHECK(out[0] == std::pair<std::string, std::optional<std::string>>{
                      "tags", R"(["a", {"b": [1, 2.5, null]}, []])"});
  CHECK(out[1].second == "{ }");
  CHECK(out[2].second == "1");
  // Depth is bounded by the text, not by a constant or the stack.
  const std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  REQUIRE(parse_json_columns(deep, out, error));
  CHECK(out[0].second->size() == 200000);
}

TEST_CASE("every prefix of a valid object fails cleanly", "[write][json]") {
  const std::string text = R"({"name":"\u00e9x","n":-1.5e3,"b":true,"z":null})";
  JsonColumns out;
  std::string error;
  REQUIRE(parse_json_columns(text, out, error));
  for (std::size_t n = 0; n < text.size(); ++n) {
    INFO("prefix length " << n);
    CHECK_FALSE(parse_json_columns(text.substr(0, n), out, error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("random bytes never crash the parser", "[write][json]") {
  std::uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1664525u + 1013904223u;
    return seed >> 24;
  };
  const std::string alphabet = "{}[]:,\"\\ 0123456789-+.eEtrufalsn\x01\xc3\xa9\xff";
  JsonColumns out;
  std::string error;
  for (int round = 0; round < 20000; ++round) {
    std::string text = "{";
    const auto len = next() % 24;
    for (std::uint32_t i = 0; i < len; ++i) text += alphabet[next() % alphabet.size()];
    const bool ok = parse_json_columns(text, out, error);
    CHECK(ok == error.empty());
  }
}

}  // namespace
}  // namespace sidecache::write
