// The write path of one worker, the first step of its policy chain: SET, INCR*, HSET, HMSET,
// HINCRBY, DEL and UNLINK (by their cache role) on keys of a policy with a write mode
// (invalidate, through, behind; docs/write-modes.md). Runs on its worker's thread; the database
// through cache::DbRunner (the database threads), Redis through the worker's NodeSender.
// Asio-free.
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cache/policy.hpp"
#include "cache/policy_chain.hpp"
#include "cache/runtime.hpp"
#include "cache/shared.hpp"
#include "sidecache/node_sender.hpp"
#include "write/commands.hpp"
#include "write/queue_layout.hpp"
#include "write/stats.hpp"

namespace sidecache::write {

// What every worker's writer shares (thread-safe, read-mostly).
struct WriterShared {
  // The policies in force: the read-through engine's snapshot (swapped on reload).
  std::shared_ptr<cache::Shared> cache;
  std::shared_ptr<cache::DbRunner> db;  // the database threads (shared with the engine)
  std::vector<NodeQueue> queues;        // by node index
  std::shared_ptr<WriteStats> stats;
};

class Writer : public cache::ChainStep, public std::enable_shared_from_this<Writer> {
 public:
  Writer(std::shared_ptr<const WriterShared> shared, std::shared_ptr<cache::Runtime> runtime,
         NodeSender& nodes);

  // Takes the request when it writes a key of a write-mode policy (exactly one reply goes to
  // `target`, later) or cannot be mapped (an error reply, now). False: route it as usual.
  bool handle(cache::ChainRequest& request, const ReplyTarget& target) override;
  void set_nodes(NodeSender& nodes) override {
    send_batches();  // to the pool they were made for
    nodes_ = &nodes;
  }
  // A command queued inside MULTI: the error to answer when it writes a key of a write policy
  // (write::refusal_in_transaction), else empty.
  std::string refusal_in_transaction(cache::ChainRequest& request) override;

 private:
  struct Task;
  using OpPtr = std::shared_ptr<Task>;

  // Enqueue writes waiting for one script call: those of one node and one node connection.
  struct Batch {
    std::uint32_t node = 0;
    std::uint64_t connection = 0;
    std::uint64_t lane = 0;
    std::string keys;  // the writes' KEYS as RESP bulks (after stream and pending)
    std::string args;  // the writes' ARGV as RESP bulks
    std::size_t key_count = 0;
    std::size_t arg_count = 0;
    std::vector<std::function<void(std::string_view)>> replies;  // one per write, in order
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

  bool take(cache::ChainRequest& request, const ReplyTarget& target);
  void start(const OpPtr& op);
  void run_mset(const std::shared_ptr<const cache::Snapshot>& snapshot, Classified c,
                const ReplyTarget& target);
  void run_database_first(const OpPtr& op);
  void after_database(const OpPtr& op, const db::Status& status);
  void run_increment(const OpPtr& op);
  void run_behind(const OpPtr& op, bool must_exist);
  void load_then_enqueue(const OpPtr& op);
  void run_del(const OpPtr& op);
  void finish(const OpPtr& op, std::string reply);

  // Adds the write `w` (`op`: set | incr | hset | hincr | del) to the next enqueue script call
  // of `node`: one EVALSHA (EVAL on NOSCRIPT) carries the writes that arrive in one turn of
  // the event loop. `on_reply` gets the write's own reply.
  void enqueue(std::uint32_t node, const KeyWrite& w, std::string_view op, bool must_exist,
               std::uint64_t lane, std::function<void(std::string_view)> on_reply);
  // Sends the enqueue calls waiting to be sent: all of them before any other request leaves
  // the writer's hands (so a client's pipeline reaches Redis in order) and when a call is
  // full; at the end of the event-loop turn (`all` false) those of the node connections that
  // have no enqueue call in flight. The others wait for that call's reply and grow meanwhile
  // (group commit: under load, one call carries the writes of many clients).
  void send_batches(bool all = true);
  void send_batch(Batch batch);
  // An enqueue call of (node, connection) was answered: sends the batch waiting for it.
  void call_done(std::uint32_t node, std::uint64_t connection);
  struct Flight {
    std::uint32_t node = 0;
    std::uint64_t connection = 0;
    std::uint32_t calls = 0;
  };
  std::uint32_t& in_flight(std::uint32_t node, std::uint64_t connection);
  // Writes go to the primary.
  void redis(std::string_view key, std::string request, std::uint64_t lane,
             std::function<void(std::string_view)> on_reply) {
    ChainStep::redis(key, std::move(request), false, lane, std::move(on_reply));
  }
  void redis_node(std::uint32_t node, std::string request, std::uint64_t lane,
                  std::function<void(std::string_view)> on_reply) {
    ChainStep::redis_node(node, std::move(request), false, lane, std::move(on_reply));
  }

  std::shared_ptr<const WriterShared> shared_;
  // Whether the snapshot `writes_for_` has a policy with a write mode (re-checked when the
  // chain's snapshot changes).
  bool has_writes(const std::shared_ptr<const cache::Snapshot>& snapshot);
  std::shared_ptr<const cache::Snapshot> writes_for_;
  bool writes_ = false;
  // Writes of one key run one after the other (a client's pipeline stays in order). Chains are
  // short (mostly one write): a vector, as a deque allocates two blocks even for one.
  std::unordered_map<std::string, std::vector<OpPtr>> chains_;

  std::vector<Batch> batches_;
  bool batches_posted_ = false;
  std::vector<Flight> flights_;  // enqueue calls in flight, per node connection
};

}  // namespace sidecache::write
