// The database threads: a fixed pool of threads, each with its own Database (its own
// connection), fed from one bounded queue. Callers never block: submit() either queues the job
// or says no at once. Results go back to the caller's thread by whatever the job does (a post to
// the caller's io_context); the executor knows nothing about Asio.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "db/database.hpp"
#include "db/stats.hpp"

namespace sidecache::config {
struct DatabaseConfig;
}

namespace sidecache::db {

class Executor {
 public:
  // A job runs on a database thread with that thread's Database, or with nullptr when the
  // executor stopped before the job could run. Every accepted job runs exactly once.
  using Job = std::function<void(Database*)>;
  // Makes the Database of one thread (called once on each database thread, before its first
  // job). `stats` belongs to that thread.
  using Factory = std::function<std::unique_ptr<Database>(ThreadStats* stats)>;

  // config.pool_size threads (at least 1), each with make_database(config); a queue of
  // config.max_queue jobs (at least 1). Threads start at once; connections open on first use.
  explicit Executor(const config::DatabaseConfig& config);
  Executor(std::size_t threads, std::size_t max_queue, Factory factory);
  ~Executor();  // stop()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `job`. False (and the job is dropped, not run) when the queue holds max_queue jobs
  // or the executor is stopping: the caller answers an error at once.
  bool submit(Job job);

  // Stops taking jobs, lets the running jobs finish (each within its query_timeout), joins the
  // threads and then runs every job still queued with nullptr, on the calling thread.
  // Idempotent; not to be called from a job or from two threads at once.
  void stop();

  const ExecutorStats& stats() const { return *stats_; }
  std::shared_ptr<const ExecutorStats> shared_stats() const { return stats_; }
  std::size_t threads() const { return stats_->per_thread.size(); }

 private:
  void run(std::size_t index, const Factory& factory);

  std::size_t max_queue_;
  std::shared_ptr<ExecutorStats> stats_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sidecache::db
