#include "db/database.hpp"

#include <charconv>

#include "config/config.hpp"
#include "db/mysql.hpp"
#include "db/postgres.hpp"
#include "db/sqlite.hpp"

namespace sidecache::db {

const std::string* Row::get(std::string_view column) const {
  for (std::size_t i = 0; i < columns.size() && i < values.size(); ++i) {
    if (columns[i] == column) return values[i] ? &*values[i] : nullptr;
  }
  return nullptr;
}

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "ok";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kRejected:
      return "rejected";
  }
  return "unknown";
}

IncrementResult add_integer(const std::optional<std::string>& old, std::int64_t delta) {
  IncrementResult out;
  std::int64_t base = 0;
  if (old) {
    const char* first = old->data();
    const char* last = first + old->size();
    const auto [end, ec] = std::from_chars(first, last, base);
    if (old->empty() || ec != std::errc() || end != last) {
      out.status = {ErrorKind::kRejected, "value is not an integer or out of range"};
      return out;
    }
  }
  if (__builtin_add_overflow(base, delta, &out.value)) {
    out.status = {ErrorKind::kRejected, "increment or decrement would overflow"};
  }
  return out;
}

std::unique_ptr<Database> make_database(const config::DatabaseConfig& config, ThreadStats* stats) {
  if (config.kind == config::DatabaseKind::kPostgres) {
    return std::make_unique<PostgresDatabase>(config, stats);
  }
  if (config.kind == config::DatabaseKind::kMysql) {
    return std::make_unique<MysqlDatabase>(config, stats);
  }
  return std::make_unique<SqliteDatabase>(config, stats);
}

}  // namespace sidecache::db
