// Write-behind's group commit: the enqueue script calls of one worker. Writes that arrive in one
// turn of the event loop share one EVALSHA per node connection (docs/write-modes.md); while a
// call of a connection is in flight, the next one waits and grows. Runs on its worker's
// thread. Asio-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cache/runtime.hpp"
#include "cache/shared.hpp"
#include "sidecache/node_sender.hpp"
#include "write/commands.hpp"
#include "write/queue_layout.hpp"
#include "write/slot_hints.hpp"
#include "write/stats.hpp"

namespace sidecache::write {

// What every worker's writer shares (thread-safe, read-mostly).
struct WriterShared {
  // The policies in force: the read-through engine's snapshot (swapped on reload).
  std::shared_ptr<cache::Shared> cache;
  std::shared_ptr<cache::DbRunner> db;  // the database threads (shared with the engine)
  // The queues: by node index on a ring or sentinel pool; on a Redis Cluster pool
  // (`by_slot`) by slot, all 16384 (queue_layout.hpp's slot_queue), and `hints` marks the
  // slots written to (for the flusher).
  std::vector<NodeQueue> queues;
  bool by_slot = false;
  std::shared_ptr<SlotHints> hints;
  std::shared_ptr<WriteStats> stats;

  // The index in `queues` of the queue of `key`, placed on `node` by the pool.
  std::uint32_t queue_of(std::string_view key, std::uint32_t node) const;
};

class EnqueueBatches : public std::enable_shared_from_this<EnqueueBatches> {
 public:
  using Reply = std::function<void(std::string_view)>;
  EnqueueBatches(std::shared_ptr<const WriterShared> shared,
                 std::shared_ptr<cache::Runtime> runtime, NodeSender& nodes);

  // Adds the write `w` (`op`: set | incr | hset | hincr | del) to the next enqueue script call
  // of `node` and of the queue `queue` (WriterShared::queue_of); `on_reply` gets the write's
  // own reply.
  void add(std::uint32_t node, std::uint32_t queue, const KeyWrite& w, std::string_view op,
           bool must_exist, std::uint64_t lane, Reply on_reply);
  // Whether some call waits to be sent.
  bool waiting() const { return !batches_.empty(); }
  // Sends the calls waiting to be sent: all of them before any other request leaves the
  // writer's hands (so a client's pipeline reaches Redis in order) and when a call is full; at
  // the end of the event-loop turn (`all` false) those of the node connections that have no
  // call in flight. The others wait for that call's reply and grow meanwhile (under load, one
  // call carries the writes of many clients).
  void send(bool all = true);
  // The pool changed (reload): what waits goes to the old one first.
  void set_nodes(NodeSender& nodes);

 private:
  // Writes waiting for one script call: those of one node connection and one queue (on a
  // cluster pool, one slot: a script's keys share a slot).
  struct Batch {
    std::uint32_t node = 0;
    std::uint32_t queue = 0;
    std::uint64_t connection = 0;
    std::uint64_t lane = 0;
    std::string keys;  // the writes' KEYS as RESP bulks (after stream and pending)
    std::string args;  // the writes' ARGV as RESP bulks
    std::size_t key_count = 0;
    std::size_t arg_count = 0;
    std::vector<Reply> replies;  // one per write, in order
    // While every write is a plain SET of one queue_max, the form of kEnqueueSetsScript too:
    // keys, negative markers, key value pairs, policy and id of each.
    bool sets_only = true;
    std::int64_t queue_max = -1;
    std::string set_keys;
    std::string set_negs;
    std::string set_pairs;
    std::string set_meta;
    std::size_t neg_count = 0;
  };
  struct Flight {
    std::uint32_t node = 0;
    std::uint64_t connection = 0;
    std::uint32_t calls = 0;
  };

  void send_batch(Batch batch);
  // A call of (node, connection) was answered: once none is in flight, sends the batches
  // waiting for it (one per queue).
  void call_done(std::uint32_t node, std::uint64_t connection);
  std::uint32_t& in_flight(std::uint32_t node, std::uint64_t connection);
  void to_node(std::uint32_t node, std::string request, std::uint64_t lane, Reply on_reply);

  std::shared_ptr<const WriterShared> shared_;
  std::shared_ptr<cache::Runtime> runtime_;
  NodeSender* nodes_;
  std::vector<Batch> batches_;
  bool posted_ = false;
  std::vector<Flight> flights_;  // calls in flight, per node connection
};

}  // namespace sidecache::write
