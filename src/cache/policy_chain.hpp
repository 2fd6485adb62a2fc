// The policy chain of one worker: the steps a request meets before routing (write modes, then
// read-through; the near cache later), each keyed by the command's generated cache role
// (resp::CacheRole). The chain reads the policies in force once per request and matches each
// key against them at most once; every step sees the same matches. What the steps share (the
// worker's event loop, its nodes, randomness) is ChainStep. Asio-free.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cache/shared.hpp"
#include "cache/side_keys.hpp"
#include "resp/command_table.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::cache {

// One request as the steps see it: its command, its arguments, the policies in force, and the
// policy match of each key, made on first use and kept for the other steps.
class ChainRequest {
 public:
  ChainRequest() = default;
  ChainRequest(const resp::CommandInfo& info, std::span<const std::string_view> args,
               const std::shared_ptr<const Snapshot>& snapshot) {
    reset(info, args, snapshot);
  }
  // `snapshot` must outlive the request (the chain's own copy).
  void reset(const resp::CommandInfo& info, std::span<const std::string_view> args,
             const std::shared_ptr<const Snapshot>& snapshot);

  const resp::CommandInfo& info() const { return *info_; }
  resp::CacheRole role() const { return info_->cache_role; }
  std::span<const std::string_view> args() const { return args_; }
  const std::shared_ptr<const Snapshot>& snapshot() const { return *snapshot_; }
  const PolicySet& policies() const { return *(*snapshot_)->set; }
  // The policy match of argument `i` (a key; 1 <= i < args().size()). The first call matches
  // it against the policies; later calls, by any step, reuse that match.
  const PolicySet::Match& match(std::size_t i);
  // How many keys were matched against the policies (each at most once).
  std::size_t matches_made() const { return made_; }

 private:
  const resp::CommandInfo* info_ = nullptr;
  std::span<const std::string_view> args_;
  const std::shared_ptr<const Snapshot>* snapshot_ = nullptr;
  std::vector<PolicySet::Match> matches_;  // by argument index, reused across requests
  std::vector<std::uint8_t> matched_;
  std::size_t made_ = 0;
};

class PolicyChain;

// One step of the chain, and what every step shares: the worker's event loop, its nodes (Redis
// requests of the step's own), randomness.
class ChainStep {
 public:
  ChainStep(std::shared_ptr<Runtime> runtime, NodeSender& nodes);
  virtual ~ChainStep() = default;
  ChainStep(const ChainStep&) = delete;
  ChainStep& operator=(const ChainStep&) = delete;

  // Takes the request (exactly one reply goes to `target`, now or later), or passes it to the
  // next step and then to routing (false).
  virtual bool handle(ChainRequest& request, const ReplyTarget& target) = 0;
  // A command queued inside MULTI: the error to answer when the step could not let it run in a
  // Redis transaction, else empty.
  virtual std::string refusal_in_transaction(ChainRequest& request);
  // After a reload: new Redis requests go to the new nodes.
  virtual void set_nodes(NodeSender& nodes) { nodes_ = &nodes; }

 protected:
  // One request to the node of `key` (`read`: a read, which may go to a replica), `on_reply`
  // called on this worker with the reply in RESP `protocol`.
  void redis(std::string_view key, std::string request, bool read, std::uint64_t lane,
             std::function<void(std::string_view)> on_reply, int protocol = 2);
  void redis_node(std::uint32_t node, std::string request, bool read, std::uint64_t lane,
                  std::function<void(std::string_view)> on_reply, int protocol = 2);
  // How the keys kept beside a user key are named on these nodes (cache/side_keys.hpp).
  SideKeys side_keys() const { return side_keys_of(*nodes_); }
  // Whether a request this step took can be handed on later (resume()): the chain it is in
  // can route.
  bool can_resume() const;
  // Hands a request this step took and held on to the steps after it, then to routing, as if
  // the step had passed it. `args` are the step's own copy; they may go once this returns.
  void resume(const resp::CommandInfo& info, std::span<const std::string_view> args,
              const ReplyTarget& target);

  std::shared_ptr<Runtime> runtime_;
  NodeSender* nodes_;
  std::mt19937_64 rng_;

 private:
  friend class PolicyChain;
  PolicyChain* chain_ = nullptr;  // set by PolicyChain::add
};

// The chain of one worker: its steps in order, the policies in force (re-read only when a
// reload changed them: no lock per request), one request's matches.
class PolicyChain {
 public:
  explicit PolicyChain(std::shared_ptr<Shared> shared);

  // Routes a request no step took (the dispatcher's routing; requests routed to one node or
  // split by key only).
  using Router = std::function<void(const resp::CommandInfo&, std::span<const std::string_view>,
                                    const ReplyTarget&)>;

  // Appends a step (the chain does not own it; it outlives the chain's use).
  void add(ChainStep& step) {
    steps_.push_back(&step);
    step.chain_ = this;
  }
  bool empty() const { return steps_.empty(); }

  // Runs the steps in order on one request of command `info`; true when one took it (its
  // reply goes to `target`), false: route it as usual.
  bool handle(const resp::CommandInfo& info, std::span<const std::string_view> args,
              const ReplyTarget& target);
  // For a command queued inside MULTI: the first step's refusal, or empty.
  std::string refusal_in_transaction(const resp::CommandInfo& info,
                                     std::span<const std::string_view> args);
  void set_nodes(NodeSender& nodes);
  void set_router(Router router) { router_ = std::move(router); }
  bool can_route() const { return static_cast<bool>(router_); }
  // Runs the steps after `after` on a request `after` held, then routes it if none took it.
  void resume(const ChainStep& after, const resp::CommandInfo& info,
              std::span<const std::string_view> args, const ReplyTarget& target);
  // The request the last handle() ran, for tests: matches_made() (its arguments belong to the
  // caller and are gone once handle() returns).
  const ChainRequest& last_request() const { return request_; }

 private:
  ChainRequest& start(const resp::CommandInfo& info, std::span<const std::string_view> args);
  // A write command: its keys are no longer known to hit (RecentHits).
  void forget_written(const resp::CommandInfo& info, std::span<const std::string_view> args);

  std::shared_ptr<Shared> shared_;
  std::vector<ChainStep*> steps_;
  Router router_;
  std::uint64_t generation_ = ~std::uint64_t{0};
  std::shared_ptr<const Snapshot> snapshot_;
  ChainRequest request_;                // reused per request
  std::vector<std::uint32_t> written_;  // forget_written's key indexes, reused
  std::string key_error_;
};

}  // namespace sidecache::cache
