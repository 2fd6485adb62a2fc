// A strict JSON parser (RFC 8259) for the one shape the json mapping writes: an object whose
// members are the row's columns (no duplicate names). Each member becomes a column value as
// db::Upsert takes it; a nested object or array (a json/jsonb or array column) is kept as its
// JSON text. Asio-free, no recursion.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sidecache::write {

// name -> value: a string's decoded text (UTF-8), a number's literal text ("-1.5e3"), "true" /
// "false" for a boolean, nullopt for null, the JSON text of a nested object or array. In the
// object's order.
using JsonColumns = std::vector<std::pair<std::string, std::optional<std::string>>>;

// Parses `text` as one JSON object. False with `error` set: "invalid JSON at byte N: ..." (N is
// the 0-based offset of the offending byte) or "JSON member 'x' appears twice". `out` is
// cleared first.
bool parse_json_columns(std::string_view text, JsonColumns& out, std::string& error);

}  // namespace sidecache::write
