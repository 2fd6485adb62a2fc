// The database behind the cache: one small interface, with SQLite (embedded default),
// PostgreSQL and MySQL / MariaDB adapters. Every call blocks, so it runs only on the database
// threads (db/executor.hpp), never on a proxy worker. Asio-free.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sidecache::config {
struct DatabaseConfig;
}

namespace sidecache::db {

struct ThreadStats;

// Where a policy's rows come from: a table and key column, or a parameterised query that
// takes the id as its one parameter ($1 for PostgreSQL, ? or ?1 for SQLite, ? for MySQL) and
// returns at most one row.
struct Source {
  std::string table;
  std::string key_column;
  std::vector<std::string> columns;  // the columns read; empty: every column
  std::string query;                 // when set, table/key_column are not used for reads
};

// What a column's value is, as the database typed it; the typed JSON mapping (db/row_json.hpp)
// writes each kind its own way. SQLite types by storage class (INTEGER, REAL, TEXT, BLOB).
enum class ValueKind : std::uint8_t {
  kText,       // a string
  kInteger,    // decimal integer text
  kNumber,     // exact decimal or float text as the database printed it (may be NaN/Infinity)
  kBoolean,    // "t"/"f" (PostgreSQL) or "true"/"false"
  kJson,       // JSON text (PostgreSQL json, jsonb)
  kBytes,      // raw bytes (bytea, BLOB)
  kTimestamp,  // PostgreSQL's ISO DateStyle text: "2024-05-01 10:00:00+02"
};

struct ColumnType {
  ValueKind kind = ValueKind::kText;
  bool array = false;  // a PostgreSQL array of `kind`, in its text form "{1,2,NULL}"
  bool operator==(const ColumnType&) const = default;
};

// One row: column names and values in the database's order. NULL is nullopt. `types` is
// parallel to `values` when the adapter knows them (else every value counts as text).
struct Row {
  std::vector<std::string> columns;
  std::vector<std::optional<std::string>> values;
  std::vector<ColumnType> types;

  // The value of a column, or nullptr when the row has no such column or it is NULL.
  const std::string* get(std::string_view column) const;
};

enum class ErrorKind {
  kNone,
  kUnavailable,  // cannot connect, connection lost, database locked: worth retrying later
  kTimeout,      // the query ran past its timeout and was cancelled
  kRejected,     // the database refused the statement (constraint, syntax, unknown column)
};
inline constexpr std::size_t kErrorKinds = 4;

// "ok", "unavailable", "timeout", "rejected" (metric labels, logs).
const char* to_string(ErrorKind kind);

// The result of one call. ok() or an error with its kind and the database's message.
struct Status {
  ErrorKind kind = ErrorKind::kNone;
  std::string message;
  bool ok() const { return kind == ErrorKind::kNone; }
};

// rows[i] is the row of ids[i], or nullopt when the database has none.
struct FetchResult {
  Status status;
  std::vector<std::optional<Row>> rows;
};

// The value an increment wrote.
struct IncrementResult {
  Status status;
  std::int64_t value = 0;
};

struct IdsResult {
  Status status;
  std::vector<std::string> ids;  // the first column of every row, in order
};

// One write of one row (write-through / write-behind): insert or update by key.
struct Upsert {
  std::string key;  // the value of the key column
  std::vector<std::pair<std::string, std::optional<std::string>>> values;  // column -> value
};

class Database {
 public:
  virtual ~Database() = default;

  // Loads the rows of `ids` (one batched query per chunk of at most 500 ids for a table source;
  // one query per id, in one transaction, for a query source). Reconnects first when the
  // connection was lost.
  // - Table source: rows are matched back to ids by the text of the key column as the database
  //   returns it (an integer key 42 matches the id "42", not "042"). Row holds `columns` in
  //   their order, or every column of the table (`*`, the key column included) when empty.
  // - Query source: Row holds the query's columns; when the query returns more than one row the
  //   first one is taken (the others are ignored).
  // An id the key column's type cannot represent (PostgreSQL: "abc" for an integer key) is
  // absent, not an error.
  virtual FetchResult fetch(const Source& source, std::span<const std::string> ids) = 0;
  // Runs a warming query: every row's first column, as text.
  virtual IdsResult fetch_ids(std::string_view query) = 0;
  // Checks at load time that the table, key column, columns (and the query) exist and are
  // valid. Returns an error naming what is missing.
  virtual Status validate(const Source& source) = 0;
  // Applies upserts, then the deletes of `deletes` (by key), to `table` in one transaction, each
  // list in its order. All or nothing.
  virtual Status write(const std::string& table, const std::string& key_column,
                       std::span<const Upsert> upserts, std::span<const std::string> deletes) = 0;
  // Adds `delta` to the integer in `column` of the row `key` as Redis INCRBY does (no row, or
  // NULL, counts as 0; a new row is inserted), atomically against other writers: the row stays
  // locked from its read to the commit. kRejected when the stored value is not an integer or
  // the sum overflows (add_integer).
  virtual IncrementResult increment(const std::string& table, const std::string& key_column,
                                    const std::string& key, const std::string& column,
                                    std::int64_t delta) = 0;
};

// `old` (text; nullopt: no value, 0) plus `delta`, with Redis INCRBY's errors: kRejected "value
// is not an integer or out of range" or "increment or decrement would overflow".
IncrementResult add_integer(const std::optional<std::string>& old, std::int64_t delta);

// The adapter `config` names (SQLite, PostgreSQL or MySQL). Connects lazily, on the first call;
// every call then runs on the calling thread (one Database per database thread). `stats` (optional)
// receives connects and reconnects.
std::unique_ptr<Database> make_database(const config::DatabaseConfig& config,
                                        ThreadStats* stats = nullptr);

}  // namespace sidecache::db
