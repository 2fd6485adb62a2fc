#include "db/postgres.hpp"

#include <poll.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "config/config.hpp"
#include "db/pq_api.hpp"
#include "db/row_json.hpp"
#include "db/sql.hpp"
#include "db/stats.hpp"

namespace sidecache::db {
namespace {

using Clock = std::chrono::steady_clock;

// After a timeout: how long the cancel request and the wait for the cancelled statement's
// answer may take together before the connection is dropped instead.
constexpr std::chrono::milliseconds kCancelBudget{250};

Status unavailable(std::string message) { return {ErrorKind::kUnavailable, std::move(message)}; }
Status rejected(std::string message) { return {ErrorKind::kRejected, std::move(message)}; }

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Waits until `fd` is ready for `events` or `deadline` passes: revents, 0 on timeout, -1 on a
// poll error.
int wait_socket(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(ms, 60'000)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return -1;
    if (rc > 0) return p.revents;
  }
}

// PQcancel connects to the server and waits for it to close that connection: it has no timeout
// of its own, so it runs on a short-lived thread of its own and is waited for at most `limit`.
bool send_cancel(PGconn* conn, std::chrono::milliseconds limit) {
  PGcancel* cancel = pq().PQgetCancel(conn);
  if (!cancel) return false;
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    bool ok = false;
  };
  auto state = std::make_shared<State>();
  std::thread([cancel, state] {
    char error[256];
    const bool ok = pq().PQcancel(cancel, error, sizeof error) == 1;
    pq().PQfreeCancel(cancel);
    const std::lock_guard lock(state->mutex);
    state->done = true;
    state->ok = ok;
    state->cv.notify_all();
  }).detach();
  std::unique_lock lock(state->mutex);
  state->cv.wait_for(lock, limit, [&] { return state->done; });
  return state->done && state->ok;
}

// The kind of a failed statement, from its SQLSTATE.
ErrorKind kind_of(const char* sqlstate) {
  const std::string s = sqlstate ? sqlstate : "";
  if (s == "57014") return ErrorKind::kTimeout;   // query_canceled: statement_timeout, cancel
  if (s == "08P01") return ErrorKind::kRejected;  // protocol violation: wrong parameter count
  if (s.rfind("08", 0) == 0 || s.rfind("53", 0) == 0 || s == "57P01" || s == "57P02" ||
      s == "57P03" || s == "40001" || s == "40P01" || s == "55P03") {
    return ErrorKind::kUnavailable;  // connection, resources, shutdown, conflicts: retry later
  }
  return ErrorKind::kRejected;
}

// A column's type by its OID (pg_type.dat of PostgreSQL 15; built-in OIDs are stable).
ColumnType column_type(Oid oid) {
  switch (oid) {
    case 20:
    case 21:
    case 23:
    case 26:  // int8, int2, int4, oid
      return {ValueKind::kInteger, false};
    case 700:
    case 701:
    case 1700:  // float4, float8, numeric
      return {ValueKind::kNumber, false};
    case 16:  // bool
      return {ValueKind::kBoolean, false};
    case 114:
    case 3802:  // json, jsonb
      return {ValueKind::kJson, false};
    case 17:  // bytea
      return {ValueKind::kBytes, false};
    case 1114:
    case 1184:
    case 1082:
    case 1083:
    case 1266:  // timestamp(tz), date, time(tz)
      return {ValueKind::kTimestamp, false};
    case 1016:
    case 1005:
    case 1007:
    case 1028:  // int8[], int2[], int4[], oid[]
      return {ValueKind::kInteger, true};
    case 1021:
    case 1022:
    case 1231:  // float4[], float8[], numeric[]
      return {ValueKind::kNumber, true};
    case 1000:  // bool[]
      return {ValueKind::kBoolean, true};
    case 199:
    case 3807:  // json[], jsonb[]
      return {ValueKind::kJson, true};
    case 1001:  // bytea[]
      return {ValueKind::kBytes, true};
    case 1115:
    case 1185:
    case 1182:
    case 1183:
    case 1270:  // timestamp(tz)[], date[], time(tz)[]
      return {ValueKind::kTimestamp, true};
    case 1009:
    case 1015:
    case 1014:
    case 2951:
    case 1002:  // text[], varchar[], bpchar[], uuid[], char[]
      return {ValueKind::kText, true};
    default:
      return {ValueKind::kText, false};
  }
}

Row read_row(const PGresult* r, int row, int first) {
  Row out;
  const int n = pq().PQnfields(r);
  for (int c = first; c < n; ++c) {
    out.columns.emplace_back(pq().PQfname(r, c));
    const ColumnType type = column_type(pq().PQftype(r, c));
    out.types.push_back(type);
    if (pq().PQgetisnull(r, row, c)) {
      out.values.emplace_back(std::nullopt);
      continue;
    }
    std::string text(pq().PQgetvalue(r, row, c),
                     static_cast<std::size_t>(pq().PQgetlength(r, row, c)));
    // bytea arrives as hex text ("\x0aff"): a bytes value is its bytes, as SQLite's BLOB.
    if (type == ColumnType{ValueKind::kBytes, false}) {
      if (auto bytes = decode_bytea_hex(text)) text = std::move(*bytes);
    }
    out.values.emplace_back(std::move(text));
  }
  return out;
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

void PostgresDatabase::ResultDeleter::operator()(pg_result* r) const { pq().PQclear(r); }

PostgresDatabase::PostgresDatabase(const config::DatabaseConfig& config, ThreadStats* stats)
    : conninfo_(config.conninfo),
      query_timeout_(config.query_timeout),
      connect_timeout_(config.connect_timeout),
      stats_(stats) {}

PostgresDatabase::~PostgresDatabase() { disconnect(); }

void PostgresDatabase::disconnect() {
  if (conn_) pq().PQfinish(conn_);
  conn_ = nullptr;
}

Status PostgresDatabase::connect() {
  // The first PostgreSQL connection of the process loads libpq; its absence fails every
  // connect the same way, with what to install.
  if (Status s = load_pq(); !s.ok()) return unavailable("postgres: " + s.message);
  const auto deadline = Clock::now() + connect_timeout_;
  conn_ = pq().PQconnectStart(conninfo_.c_str());
  if (!conn_) return unavailable("postgres: cannot allocate a connection");
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  while (pq().PQstatus(conn_) != CONNECTION_BAD && state != PGRES_POLLING_OK &&
         state != PGRES_POLLING_FAILED) {
    const short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    const int ready = wait_socket(pq().PQsocket(conn_), events, deadline);
    if (ready == 0) {
      disconnect();
      return unavailable("postgres: connect timed out after " +
                         std::to_string(connect_timeout_.count()) + " ms");
    }
    state = pq().PQconnectPoll(conn_);
  }
  if (pq().PQstatus(conn_) != CONNECTION_OK) {
    Status s = unavailable("postgres: cannot connect: " + trimmed(pq().PQerrorMessage(conn_)));
    disconnect();
    return s;
  }
  pq().PQsetnonblocking(conn_, 1);
  // Notices and warnings (e.g. ROLLBACK outside a transaction) would go to stderr.
  pq().PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  // The server stops a statement too, a little after this side cancels it: the backstop for a
  // statement this side gave up on without a successful cancel.
  if (Status s = exec(
          "SET statement_timeout = " + std::to_string((query_timeout_ + kCancelBudget).count()),
          {});
      !s.ok()) {
    disconnect();
    return s;
  }
  // Timestamps in the form the typed JSON mapping turns into ISO-8601, and floats printed
  // exactly (shortest text that reads back the same), whatever the server's defaults.
  if (Status s = exec("SET DateStyle = 'ISO, YMD'", {}); !s.ok()) {
    disconnect();
    return s;
  }
  if (Status s = exec("SET extra_float_digits = 1", {}); !s.ok()) {
    disconnect();
    return s;
  }
  if (stats_) {
    stats_->connects.add();
    if (connected_before_) stats_->reconnects.add();
  }
  connected_before_ = true;
  return {};
}

Status PostgresDatabase::failure(const PGresult* result, const std::string& what) {
  last_sqlstate_.clear();
  last_message_.clear();
  if (!conn_ || pq().PQstatus(conn_) == CONNECTION_BAD) {
    std::string message = conn_ ? trimmed(pq().PQerrorMessage(conn_)) : "no connection";
    if (result && message.empty()) message = trimmed(pq().PQresultErrorMessage(result));
    disconnect();
    lost_ = true;
    return unavailable("postgres: connection lost: " + message);
  }
  if (!result) return unavailable("postgres: " + what + ": " + trimmed(pq().PQerrorMessage(conn_)));
  const char* sqlstate = pq().PQresultErrorField(result, PG_DIAG_SQLSTATE);
  last_sqlstate_ = sqlstate ? sqlstate : "";
  const ErrorKind kind = kind_of(sqlstate);
  if (kind == ErrorKind::kTimeout) {
    return {ErrorKind::kTimeout, "postgres: " + what + ": ran past query_timeout (" +
                                     std::to_string(query_timeout_.count()) + " ms)"};
  }
  const char* primary = pq().PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  last_message_ = trimmed(primary ? primary : pq().PQresultErrorMessage(result));
  return {kind, "postgres: " + what + ": " + last_message_};
}

Status PostgresDatabase::timed_out() {
  // Cancel the statement and read its answer (the connection stays usable), all within a short
  // budget; otherwise drop the connection (the server's statement_timeout ends the statement).
  const auto budget_end = Clock::now() + kCancelBudget;
  bool clean = send_cancel(conn_, kCancelBudget);
  if (clean) {
    deadline_ = budget_end;
    Result ignored;
    const Status s = conn_ ? await_result(&ignored) : Status{ErrorKind::kTimeout, ""};
    // The cancelled statement answers 57014 (or finished first): either way it is over.
    clean = conn_ != nullptr && !(s.kind == ErrorKind::kTimeout && s.message.empty());
  }
  if (!clean) disconnect();
  return {ErrorKind::kTimeout,
          "postgres: ran past query_timeout (" + std::to_string(query_timeout_.count()) + " ms)"};
}

Status PostgresDatabase::await_result(Result* out) {
  Result first_error;
  Result last;
  for (;;) {
    while (!pq().PQisBusy(conn_)) {
      PGresult* r = pq().PQgetResult(conn_);
      if (!r) {
        if (first_error) return failure(first_error.get(), "query failed");
        if (pq().PQstatus(conn_) == CONNECTION_BAD) return failure(nullptr, "query failed");
        if (out) *out = std::move(last);
        return {};
      }
      const ExecStatusType st = pq().PQresultStatus(r);
      if (st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE || st == PGRES_NONFATAL_ERROR) {
        if (!first_error) {
          first_error.reset(r);
        } else {
          pq().PQclear(r);
        }
      } else {
        last.reset(r);
      }
    }
    const int ready = wait_socket(pq().PQsocket(conn_), POLLIN, deadline_);
    if (ready == 0) return {ErrorKind::kTimeout, ""};  // the caller cancels (timed_out)
    if (ready < 0 || !pq().PQconsumeInput(conn_)) return failure(nullptr, "read");
  }
}

Status PostgresDatabase::finish_send(bool sent, Result* out) {
  if (!sent) return failure(nullptr, "send");
  for (;;) {
    const int rc = pq().PQflush(conn_);
    if (rc == 0) break;
    if (rc < 0) return failure(nullptr, "send");
    const int ready = wait_socket(pq().PQsocket(conn_), POLLIN | POLLOUT, deadline_);
    if (ready == 0) return timed_out();
    if (ready < 0) return failure(nullptr, "send");
    if ((ready & POLLIN) && !pq().PQconsumeInput(conn_)) return failure(nullptr, "send");
  }
  Status s = await_result(out);
  if (s.kind == ErrorKind::kTimeout && s.message.empty()) return timed_out();
  return s;
}

Status PostgresDatabase::exec(const std::string& sql, const std::vector<const char*>& params,
                              Result* out) {
  if (!conn_) return unavailable("postgres: not connected");
  const bool sent = pq().PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()),
                                           nullptr, params.data(), nullptr, nullptr, 0) == 1;
  return finish_send(sent, out);
}

