#include "db/mysql.hpp"

#include <mysqld_error.h>

#include <cctype>
#include <unordered_map>

#include "config/config.hpp"
#include "db/mariadb_api.hpp"
#include "db/mysql_link.hpp"
#include "db/sql.hpp"
#include "db/stats.hpp"

namespace sidecache::db {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kMy = sql::Placeholders::kMysql;

// The server stops a statement a little after this side's KILL QUERY would have: the backstop
// for a KILL that could not be sent.
constexpr std::chrono::milliseconds kKillBudget{250};
// Prepared statements kept per connection; more and all are closed.
constexpr std::size_t kMaxStatements = 256;
// A column value's first buffer; longer values are fetched again at their length.
constexpr unsigned long kValueBuffer = 256;

Status unavailable(std::string message) { return {ErrorKind::kUnavailable, std::move(message)}; }
Status rejected(std::string message) { return {ErrorKind::kRejected, std::move(message)}; }

// The rows of an executed statement's result, each value as text with its column's type.
Status read_rows(MYSQL_STMT* stmt, MYSQL_RES* meta, std::vector<Row>* rows) {
  const unsigned n = mariadb().mysql_num_fields(meta);
  const MYSQL_FIELD* fields = mariadb().mysql_fetch_fields(meta);
  std::vector<MysqlColumn> columns;
  std::vector<std::string> names;
  for (unsigned i = 0; i < n; ++i) {
    columns.push_back(column_of(fields[i]));
    names.emplace_back(fields[i].name, fields[i].name_length);
  }
  std::vector<MYSQL_BIND> binds(n);
  std::vector<std::string> buffers(n, std::string(kValueBuffer, '\0'));
  std::vector<unsigned long> lengths(n);
  std::vector<my_bool> nulls(n), errors(n);
  for (unsigned i = 0; i < n; ++i) {
    binds[i] = MYSQL_BIND{};
    binds[i].buffer_type = MYSQL_TYPE_STRING;
    binds[i].buffer = buffers[i].data();
    binds[i].buffer_length = kValueBuffer;
    binds[i].length = &lengths[i];
    binds[i].is_null = &nulls[i];
    binds[i].error = &errors[i];
  }
  if (mariadb().mysql_stmt_bind_result(stmt, binds.data())) return rejected("bind result");
  for (;;) {
    const int rc = mariadb().mysql_stmt_fetch(stmt);
    if (rc == MYSQL_NO_DATA) return {};
    if (rc == 1) return {ErrorKind::kNone, "fetch"};  // the caller reads the statement's error
    Row row;
    row.columns = names;
    for (unsigned i = 0; i < n; ++i) {
      ColumnType type = columns[i].type;
      row.types.push_back(type);
      if (nulls[i]) {
        row.values.emplace_back(std::nullopt);
        continue;
      }
      std::string text;
      if (lengths[i] <= kValueBuffer) {
        text.assign(buffers[i].data(), lengths[i]);
      } else {
        text.assign(lengths[i], '\0');
        MYSQL_BIND whole{};
        unsigned long length = 0;
        whole.buffer_type = MYSQL_TYPE_STRING;
        whole.buffer = text.data();
        whole.buffer_length = text.size();
        whole.length = &length;
        if (mariadb().mysql_stmt_fetch_column(stmt, &whole, i, 0))
          return {ErrorKind::kNone, "fetch"};
        text.resize(std::min<unsigned long>(length, text.size()));
      }
      convert_value(columns[i], text, row.types.back());
      row.values.emplace_back(std::move(text));
    }
    if (rows) rows->push_back(std::move(row));
  }
}

// `row` without its first column (the key a table source reads first).
Row without_key(Row row) {
  row.columns.erase(row.columns.begin());
  row.values.erase(row.values.begin());
  row.types.erase(row.types.begin());
  return row;
}

}  // namespace

MysqlDatabase::MysqlDatabase(const config::DatabaseConfig& config, ThreadStats* stats)
    : server_(std::make_unique<MysqlServer>(MysqlServer::from(config))),
      query_timeout_(config.query_timeout),
      stats_(stats),
      killer_(std::make_unique<QueryKiller>(*server_)) {}

MysqlDatabase::~MysqlDatabase() { disconnect(); }

void MysqlDatabase::disconnect() {
  for (auto& [text, stmt] : statements_) mariadb().mysql_stmt_close(stmt);
  statements_.clear();
  numeric_columns_.clear();
  if (conn_) mariadb().mysql_close(conn_);
  conn_ = nullptr;
}

