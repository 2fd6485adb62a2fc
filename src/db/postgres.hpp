// PostgreSQL adapter over libpq (loaded on first use: db/pq_api.hpp): one connection per
// Database (so per database thread), opened lazily with PQconnectStart/PQconnectPoll under
// connect_timeout, queries sent with PQsendQueryParams and awaited with poll() under
// query_timeout (then PQcancel), and the session's statement_timeout set to query_timeout as
// well. A lost connection answers kUnavailable and is reopened by the next call (a read retries
// once on a new connection at once when the connection it reused turns out to be dead).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "db/database.hpp"

struct pg_conn;
struct pg_result;

namespace sidecache::config {
struct DatabaseConfig;
}

namespace sidecache::db {

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(const config::DatabaseConfig& config, ThreadStats* stats = nullptr);
  ~PostgresDatabase() override;
  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;

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
  struct ResultDeleter {
    void operator()(pg_result* r) const;
  };
  using Result = std::unique_ptr<pg_result, ResultDeleter>;

  Status connect();
  void disconnect();
  // Sends `sql` with text parameters (nullptr: NULL) and waits for its result until the call's
  // deadline. `out` (optional) receives the result of a successful statement.
  Status exec(const std::string& sql, const std::vector<const char*>& params,
              Result* out = nullptr);
  Status prepare(const std::string& sql, int* params, int* fields);
  Status finish_send(bool sent, Result* out);
  Status await_result(Result* out);
  Status timed_out();
  Status failure(const pg_result* result, const std::string& what);
  void rollback();
  // The statement failed because an id does not convert to the key column's type (22P02, ...).
  bool bad_id(const Status& s) const;
  // Runs `attempt` with a fresh deadline; once more when it found the reused connection dead.
  template <typename F>
  auto with_retry(F&& attempt);

  Status fetch_table(const Source& source, std::span<const std::string> ids, FetchResult& out);
  Status fetch_query(const Source& source, std::span<const std::string> ids, FetchResult& out);
  Status write_all(const std::string& table, const std::string& key_column,
                   std::span<const Upsert> upserts, std::span<const std::string> deletes);
  // One try of increment(); `raced`: another transaction inserted the new row first.
  IncrementResult increment_once(const std::string& table, const std::string& key_column,
                                 const std::string& key, const std::string& column,
                                 std::int64_t delta, bool& raced);

  std::string conninfo_;
  std::chrono::milliseconds query_timeout_;
  std::chrono::milliseconds connect_timeout_;
  ThreadStats* stats_;
  pg_conn* conn_ = nullptr;
  bool connected_before_ = false;
  bool lost_ = false;          // the connection broke during the current attempt
  bool commit_sent_ = false;   // write(): COMMIT was sent (a lost connection is no retry then)
  std::string last_sqlstate_;  // of the last failed statement
  std::string last_message_;   // the server's message for it
  Clock::time_point deadline_{};
};

}  // namespace sidecache::db