Status PostgresDatabase::prepare(const std::string& sql, int* params, int* fields) {
  if (!conn_) return unavailable("postgres: not connected");
  if (Status s = finish_send(pq().PQsendPrepare(conn_, "", sql.c_str(), 0, nullptr) == 1, nullptr);
      !s.ok()) {
    return s;
  }
  Result described;
  if (Status s = finish_send(pq().PQsendDescribePrepared(conn_, "") == 1, &described); !s.ok()) {
    return s;
  }
  if (!described) return rejected("postgres: no description of: " + sql);
  *params = pq().PQnparams(described.get());
  *fields = pq().PQnfields(described.get());
  return {};
}

void PostgresDatabase::rollback() {
  if (!conn_) return;
  deadline_ = Clock::now() + kCancelBudget;
  if (!exec("ROLLBACK", {}).ok()) disconnect();
}

template <typename F>
auto PostgresDatabase::with_retry(F&& attempt) {
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
    deadline_ = Clock::now() + connect_timeout_;
    decltype(attempt()) result{};
    if (!conn_) {
      if (Status s = connect(); !s.ok()) {
        status_of(result) = std::move(s);
        return result;
      }
    }
    deadline_ = Clock::now() + query_timeout_;
    return attempt();
  };
  auto result = run();
  if (reused && lost_ && status_of(result).kind == ErrorKind::kUnavailable) result = run();
  return result;
}

