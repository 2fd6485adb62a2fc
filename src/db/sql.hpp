// SQL text shared by the adapters: quoted identifiers and the statements of a table source.
// Values never appear here: they are always bound as parameters. Asio-free, no database.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "db/database.hpp"

namespace sidecache::db::sql {

// The dialect, named by how parameter i (1-based) is written: PostgreSQL "$1", SQLite "?1",
// MySQL / MariaDB "?" (unnumbered: parameters bind in the order they appear in the text). kMysql
// also quotes identifiers with backticks and upserts with ON DUPLICATE KEY UPDATE.
enum class Placeholders { kDollar, kQuestion, kMysql };

// `name` as a quoted identifier: "name" with '"' doubled (MySQL: `name` with '`' doubled). A
// dotted name (schema.table) is quoted part by part. Returns an empty string when the name is
// empty, has an empty part, or holds a NUL byte (callers answer kRejected).
std::string quote_identifier(std::string_view name, Placeholders style = Placeholders::kDollar);

// Why `source` cannot be turned into SQL (empty names, NUL bytes), or empty when it can.
std::string check_source(const Source& source, Placeholders style = Placeholders::kDollar);

// SELECT "key", <columns or *> FROM "table" WHERE "key" IN (<n placeholders>) (MySQL:
// `table`.* for every column).
std::string select_by_keys(const Source& source, std::size_t n, Placeholders style);

// INSERT INTO "table" ("key", c...) VALUES (...) ON CONFLICT ("key") DO UPDATE SET c =
// excluded.c, ... (DO NOTHING when the upsert names no other column). Parameters: the key,
// then the values in `upsert.values` order. MySQL: ... ON DUPLICATE KEY UPDATE `c` = VALUES(`c`)
// (`key` = `key`, a no-op, when the upsert names no other column).
std::string upsert(std::string_view table, std::string_view key_column, const Upsert& upsert,
                   Placeholders style);

// UPDATE "table" SET c = <placeholder 2>, ... WHERE "key" = <placeholder 1>: the upsert's
// columns only, so that a partial write (HSET of one field) of an existing row does not trip
// NOT NULL constraints of the columns it leaves out, as the INSERT of upsert() would. Empty
// when the upsert names no column. Parameters as for upsert(); MySQL (unnumbered): the values,
// then the key.
std::string update_by_key(std::string_view table, std::string_view key_column, const Upsert& upsert,
                          Placeholders style);

// INSERT ... ON CONFLICT ("key") DO NOTHING: upsert()'s insert that never overwrites (MySQL:
// ON DUPLICATE KEY UPDATE `key` = `key`).
std::string insert_if_absent(std::string_view table, std::string_view key_column,
                             const Upsert& upsert, Placeholders style);

// INSERT INTO "table" ("key", c...) VALUES (...): fails on a duplicate key. Parameters as for
// upsert().
std::string insert_row(std::string_view table, std::string_view key_column, const Upsert& upsert,
                       Placeholders style);

// SELECT "column" FROM "table" WHERE "key" = <placeholder 1>, with " FOR UPDATE" when
// `lock` (PostgreSQL: the row stays locked until the transaction ends).
std::string select_column_by_key(std::string_view table, std::string_view key_column,
                                 std::string_view column, Placeholders style, bool lock);

// DELETE FROM "table" WHERE "key" = <placeholder 1>.
std::string delete_by_key(std::string_view table, std::string_view key_column, Placeholders style);

std::string placeholder(std::size_t i, Placeholders style);

// Ids are sent in chunks of at most this many per statement.
inline constexpr std::size_t kMaxIdsPerStatement = 500;

}  // namespace sidecache::db::sql
