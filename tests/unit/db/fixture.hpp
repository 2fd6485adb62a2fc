// A temp SQLite database file for the db tests, filled with SQL run through the C API.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "config/config.hpp"

namespace sidecache::db::test {

class TempSqlite {
 public:
  TempSqlite() {
    char dir[] = "/tmp/sidecache-db-test-XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    path_ = dir_ + "/test.db";
    sqlite3* db = nullptr;
    if (sqlite3_open(path_.c_str(), &db) != SQLITE_OK) throw std::runtime_error("open failed");
    sqlite3_close(db);
  }
  ~TempSqlite() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempSqlite(const TempSqlite&) = delete;
  TempSqlite& operator=(const TempSqlite&) = delete;

  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

  // Runs `sql` on a connection of its own; throws with SQLite's message on failure.
  void exec(const std::string& sql) const {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string message = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    if (rc != SQLITE_OK) throw std::runtime_error(message);
  }

  // The single value `sql` returns (text), or "<null>" / "<none>".
  std::string scalar(const std::string& sql) const {
    sqlite3* db = nullptr;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_stmt* stmt = nullptr;
    std::string out = "<none>";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(stmt, 0);
      out = t ? reinterpret_cast<const char*>(t) : "<null>";
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  config::DatabaseConfig config(int query_timeout_ms = 1000) const {
    config::DatabaseConfig c;
    c.kind = config::DatabaseKind::kSqlite;
    c.path = path_;
    c.query_timeout = std::chrono::milliseconds(query_timeout_ms);
    return c;
  }

 private:
  std::string dir_;
  std::string path_;
};

}  // namespace sidecache::db::test