FetchResult PostgresDatabase::fetch(const Source& source, std::span<const std::string> ids) {
  if (std::string bad = sql::check_source(source); !bad.empty()) {
    return {rejected("postgres: " + bad), std::vector<std::optional<Row>>(ids.size())};
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

Status PostgresDatabase::fetch_table(const Source& source, std::span<const std::string> ids,
                                     FetchResult& out) {
  std::vector<std::size_t> sendable;  // ids that can be a text parameter (no NUL byte)
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!has_nul(ids[i])) sendable.push_back(i);
  }
  std::unordered_multimap<std::string_view, std::size_t> index;
  auto collect = [&](const PGresult* r) {
    for (int row = 0; row < pq().PQntuples(r); ++row) {
      if (pq().PQgetisnull(r, row, 0)) continue;
      auto [first, last] = index.equal_range(pq().PQgetvalue(r, row, 0));
      if (first == last) continue;
      Row value = read_row(r, row, 1);
      for (auto it = first; it != last; ++it) {
        if (!out.rows[it->second]) out.rows[it->second] = value;
      }
    }
  };
  for (std::size_t start = 0; start < sendable.size(); start += sql::kMaxIdsPerStatement) {
    const std::size_t n = std::min(sql::kMaxIdsPerStatement, sendable.size() - start);
    std::vector<const char*> params;
    index.clear();
    for (std::size_t k = start; k < start + n; ++k) {
      params.push_back(ids[sendable[k]].c_str());
      index.emplace(ids[sendable[k]], sendable[k]);
    }
    Result r;
    Status s = exec(sql::select_by_keys(source, n, sql::Placeholders::kDollar), params, &r);
    if (s.ok()) {
      collect(r.get());
      continue;
    }
    if (!bad_id(s)) return s;
    // An id the key column's type cannot hold fails the whole statement: ask id by id; the ids
    // that fail that way have no row.
    const std::string one = sql::select_by_keys(source, 1, sql::Placeholders::kDollar);
    for (std::size_t k = start; k < start + n; ++k) {
      index.clear();
      index.emplace(ids[sendable[k]], sendable[k]);
      Result single;
      Status each = exec(one, {params[k - start]}, &single);
      if (each.ok()) {
        collect(single.get());
      } else if (!bad_id(each)) {
        return each;
      }
    }
  }
  return {};
}

