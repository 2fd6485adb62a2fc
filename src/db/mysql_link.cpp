#include "db/mysql_link.hpp"

#include <errmsg.h>
#include <mysqld_error.h>

#include "config/secret.hpp"
#include "db/mariadb_api.hpp"

namespace sidecache::db {
namespace {

using Clock = std::chrono::steady_clock;

// Connector/C takes its time limits in whole seconds: rounded up, at least 1.
unsigned int seconds(std::chrono::milliseconds ms) {
  return static_cast<unsigned int>(std::max<long long>(1, (ms.count() + 999) / 1000));
}

}  // namespace

MysqlServer MysqlServer::from(const config::DatabaseConfig& config) {
  MysqlServer s;
  s.socket = config.socket;
  s.host = config.socket.empty() ? (config.host.empty() ? "127.0.0.1" : config.host) : "";
  s.port = config.port == 0 ? 3306 : config.port;
  s.user = config.user;
  s.dbname = config.dbname;
  s.password = config.password;
  s.connect_timeout = config.connect_timeout;
  s.query_timeout = config.query_timeout;
  return s;
}

Opened open_connection(const MysqlServer& server) {
  Opened out;
  // The first MySQL connection of the process loads Connector/C; its absence fails every
  // connect the same way, with what to install.
  if (Status s = load_mariadb(); !s.ok()) {
    out.status = {ErrorKind::kUnavailable, "mysql: " + s.message};
    return out;
  }
  std::string password;
  try {
    password = config::read_secret(server.password);
  } catch (const config::ConfigError& e) {
    out.status = {ErrorKind::kUnavailable, std::string("mysql: password: ") + e.what()};
    return out;
  }
  MYSQL* conn = mariadb().mysql_init(nullptr);
  if (!conn) {
    out.status = {ErrorKind::kUnavailable, "mysql: cannot allocate a connection"};
    return out;
  }
  const unsigned int connect = seconds(server.connect_timeout);
  // A read or write silent this long is a dead server or network: well past the KILL QUERY at
  // query_timeout and the server's max_statement_time.
  const unsigned int io = seconds(server.query_timeout) + 2;
  const my_bool no = 0;
  mariadb().mysql_options(conn, MYSQL_OPT_CONNECT_TIMEOUT, &connect);
  mariadb().mysql_options(conn, MYSQL_OPT_READ_TIMEOUT, &io);
  mariadb().mysql_options(conn, MYSQL_OPT_WRITE_TIMEOUT, &io);
  mariadb().mysql_options(conn, MYSQL_OPT_RECONNECT, &no);  // reconnecting is ours, with stats
  mariadb().mysql_options(conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mariadb().mysql_options(conn, MYSQL_OPT_LOCAL_INFILE, &no);
  mariadb().mysql_options(conn, MYSQL_READ_DEFAULT_FILE, "/dev/null");  // no my.cnf surprises
  // CLIENT_FOUND_ROWS: an UPDATE counts the rows it matched, not only those it changed.
  if (!mariadb().mysql_real_connect(
          conn, server.host.empty() ? nullptr : server.host.c_str(), server.user.c_str(),
          password.empty() ? nullptr : password.c_str(),
          server.dbname.empty() ? nullptr : server.dbname.c_str(), server.port,
          server.socket.empty() ? nullptr : server.socket.c_str(), CLIENT_FOUND_ROWS)) {
    const unsigned code = mariadb().mysql_errno(conn);
    std::string message = mariadb().mysql_error(conn);
    mariadb().mysql_close(conn);
    if (code == CR_CONN_HOST_ERROR || code == CR_CONNECTION_ERROR ||
        message.find("imeout") != std::string::npos ||
        message.find("timed out") != std::string::npos) {
      message += " (connect_timeout " + std::to_string(server.connect_timeout.count()) + " ms)";
    }
    out.status = {ErrorKind::kUnavailable, "mysql: cannot connect: " + message};
    return out;
  }
  out.conn = conn;
  return out;
}

ErrorKind kind_of(unsigned code) {
  switch (code) {
    case ER_QUERY_INTERRUPTED:  // KILL QUERY
    case ER_STATEMENT_TIMEOUT:  // MariaDB max_statement_time
    case 3024:                  // MySQL max_execution_time
      return ErrorKind::kTimeout;
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
    case ER_CONNECTION_KILLED:
    case ER_OPTION_PREVENTS_STATEMENT:  // --read-only: a replica, or a failover in progress
    case ER_OUT_OF_RESOURCES:
    case ER_ACCESS_DENIED_ERROR:
    case ER_DBACCESS_DENIED_ERROR:
    case ER_BAD_DB_ERROR:
      return ErrorKind::kUnavailable;
    default:
      break;
  }
  if (connection_lost(code) || code == CR_CONNECTION_ERROR || code == CR_CONN_HOST_ERROR ||
      code == CR_OUT_OF_MEMORY || code == CR_UNKNOWN_HOST) {
    return ErrorKind::kUnavailable;
  }
  return ErrorKind::kRejected;
}

bool connection_lost(unsigned code) {
  return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
         code == CR_COMMANDS_OUT_OF_SYNC || code == CR_SERVER_LOST_EXTENDED ||
         code == ER_CONNECTION_KILLED || code == ER_SERVER_SHUTDOWN;
}

MysqlColumn column_of(const MYSQL_FIELD& field) {
  MysqlColumn c;
  switch (field.type) {
    case MYSQL_TYPE_TINY:
      // BOOL / BOOLEAN are TINYINT(1): booleans when the value is 0 or 1 (convert_value).
      c.type.kind = ValueKind::kInteger;
      if (field.length == 1 && !(field.flags & UNSIGNED_FLAG))
        c.convert = MysqlColumn::Convert::kTinyBool;
      break;
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_YEAR:
      c.type.kind = ValueKind::kInteger;
      break;
    case MYSQL_TYPE_BIT:
      c.type.kind = field.length == 1 ? ValueKind::kBoolean : ValueKind::kInteger;
      c.convert = MysqlColumn::Convert::kBit;
      break;
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
      c.type.kind = ValueKind::kNumber;
      break;
    case MYSQL_TYPE_JSON:
      c.type.kind = ValueKind::kJson;
      break;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_DATETIME2:
    case MYSQL_TYPE_TIMESTAMP:
    case MYSQL_TYPE_TIMESTAMP2:
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_TIME2:
      c.type.kind = ValueKind::kTimestamp;
      break;
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VARCHAR: {
      // MariaDB's JSON is LONGTEXT with a json_valid check, marked by the extended metadata.
      MARIADB_CONST_STRING format{nullptr, 0};
      if (mariadb().mariadb_field_attr(&format, &field, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 &&
          std::string_view(format.str ? format.str : "", format.length) == "json") {
        c.type.kind = ValueKind::kJson;
      } else if (field.charsetnr == 63) {  // the binary "charset": BLOB, BINARY, VARBINARY
        c.type.kind = ValueKind::kBytes;
      }
      break;
    }
    default:
      break;
  }
  return c;
}

void convert_value(const MysqlColumn& column, std::string& text, ColumnType& type) {
  switch (column.convert) {
    case MysqlColumn::Convert::kNone:
      return;
    case MysqlColumn::Convert::kTinyBool:
      if (text == "0" || text == "1") {
        text = text == "1" ? "true" : "false";
        type.kind = ValueKind::kBoolean;
      }
      return;
    case MysqlColumn::Convert::kBit: {
      unsigned long long n = 0;
      for (const char c : text) n = (n << 8) | static_cast<unsigned char>(c);
      text = type.kind == ValueKind::kBoolean ? (n ? "true" : "false") : std::to_string(n);
      return;
    }
  }
}

QueryKiller::QueryKiller(MysqlServer server) : server_(std::move(server)) {
  server_.dbname.clear();
  // The KILL itself must be quick: its connection gets the shortest limits there are.
  server_.query_timeout = std::chrono::milliseconds(1);
  thread_ = std::thread([this] { run(); });
}

QueryKiller::~QueryKiller() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (conn_) mariadb().mysql_close(conn_);
}

void QueryKiller::arm(unsigned long thread_id, Clock::time_point deadline) {
  {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !killing_; });
    thread_id_ = thread_id;
    deadline_ = deadline;
    armed_ = true;
    fired_ = false;
  }
  cv_.notify_all();
}

