// The flusher of one node's write-behind queue: its own thread and a blocking connection to the
// node (backend::BlockingClient: TLS and AUTH like every node connection). Takes the node's lease,
// reclaims entries a dead flusher left pending, reads batches with a consumer group (a stream
// entry holds the writes of one enqueue call), writes each batch in one database transaction
// per batch_size writes (coalesced), and acknowledges (XACK + XTRIM) the entries whose writes
// are all written, only after the commit. Retries with backoff while the database is down; entries
// the database rejects go dead-letter after max_retries. See docs/write-modes.md.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "write/policy_book.hpp"
#include "write/queue_layout.hpp"
#include "write/stats.hpp"
#include "writeback/queue.hpp"

namespace sidecache::backend {
struct NodeSecurity;
class BlockingClient;
}  // namespace sidecache::backend

namespace sidecache::writeback {

class SecurityBook;

struct FlusherOptions {
  std::uint32_t node = 0;
  config::Endpoint address;
  std::string node_name;
  write::NodeQueue queue;
  std::string consumer;  // stable across restarts of the same sidecache
  config::DatabaseConfig database;
  // Policies and cache.write_behind in force (re-read every round: a reload applies), and
  // the behind policies a reload retired.
  std::shared_ptr<const write::PolicyBook> book;
  std::shared_ptr<write::WriteStats> stats;
  std::chrono::milliseconds redis_timeout{2000};
  // TLS, AUTH and SELECT of the nodes, as the running config says (read at each connect).
  std::shared_ptr<const SecurityBook> security;
  // The queue of one Redis Cluster slot: no thread of its own; a ClusterFlusher runs its
  // rounds (round()) on the connection to the slot's owner, and its reads never block.
  bool slot_queue = false;
  std::function<void()> on_gauges;  // a slot queue: its gauges were read
};

class Flusher {
 public:
  explicit Flusher(FlusherOptions options);
  ~Flusher();
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  void start();
  // Writes what it can within `drain` (what remains stays queued for the next flusher), then
  // stops and joins.
  void stop(std::chrono::milliseconds drain);

  // A slot queue (FlusherOptions::slot_queue), on the thread of its ClusterFlusher.
  enum class Round {
    kWorked,      // flushed a batch (or tried to)
    kIdle,        // nothing to read
    kNotLeader,   // another sidecache holds the slot's lease
    kRedirected,  // the slot moved or is moving (moved_to() names a MOVED's new owner)
    kFailed,      // no connection
  };
  // Takes the lease, reads one batch, writes and acknowledges it, on `client`.
  Round round(backend::BlockingClient& client);
  const std::string& moved_to() const;
  std::int64_t depth() const;  // queued writes and the oldest entry's age, last seen
  std::int64_t oldest_age_ms() const;
  // Deletes the queue when it is empty (its stream, counter and lease; not its dead letters),
  // with its lease held. True when deleted.
  bool drop_if_empty(backend::BlockingClient& client);
  // Gives the lease back (at stop).
  void release(backend::BlockingClient& client);
  // Thread-safe: a database retry in progress ends at `deadline`; reads stop blocking.
  void signal_stop(std::chrono::steady_clock::time_point deadline);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sidecache::writeback
