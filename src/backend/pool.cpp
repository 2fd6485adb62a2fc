#include "backend/pool.hpp"

#include <spdlog/spdlog.h>

#include "backend/cluster_request.hpp"
#include "resp/errors.hpp"

namespace sidecache::backend {
namespace {

// Node `index` of a pool: config.nodes, then a cluster pool's config.replicas.
NodeAddress pool_node_address(const config::PoolConfig& config, std::size_t index) {
  if (index < config.nodes.size()) {
    const auto& n = config.nodes[index];
    return {n.name, n.address.host, n.address.port, make_node_security(config, index)};
  }
  // A replica: the pool's credentials (node 0's, as for every cluster node); READONLY on a
  // cluster (a plain replica, a sentinel pool's, serves reads without it).
  const auto& n = config.replicas[index - config.nodes.size()];
  auto security = std::make_shared<NodeSecurity>(*make_node_security(config, 0));
  security->readonly = config.type == config::PoolType::kCluster;
  return {n.name, n.address.host, n.address.port, std::move(security)};
}

}  // namespace

std::shared_ptr<HealthChecker> make_health_checker(const config::PoolConfig& config,
                                                   HealthChecker::OnChange on_change,
                                                   const std::vector<std::string>& down) {
  if (!config.health.enabled) return nullptr;
  std::vector<NodeAddress> addresses;
  for (std::size_t i = 0; i < config.nodes.size() + config.replicas.size(); ++i) {
    addresses.push_back(pool_node_address(config, i));
  }
  const auto& h = config.health;
  return std::make_shared<HealthChecker>(std::move(addresses),
                                         HealthOptions{h.interval, h.timeout, h.failure_threshold,
                                                       h.success_threshold, h.max_interval},
                                         std::move(on_change), down);
}

Pool::Pool(asio::io_context& io, const config::PoolConfig& config, WorkerStats& stats,
           std::shared_ptr<HealthChecker> health, std::function<void()> want_refresh)
    : config_(config),
      router_(config.hash, config.hash_tag, route::ring_nodes(config.nodes)),
      want_refresh_(std::move(want_refresh)),
      worker_stats_(stats),
      health_(std::move(health)),
      io_(io) {
  options_ = ConnectionOptions{config.connect_timeout,
                               config.request_timeout,
                               config.reconnect_backoff_min,
                               config.reconnect_backoff_max,
                               config.max_inflight_per_connection,
                               config.retry_budget_percent,
                               config.idle_timeout,
                               config.max_connection_age,
                               false,
                               false};
  // A primary answering -READONLY was demoted: a sentinel pool (or a ring's Sentinel group)
  // asks the Sentinels soon, a cluster pool its slot map (a cluster node normally answers
  // MOVED; a READONLY says the map is behind, e.g. a node turned into a replica by hand).
  if (config.type == config::PoolType::kSentinel || config.type == config::PoolType::kCluster ||
      config.sentinel_groups()) {
    options_.on_readonly = want_refresh_;
  }
  const ConnectionOptions& options = options_;
  // Primaries (or ring nodes) first, then a cluster pool's replicas (read_from).
  const auto total = static_cast<std::uint32_t>(config.nodes.size() + config.replicas.size());
  nodes_.reserve(total);
  std::vector<std::shared_ptr<NodeStats>> node_stats;
  for (std::uint32_t i = 0; i < total; ++i) {
    auto address = pool_node_address(config, i);
    auto counters = std::make_shared<NodeStats>(address.name);
    // A sentinel pool's stand-in for an unknown primary, or a ring's Sentinel group without
    // one, is never up and never connected.
    const bool group_unresolved = i < config.nodes.size() && !config.nodes[i].unresolved.empty();
    const bool stand_in = !config.unresolved.empty() || group_unresolved;
    Node n{address.name, {}, {}, {}, {}, !stand_in && (health_ ? health_->up(i) : true),
           counters,     {}};
    if (group_unresolved) {
      n.refusal = resp::errors::frame(
          resp::errors::no_primary(config.nodes[i].master, config.nodes[i].unresolved));
    }
    if (!n.up) counters->healthy.add(-1);
    Connection::OnFailure on_failure;
    // A cluster primary whose connections fail may be being replaced by a replica: every
    // failure asks for a refresh (the daemon rate-limits them to cluster.refresh_min_interval)
    // until the map names its successor.
    auto refresh = config.type == config::PoolType::kCluster ? want_refresh_ : nullptr;
    if (health_ || refresh) {
      on_failure = [checker = std::weak_ptr<HealthChecker>(health_), i,
                    refresh](const std::string& why) {
        if (auto c = checker.lock()) c->report_failure(i, why);
        if (refresh) refresh();
      };
    }
    n.address = std::move(address);
    n.on_failure = on_failure;
    for (std::uint32_t c = 0; c < (stand_in ? 0 : config.connections_per_node); ++c) {
      n.connections.push_back(
          std::make_shared<Connection>(io, n.address, options, counters, on_failure));
    }
    node_stats.push_back(std::move(counters));
    nodes_.push_back(std::move(n));
  }
  if (!config.unresolved.empty()) {
    refusal_ =
        resp::errors::frame(resp::errors::no_primary(config.sentinel.master, config.unresolved));
  }
  rebuild_ring();
  if (config.type == config::PoolType::kCluster) {
    // Until the cluster answered, every slot goes to the first seed; its MOVED replies and the
    // refresh they ask for fix that.
    slot_node_.assign(route::kClusterSlots, 0);
    replicas_.assign(config.nodes.size(), {});
    if (config.slots) set_slots(*config.slots);
  }
  if (config.type == config::PoolType::kSentinel && !config.replicas.empty()) {
    // A sentinel pool's replicas (read_from) all serve its one primary.
    replicas_.assign(1, {});
    for (auto r = static_cast<std::uint32_t>(config.nodes.size()); r < total; ++r) {
      replicas_[0].push_back(r);
    }
  }
  const std::lock_guard lock(stats.nodes_mutex);
  stats.nodes = std::move(node_stats);
}

Pool::~Pool() {
  if (!retired_) stop();
}

void Pool::start() {
  started_ = true;
  for (auto& node : nodes_) {
    for (auto& c : node.connections) c->start();
    for (auto& c : node.connections3) c->start();
  }
}

void Pool::stop() {
  stopped_ = true;
  for (auto& node : nodes_) {
    for (auto& c : node.connections) c->stop();
    for (auto& c : node.connections3) c->stop();
  }
}

void Pool::retire() {
  retired_ = true;
  for (auto& node : nodes_) {
    for (auto& c : node.connections) c->retire();
    for (auto& c : node.connections3) c->retire();
  }
}

// RESP3 connections to a node exist only once a RESP3 client sent something there. Once made
// they live as long as the pool (idle_timeout closes them like the RESP2 ones).
std::vector<std::shared_ptr<Connection>>& Pool::resp3_connections(Node& node) {
  if (node.connections3.empty()) {
    ConnectionOptions options = options_;
    options.resp3 = true;
    options.drop_pushes = true;  // shared connections: no Pub/Sub or tracking here
    for (std::size_t c = 0; c < node.connections.size(); ++c) {
      auto conn =
          std::make_shared<Connection>(io_, node.address, options, node.stats, node.on_failure);
      if (stopped_) {
        conn->stop();
      } else if (started_) {
        conn->start();
        if (retired_) conn->retire();
      }
      node.connections3.push_back(std::move(conn));
    }
  }
  return node.connections3;
}

void Pool::set_slots(const route::ClusterSlots& slots) {
  if (slot_node_.empty()) return;
  // Map indexes to this pool's (equal when the node lists are, as the daemon ensures).
  std::vector<std::uint16_t> index(slots.nodes().size(), 0);
  for (std::size_t i = 0; i < index.size(); ++i) {
    const auto found = find_node(slots.nodes()[i].name);
    index[i] = static_cast<std::uint16_t>(found < node_count() ? found : 0);
  }
  for (std::uint32_t s = 0; s < route::kClusterSlots; ++s) {
    slot_node_[s] = index[slots.node_of_slot(static_cast<std::uint16_t>(s))];
  }
  set_replicas(slots);
}

void Pool::set_replicas(const route::ClusterSlots& slots) {
  replicas_.assign(config_.nodes.size(), {});
  if (config_.replicas.empty()) return;
  for (const auto& primary : slots.nodes()) {
    const auto p = find_node(primary.name);
    if (p >= config_.nodes.size()) continue;
    for (const auto& replica : primary.replicas) {
      const auto r = find_node(replica.name);
      if (r >= config_.nodes.size() && r < nodes_.size()) replicas_[p].push_back(r);
    }
  }
}

std::uint32_t Pool::read_node(std::uint32_t primary, std::uint64_t lane) const {
  if (primary >= replicas_.size() || replicas_[primary].empty()) return primary;
  const auto& list = replicas_[primary];
  // One client's reads stay on one replica while the set of replicas up does not change.
  std::uint32_t up = 0;
  for (const auto r : list) up += nodes_[r].up ? 1 : 0;
  if (up == 0) {
    return read_from() == config::ReadFrom::kPreferReplica
               ? primary
               : list[lane % list.size()];  // kReplica: that replica's "down" error
  }
  auto pick = lane % up;
  for (const auto r : list) {
    if (nodes_[r].up && pick-- == 0) return r;
  }
  return primary;
}

std::uint32_t Pool::find_node(std::string_view name) const {
  for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].name == name) return i;
  }
  return static_cast<std::uint32_t>(nodes_.size());
}

