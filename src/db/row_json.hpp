// A database row as one JSON object, the `json` mapping's cached value. Asio-free.
//
// Typed (the default): each column as its database type says. Integers and decimals are JSON
// numbers with the database's exact digits (never through a double), booleans true/false, NULL
// null, PostgreSQL json/jsonb embedded as JSON, arrays as arrays, bytea/BLOB as base64 strings,
// timestamps as ISO-8601 strings ("2024-05-01T10:00:00+02:00"), everything else a string.
// NaN and infinities, which JSON cannot hold, are strings. Text form (`json_types: text`): every
// value a string, as before typing existed.
//
// Strings are always valid JSON: control characters are escaped and a byte sequence that is not
// UTF-8 has each offending byte replaced by U+FFFD.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "db/database.hpp"

namespace sidecache::db {

std::string row_json(const Row& row, bool typed);

// `s` as a JSON string literal, quotes included (invalid UTF-8 replaced, see above).
void append_json_string(std::string& out, std::string_view s);

// Standard base64 (RFC 4648, with padding).
void append_base64(std::string& out, std::string_view bytes);

// PostgreSQL's bytea hex output ("\x0aff") as raw bytes; nullopt when it is not that form.
std::optional<std::string> decode_bytea_hex(std::string_view text);

}  // namespace sidecache::db
