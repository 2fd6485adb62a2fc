#include "backend/pool.hpp"

namespace sidecache::backend {

std::vector<route::RingNode> ring_nodes(const config::PoolConfig& config) {
  std::vector<route::RingNode> nodes;
  nodes.reserve(config.nodes.size());
  for (std::uint32_t i = 0; i < config.nodes.size(); ++i) {
    nodes.push_back({config.nodes[i].name, config.nodes[i].weight, i});
  }
  return nodes;
}

Pool::Pool(asio::io_context& io, const config::PoolConfig& config, WorkerStats& stats)
    : router_(config.hash, config.hash_tag, ring_nodes(config)) {
  const ConnectionOptions options{config.connect_timeout, config.request_timeout,
                                  config.reconnect_backoff_min, config.reconnect_backoff_max,
                                  config.max_inflight_per_connection};
  nodes_.reserve(config.nodes.size());
  std::vector<std::shared_ptr<NodeStats>> node_stats;
  for (const auto& node : config.nodes) {
    Node n{node.name, {}, 0};
    auto counters = std::make_shared<NodeStats>(node.name);
    for (std::uint32_t c = 0; c < config.connections_per_node; ++c) {
      n.connections.push_back(std::make_shared<Connection>(
          io, NodeAddress{node.name, node.address.host, node.address.port}, options, counters));
    }
    node_stats.push_back(std::move(counters));
    nodes_.push_back(std::move(n));
  }
  const std::lock_guard lock(stats.nodes_mutex);
  stats.nodes = std::move(node_stats);
}

Pool::~Pool() { stop(); }

void Pool::start() {
  for (auto& node : nodes_) {
    for (auto& c : node.connections) c->start();
  }
}

void Pool::stop() {
  for (auto& node : nodes_) {
    for (auto& c : node.connections) c->stop();
  }
}

void Pool::send(std::uint32_t node, std::string_view request, ReplyTarget target) {
  Node& n = nodes_[node];
  Connection* chosen = n.connections.front().get();
  if (n.connections.size() > 1) {
    // Prefer a connected connection, round robin among them.
    for (std::size_t tries = 0; tries < n.connections.size(); ++tries) {
      Connection* c = n.connections[n.next++ % n.connections.size()].get();
      if (c->state() == Connection::State::kConnected) {
        chosen = c;
        break;
      }
    }
  }
  chosen->send(request, std::move(target));
}

bool Pool::node_connected(std::uint32_t node) const {
  for (const auto& c : nodes_[node].connections) {
    if (c->state() == Connection::State::kConnected) return true;
  }
  return false;
}

}  // namespace sidecache::backend
