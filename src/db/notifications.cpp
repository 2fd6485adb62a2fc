#include "db/notifications.hpp"

#include <poll.h>

#include "db/pq_api.hpp"

namespace sidecache::db {

NotificationListener::NotificationListener(std::string conninfo, std::string channel)
    : conninfo_(std::move(conninfo)), channel_(std::move(channel)) {}

NotificationListener::~NotificationListener() { close(); }

void NotificationListener::close() {
  if (conn_ != nullptr) pq().PQfinish(conn_);
  conn_ = nullptr;
}

Status NotificationListener::connect() {
  if (conn_ != nullptr && pq().PQstatus(conn_) == CONNECTION_OK) return {};
  close();
  if (Status s = load_pq(); !s.ok()) return s;
  conn_ = pq().PQconnectdb(conninfo_.c_str());
  if (pq().PQstatus(conn_) != CONNECTION_OK) {
    Status s{ErrorKind::kUnavailable, pq().PQerrorMessage(conn_)};
    close();
    return s;
  }
  char* quoted = pq().PQescapeIdentifier(conn_, channel_.c_str(), channel_.size());
  if (quoted == nullptr) {
    Status s{ErrorKind::kUnavailable, pq().PQerrorMessage(conn_)};
    close();
    return s;
  }
  PGresult* res = pq().PQexec(conn_, ("LISTEN " + std::string(quoted)).c_str());
  pq().PQfreemem(quoted);
  const bool ok = pq().PQresultStatus(res) == PGRES_COMMAND_OK;
  pq().PQclear(res);
  if (!ok) {
    Status s{ErrorKind::kUnavailable,
             "LISTEN " + channel_ + " failed: " + pq().PQerrorMessage(conn_)};
    close();
    return s;
  }
  return {};
}

Status NotificationListener::wait(std::chrono::milliseconds timeout,
                                  std::vector<std::string>& payloads) {
  if (conn_ == nullptr) return {ErrorKind::kUnavailable, "not connected"};
  pollfd pfd{pq().PQsocket(conn_), POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(timeout.count())) < 0) return {};  // EINTR: try again
  if (pq().PQconsumeInput(conn_) == 0) {
    Status s{ErrorKind::kUnavailable, pq().PQerrorMessage(conn_)};
    close();
    return s;
  }
  while (PGnotify* n = pq().PQnotifies(conn_)) {
    if (n->extra != nullptr) payloads.emplace_back(n->extra);
    pq().PQfreemem(n);
  }
  return {};
}

}  // namespace sidecache::db
