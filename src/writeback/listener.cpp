#include "writeback/listener.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <vector>

#include "backend/blocking_client.hpp"
#include "backend/node_stream.hpp"
#include "cache/generation.hpp"
#include "db/notifications.hpp"
#include "route/ketama_ring.hpp"

namespace sidecache::writeback {

using write::WriteStats;

Listener::Listener(config::DatabaseConfig database, std::string channel, config::PoolConfig pool,
                   std::shared_ptr<const SecurityBook> security, std::shared_ptr<WriteStats> stats)
    : database_(std::move(database)),
      channel_(std::move(channel)),
      pool_(std::move(pool)),
      security_(std::move(security)),
      stats_(std::move(stats)) {}

Listener::~Listener() { stop(); }

void Listener::start() {
  thread_ = std::thread([this] { run(); });
}

void Listener::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void Listener::run() {
  const route::Router router(pool_.hash, pool_.hash_tag, route::ring_nodes(pool_.nodes));
  // One blocking client per node, opened on first use (TLS, AUTH and SELECT as the pool says).
  std::vector<std::unique_ptr<backend::BlockingClient>> nodes(pool_.nodes.size());
  auto del = [&](const std::string& key) {
    const std::uint32_t n = router.node_for_key(key);
    if (!nodes[n]) {
      const auto& node = pool_.nodes[n];
      nodes[n] = std::make_unique<backend::BlockingClient>(
          backend::NodeAddress{node.name, node.address.host, node.address.port, nullptr},
          std::chrono::milliseconds(1000));
    }
    nodes[n]->set_security(security_->get(n));  // for its next connect
    // The node may have moved (a sentinel pool's failover): delete on its new primary.
    if (const auto target = security_->address(n); !nodes[n]->at(target)) {
      nodes[n]->close();
      nodes[n]->set_address(target);
    }
    // The write generation goes up too: a load of a write policy that read the row before the
    // notified commit does not store it (cache/generation.hpp).
    const std::vector<std::string> args{
        "EVAL", std::string(cache::kDeleteBumpScript), "2", key, cache::generation_key(key), "DEL"};
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (nodes[n]->command(args)) {
        stats_->invalidations.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    spdlog::warn("invalidation: could not delete {} (node {}: {})", key, pool_.nodes[n].name,
                 nodes[n]->error());
  };
  db::NotificationListener pg(database_.conninfo, channel_);
  std::vector<std::string> keys;
  int failures = 0;
  while (!stopping_.load()) {
    if (!pg.connected()) {
      if (const auto status = pg.connect(); !status.ok()) {
        if (failures++ % 20 == 0) {
          spdlog::warn("invalidation: cannot listen on PostgreSQL channel {}: {}", channel_,
                       status.message);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        continue;
      }
      failures = 0;
      spdlog::info("invalidation: listening on PostgreSQL channel {}", channel_);
    }
    keys.clear();
    if (const auto status = pg.wait(std::chrono::milliseconds(200), keys); !status.ok()) {
      spdlog::warn("invalidation: connection lost: {}", status.message);
      continue;
    }
    for (const auto& key : keys) {
      if (!key.empty()) del(key);
    }
  }
}

}  // namespace sidecache::writeback
