// MySQL / MariaDB adapter over MariaDB Connector/C (libmariadb): one connection per Database (so
// per database thread), opened lazily under MYSQL_OPT_CONNECT_TIMEOUT (whole seconds, rounded
// up). Every value is bound in a prepared statement (mysql_stmt_*; statements are kept per SQL
// text and connection). A statement still running at the call's deadline (query_timeout) is
// stopped with KILL QUERY <thread id>, sent by a watchdog thread over a second connection of its
// own: the call answers kTimeout and the connection stays usable. Backstops for a KILL that cannot
// be sent: the session's max_statement_time (MariaDB) is query_timeout + 250 ms, and
// MYSQL_OPT_READ/WRITE_TIMEOUT drop a connection silent for a few seconds past query_timeout.
// A lost connection answers kUnavailable and is reopened by the next call (a call retries once at
// once on a new connection when the one it reused turns out to be dead).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "db/database.hpp"

struct st_mysql;
struct st_mysql_stmt;

namespace sidecache::config {
struct DatabaseConfig;
}

namespace sidecache::db {

class QueryKiller;
struct MysqlServer;

class MysqlDatabase final : public Database {
 public:
  MysqlDatabase(const config::DatabaseConfig& config, ThreadStats* stats = nullptr);
  ~MysqlDatabase() override;
  MysqlDatabase(const MysqlDatabase&) = delete;
  MysqlDatabase& operator=(const MysqlDatabase&) = delete;

  FetchResult fetch(const Source& source, std::span<const std::string> ids) override;
  IdsResult fetch_ids(std::string_view query) override;
  Status validate(const Source& source) override;
  Status write(const std::string& table, const std::string& key_column,
               std::span<const Upsert> upserts, std::span<const std::string> deletes) override;
  IncrementResult increment(const std::string& table, const std::string& key_column,
                            const std::string& key, const std::string& column,
                            std::int64_t delta) override;

 private:
  using Param = const std::string*;  // nullptr: NULL

  Status connect();
  void disconnect();
  // Runs `sql` as a prepared statement with `params` bound as strings. `rows` (optional)
  // receives the result rows, `affected` the affected (found) row count.
  Status exec(const std::string& sql, const std::vector<Param>& params,
              std::vector<Row>* rows = nullptr, std::uint64_t* affected = nullptr);
  // A statement without parameters or result (START TRANSACTION, COMMIT, SET).
  Status simple(const std::string& sql);
  Status prepared(const std::string& sql, st_mysql_stmt** stmt);
  void forget(const std::string& sql);
  Status failure(unsigned code, const char* message, const std::string& what);
  Status timed_out() const;
  void rollback();
  template <typename F>
  auto with_retry(F&& attempt);

  Status fetch_table(const Source& source, std::span<const std::string> ids, FetchResult& out);
  Status fetch_query(const Source& source, std::span<const std::string> ids, FetchResult& out);
  // The lower-cased names of `table`'s integer and decimal columns, from the metadata of a
  // statement prepared but never run; kept per connection. JSON booleans written to them
  // ("true"/"false") become 1/0, as MySQL itself spells them.
  Status numeric_columns(const std::string& table, const std::unordered_set<std::string>** out);
  Status write_all(const std::string& table, const std::string& key_column,
                   std::span<const Upsert> upserts, std::span<const std::string> deletes);
  // One try of increment(); `raced`: another transaction inserted the new row first.
  IncrementResult increment_once(const std::string& table, const std::string& key_column,
                                 const std::string& key, const std::string& column,
                                 std::int64_t delta, bool& raced);

  std::unique_ptr<MysqlServer> server_;
  std::chrono::milliseconds query_timeout_;
  ThreadStats* stats_;
  st_mysql* conn_ = nullptr;
  std::unordered_map<std::string, st_mysql_stmt*> statements_;
  std::unordered_map<std::string, std::unordered_set<std::string>> numeric_columns_;
  std::unique_ptr<QueryKiller> killer_;
  bool connected_before_ = false;
  bool lost_ = false;         // the connection broke during the current attempt
  bool commit_sent_ = false;  // write(): COMMIT was sent (a lost connection is no retry then)
  unsigned last_code_ = 0;    // the server's error number of the last failed statement
  std::string last_message_;  // and its message
};

}  // namespace sidecache::db
