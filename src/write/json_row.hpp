// A strict JSON parser for the one shape the json mapping writes: a flat object whose members
// are strings, numbers, booleans or null (RFC 8259; no nesting, no duplicate names). Each member
// becomes a column value as db::Upsert takes it. Asio-free, no allocation beyond the result.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sidecache::write {

// name -> value: a string's decoded text (UTF-8), a number's literal text ("-1.5e3"), "true" /
// "false" for a boolean, nullopt for null. In the object's order.
using JsonColumns = std::vector<std::pair<std::string, std::optional<std::string>>>;

// Parses `text` as one JSON object. False with `error` set: "invalid JSON at byte N: ..." (N is
// the 0-based offset of the offending byte) or "JSON member 'x' is an object: ..." for a value
// that cannot be a column. `out` is cleared first.
bool parse_json_columns(std::string_view text, JsonColumns& out, std::string& error);

}  // namespace sidecache::write
