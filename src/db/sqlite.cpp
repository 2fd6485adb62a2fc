#include "db/sqlite.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <memory>
#include <thread>
#include <unordered_map>

#include "config/config.hpp"
#include "db/sql.hpp"
#include "db/stats.hpp"

namespace sidecache::db {
namespace {

constexpr int kProgressOps = 1000;  // VM instructions between deadline checks

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

Status rejected(std::string message) { return {ErrorKind::kRejected, std::move(message)}; }

// A REAL as the shortest text that reads back as the same double (SQLite's own text keeps 15
// digits, which can round), in SQLite's style for integral values ("42.0").
std::string real_text(double value) {
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  if (ec != std::errc()) return std::to_string(value);
  std::string text(buf, end);
  if (std::isfinite(value) && text.find_first_of(".e") == std::string::npos) text += ".0";
  return text;
}

// The value of column `i` and its type by storage class.
std::optional<std::string> column_value(sqlite3_stmt* stmt, int i, ColumnType& type) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_NULL:
      return std::nullopt;
    case SQLITE_BLOB: {
      type.kind = ValueKind::kBytes;
      const void* p = sqlite3_column_blob(stmt, i);
      const int n = sqlite3_column_bytes(stmt, i);
      return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n))
               : std::string();
    }
    case SQLITE_FLOAT:
      type.kind = ValueKind::kNumber;
      return real_text(sqlite3_column_double(stmt, i));
    case SQLITE_INTEGER:
      type.kind = ValueKind::kInteger;
      [[fallthrough]];
    default: {
      const unsigned char* p = sqlite3_column_text(stmt, i);
      const int n = sqlite3_column_bytes(stmt, i);
      return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
               : std::string();
    }
  }
}

std::optional<std::string> column_value(sqlite3_stmt* stmt, int i) {
  ColumnType ignored;
  return column_value(stmt, i, ignored);
}

// The row under `stmt`, from column `first` on.
Row read_row(sqlite3_stmt* stmt, int first) {
  Row row;
  const int n = sqlite3_column_count(stmt);
  for (int i = first; i < n; ++i) {
    const char* name = sqlite3_column_name(stmt, i);
    row.columns.emplace_back(name ? name : "");
    ColumnType type;
    row.values.push_back(column_value(stmt, i, type));
    row.types.push_back(type);
  }
  return row;
}

int bind(sqlite3_stmt* stmt, int i, const std::optional<std::string>& value) {
  if (!value) return sqlite3_bind_null(stmt, i);
  return sqlite3_bind_text(stmt, i, value->data(), static_cast<int>(value->size()), SQLITE_STATIC);
}

int bind(sqlite3_stmt* stmt, int i, const std::string& value) {
  return sqlite3_bind_text(stmt, i, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
}

}  // namespace

SqliteDatabase::SqliteDatabase(const config::DatabaseConfig& config, ThreadStats* stats)
    : path_(config.path), query_timeout_(config.query_timeout), stats_(stats) {}

SqliteDatabase::~SqliteDatabase() {
  if (db_) sqlite3_close_v2(db_);
}

int SqliteDatabase::on_progress(void* self) {
  auto* me = static_cast<SqliteDatabase*>(self);
  if (Clock::now() < me->deadline_) return 0;
  me->timed_out_ = true;
  return 1;  // interrupts the statement: SQLITE_INTERRUPT
}

int SqliteDatabase::on_busy(void* self, int count) {
  auto* me = static_cast<SqliteDatabase*>(self);
  const auto now = Clock::now();
  if (now >= me->deadline_) return 0;  // gives up: SQLITE_BUSY
  const auto step = std::chrono::milliseconds(std::min(1 << std::min(count, 4), 10));
  std::this_thread::sleep_for(
      std::min<Clock::duration>(step, me->deadline_ - now + std::chrono::microseconds(100)));
  return 1;
}

Status SqliteDatabase::open() {
  if (path_.empty()) return {ErrorKind::kUnavailable, "sqlite: no database path configured"};
  if (::access(path_.c_str(), F_OK) != 0) {
    return {ErrorKind::kUnavailable,
            "sqlite: database file '" + path_ + "' does not exist (sidecache never creates it)"};
  }
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message =
        "sqlite: cannot open '" + path_ + "': " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return {ErrorKind::kUnavailable, std::move(message)};
  }
  db_ = db;
  sqlite3_extended_result_codes(db_, 0);
  // A double-quoted name that matches no column must be an error, not a string literal (SQLite's
  // legacy "DQS" quirk would make an unknown column read as its own name).
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
  sqlite3_db_config(db_, SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
  sqlite3_progress_handler(db_, kProgressOps, &SqliteDatabase::on_progress, this);
  sqlite3_busy_handler(db_, &SqliteDatabase::on_busy, this);
  // WAL lets readers run while a writer commits. A read-only file keeps its journal mode; a file
  // that is no database fails here, at open.
  char* err = nullptr;
  const int wal = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, &err);
  sqlite3_free(err);
  if (wal == SQLITE_NOTADB || wal == SQLITE_CORRUPT) {
    Status s = error(wal, "open '" + path_ + "'");
    sqlite3_close_v2(db_);
    db_ = nullptr;
    return s;
  }
  if (stats_) {
    stats_->connects.add();
    if (opened_before_) stats_->reconnects.add();
  }
  opened_before_ = true;
  return {};
}

