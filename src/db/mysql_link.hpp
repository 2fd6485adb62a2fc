// The parts of the MySQL adapter below the Database contract: opening a connection with bounded
// times, classifying error numbers, the typed view of result columns, and the watchdog that
// stops a statement past its deadline with KILL QUERY. Asio-free.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "db/database.hpp"

struct st_mysql;
struct st_mysql_field;

namespace sidecache::db {

// Where and as whom to connect (from config::DatabaseConfig), and the time limits.
struct MysqlServer {
  std::string host;  // empty with a socket
  unsigned port = 3306;
  std::string socket;
  std::string user;
  std::string dbname;  // empty: none (the watchdog's connection)
  config::SecretSource password;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds query_timeout{1000};

  static MysqlServer from(const config::DatabaseConfig& config);
};

// A connection, or why there is none (kUnavailable, or kRejected for a bad password source).
struct Opened {
  st_mysql* conn = nullptr;
  Status status;
};
Opened open_connection(const MysqlServer& server);

// The kind of a failed statement from its error number (ER_* server errors, CR_* client ones).
ErrorKind kind_of(unsigned code);
// The error means the connection is gone (server gone away, lost, killed, shut down).
bool connection_lost(unsigned code);

// How a result column becomes a typed value (see docs/database.md, "MySQL types").
struct MysqlColumn {
  ColumnType type;
  enum class Convert { kNone, kTinyBool, kBit } convert = Convert::kNone;
};
MysqlColumn column_of(const st_mysql_field& field);
// The value's text as Row holds it and the type for it: TINYINT(1) 0/1 become "false"/"true"
// (other values stay integers), BIT(1) "false"/"true", wider BITs their unsigned number.
void convert_value(const MysqlColumn& column, std::string& text, ColumnType& type);

// Stops the statement running on one connection once its deadline passes: KILL QUERY <id>
// over a connection of its own (opened on first use, kept). One thread per killer; arm() and
// disarm() come from the owning database thread only.
class QueryKiller {
 public:
  explicit QueryKiller(MysqlServer server);
  ~QueryKiller();
  QueryKiller(const QueryKiller&) = delete;
  QueryKiller& operator=(const QueryKiller&) = delete;

  // Watches connection `thread_id` until `deadline`; clears fired().
  void arm(unsigned long thread_id, std::chrono::steady_clock::time_point deadline);
  // Stops watching and waits until a KILL being sent has been answered (so it cannot reach a
  // later statement). Returns fired(); idempotent.
  bool disarm();
  // The deadline passed since arm(): the call is out of time.
  bool fired();

 private:
  void run();
  void kill(unsigned long thread_id);

  MysqlServer server_;
  st_mysql* conn_ = nullptr;  // used by the watchdog thread only
  std::mutex mutex_;
  std::condition_variable cv_;
  bool armed_ = false;
  bool fired_ = false;
  bool killing_ = false;
  bool stopping_ = false;
  unsigned long thread_id_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
  std::thread thread_;
};

}  // namespace sidecache::db