Status MysqlDatabase::connect() {
  Opened opened = open_connection(*server_);
  if (!opened.conn) return opened.status;
  conn_ = opened.conn;
  // Strict: a value the column cannot hold is an error, never silently truncated or zeroed.
  // Read committed like PostgreSQL's default: no gap locks on the rows an increment misses.
  // max_statement_time (MariaDB; MySQL has none and refuses it, which is fine) is the server's
  // backstop for a statement whose KILL QUERY could not be sent.
  const char* setup[] = {
      "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'STRICT_ALL_TABLES')",
      "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
  };
  for (const char* text : setup) {
    if (mariadb().mysql_query(conn_, text) != 0) {
      Status s = unavailable(std::string("mysql: session setup: ") + mariadb().mysql_error(conn_));
      disconnect();
      return s;
    }
  }
  const std::string limit = "SET SESSION max_statement_time = " +
                            std::to_string((query_timeout_ + kKillBudget).count() / 1000.0);
  (void)mariadb().mysql_query(conn_, limit.c_str());
  if (stats_) {
    stats_->connects.add();
    if (connected_before_) stats_->reconnects.add();
  }
  connected_before_ = true;
  return {};
}

Status MysqlDatabase::timed_out() const {
  return {ErrorKind::kTimeout,
          "mysql: ran past query_timeout (" + std::to_string(query_timeout_.count()) + " ms)"};
}

Status MysqlDatabase::failure(unsigned code, const char* message, const std::string& what) {
  last_code_ = code;
  last_message_ = message ? message : "";
  if (connection_lost(code)) {
    disconnect();
    lost_ = true;
    if (killer_->fired()) return timed_out();
    return unavailable("mysql: connection lost: " + last_message_);
  }
  const ErrorKind kind = kind_of(code);
  if (kind == ErrorKind::kTimeout || killer_->fired()) return timed_out();
  return {kind, "mysql: " + what + ": " + last_message_};
}

Status MysqlDatabase::simple(const std::string& text) {
  if (!conn_) return unavailable("mysql: not connected");
  if (mariadb().mysql_real_query(conn_, text.data(), text.size()) != 0) {
    return failure(mariadb().mysql_errno(conn_), mariadb().mysql_error(conn_), text);
  }
  return {};
}

void MysqlDatabase::forget(const std::string& text) {
  const auto it = statements_.find(text);
  if (it == statements_.end()) return;
  mariadb().mysql_stmt_close(it->second);
  statements_.erase(it);
}

Status MysqlDatabase::prepared(const std::string& text, MYSQL_STMT** stmt) {
  if (const auto it = statements_.find(text); it != statements_.end()) {
    *stmt = it->second;
    return {};
  }
  if (statements_.size() >= kMaxStatements) {
    for (auto& [t, s] : statements_) mariadb().mysql_stmt_close(s);
    statements_.clear();
  }
  MYSQL_STMT* s = mariadb().mysql_stmt_init(conn_);
  if (!s) return failure(mariadb().mysql_errno(conn_), mariadb().mysql_error(conn_), "prepare");
  if (mariadb().mysql_stmt_prepare(s, text.data(), text.size()) != 0) {
    Status st = failure(mariadb().mysql_stmt_errno(s), mariadb().mysql_stmt_error(s), "prepare");
    mariadb().mysql_stmt_close(s);
    return st;
  }
  statements_.emplace(text, s);
  *stmt = s;
  return {};
}

Status MysqlDatabase::exec(const std::string& text, const std::vector<Param>& params,
                           std::vector<Row>* rows, std::uint64_t* affected) {
  if (!conn_) return unavailable("mysql: not connected");
  if (killer_->fired()) return timed_out();
  MYSQL_STMT* stmt = nullptr;
  if (Status s = prepared(text, &stmt); !s.ok()) return s;
  if (mariadb().mysql_stmt_param_count(stmt) != params.size()) {
    return rejected("mysql: the statement takes " +
                    std::to_string(mariadb().mysql_stmt_param_count(stmt)) + " parameters, not " +
                    std::to_string(params.size()) + ": " + text);
  }
  std::vector<MYSQL_BIND> binds(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    binds[i] = MYSQL_BIND{};
    if (!params[i]) {
      binds[i].buffer_type = MYSQL_TYPE_NULL;
      continue;
    }
    binds[i].buffer_type = MYSQL_TYPE_STRING;
    binds[i].buffer = const_cast<char*>(params[i]->data());
    binds[i].buffer_length = params[i]->size();
    binds[i].length_value = params[i]->size();
  }
  auto stmt_failure = [&](const char* what) {
    Status s = failure(mariadb().mysql_stmt_errno(stmt), mariadb().mysql_stmt_error(stmt), what);
    if (conn_) forget(text);
    return s;
  };
  if (!params.empty() && mariadb().mysql_stmt_bind_param(stmt, binds.data()))
    return stmt_failure("bind");
  if (mariadb().mysql_stmt_execute(stmt) != 0) return stmt_failure("query failed");
  if (affected) *affected = mariadb().mysql_stmt_affected_rows(stmt);
  MYSQL_RES* meta = mariadb().mysql_stmt_result_metadata(stmt);
  if (!meta) return {};
  const Status read = read_rows(stmt, meta, rows);
  mariadb().mysql_free_result(meta);
  if (!read.message.empty() && read.ok()) return stmt_failure("fetch");
  mariadb().mysql_stmt_free_result(stmt);
  return read;
}

