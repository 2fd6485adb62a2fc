// The json mapping: typed values, exact numbers, arrays, base64, ISO timestamps, and strings
// that stay valid JSON whatever bytes the database holds. Every output is parsed by a reference
// JSON library (nlohmann::json), so "valid JSON" is not this module's own opinion.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "db/row_json.hpp"

namespace sidecache::db {
namespace {

using nlohmann::json;

Row row_of(std::vector<std::tuple<std::string, std::optional<std::string>, ColumnType>> cells) {
  Row row;
  for (auto& [name, value, type] : cells) {
    row.columns.push_back(name);
    row.values.push_back(value);
    row.types.push_back(type);
  }
  return row;
}

constexpr ColumnType kText{ValueKind::kText, false};
constexpr ColumnType kInt{ValueKind::kInteger, false};
constexpr ColumnType kNum{ValueKind::kNumber, false};

TEST_CASE("typed JSON writes each kind as its type", "[db][json]") {
  const auto row = row_of({
      {"id", "42", kInt},
      {"big", "123456789012345678901234567890.000000001", kNum},
      {"f", "1.0e+20", kNum},
      {"nan", "NaN", kNum},
      {"inf", "-Infinity", kNum},
      {"ok", "t", {ValueKind::kBoolean, false}},
      {"no", "false", {ValueKind::kBoolean, false}},
      {"doc", R"({"a": [1, null]})", {ValueKind::kJson, false}},
      {"bytes",
       std::string("\0\xff"
                   "A",
                   3),
       {ValueKind::kBytes, false}},
      {"at", "2024-05-01 10:00:00.5+02", {ValueKind::kTimestamp, false}},
      {"at2", "2024-05-01 10:00:00+05:30", {ValueKind::kTimestamp, false}},
      {"day", "2024-05-01", {ValueKind::kTimestamp, false}},
      {"none", std::nullopt, kInt},
      {"name", "x\"y\\z\n", kText},
  });
  const std::string text = row_json(row, true);
  CHECK(text.find(R"("big":123456789012345678901234567890.000000001)") != std::string::npos);
  const json j = json::parse(text);
  CHECK(j["id"] == 42);
  CHECK(j["f"] == 1e20);
  CHECK(j["nan"] == "NaN");
  CHECK(j["inf"] == "-Infinity");
  CHECK(j["ok"] == true);
  CHECK(j["no"] == false);
  CHECK(j["doc"] == json::parse(R"({"a": [1, null]})"));
  CHECK(j["bytes"] == "AP9B");
  CHECK(j["at"] == "2024-05-01T10:00:00.5+02:00");
  CHECK(j["at2"] == "2024-05-01T10:00:00+05:30");
  CHECK(j["day"] == "2024-05-01");
  CHECK(j["none"].is_null());
  CHECK(j["name"] == "x\"y\\z\n");
  // The text form: every value a string, as the database printed it.
  const json t = json::parse(row_json(row, false));
  CHECK(t["id"] == "42");
  CHECK(t["ok"] == "t");
  CHECK(t["none"].is_null());
}

TEST_CASE("PostgreSQL arrays become JSON arrays of their element type", "[db][json]") {
  const auto row = row_of({
      {"ints", "{1,2,NULL}", {ValueKind::kInteger, true}},
      {"grid", "{{1,2},{3,4}}", {ValueKind::kInteger, true}},
      {"words", R"({"a b","q\"d",plain,"NULL",null})", {ValueKind::kText, true}},
      {"empty", "{}", {ValueKind::kText, true}},
      {"bounds", "[0:1]={7,8}", {ValueKind::kInteger, true}},
      {"flags", "{t,f}", {ValueKind::kBoolean, true}},
      {"docs", R"({"{\"a\": 1}","[2]"})", {ValueKind::kJson, true}},
      {"blobs", R"({"\\x00ff","\\x41"})", {ValueKind::kBytes, true}},
      {"broken", "{1,2", {ValueKind::kInteger, true}},
  });
  const json j = json::parse(row_json(row, true));
  CHECK(j["ints"] == json::parse("[1,2,null]"));
  CHECK(j["grid"] == json::parse("[[1,2],[3,4]]"));
  CHECK(j["words"] == json::parse(R"(["a b","q\"d","plain","NULL",null])"));
  CHECK(j["empty"] == json::array());
  CHECK(j["bounds"] == json::parse("[7,8]"));
  CHECK(j["flags"] == json::parse("[true,false]"));
  CHECK(j["docs"] == json::parse(R"([{"a": 1},[2]])"));
  CHECK(j["blobs"] == json::parse(R"(["AP8=","QQ=="])"));
  CHECK(j["broken"] == "{1,2");  // not an array literal: kept as text
}

TEST_CASE("base64 and bytea hex", "[db][json]") {
  const auto b64 = [](std::string_view in) {
    std::string out;
    append_base64(out, in);
    return out;
  };
  CHECK(b64("") == "");
  CHECK(b64("f") == "Zg==");
  CHECK(b64("fo") == "Zm8=");
  CHECK(b64("foo") == "Zm9v");
  CHECK(b64("foobar") == "Zm9vYmFy");
  CHECK(decode_bytea_hex("\\x00ff41") == std::string("\0\xff"
                                                     "A",
                                                     3));
  CHECK(decode_bytea_hex("\\x") == std::string());
  CHECK_FALSE(decode_bytea_hex("\\x0"));
  CHECK_FALSE(decode_bytea_hex("\\xzz"));
  CHECK_FALSE(decode_bytea_hex("00"));
}

TEST_CASE("numbers JSON does not accept become strings", "[db][json]") {
  for (const char* odd : {".5", "+1", "1.", "01", "1e", "-", "Infinity", "1,5", ""}) {
    INFO(odd);
    const json j = json::parse(row_json(row_of({{"n", odd, kNum}}), true));
    CHECK(j["n"] == odd);
  }
  for (const char* fine : {"0", "-0", "12.50", "1e-7", "-1.5E+300"}) {
    INFO(fine);
    const std::string text = row_json(row_of({{"n", fine, kNum}}), true);
    CHECK(text == std::string("{\"n\":") + fine + "}");
    CHECK(json::parse(text)["n"].is_number());
  }
}

TEST_CASE("any bytes in a string give valid JSON; valid UTF-8 passes unchanged", "[db][json]") {
  CHECK(json::parse(row_json(row_of({{"s", "\xC3\xA9\xF0\x9F\x98\x80", kText}}), true))["s"] ==
        "\xC3\xA9\xF0\x9F\x98\x80");
  CHECK(json::parse(row_json(row_of({{"s",
                                      "A\xFF"
                                      "B\xC0\xAF\xED\xA0\x80",
                                      kText}}),
                             true))["s"] ==
        "A\xEF\xBF\xBD"
        "B\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  // Differential: random byte strings, column names and kinds (never kJson, which embeds what
  // the database already validated); the reference parser must accept every output.
  std::mt19937 rng(20261207);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 24), kind(0, 6), coin(0, 3);
  constexpr std::string_view kSyntax = "{}[],\"\\ 0123456789.-eNUL";
  const auto random_text = [&] {
    std::string value;
    for (int i = len(rng); i > 0; --i) {
      value += coin(rng) == 0 ? static_cast<char>(byte(rng))
                              : kSyntax[static_cast<std::size_t>(byte(rng)) % kSyntax.size()];
    }
    return value;
  };
  for (int round = 0; round < 20000; ++round) {
    Row row;
    const int columns = 1 + len(rng) % 4;
    for (int c = 0; c < columns; ++c) {
      row.columns.push_back(random_text());
      row.values.push_back(coin(rng) == 0 ? std::nullopt
                                          : std::optional<std::string>(random_text()));
      int k = kind(rng);
      if (static_cast<ValueKind>(k) == ValueKind::kJson) k = 0;
      row.types.push_back({static_cast<ValueKind>(k), coin(rng) == 0});
    }
    for (const bool typed : {true, false}) {
      const std::string text = row_json(row, typed);
      INFO(text);
      REQUIRE(json::accept(text));
    }
    // A text value that is valid UTF-8 comes back byte for byte.
    const std::string value = random_text();
    const std::string text = row_json(row_of({{"s", value, kText}}), true);
    bool valid_utf8 = true;
    try {
      (void)json(value).dump();
    } catch (const json::exception&) {
      valid_utf8 = false;
    }
    if (valid_utf8) CHECK(json::parse(text)["s"] == value);
  }
}

}  // namespace
}  // namespace sidecache::db
