// MariaDB Connector/C, loaded on demand (db/client_library.hpp): every Connector/C function
// sidecache calls, as a table of pointers typed from mysql.h. load_mariadb() dlopen()s
// libmariadb.so.3 the first time a MySQL / MariaDB connection is opened; call sites then go
// through the table: mariadb().mysql_query(...).
#pragma once

#include <mysql.h>

#include "db/database.hpp"

namespace sidecache::db {

// The functions used by db/mysql.cpp and db/mysql_link.cpp. A call that is not listed here
// fails to link (the daemon does not link Connector/C): add it to the list.
// clang-format off
#define SIDECACHE_MARIADB_FUNCTIONS(X)                                                          \
  X(mariadb_field_attr) X(mysql_close) X(mysql_errno) X(mysql_error) X(mysql_fetch_fields)      \
  X(mysql_free_result) X(mysql_init) X(mysql_num_fields) X(mysql_options) X(mysql_query)        \
  X(mysql_real_connect) X(mysql_real_query) X(mysql_stmt_affected_rows) X(mysql_stmt_bind_param) \
  X(mysql_stmt_bind_result) X(mysql_stmt_close) X(mysql_stmt_errno) X(mysql_stmt_error)         \
  X(mysql_stmt_execute) X(mysql_stmt_fetch) X(mysql_stmt_fetch_column) X(mysql_stmt_field_count) \
  X(mysql_stmt_free_result) X(mysql_stmt_init) X(mysql_stmt_param_count) X(mysql_stmt_prepare)  \
  X(mysql_stmt_result_metadata) X(mysql_thread_id)
// clang-format on

struct MariadbApi {
#define SIDECACHE_MARIADB_SLOT(name) decltype(&::name) name = nullptr;
  SIDECACHE_MARIADB_FUNCTIONS(SIDECACHE_MARIADB_SLOT)
#undef SIDECACHE_MARIADB_SLOT
};

// Loads Connector/C and resolves the table, once per process (thread-safe); every call answers
// the outcome of that one load: ok, or kUnavailable with "MySQL/MariaDB client library
// libmariadb.so.3 not found: install libmariadb3 (...)".
Status load_mariadb();

// The table. Only after load_mariadb() succeeded (every Connector/C object comes from a
// connection that was opened after it).
const MariadbApi& mariadb();

}  // namespace sidecache::db