void MysqlDatabase::rollback() {
  if (!conn_) return;
  // A KILL being sent must land before the ROLLBACK, not on it.
  killer_->disarm();
  if (mariadb().mysql_query(conn_, "ROLLBACK") != 0) disconnect();
}

template <typename F>
auto MysqlDatabase::with_retry(F&& attempt) {
  auto status_of = [](auto& r) -> Status& {
    if constexpr (std::is_same_v<std::decay_t<decltype(r)>, Status>) {
      return r;
    } else {
      return r.status;
    }
  };
  const bool reused = conn_ != nullptr;
  auto run = [&] {
    lost_ = false;
    decltype(attempt()) result{};
    if (!conn_) {
      if (Status s = connect(); !s.ok()) {
        status_of(result) = std::move(s);
        return result;
      }
    }
    killer_->arm(mariadb().mysql_thread_id(conn_), Clock::now() + query_timeout_);
    result = attempt();
    if (killer_->disarm()) status_of(result) = timed_out();
    return result;
  };
  auto result = run();
  if (reused && lost_ && status_of(result).kind == ErrorKind::kUnavailable) result = run();
  return result;
}

FetchResult MysqlDatabase::fetch(const Source& source, std::span<const std::string> ids) {
  if (std::string bad = sql::check_source(source, kMy); !bad.empty()) {
    return {rejected("mysql: " + bad), std::vector<std::optional<Row>>(ids.size())};
  }
  if (ids.empty()) return {};
  FetchResult out = with_retry([&] {
    FetchResult r;
    r.rows.resize(ids.size());
    r.status = source.query.empty() ? fetch_table(source, ids, r) : fetch_query(source, ids, r);
    return r;
  });
  if (!out.status.ok()) out.rows.assign(ids.size(), std::nullopt);
  return out;
}

Status MysqlDatabase::fetch_table(const Source& source, std::span<const std::string> ids,
                                  FetchResult& out) {
  std::unordered_multimap<std::string_view, std::size_t> index;
  for (std::size_t start = 0; start < ids.size(); start += sql::kMaxIdsPerStatement) {
    const std::size_t n = std::min(sql::kMaxIdsPerStatement, ids.size() - start);
    std::vector<Param> params;
    index.clear();
    for (std::size_t k = start; k < start + n; ++k) {
      params.push_back(&ids[k]);
      index.emplace(ids[k], k);
    }
    std::vector<Row> rows;
    if (Status s = exec(sql::select_by_keys(source, n, kMy), params, &rows); !s.ok()) return s;
    // Matched back by the key's exact text: a case-insensitive collation may return "Ab" for
    // the id "ab", which then has no row.
    for (Row& row : rows) {
      if (!row.values[0]) continue;
      auto [first, last] = index.equal_range(*row.values[0]);
      if (first == last) continue;
      const Row value = without_key(std::move(row));
      for (auto it = first; it != last; ++it) {
        if (!out.rows[it->second]) out.rows[it->second] = value;
      }
    }
  }
  return {};
}

Status MysqlDatabase::fetch_query(const Source& source, std::span<const std::string> ids,
                                  FetchResult& out) {
  if (ids.size() > 1) {
    if (Status s = simple("START TRANSACTION READ ONLY"); !s.ok()) return s;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    std::vector<Row> rows;
    if (Status s = exec(source.query, {&ids[i]}, &rows); !s.ok()) {
      if (ids.size() > 1) rollback();
      return s;
    }
    if (!rows.empty()) out.rows[i] = std::move(rows.front());
  }
  if (ids.size() <= 1) return {};
  Status s = simple("COMMIT");
  if (!s.ok()) rollback();
  return s;
}

