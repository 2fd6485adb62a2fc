#include "cache/policy_chain.hpp"

#include <algorithm>

#include "sidecache/node_sender.hpp"

namespace sidecache::cache {

void ChainRequest::reset(const resp::CommandInfo& info, std::span<const std::string_view> args,
                         const std::shared_ptr<const Snapshot>& snapshot) {
  info_ = &info;
  args_ = args;
  snapshot_ = &snapshot;
  made_ = 0;
  matched_.assign(args.size(), 0);  // keeps its capacity: no allocation per request
  if (matches_.size() < args.size()) matches_.resize(args.size());
}

const PolicySet::Match& ChainRequest::match(std::size_t i) {
  if (matched_[i] == 0) {
    matches_[i] = policies().match(args_[i]);
    matched_[i] = 1;
    ++made_;
  }
  return matches_[i];
}

ChainStep::ChainStep(std::shared_ptr<Runtime> runtime, NodeSender& nodes)
    : runtime_(std::move(runtime)), nodes_(&nodes), rng_(std::random_device{}()) {}

std::string ChainStep::refusal_in_transaction(ChainRequest&) { return {}; }

void ChainStep::redis(std::string_view key, std::string request, bool read, std::uint64_t lane,
                      std::function<void(std::string_view)> on_reply, int protocol) {
  redis_node(nodes_->node_for_key(key), std::move(request), read, lane, std::move(on_reply),
             protocol);
}

void ChainStep::redis_node(std::uint32_t node, std::string request, bool read, std::uint64_t lane,
                           std::function<void(std::string_view)> on_reply, int protocol) {
  ReplyTarget target{std::make_shared<CallbackSink>(std::move(on_reply)), 0, lane};
  target.protocol = static_cast<std::uint8_t>(protocol);
  if (read) {
    nodes_->send_read(node, request, std::move(target));
  } else {
    nodes_->send(node, request, std::move(target));
  }
}

bool ChainStep::can_resume() const { return chain_ != nullptr && chain_->can_route(); }

void ChainStep::resume(const resp::CommandInfo& info, std::span<const std::string_view> args,
                       const ReplyTarget& target) {
  chain_->resume(*this, info, args, target);
}

PolicyChain::PolicyChain(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

ChainRequest& PolicyChain::start(const resp::CommandInfo& info,
                                 std::span<const std::string_view> args) {
  if (const auto g = shared_->generation(); g != generation_) {
    snapshot_ = shared_->snapshot();
    generation_ = g;
  }
  request_.reset(info, args, snapshot_);
  if (info.has(resp::kFlagWrite) && shared_->recent_hits().in_use()) forget_written(info, args);
  return request_;
}

void PolicyChain::forget_written(const resp::CommandInfo& info,
                                 std::span<const std::string_view> args) {
  if (!resp::key_indexes(info, args, written_, key_error_)) return;
  for (const std::uint32_t i : written_) {
    if (i < args.size()) shared_->recent_hits().forget(args[i]);
  }
}

bool PolicyChain::handle(const resp::CommandInfo& info, std::span<const std::string_view> args,
                         const ReplyTarget& target) {
  ChainRequest& request = start(info, args);
  for (ChainStep* step : steps_) {
    if (step->handle(request, target)) return true;
  }
  return false;
}

std::string PolicyChain::refusal_in_transaction(const resp::CommandInfo& info,
                                                std::span<const std::string_view> args) {
  ChainRequest& request = start(info, args);
  for (ChainStep* step : steps_) {
    std::string refusal = step->refusal_in_transaction(request);
    if (!refusal.empty()) return refusal;
  }
  return {};
}

void PolicyChain::resume(const ChainStep& after, const resp::CommandInfo& info,
                         std::span<const std::string_view> args, const ReplyTarget& target) {
  if (const auto g = shared_->generation(); g != generation_) {
    snapshot_ = shared_->snapshot();
    generation_ = g;
  }
  // A request of its own: this runs from the event loop, but a step may resume one while the
  // chain's own request is still in use.
  const std::shared_ptr<const Snapshot> snapshot = snapshot_;
  ChainRequest request(info, args, snapshot);
  auto step = std::find(steps_.begin(), steps_.end(), &after);
  if (step != steps_.end()) ++step;
  for (; step != steps_.end(); ++step) {
    if ((*step)->handle(request, target)) return;
  }
  router_(info, args, target);
}

void PolicyChain::set_nodes(NodeSender& nodes) {
  for (ChainStep* step : steps_) step->set_nodes(nodes);
}

}  // namespace sidecache::cache