bool PostgresDatabase::bad_id(const Status& s) const {
  // The text of a parameter that does not convert to the type it is compared with. Other data
  // exceptions (division by zero, ...) are errors of the query, not of the id.
  static constexpr std::string_view kConversions[] = {
      "22P02",  // invalid_text_representation: "abc" for an integer
      "22003",  // numeric_value_out_of_range
      "22021",  // character_not_in_repertoire: bad UTF-8
      "22007",  // invalid_datetime_format
      "22008",  // datetime_field_overflow
      "22001",  // string_data_right_truncation
  };
  if (s.kind != ErrorKind::kRejected || !conn_) return false;
  for (const auto code : kConversions) {
    if (last_sqlstate_ == code) return true;
  }
  return false;
}

Status PostgresDatabase::fetch_query(const Source& source, std::span<const std::string> ids,
                                     FetchResult& out) {
  if (Status s = exec("BEGIN", {}); !s.ok()) return s;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (has_nul(ids[i])) continue;
    Result r;
    Status s = exec(source.query, {ids[i].c_str()}, &r);
    if (!s.ok()) {
      const bool skip = bad_id(s);
      rollback();
      if (!skip) return s;
      // This id has no row; the aborted transaction starts again for the others.
      if (Status again = exec("BEGIN", {}); !again.ok()) return again;
      continue;
    }
    if (pq().PQntuples(r.get()) > 0) out.rows[i] = read_row(r.get(), 0, 0);
  }
  Status s = exec("COMMIT", {});
  if (!s.ok()) rollback();
  return s;
}

