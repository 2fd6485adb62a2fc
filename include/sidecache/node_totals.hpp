// One backend node's statistics summed over the workers, as INFO and the metrics endpoint show
// them. Computed on demand from each worker's NodeStats; nothing here is on the data path.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sidecache/stats.hpp"

namespace sidecache {

struct NodeTotals {
  std::string name;
  bool up = false;  // at least one worker has a connection established
  std::uint64_t requests = 0, errors_timeout = 0, errors_connection = 0, errors_reply = 0;
  std::uint64_t auth_failures = 0, tls_failures = 0;
  std::uint64_t connects = 0, connect_failures = 0, retries = 0;
  std::uint64_t ejections = 0;  // the largest count any worker saw (each sees every ejection)
  bool healthy = true;          // false while the health checker has the node down
  std::int64_t connections = 0, inflight = 0;
  std::vector<std::uint64_t> buckets =  // non-cumulative, Histogram::kBounds.size() + 1
      std::vector<std::uint64_t>(Histogram::kBounds.size() + 1, 0);
  double latency_sum = 0;

  // Failed requests of any kind (timeout, connection, error reply).
  std::uint64_t errors() const { return errors_timeout + errors_connection + errors_reply; }

  void add(const NodeStats& node) {
    requests += node.requests.get();
    errors_timeout += node.errors_timeout.get();
    errors_connection += node.errors_connection.get();
    errors_reply += node.errors_reply.get();
    auth_failures += node.auth_failures.get();
    tls_failures += node.tls_failures.get();
    connects += node.connects.get();
    connect_failures += node.connect_failures.get();
    retries += node.retries.get();
    ejections = std::max(ejections, node.ejections.get());
    healthy = healthy && node.healthy.get() != 0;
    connections += node.connections.get();
    inflight += node.inflight.get();
    up = up || node.connections.get() > 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += node.latency.bucket(i);
    latency_sum += node.latency.sum_seconds();
  }
};

// The nodes named in `names` first, in that order (zero when no worker reports them), then any
// other node the workers report (e.g. during a reload), each summed over `workers`.
inline std::vector<NodeTotals> node_totals(const std::vector<std::unique_ptr<WorkerStats>>& workers,
                                           const std::vector<std::string>& names) {
  std::vector<NodeTotals> totals;
  const auto add_name = [&](const std::string& name) {
    totals.emplace_back();
    totals.back().name = name;
  };
  for (const auto& name : names) add_name(name);
  for (const auto& w : workers) {
    std::vector<std::shared_ptr<NodeStats>> nodes;
    {
      const std::lock_guard lock(w->nodes_mutex);
      nodes = w->nodes;
    }
    for (const auto& node : nodes) {
      auto it = std::find_if(totals.begin(), totals.end(),
                             [&](const NodeTotals& t) { return t.name == node->name; });
      if (it == totals.end()) {
        add_name(node->name);
        it = std::prev(totals.end());
      }
      it->add(*node);
    }
  }
  return totals;
}

}  // namespace sidecache
