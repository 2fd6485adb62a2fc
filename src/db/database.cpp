#include "db/database.hpp"

#include "config/config.hpp"
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
    // First version: the PostgreSQL adapter comes in the next commit.
    struct Unavailable final : Database {
      static Status down() { return {ErrorKind::kUnavailable, "postgres: not built yet"}; }
      FetchResult fetch(const Source&, std::span<const std::string> ids) override {
        return {down(), std::vector<std::optional<Row>>(ids.size())};
      }
      IdsResult fetch_ids(std::string_view) override { return {down(), {}}; }
      Status validate(const Source&) override { return down(); }
      Status write(const std::string&, const std::string&, std::span<const Upsert>,
                   std::span<const std::string>) override {
        return down();
      }
    };
    return std::make_unique<Unavailable>();
  }
  return std::make_unique<SqliteDatabase>(config, stats);
}

}  // namespace sidecache::db