IdsResult PostgresDatabase::fetch_ids(std::string_view query) {
  const std::string sql(query);
  if (has_nul(sql)) return {rejected("postgres: the query holds a NUL byte"), {}};
  return with_retry([&] {
    IdsResult out;
    Result r;
    out.status = exec(sql, {}, &r);
    if (!out.status.ok()) return out;
    if (pq().PQnfields(r.get()) < 1) {
      out.status = rejected("postgres: the warming query returns no column: " + sql);
      return out;
    }
    for (int row = 0; row < pq().PQntuples(r.get()); ++row) {
      if (pq().PQgetisnull(r.get(), row, 0)) continue;
      out.ids.emplace_back(pq().PQgetvalue(r.get(), row, 0),
                           static_cast<std::size_t>(pq().PQgetlength(r.get(), row, 0)));
    }
    return out;
  });
}

Status PostgresDatabase::validate(const Source& source) {
  if (std::string bad = sql::check_source(source); !bad.empty())
    return rejected("postgres: " + bad);
  return with_retry([&] {
    int params = 0, fields = 0;
    if (!source.query.empty()) {
      Status s = prepare(source.query, &params, &fields);
      if (!s.ok()) {
        if (s.kind == ErrorKind::kRejected && !last_message_.empty())
          s.message = "postgres: query '" + source.query + "': " + last_message_;
        return s;
      }
      if (params != 1) {
        return rejected("postgres: query '" + source.query +
                        "' must take exactly one parameter (the id, $1), it takes " +
                        std::to_string(params));
      }
      if (fields == 0) return rejected("postgres: query '" + source.query + "' returns no columns");
      return Status{};
    }
    Status s =
        prepare(sql::select_by_keys(source, 1, sql::Placeholders::kDollar), &params, &fields);
    if (s.kind == ErrorKind::kRejected && !last_message_.empty()) {
      s.message = "postgres: table '" + source.table + "': " + last_message_;
    }
    return s;
  });
}

Status PostgresDatabase::write(const std::string& table, const std::string& key_column,
                               std::span<const Upsert> upserts,
                               std::span<const std::string> deletes) {
  if (sql::quote_identifier(table).empty() || sql::quote_identifier(key_column).empty()) {
    return rejected("postgres: bad table or key column name");
  }
  for (const auto& u : upserts) {
    if (has_nul(u.key)) return rejected("postgres: a key holds a NUL byte");
    for (const auto& [column, value] : u.values) {
      if (sql::quote_identifier(column).empty()) return rejected("postgres: bad column name");
      if (value && has_nul(*value)) return rejected("postgres: a value holds a NUL byte");
    }
  }
  for (const auto& key : deletes) {
    if (has_nul(key)) return rejected("postgres: a key holds a NUL byte");
  }
  if (upserts.empty() && deletes.empty()) return {};
  return with_retry([&] {
    commit_sent_ = false;
    Status s = write_all(table, key_column, upserts, deletes);
    if (!s.ok()) {
      rollback();
      // A connection lost before COMMIT was sent rolled the transaction back: trying again is
      // safe. After COMMIT was sent the outcome is unknown: no retry.
      if (commit_sent_) lost_ = false;
    }
    return s;
  });
}