Status SqliteDatabase::begin_call() {
  deadline_ = Clock::now() + query_timeout_;
  timed_out_ = false;
  if (db_) return {};
  return open();
}

Status SqliteDatabase::error(int rc, const std::string& what) const {
  const int primary = rc & 0xff;
  last_message_ = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  std::string message = "sqlite: " + what + ": " + last_message_;
  switch (primary) {
    case SQLITE_INTERRUPT:
      if (timed_out_) {
        return {ErrorKind::kTimeout, "sqlite: " + what + ": ran past query_timeout (" +
                                         std::to_string(query_timeout_.count()) + " ms)"};
      }
      return {ErrorKind::kUnavailable, std::move(message)};
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return {ErrorKind::kUnavailable, std::move(message)};
    default:
      return {ErrorKind::kRejected, std::move(message)};
  }
}

Status SqliteDatabase::exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status{} : error(rc, sql);
}

Status SqliteDatabase::prepare(const std::string& sql, sqlite3_stmt** stmt) {
  last_message_.clear();
  const char* tail = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size() + 1), stmt, &tail);
  if (rc != SQLITE_OK) return error(rc, "cannot prepare");
  if (*stmt == nullptr) return rejected("sqlite: empty statement");
  if (tail) {
    while (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == '\r' || *tail == ';') ++tail;
    if (*tail != '\0') {
      sqlite3_finalize(*stmt);
      *stmt = nullptr;
      return rejected("sqlite: more than one statement in: " + sql);
    }
  }
  return {};
}

FetchResult SqliteDatabase::fetch(const Source& source, std::span<const std::string> ids) {
  FetchResult out;
  out.rows.resize(ids.size());
  if (std::string bad = sql::check_source(source); !bad.empty()) {
    out.status = rejected("sqlite: " + bad);
    return out;
  }
  if (ids.empty()) return out;
  out.status = begin_call();
  if (!out.status.ok()) return out;
  out.status = source.query.empty() ? fetch_table(source, ids, out) : fetch_query(source, ids, out);
  if (!out.status.ok()) {
    if (db_ && !sqlite3_get_autocommit(db_)) {
      deadline_ = Clock::now() + std::chrono::seconds(1);
      exec("ROLLBACK");
    }
    out.rows.assign(ids.size(), std::nullopt);
  }
  return out;
}

Status SqliteDatabase::fetch_table(const Source& source, std::span<const std::string> ids,
                                   FetchResult& out) {
  for (std::size_t start = 0; start < ids.size(); start += sql::kMaxIdsPerStatement) {
    const std::size_t n = std::min(sql::kMaxIdsPerStatement, ids.size() - start);
    sqlite3_stmt* raw = nullptr;
    if (Status s = prepare(sql::select_by_keys(source, n, sql::Placeholders::kQuestion), &raw);
        !s.ok()) {
      return s;
    }
    Stmt stmt(raw);
    std::unordered_multimap<std::string_view, std::size_t> index;
    for (std::size_t i = 0; i < n; ++i) {
      bind(raw, static_cast<int>(i + 1), ids[start + i]);
      index.emplace(ids[start + i], start + i);
    }
    for (;;) {
      const int rc = sqlite3_step(raw);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return error(rc, "select from " + source.table);
      const std::optional<std::string> key = column_value(raw, 0);
      if (!key) continue;
      auto [first, last] = index.equal_range(*key);
      if (first == last) continue;
      Row row = read_row(raw, 1);
      for (auto it = first; it != last; ++it) {
        if (!out.rows[it->second]) out.rows[it->second] = row;
      }
    }
  }
  return {};
}

Status SqliteDatabase::fetch_query(const Source& source, std::span<const std::string> ids,
                                   FetchResult& out) {
  sqlite3_stmt* raw = nullptr;
  if (Status s = prepare(source.query, &raw); !s.ok()) return s;
  Stmt stmt(raw);
  if (sqlite3_bind_parameter_count(raw) != 1) {
    return rejected("sqlite: the query must take exactly one parameter (the id): " + source.query);
  }
  if (Status s = exec("BEGIN"); !s.ok()) return s;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    sqlite3_reset(raw);
    bind(raw, 1, ids[i]);
    const int rc = sqlite3_step(raw);
    if (rc == SQLITE_ROW) {
      out.rows[i] = read_row(raw, 0);
    } else if (rc != SQLITE_DONE) {
      return error(rc, "query");
    }
  }
  sqlite3_reset(raw);
  return exec("COMMIT");
}

