#include "write/listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <vector>

#include "backend/blocking_client.hpp"
#include "backend/node_stream.hpp"
#include "route/router.hpp"

namespace sidecache::write {

Listener::Listener(config::DatabaseConfig database, std::string channel, config::PoolConfig pool,
                   std::shared_ptr<WriteStats> stats)
    : database_(std::move(database)),
      channel_(std::move(channel)),
      pool_(std::move(pool)),
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
  std::vector<route::RingNode> ring;
  for (std::uint32_t i = 0; i < pool_.nodes.size(); ++i) {
    ring.push_back({pool_.nodes[i].name, pool_.nodes[i].weight, i});
  }
  const route::Router router(pool_.hash, pool_.hash_tag, ring);
  // One blocking client per node, opened on first use (TLS, AUTH and SELECT as the pool says).
  std::vector<std::unique_ptr<backend::BlockingClient>> nodes(pool_.nodes.size());
  auto del = [&](const std::string& key) {
    const std::uint32_t n = router.node_for_key(key);
    if (!nodes[n]) {
      const auto& node = pool_.nodes[n];
      nodes[n] = std::make_unique<backend::BlockingClient>(
          backend::NodeAddress{node.name, node.address.host, node.address.port,
                               backend::make_node_security(pool_, n)},
          std::chrono::milliseconds(1000));
    }
    const std::vector<std::string> args{"DEL", key};
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (nodes[n]->command(args)) {
        stats_->invalidations.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
    spdlog::warn("invalidation: could not delete {} (node {}: {})", key, pool_.nodes[n].name,
                 nodes[n]->error());
  };
  PGconn* conn = nullptr;
  int failures = 0;
  while (!stopping_.load()) {
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
      if (conn != nullptr) PQfinish(conn);
      conn = PQconnectdb(database_.conninfo.c_str());
      if (PQstatus(conn) != CONNECTION_OK) {
        if (failures++ % 20 == 0) {
          spdlog::warn("invalidation: cannot connect to PostgreSQL: {}", PQerrorMessage(conn));
        }
        PQfinish(conn);
        conn = nullptr;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        continue;
      }
      char* quoted = PQescapeIdentifier(conn, channel_.c_str(), channel_.size());
      PGresult* res = PQexec(conn, ("LISTEN " + std::string(quoted)).c_str());
      PQfreemem(quoted);
      const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
      PQclear(res);
      if (!ok) {
        spdlog::warn("invalidation: LISTEN {} failed: {}", channel_, PQerrorMessage(conn));
        PQfinish(conn);
        conn = nullptr;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        continue;
      }
      failures = 0;
      spdlog::info("invalidation: listening on PostgreSQL channel {}", channel_);
    }
    pollfd pfd{PQsocket(conn), POLLIN, 0};
    if (poll(&pfd, 1, 200) < 0) continue;
    if (PQconsumeInput(conn) == 0) {
      spdlog::warn("invalidation: connection lost: {}", PQerrorMessage(conn));
      PQfinish(conn);
      conn = nullptr;
      continue;
    }
    while (PGnotify* n = PQnotifies(conn)) {
      const std::string key = n->extra != nullptr ? n->extra : "";
      PQfreemem(n);
      if (!key.empty()) del(key);
    }
  }
  if (conn != nullptr) PQfinish(conn);
}

}  // namespace sidecache::write
