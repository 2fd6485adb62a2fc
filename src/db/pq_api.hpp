// libpq, loaded on demand (db/client_library.hpp): every libpq function sidecache calls, as a
// table of pointers typed from libpq-fe.h. load_pq() dlopen()s libpq.so.5 the first time a
// PostgreSQL connection is opened; call sites then go through the table: pq().PQexec(...).
#pragma once

#include <libpq-fe.h>

#include "db/database.hpp"

namespace sidecache::db {

// The functions used by db/postgres.cpp and db/notifications.cpp. A call that is not listed
// here fails to link (the daemon does not link libpq): add it to the list.
// clang-format off
#define SIDECACHE_PQ_FUNCTIONS(X)                                                             \
  X(PQcancel) X(PQclear) X(PQcmdTuples) X(PQconnectPoll) X(PQconnectStart) X(PQconnectdb)     \
  X(PQconsumeInput) X(PQerrorMessage) X(PQescapeIdentifier) X(PQexec) X(PQfinish) X(PQflush)  \
  X(PQfname) X(PQfreeCancel) X(PQfreemem) X(PQftype) X(PQgetCancel) X(PQgetResult)           \
  X(PQgetisnull) X(PQgetlength) X(PQgetvalue) X(PQisBusy) X(PQnfields) X(PQnotifies)          \
  X(PQnparams) X(PQntuples) X(PQresultErrorField) X(PQresultErrorMessage) X(PQresultStatus)   \
  X(PQsendDescribePrepared) X(PQsendPrepare) X(PQsendQueryParams) X(PQsetNoticeProcessor)     \
  X(PQsetnonblocking) X(PQsocket) X(PQstatus)
// clang-format on

struct PqApi {
#define SIDECACHE_PQ_SLOT(name) decltype(&::name) name = nullptr;
  SIDECACHE_PQ_FUNCTIONS(SIDECACHE_PQ_SLOT)
#undef SIDECACHE_PQ_SLOT
};

// Loads libpq and resolves the table, once per process (thread-safe); every call answers the
// outcome of that one load: ok, or kUnavailable with "PostgreSQL client library libpq.so.5 not
// found: install libpq5 (...)".
Status load_pq();

// The table. Only after load_pq() succeeded (every libpq object comes from a connection that
// was opened after it).
const PqApi& pq();

}  // namespace sidecache::db
