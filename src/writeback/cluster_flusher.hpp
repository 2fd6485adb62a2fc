// The write-behind flusher of a Redis Cluster pool: one thread that drains the queues of the
// slots (write/queue_layout.hpp's slot_queue: one queue per slot, in that slot). It finds them
// with SCAN (MATCH "sidecache:wb:{*}", TYPE stream) on every primary at start and every few
// seconds (queues left by a previous process, or written by another sidecache), and at once
// from the slots this process's Writers wrote to (write::SlotHints). Each queue is a
// writeback::Flusher in slot mode, run one round at a time on a connection to the slot's owner
// as the slot map says (CLUSTER SLOTS, refreshed when a queue's command is redirected; a MOVED
// owner is used at once). A slot that moves takes its queue along (stream, consumer group and
// pending entries, lease, pending hash, counter): the queue's next round runs on the new owner
// and first writes again what it had read there (at-least-once). Per-slot leases keep one
// flusher per slot among many sidecaches, so a key's writes are written in order.
#pragma once

#include <chrono>
#include <memory>

#include "config/config.hpp"
#include "write/slot_hints.hpp"
#include "writeback/flusher.hpp"

namespace sidecache::writeback {

struct ClusterFlusherOptions {
  config::PoolConfig pool;  // seeds, credentials, TLS, connect_timeout
  std::shared_ptr<write::SlotHints> hints;
  // Every field but node, address, node_name, queue and slot_queue: the slot queues' options.
  FlusherOptions base;
  std::chrono::milliseconds rescan{5000};  // SCAN of every primary for queues
};

class ClusterFlusher {
 public:
  explicit ClusterFlusher(ClusterFlusherOptions options);
  ~ClusterFlusher();
  ClusterFlusher(const ClusterFlusher&) = delete;
  ClusterFlusher& operator=(const ClusterFlusher&) = delete;

  void start();
  // Writes what it can within `drain` (the rest stays queued), then stops and joins.
  void stop(std::chrono::milliseconds drain);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sidecache::writeback
