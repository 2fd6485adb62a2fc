// PostgreSQL LISTEN/NOTIFY: one connection of its own that LISTENs on a channel and hands out
// the payloads of its notifications. Not a db::Database: a LISTEN belongs to one session, which
// a pooled connection (db::Executor) cannot keep, and waiting for notifications blocks on the
// socket. Blocking; used from one thread (writeback's invalidation listener). Asio-free.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "db/database.hpp"

struct pg_conn;  // libpq's PGconn

namespace sidecache::db {

class NotificationListener {
 public:
  NotificationListener(std::string conninfo, std::string channel);
  ~NotificationListener();
  NotificationListener(const NotificationListener&) = delete;
  NotificationListener& operator=(const NotificationListener&) = delete;

  bool connected() const { return conn_ != nullptr; }
  // Connects and LISTENs (once connected, a no-op). kUnavailable with the server's message when
  // either fails; the connection is then closed.
  Status connect();
  // Waits up to `timeout` for notifications and appends their payloads to `payloads`.
  // kUnavailable when the connection is lost (then closed: connect() again).
  Status wait(std::chrono::milliseconds timeout, std::vector<std::string>& payloads);
  void close();

 private:
  std::string conninfo_;
  std::string channel_;
  ::pg_conn* conn_ = nullptr;
};

}  // namespace sidecache::db