IdsResult MysqlDatabase::fetch_ids(std::string_view query) {
  const std::string text(query);
  return with_retry([&] {
    IdsResult out;
    std::vector<Row> rows;
    out.status = exec(text, {}, &rows);
    if (!out.status.ok()) return out;
    for (const Row& row : rows) {
      if (row.values.empty()) {
        out.status = rejected("mysql: the warming query returns no column: " + text);
        out.ids.clear();
        return out;
      }
      if (row.values[0]) out.ids.push_back(*row.values[0]);
    }
    return out;
  });
}

Status MysqlDatabase::validate(const Source& source) {
  if (std::string bad = sql::check_source(source, kMy); !bad.empty()) {
    return rejected("mysql: " + bad);
  }
  return with_retry([&]() -> Status {
    const std::string text =
        source.query.empty() ? sql::select_by_keys(source, 1, kMy) : source.query;
    MYSQL_STMT* stmt = nullptr;
    Status s = prepared(text, &stmt);
    if (!s.ok()) {
      if (s.kind == ErrorKind::kRejected && !last_message_.empty()) {
        s.message = source.query.empty() ? "mysql: table '" + source.table + "': " + last_message_
                                         : "mysql: query '" + source.query + "': " + last_message_;
      }
      return s;
    }
    if (source.query.empty()) return {};
    const auto params = mariadb().mysql_stmt_param_count(stmt);
    if (params != 1) {
      return rejected("mysql: query '" + source.query +
                      "' must take exactly one parameter (the id, ?), it takes " +
                      std::to_string(params));
    }
    if (mariadb().mysql_stmt_field_count(stmt) == 0) {
      return rejected("mysql: query '" + source.query + "' returns no columns");
    }
    return {};
  });
}

Status MysqlDatabase::write(const std::string& table, const std::string& key_column,
                            std::span<const Upsert> upserts, std::span<const std::string> deletes) {
  if (sql::quote_identifier(table, kMy).empty() || sql::quote_identifier(key_column, kMy).empty()) {
    return rejected("mysql: bad table or key column name");
  }
  for (const auto& u : upserts) {
    for (const auto& [column, value] : u.values) {
      if (sql::quote_identifier(column, kMy).empty()) return rejected("mysql: bad column name");
    }
  }
  if (upserts.empty() && deletes.empty()) return {};
  return with_retry([&] {
    commit_sent_ = false;
    Status s = write_all(table, key_column, upserts, deletes);
    if (!s.ok()) {
      rollback();
      // Lost before COMMIT was sent: rolled back, safe to try again. After: unknown, no retry.
      if (commit_sent_) lost_ = false;
    }
    return s;
  });
}

Status MysqlDatabase::numeric_columns(const std::string& table,
                                      const std::unordered_set<std::string>** out) {
  if (const auto it = numeric_columns_.find(table); it != numeric_columns_.end()) {
    *out = &it->second;
    return {};
  }
  const std::string text = "SELECT * FROM " + sql::quote_identifier(table, kMy) + " LIMIT 0";
  MYSQL_STMT* stmt = mariadb().mysql_stmt_init(conn_);
  if (!stmt) return failure(mariadb().mysql_errno(conn_), mariadb().mysql_error(conn_), "prepare");
  if (mariadb().mysql_stmt_prepare(stmt, text.data(), text.size()) != 0) {
    Status s = failure(mariadb().mysql_stmt_errno(stmt), mariadb().mysql_stmt_error(stmt),
                       "table '" + table + "'");
    mariadb().mysql_stmt_close(stmt);
    return s;
  }
  std::unordered_set<std::string> names;
  if (MYSQL_RES* meta = mariadb().mysql_stmt_result_metadata(stmt)) {
    const MYSQL_FIELD* fields = mariadb().mysql_fetch_fields(meta);
    for (unsigned i = 0; i < mariadb().mysql_num_fields(meta); ++i) {
      const ValueKind kind = column_of(fields[i]).type.kind;
      if ((kind == ValueKind::kInteger || kind == ValueKind::kNumber) &&
          fields[i].type != MYSQL_TYPE_BIT) {
        std::string name(fields[i].name, fields[i].name_length);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        names.insert(std::move(name));
      }
    }
    mariadb().mysql_free_result(meta);
  }
  mariadb().mysql_stmt_close(stmt);
  *out = &numeric_columns_.emplace(table, std::move(names)).first->second;
  return {};
}