std::uint32_t Pool::follow_redirect(bool ask, std::uint16_t slot, std::string_view target) {
  if (slot_node_.empty()) return node_count();
  // Asked either way: a MOVED says the map is stale; a target not known says a node is new.
  if (!ask && want_refresh_) want_refresh_();
  const auto node = find_node(target);
  if (node >= node_count()) {
    if (ask && want_refresh_) want_refresh_();
    return node_count();
  }
  if (ask) {
    worker_stats_.cluster_ask.add();
  } else {
    worker_stats_.cluster_moved.add();
    slot_node_[slot] = static_cast<std::uint16_t>(node);
  }
  return node;
}

void Pool::send(std::uint32_t node, std::string_view request, ReplyTarget target) {
  send_to(node, request, std::move(target), false);
}

void Pool::send_read(std::uint32_t node, std::string_view request, ReplyTarget target) {
  send_to(node, request, std::move(target), true);
}

void Pool::send_to(std::uint32_t node, std::string_view request, ReplyTarget target,
                   bool retryable) {
  if (!slot_node_.empty()) {
    // Read-only requests (retryable) may go to one of the primary's replicas.
    std::string fallback;
    if (retryable && !config_.replicas.empty()) {
      const auto primary = node;
      node = read_node(primary, target.lane);
      if (node != primary && config_.cluster.read_from == config::ReadFrom::kPreferReplica) {
        fallback = nodes_[primary].name;
      }
    }
    auto redirecting = std::make_shared<ClusterRequest>(shared_from_this(), std::string(request),
                                                        std::move(target), retryable);
    redirecting->start(*this, node, std::move(fallback));
    return;
  }
  // A sentinel pool's read-only requests may go to a replica the Sentinels list (read_from).
  if (retryable && !replicas_.empty()) node = read_node(node, target.lane);
  send_on(node, request, std::move(target), retryable);
}