IdsResult SqliteDatabase::fetch_ids(std::string_view query) {
  IdsResult out;
  out.status = begin_call();
  if (!out.status.ok()) return out;
  sqlite3_stmt* raw = nullptr;
  out.status = prepare(std::string(query), &raw);
  if (!out.status.ok()) return out;
  Stmt stmt(raw);
  if (sqlite3_bind_parameter_count(raw) != 0 || sqlite3_column_count(raw) == 0) {
    out.status = rejected("sqlite: a warming query takes no parameter and returns a column");
    return out;
  }
  for (;;) {
    const int rc = sqlite3_step(raw);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      out.status = error(rc, "warming query");
      out.ids.clear();
      break;
    }
    if (auto id = column_value(raw, 0)) out.ids.push_back(std::move(*id));
  }
  return out;
}

Status SqliteDatabase::validate(const Source& source) {
  if (std::string bad = sql::check_source(source); !bad.empty()) return rejected("sqlite: " + bad);
  if (Status s = begin_call(); !s.ok()) return s;
  sqlite3_stmt* raw = nullptr;
  if (!source.query.empty()) {
    Status s = prepare(source.query, &raw);
    if (!s.ok()) {
      if (s.kind == ErrorKind::kRejected && !last_message_.empty()) {
        s.message = "sqlite: query '" + source.query + "': " + last_message_;
      }
      return s;
    }
    Stmt stmt(raw);
    if (sqlite3_bind_parameter_count(raw) != 1) {
      return rejected("sqlite: query '" + source.query +
                      "' must take exactly one parameter (the id), it takes " +
                      std::to_string(sqlite3_bind_parameter_count(raw)));
    }
    if (sqlite3_column_count(raw) == 0) {
      return rejected("sqlite: query '" + source.query + "' returns no columns");
    }
    return {};
  }
  Status s = prepare(sql::select_by_keys(source, 1, sql::Placeholders::kQuestion), &raw);
  Stmt stmt(raw);
  if (s.kind == ErrorKind::kRejected && !last_message_.empty()) {
    s.message = "sqlite: table '" + source.table + "': " + last_message_;
  }
  return s;
}

Status SqliteDatabase::write(const std::string& table, const std::string& key_column,
                             std::span<const Upsert> upserts,
                             std::span<const std::string> deletes) {
  if (sql::quote_identifier(table).empty() || sql::quote_identifier(key_column).empty()) {
    return rejected("sqlite: bad table or key column name");
  }
  for (const auto& u : upserts) {
    for (const auto& [column, value] : u.values) {
      if (sql::quote_identifier(column).empty()) return rejected("sqlite: bad column name");
    }
  }
  if (upserts.empty() && deletes.empty()) return {};
  if (Status s = begin_call(); !s.ok()) return s;
  Status s = write_all(table, key_column, upserts, deletes);
  if (!s.ok()) rollback_open();
  return s;
}

void SqliteDatabase::rollback_open() {
  if (db_ && !sqlite3_get_autocommit(db_)) {
    deadline_ = Clock::now() + std::chrono::seconds(1);
    exec("ROLLBACK");
  }
}

Status SqliteDatabase::run(const std::string& text, const Upsert& u, const std::string& table) {
  sqlite3_stmt* raw = nullptr;
  if (Status s = prepare(text, &raw); !s.ok()) return s;
  Stmt stmt(raw);
  bind(raw, 1, u.key);
  int i = 2;
  for (const auto& [column, value] : u.values) bind(raw, i++, value);
  if (const int rc = sqlite3_step(raw); rc != SQLITE_DONE) {
    return error(rc, "write into " + table);
  }
  return {};
}

