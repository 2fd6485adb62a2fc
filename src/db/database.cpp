#include "db/database.hpp"

#include "config/config.hpp"
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

std::unique_ptr<Database> make_database(const config::DatabaseConfig& config, ThreadStats* stats) {
  if (config.kind == config::DatabaseKind::kPostgres) {
    return std::make_unique<PostgresDatabase>(config, stats);
  }
  return std::make_unique<SqliteDatabase>(config, stats);
}

}  // namespace sidecache::db
