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
#include "write/enqueue_batches.hpp"
#include "write/queue_layout.hpp"
#include "write/stats.hpp"

namespace sidecache::write {

class Writer : public cache::ChainStep, public std::enable_shared_from_this<Writer> {
 public:
  Writer(std::shared_ptr<const WriterShared> shared, std::shared_ptr<cache::Runtime> runtime,
         NodeSender& nodes);

  // Takes the request when it writes a key of a write-mode policy (exactly one reply goes to
  // `target`, later) or cannot be mapped (an error reply, now). False: route it as usual.
  bool handle(cache::ChainRequest& request, const ReplyTarget& target) override;
  void set_nodes(NodeSender& nodes) override {
    batches_->set_nodes(nodes);
    nodes_ = &nodes;
  }
  // A command queued inside MULTI: the error to answer when it writes a key of a write policy
  // (write::refusal_in_transaction), else empty.
  std::string refusal_in_transaction(cache::ChainRequest& request) override;

 private:
  struct Task;
  using OpPtr = std::shared_ptr<Task>;

  bool take(cache::ChainRequest& request, const ReplyTarget& target);
  bool hold_behind_writes(cache::ChainRequest& request, const ReplyTarget& target);
  // Appends `op` to the chain of each key it waits on; starts it if it is first in all.
  void enqueue(const OpPtr& op);
  void release_held(const OpPtr& op);
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
  // Takes `op` off the front of the chain of `key` and starts the next one there.
  void advance(const OpPtr& op, const std::string& key);

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
  // Writes of one key run one after the other (a client's pipeline stays in order), and any
  // other request naming the key waits in the chain behind the writes sent before it. Chains
  // are short (mostly one write): a vector, as a deque allocates two blocks even for one.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const {
      return std::hash<std::string_view>{}(key);
    }
  };
  std::unordered_map<std::string, std::vector<OpPtr>, KeyHash, std::equal_to<>> chains_;
  std::vector<std::uint32_t> keys_;  // scratch: a held request's key indexes
  std::string key_error_;

  std::shared_ptr<EnqueueBatches> batches_;  // write-behind writes on their way to Redis
};

}  // namespace sidecache::write
