// The seams of the read-through engine: the worker's event loop (post, timers) and the
// database threads. The server implements them with Asio (cache/asio_runtime.hpp), tests with
// manual fakes. Asio-free.
#pragma once

#include <chrono>
#include <functional>

namespace sidecache::db {
class Database;
}

namespace sidecache::cache {

// One worker's event loop.
class Runtime {
 public:
  virtual ~Runtime() = default;
  // Runs `fn` on the worker's thread, later (never inline). From any thread. Dropped once the
  // worker has stopped.
  virtual void post(std::function<void()> fn) = 0;
  // Runs `fn` on the worker's thread after `delay`. Only from the worker's thread.
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  // The clock of lease deadlines and load times (tests use a manual one). From any thread.
  virtual std::chrono::steady_clock::time_point now() const {
    return std::chrono::steady_clock::now();
  }
};

// The database threads (db::Executor): runs `job` on one of them with its connection, or with
// nullptr when shutting down. False when the queue is full (the job is not run).
class DbRunner {
 public:
  virtual ~DbRunner() = default;
  virtual bool submit(std::function<void(db::Database*)> job) = 0;
};

}  // namespace sidecache::cache