Status PostgresDatabase::write_all(const std::string& table, const std::string& key_column,
                                   std::span<const Upsert> upserts,
                                   std::span<const std::string> deletes) {
  if (Status s = exec("BEGIN", {}); !s.ok()) return s;
  for (const auto& u : upserts) {
    std::vector<const char*> params{u.key.c_str()};
    for (const auto& [column, value] : u.values) {
      params.push_back(value ? value->c_str() : nullptr);
    }
    // An existing row is updated in the named columns only (a partial write must not trip
    // NOT NULL constraints of the others); a new one is inserted, conflict-safe.
    const std::string update = sql::update_by_key(table, key_column, u, sql::Placeholders::kDollar);
    if (!update.empty()) {
      Result updated;
      if (Status s = exec(update, params, &updated); !s.ok()) return s;
      const char* count = updated ? pq().PQcmdTuples(updated.get()) : "";
      if (count[0] != '\0' && std::string_view(count) != "0") continue;
    }
    if (Status s = exec(sql::upsert(table, key_column, u, sql::Placeholders::kDollar), params);
        !s.ok()) {
      return s;
    }
  }
  const std::string del = sql::delete_by_key(table, key_column, sql::Placeholders::kDollar);
  for (const auto& key : deletes) {
    if (Status s = exec(del, {key.c_str()}); !s.ok()) return s;
  }
  commit_sent_ = true;
  return exec("COMMIT", {});
}

IncrementResult PostgresDatabase::increment(const std::string& table, const std::string& key_column,
                                            const std::string& key, const std::string& column,
                                            std::int64_t delta) {
  IncrementResult out;
  if (sql::quote_identifier(table).empty() || sql::quote_identifier(key_column).empty() ||
      sql::quote_identifier(column).empty()) {
    out.status = rejected("postgres: bad table or column name");
    return out;
  }
  if (has_nul(key)) {
    out.status = rejected("postgres: a key holds a NUL byte");
    return out;
  }
  // A new row inserted by another transaction first makes ours insert nothing: the whole
  // transaction runs again and then finds (and locks) that row.
  for (int attempt = 0; attempt < 3; ++attempt) {
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
  out.status = unavailable("postgres: increment of a new row kept racing with other inserts");
  return out;
}

// SELECT ... FOR UPDATE locks the row until COMMIT: concurrent increments of it queue.
IncrementResult PostgresDatabase::increment_once(const std::string& table,
                                                 const std::string& key_column,
                                                 const std::string& key, const std::string& column,
                                                 std::int64_t delta, bool& raced) {
  IncrementResult out;
  raced = false;
  if (Status s = exec("BEGIN", {}); !s.ok()) {
    out.status = std::move(s);
    return out;
  }
  Result selected;
  const std::string select =
      sql::select_column_by_key(table, key_column, column, sql::Placeholders::kDollar, true);
  if (Status s = exec(select, {key.c_str()}, &selected); !s.ok()) {
    out.status = std::move(s);
    return out;
  }
  const bool found = selected && pq().PQntuples(selected.get()) > 0;
  std::optional<std::string> old;
  if (found && !pq().PQgetisnull(selected.get(), 0, 0)) {
    old = std::string(pq().PQgetvalue(selected.get(), 0, 0),
                      static_cast<std::size_t>(pq().PQgetlength(selected.get(), 0, 0)));
  }
  out = add_integer(old, delta);
  if (!out.status.ok()) return out;
  const std::string value = std::to_string(out.value);
  const Upsert u{key, {{column, value}}};
  const std::string text =
      found ? sql::update_by_key(table, key_column, u, sql::Placeholders::kDollar)
            : sql::insert_if_absent(table, key_column, u, sql::Placeholders::kDollar);
  Result written;
  if (Status s = exec(text, {key.c_str(), value.c_str()}, &written); !s.ok()) {
    out.status = std::move(s);
    return out;
  }
  if (!found && written && std::string_view(pq().PQcmdTuples(written.get())) == "0") {
    raced = true;
    return out;
  }
  commit_sent_ = true;
  out.status = exec("COMMIT", {});
  return out;
}

}  // namespace sidecache::db