Status MysqlDatabase::write_all(const std::string& table, const std::string& key_column,
                                std::span<const Upsert> upserts,
                                std::span<const std::string> deletes) {
  if (Status s = simple("START TRANSACTION"); !s.ok()) return s;
  for (const auto& original : upserts) {
    Upsert converted;
    const Upsert* chosen = &original;
    for (const auto& [column, value] : original.values) {
      if (!value || (*value != "true" && *value != "false")) continue;
      const std::unordered_set<std::string>* numeric = nullptr;
      if (Status s = numeric_columns(table, &numeric); !s.ok()) return s;
      converted = original;
      for (auto& [name, v] : converted.values) {
        std::string lower = name;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (v && (*v == "true" || *v == "false") && numeric->count(lower)) {
          v = *v == "true" ? "1" : "0";
        }
      }
      chosen = &converted;
      break;
    }
    const Upsert& u = *chosen;
    // An existing row is updated in the named columns only (a partial write must not trip
    // NOT NULL constraints of the others); a new one is inserted, duplicate-safe.
    std::vector<Param> params{&u.key};
    std::vector<Param> update_params;
    for (const auto& [column, value] : u.values) {
      params.push_back(value ? &*value : nullptr);
      update_params.push_back(value ? &*value : nullptr);
    }
    update_params.push_back(&u.key);
    const std::string update = sql::update_by_key(table, key_column, u, kMy);
    if (!update.empty()) {
      std::uint64_t matched = 0;
      if (Status s = exec(update, update_params, nullptr, &matched); !s.ok()) return s;
      if (matched > 0) continue;
    }
    if (Status s = exec(sql::upsert(table, key_column, u, kMy), params); !s.ok()) return s;
  }
  const std::string del = sql::delete_by_key(table, key_column, kMy);
  for (const auto& key : deletes) {
    if (Status s = exec(del, {&key}); !s.ok()) return s;
  }
  commit_sent_ = true;
  return simple("COMMIT");
}

IncrementResult MysqlDatabase::increment(const std::string& table, const std::string& key_column,
                                         const std::string& key, const std::string& column,
                                         std::int64_t delta) {
  IncrementResult out;
  if (sql::quote_identifier(table, kMy).empty() || sql::quote_identifier(key_column, kMy).empty() ||
      sql::quote_identifier(column, kMy).empty()) {
    out.status = rejected("mysql: bad table or column name");
    return out;
  }
  // Another transaction inserting the new row first makes ours fail with a duplicate key (or
  // a deadlock): the whole transaction runs again and then finds (and locks) that row.
  for (int attempt = 0; attempt < 5; ++attempt) {
    bool raced = false;
    out = with_retry([&] {
      commit_sent_ = false;
      IncrementResult r = increment_once(table, key_column, key, column, delta, raced);
      if (!r.status.ok() || raced) {
        rollback();
        if (commit_sent_) lost_ = false;
      }
      return r;
    });
    if (!raced) return out;
  }
  out.status = unavailable("mysql: increment of a new row kept racing with other inserts");
  return out;
}

// SELECT ... FOR UPDATE locks the row until COMMIT: concurrent increments of it queue.
IncrementResult MysqlDatabase::increment_once(const std::string& table,
                                              const std::string& key_column, const std::string& key,
                                              const std::string& column, std::int64_t delta,
                                              bool& raced) {
  IncrementResult out;
  raced = false;
  if (Status s = simple("START TRANSACTION"); !s.ok()) {
    out.status = std::move(s);
    return out;
  }
  std::vector<Row> rows;
  const std::string select = sql::select_column_by_key(table, key_column, column, kMy, true);
  if (Status s = exec(select, {&key}, &rows); !s.ok()) {
    out.status = std::move(s);
    return out;
  }
  const bool found = !rows.empty();
  std::optional<std::string> old;
  if (found && rows[0].values[0]) old = *rows[0].values[0];
  out = add_integer(old, delta);
  if (!out.status.ok()) return out;
  const std::string value = std::to_string(out.value);
  const Upsert u{key, {{column, value}}};
  Status s = found ? exec(sql::update_by_key(table, key_column, u, kMy), {&value, &key})
                   : exec(sql::insert_row(table, key_column, u, kMy), {&key, &value});
  if (!s.ok()) {
    if (!found && (last_code_ == ER_DUP_ENTRY || last_code_ == ER_LOCK_DEADLOCK)) raced = true;
    out.status = std::move(s);
    return out;
  }
  commit_sent_ = true;
  out.status = simple("COMMIT");
  return out;
}

}  // namespace sidecache::db