void Pool::send_on(std::uint32_t node, std::string_view request, ReplyTarget target,
                   bool retryable) {
  Node& n = nodes_[node];
  if (!n.up) {
    // fail_fast, or remap with no node left up: say so at once. On a cluster pool the slot map
    // is asked for again (rate-limited) until it names another node for these slots.
    if (!slot_node_.empty() && want_refresh_) want_refresh_();
    scratch_ = !refusal_.empty()    ? refusal_
               : !n.refusal.empty() ? n.refusal
               : auth_failing(n)    ? auth_failed_reply(n.name)
                                    : resp::errors::frame(resp::errors::node_down(n.name));
    target.deliver(scratch_);
    return;
  }
  // One client's requests always take the same connection (ordering); clients spread. The
  // client's RESP version picks the set, so reply bytes never need converting.
  auto& set = target.protocol == 3 ? resp3_connections(n) : n.connections;
  Connection* chosen = set[target.lane % set.size()].get();
  chosen->send(request, std::move(target), retryable);
}

void Pool::set_node_up(std::uint32_t node, bool up) {
  if (node >= nodes_.size() || nodes_[node].up == up) return;
  if (!nodes_[node].refusal.empty()) return;  // a group without a primary is never up
  nodes_[node].up = up;
  nodes_[node].stats->healthy.add(up ? 1 : -1);
  if (!up) nodes_[node].stats->ejections.add();
  rebuild_ring();
}

void Pool::rebuild_ring() {
  if (config_.down_policy != config::DownPolicy::kRemap) return;
  std::vector<route::RingNode> live;
  auto all = route::ring_nodes(config_.nodes);
  for (auto& n : all) {
    if (nodes_[n.id].up) live.push_back(std::move(n));
  }
  // With no node up, keep the full ring: requests then fail fast with "node X is down".
  router_ = route::Router(config_.hash, config_.hash_tag,
                          live.empty() ? route::ring_nodes(config_.nodes) : live);
}

bool Pool::auth_failing(const Node& node) const {
  for (const auto& c : node.connections) {
    if (c->last_failure() == OpenFailure::kAuth) return true;
  }
  return false;
}

bool Pool::node_connected(std::uint32_t node) const {
  for (const auto& c : nodes_[node].connections) {
    if (c->state() == Connection::State::kConnected) return true;
  }
  return false;
}

}  // namespace sidecache::backend
