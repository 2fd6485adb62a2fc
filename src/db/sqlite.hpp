// SQLite adapter over the C API: one connection per Database (so per database thread, opened
// with SQLITE_OPEN_NOMUTEX), WAL journal, a busy handler and a progress handler that both stop
// at the call's deadline (query_timeout). The file must exist: it is never created.
#pragma once

#include <chrono>
#include <string>

#include "db/database.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace sidecache::config {
struct DatabaseConfig;
}

namespace sidecache::db {

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(const config::DatabaseConfig& config, ThreadStats* stats = nullptr);
  ~SqliteDatabase() override;
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  FetchResult fetch(const Source& source, std::span<const std::string> ids) override;
  IdsResult fetch_ids(std::string_view query) override;
  Status validate(const Source& source) override;
  Status write(const std::string& table, const std::string& key_column,
               std::span<const Upsert> upserts, std::span<const std::string> deletes) override;
  IncrementResult increment(const std::string& table, const std::string& key_column,
                            const std::string& key, const std::string& column,
                            std::int64_t delta) override;

 private:
  using Clock = std::chrono::steady_clock;

  // Opens the connection when there is none; starts the call's deadline.
  Status begin_call();
  Status open();
  Status error(int rc, const std::string& what) const;
  Status exec(const char* sql);
  Status prepare(const std::string& sql, sqlite3_stmt** stmt);
  Status fetch_table(const Source& source, std::span<const std::string> ids, FetchResult& out);
  Status fetch_query(const Source& source, std::span<const std::string> ids, FetchResult& out);
  Status write_all(const std::string& table, const std::string& key_column,
                   std::span<const Upsert> upserts, std::span<const std::string> deletes);
  IncrementResult increment_all(const std::string& table, const std::string& key_column,
                                const std::string& key, const std::string& column,
                                std::int64_t delta);
  // Runs one statement with the parameters of `u` (its key, then its values).
  Status run(const std::string& sql, const Upsert& u, const std::string& table);
  // After a failed call: ROLLBACK when a transaction is still open.
  void rollback_open();

  static int on_progress(void* self);
  static int on_busy(void* self, int count);

  std::string path_;
  std::chrono::milliseconds query_timeout_;
  ThreadStats* stats_;
  sqlite3* db_ = nullptr;
  bool opened_before_ = false;
  Clock::time_point deadline_{};
  bool timed_out_ = false;            // the progress handler interrupted the statement
  mutable std::string last_message_;  // SQLite's message for the last error
};

}  // namespace sidecache::db