bool QueryKiller::disarm() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return !killing_; });
  armed_ = false;
  return fired_;
}

bool QueryKiller::fired() {
  const std::lock_guard lock(mutex_);
  return fired_;
}

void QueryKiller::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stopping_) return;
    if (!armed_) {
      cv_.wait(lock);
      continue;
    }
    if (Clock::now() < deadline_) {
      cv_.wait_until(lock, deadline_);
      continue;
    }
    armed_ = false;
    fired_ = true;
    killing_ = true;
    const unsigned long id = thread_id_;
    lock.unlock();
    kill(id);
    lock.lock();
    killing_ = false;
    cv_.notify_all();
  }
}

void QueryKiller::kill(unsigned long thread_id) {
  // The id is the server's connection number (mysql_thread_id), not input: formatting it is
  // safe. A connection that broke since the last KILL is replaced once.
  const std::string sql = "KILL QUERY " + std::to_string(thread_id);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!conn_) {
      Opened opened = open_connection(server_);
      if (!opened.conn) return;  // the backstops end the statement
      conn_ = opened.conn;
    }
    if (mariadb().mysql_real_query(conn_, sql.data(), sql.size()) == 0) return;
    const unsigned code = mariadb().mysql_errno(conn_);
    if (code == ER_NO_SUCH_THREAD) return;  // the connection is gone already
    mariadb().mysql_close(conn_);
    conn_ = nullptr;
  }
}

}  // namespace sidecache::db
