#include "db/notifications.hpp"

#include <libpq-fe.h>
#include <poll.h>

namespace sidecache::db {

NotificationListener::NotificationListener(std::string conninfo, std::string channel)
    : conninfo_(std::move(conninfo)), channel_(std::move(channel)) {}

NotificationListener::~NotificationListener() { close(); }

void NotificationListener::close() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
}

Status NotificationListener::connect() {
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) return {};
  close();
  conn_ = PQconnectdb(conninfo_.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    Status s{ErrorKind::kUnavailable, PQerrorMessage(conn_)};
    close();
    return s;
  }
  char* quoted = PQescapeIdentifier(conn_, channel_.c_str(), channel_.size());
  if (quoted == nullptr) {
    Status s{ErrorKind::kUnavailable, PQerrorMessage(conn_)};
    close();
    return s;
  }
  PGresult* res = PQexec(conn_, ("LISTEN " + std::string(quoted)).c_str());
  PQfreemem(quoted);
  const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (!ok) {
    Status s{ErrorKind::kUnavailable, "LISTEN " + channel_ + " failed: " + PQerrorMessage(conn_)};
    close();
    return s;
  }
  return {};
}

Status NotificationListener::wait(std::chrono::milliseconds timeout,
                                  std::vector<std::string>& payloads) {
  if (conn_ == nullptr) return {ErrorKind::kUnavailable, "not connected"};
  pollfd pfd{PQsocket(conn_), POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(timeout.count())) < 0) return {};  // EINTR: try again
  if (PQconsumeInput(conn_) == 0) {
    Status s{ErrorKind::kUnavailable, PQerrorMessage(conn_)};
    close();
    return s;
  }
  while (PGnotify* n = PQnotifies(conn_)) {
    if (n->extra != nullptr) payloads.emplace_back(n->extra);
    PQfreemem(n);
  }
  return {};
}

}  // namespace sidecache::db
