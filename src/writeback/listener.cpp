#include "writeback/listener.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "backend/blocking_client.hpp"
#include "backend/node_stream.hpp"
#include "cache/generation.hpp"
#include "db/notifications.hpp"
#include "route/cluster_slots.hpp"
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

namespace {

// The delete of one notified key on a Redis Cluster: sent where the slot map last put the
// key's slot, following MOVED (remembered) and ASK (ASKING first) like the proxy's own
// requests, and resent after TRYAGAIN / CLUSTERDOWN, a bounded number of times.
class ClusterDeleter {
 public:
  ClusterDeleter(const config::PoolConfig& pool, std::shared_ptr<const SecurityBook> security)
      : pool_(pool), security_(std::move(security)), owner_(route::kClusterSlots) {}

  // The node's reply, or nullopt (error() says why) when no node took the delete.
  std::optional<backend::Reply> run(const std::string& key, std::span<const std::string> args) {
    const std::uint16_t slot = route::key_slot(key);
    std::string target = owner_of(slot);
    bool asking = false;
    int failures = 0;
    for (int hop = 0; hop < kMaxHops; ++hop) {
      backend::BlockingClient* client = client_for(target);
      if (client == nullptr) break;
      if (asking) {
        static const std::vector<std::string> kAsking{"ASKING"};
        client->command(kAsking);
        asking = false;
      }
      auto reply = client->command(args);
      if (!reply) {
        error_ = target + ": " + client->error();
        if (++failures == 2) break;
        continue;
      }
      route::Redirect redirect;
      if (!reply->is_error() || !route::parse_redirect(reply->str, redirect)) {
        if (reply->is_error() &&
            (reply->str.starts_with("TRYAGAIN") || reply->str.starts_with("CLUSTERDOWN"))) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50) * (hop + 1));
          continue;
        }
        return reply;
      }
      target = std::string(redirect.target);
      if (redirect.kind == route::Redirect::Kind::kMoved) {
        owner_[slot] = target;
      } else {
        asking = true;
      }
    }
    if (error_.empty()) error_ = "too many redirects";
    return std::nullopt;
  }
  const std::string& error() const { return error_; }

 private:
  static constexpr int kMaxHops = 8;

  std::string owner_of(std::uint16_t slot) const {
    if (!owner_[slot].empty()) return owner_[slot];
    if (pool_.slots) return pool_.slots->nodes()[pool_.slots->node_of_slot(slot)].name;
    return pool_.nodes.empty() ? std::string() : pool_.nodes.front().name;
  }
  // One client per node "host:port", opened on first use with the pool's TLS and credentials.
  backend::BlockingClient* client_for(const std::string& name) {
    auto& client = clients_[name];
    if (!client) {
      config::Endpoint at;
      try {
        at = config::parse_endpoint(name);
      } catch (const std::invalid_argument& e) {
        error_ = "bad node address '" + name + "': " + e.what();
        clients_.erase(name);
        return nullptr;
      }
      client = std::make_unique<backend::BlockingClient>(
          backend::NodeAddress{name, at.host, at.port, nullptr}, std::chrono::milliseconds(1000));
    }
    client->set_security(security_->get(0));  // every cluster node: the pool's settings
    error_.clear();
    return client.get();
  }

  const config::PoolConfig& pool_;
  std::shared_ptr<const SecurityBook> security_;
  std::vector<std::string> owner_;  // slot -> "host:port" learned from MOVED
  std::map<std::string, std::unique_ptr<backend::BlockingClient>> clients_;
  std::string error_;
};

// The notified key's delete. Its write generation goes up too: a load of a write policy that
// read the row before the notified commit does not store it (cache/generation.hpp).
std::vector<std::string> delete_and_bump(const std::string& key, cache::SideKeys layout) {
  return {"EVAL", std::string(cache::kDeleteBumpScript), "2",
          key,    cache::generation_key(key, layout),    "DEL"};
}

}  // namespace

void Listener::run() {
  if (pool_.type == config::PoolType::kCluster) {
    ClusterDeleter deleter(pool_, security_);
    listen([&](const std::string& key) {
      const auto reply = deleter.run(key, delete_and_bump(key, cache::SideKeys::kSlotTagged));
      if (reply && !reply->is_error()) {
        stats_->invalidations.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      spdlog::warn("invalidation: could not delete {}: {}", key,
                   reply ? reply->str : deleter.error());
    });
    return;
  }
  const route::Router router(pool_.hash, pool_.hash_tag, route::ring_nodes(pool_.nodes));
  // One blocking client per node, opened on first use (TLS, AUTH and SELECT as the pool says).
  std::vector<std::unique_ptr<backend::BlockingClient>> nodes(pool_.nodes.size());
  listen([&](const std::string& key) {
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
    const auto args = delete_and_bump(key, cache::SideKeys::kPlain);
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (nodes[n]->command(args)) {
        stats_->invalidations.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    spdlog::warn("invalidation: could not delete {} (node {}: {})", key, pool_.nodes[n].name,
                 nodes[n]->error());
  });
}

void Listener::listen(const std::function<void(const std::string&)>& del) {
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