Status SqliteDatabase::write_all(const std::string& table, const std::string& key_column,
                                 std::span<const Upsert> upserts,
                                 std::span<const std::string> deletes) {
  if (Status s = exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  // An existing row is updated in the named columns only; a new one is inserted (the insert
  // still resolves a conflict, should the row appear in between). Statements are made and prepared
  // once per transaction and column list, not once per row (the rows of a batch usually name the
  // same columns).
  struct Shape {
    const Upsert* first;  // a row with these columns
    Stmt update;          // null when the row names no column besides the key
    Stmt insert;          // made when a row is missing
  };
  std::vector<Shape> shapes;
  auto same_columns = [](const Upsert& a, const Upsert& b) {
    if (a.values.size() != b.values.size()) return false;
    for (std::size_t i = 0; i < a.values.size(); ++i) {
      if (a.values[i].first != b.values[i].first) return false;
    }
    return true;
  };
  auto shape_of = [&](const Upsert& u, Shape*& out) -> Status {
    for (auto& sh : shapes) {
      if (same_columns(*sh.first, u)) {
        out = &sh;
        return {};
      }
    }
    Shape sh{&u, nullptr, nullptr};
    sqlite3_stmt* raw = nullptr;
    const std::string update =
        sql::update_by_key(table, key_column, u, sql::Placeholders::kQuestion);
    if (!update.empty()) {
      if (Status s = prepare(update, &raw); !s.ok()) return s;
      sh.update.reset(raw);
    }
    out = &shapes.emplace_back(std::move(sh));
    return {};
  };
  auto step = [&](sqlite3_stmt* stmt, const Upsert& u) -> Status {
    sqlite3_reset(stmt);
    bind(stmt, 1, u.key);
    int i = 2;
    for (const auto& [column, value] : u.values) bind(stmt, i++, value);
    if (const int rc = sqlite3_step(stmt); rc != SQLITE_DONE) {
      return error(rc, "upsert into " + table);
    }
    return {};
  };
  shapes.reserve(4);
  for (const auto& u : upserts) {
    Shape* sh = nullptr;
    if (Status s = shape_of(u, sh); !s.ok()) return s;
    if (sh->update) {
      if (Status s = step(sh->update.get(), u); !s.ok()) return s;
      if (sqlite3_changes(db_) > 0) continue;
    }
    if (!sh->insert) {  // made when first needed: updates of existing rows never need it
      sqlite3_stmt* raw = nullptr;
      if (Status s = prepare(sql::upsert(table, key_column, u, sql::Placeholders::kQuestion), &raw);
          !s.ok()) {
        return s;
      }
      sh->insert.reset(raw);
    }
    if (Status s = step(sh->insert.get(), u); !s.ok()) return s;
  }
  for (auto& sh : shapes) {
    if (sh.update) sqlite3_reset(sh.update.get());
    if (sh.insert) sqlite3_reset(sh.insert.get());
  }
  if (!deletes.empty()) {
    sqlite3_stmt* raw = nullptr;
    if (Status s =
            prepare(sql::delete_by_key(table, key_column, sql::Placeholders::kQuestion), &raw);
        !s.ok()) {
      return s;
    }
    Stmt stmt(raw);
    for (const auto& key : deletes) {
      sqlite3_reset(raw);
      bind(raw, 1, key);
      if (const int rc = sqlite3_step(raw); rc != SQLITE_DONE) {
        return error(rc, "delete from " + table);
      }
    }
  }
  return exec("COMMIT");
}

IncrementResult SqliteDatabase::increment(const std::string& table, const std::string& key_column,
                                          const std::string& key, const std::string& column,
                                          std::int64_t delta) {
  IncrementResult out;
  if (sql::quote_identifier(table).empty() || sql::quote_identifier(key_column).empty() ||
      sql::quote_identifier(column).empty()) {
    out.status = rejected("sqlite: bad table or column name");
    return out;
  }
  if (Status s = begin_call(); !s.ok()) {
    out.status = std::move(s);
    return out;
  }
  out = increment_all(table, key_column, key, column, delta);
  if (!out.status.ok()) rollback_open();
  return out;
}

// BEGIN IMMEDIATE takes the database's write lock: no other writer between the read and the
// commit.
IncrementResult SqliteDatabase::increment_all(const std::string& table,
                                              const std::string& key_column, const std::string& key,
                                              const std::string& column, std::int64_t delta) {
  IncrementResult out;
  if (Status s = exec("BEGIN IMMEDIATE"); !s.ok()) {
    out.status = std::move(s);
    return out;
  }
  std::optional<std::string> old;
  bool found = false;
  {
    sqlite3_stmt* raw = nullptr;
    const std::string select =
        sql::select_column_by_key(table, key_column, column, sql::Placeholders::kQuestion, false);
    if (Status s = prepare(select, &raw); !s.ok()) {
      out.status = std::move(s);
      return out;
    }
    Stmt stmt(raw);
    bind(raw, 1, key);
    const int rc = sqlite3_step(raw);
    if (rc == SQLITE_ROW) {
      found = true;
      old = column_value(raw, 0);
    } else if (rc != SQLITE_DONE) {
      out.status = error(rc, "select from " + table);
      return out;
    }
  }
  out = add_integer(old, delta);
  if (!out.status.ok()) return out;
  const Upsert u{key, {{column, std::to_string(out.value)}}};
  const std::string text =
      found ? sql::update_by_key(table, key_column, u, sql::Placeholders::kQuestion)
            : sql::insert_if_absent(table, key_column, u, sql::Placeholders::kQuestion);
  if (Status s = run(text, u, table); !s.ok()) {
    out.status = std::move(s);
    return out;
  }
  out.status = exec("COMMIT");
  return out;
}

}  // namespace sidecache::db
