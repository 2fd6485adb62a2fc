#include "writeback/service.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "backend/node_stream.hpp"
#include "route/ketama_ring.hpp"
#include "write/behind_store.hpp"
#include "writeback/cluster_flusher.hpp"
#include "writeback/flusher.hpp"
#include "writeback/listener.hpp"

namespace sidecache::writeback {

using write::any_behind;
using write::BehindStore;
using write::NodeQueueStats;
using write::PolicyBook;
using write::queue_names;
using write::WriterShared;
using write::WriteStats;
namespace {

// The database threads of the read-through engine, whichever cache::Shared has now (a
// reload that turns the cache on sets them later).
class SharedRunner final : public cache::DbRunner {
 public:
  explicit SharedRunner(std::shared_ptr<cache::Shared> cache) : cache_(std::move(cache)) {}
  bool submit(std::function<void(db::Database*)> job) override {
    const auto db = cache_->db();
    return db != nullptr && db->submit(std::move(job));
  }

 private:
  std::shared_ptr<cache::Shared> cache_;
};

}  // namespace

std::unique_ptr<Service> Service::create(const config::Config& config,
                                         std::shared_ptr<cache::Shared> cache) {
  if (!config.cache.database) return nullptr;
  return std::unique_ptr<Service>(new Service(config, std::move(cache)));
}

Service::Service(const config::Config& config, std::shared_ptr<cache::Shared> cache)
    : book_(std::make_shared<PolicyBook>(cache)),
      pool_(config.pool),
      security_(std::make_shared<SecurityBook>(config.pool)),
      database_(*config.cache.database),
      consumer_("sidecache-" + config::format_endpoint(config.listen)),
      channel_(config.cache.invalidation_channel) {
  shared_ = std::make_shared<WriterShared>();
  shared_->cache = cache;
  shared_->db = std::make_shared<SharedRunner>(cache);
  shared_->stats = std::make_shared<WriteStats>();
  book_->set_queue_options(config.cache.write_behind);
  if (pool_.type == config::PoolType::kCluster) {
    // One queue per slot, in its slot; the gauges sum them (node="cluster").
    shared_->queues = write::slot_queues();
    shared_->by_slot = true;
    shared_->hints = std::make_shared<write::SlotHints>();
    shared_->stats->nodes.push_back(std::make_unique<NodeQueueStats>());
    shared_->stats->nodes.back()->node = "cluster";
  } else {
    const route::Router router(pool_.hash, pool_.hash_tag, route::ring_nodes(pool_.nodes));
    shared_->queues = queue_names(static_cast<std::uint32_t>(pool_.nodes.size()),
                                  [&](std::string_view key) { return router.node_for_key(key); });
    for (const auto& n : pool_.nodes) {
      shared_->stats->nodes.push_back(std::make_unique<NodeQueueStats>());
      shared_->stats->nodes.back()->node = n.name;
    }
  }
  if (!channel_.empty()) {
    listener_ = std::make_unique<Listener>(database_, channel_, pool_, security_, shared_->stats);
  }
}

std::shared_ptr<cache::StoreHook> Service::store_hook() const {
  std::vector<std::string> pending;
  for (const auto& q : shared_->queues) pending.push_back(q.pending);
  return std::make_shared<BehindStore>(std::move(pending), shared_->by_slot);
}

Service::~Service() { stop(std::chrono::milliseconds(0)); }

void Service::make_flushers() {
  if (shared_->by_slot) {
    ClusterFlusherOptions c;
    c.pool = pool_;
    c.hints = shared_->hints;
    c.base.consumer = consumer_;
    c.base.database = database_;
    c.base.book = book_;
    c.base.stats = shared_->stats;
    c.base.security = security_;
    cluster_flusher_ = std::make_unique<ClusterFlusher>(std::move(c));
    return;
  }
  for (std::uint32_t i = 0; i < pool_.nodes.size(); ++i) {
    FlusherOptions o;
    o.node = i;
    o.address = pool_.nodes[i].address;
    o.node_name = pool_.nodes[i].name;
    o.queue = shared_->queues[i];
    o.consumer = consumer_;
    o.database = database_;
    o.book = book_;
    o.stats = shared_->stats;
    o.security = security_;
    flushers_.push_back(std::make_unique<Flusher>(std::move(o)));
    spdlog::info("write-behind: node {}: queue {} (pending {}, dead letters {}), counter {}",
                 pool_.nodes[i].name, shared_->queues[i].stream, shared_->queues[i].pending,
                 shared_->queues[i].dead, shared_->queues[i].count);
  }
}

void Service::before_apply(const config::CacheConfig& next) {
  book_->set_queue_options(next.write_behind);
  for (const auto& name : book_->retire(next)) {
    spdlog::info(
        "write-behind: policy '{}' no longer writes behind: what is queued for it is still "
        "written with its last table and columns",
        name);
  }
}

void Service::apply(const config::Config& config) {
  const auto snap = book_->snapshot();
  std::array<std::int64_t, 4> modes{};
  for (const auto& p : snap->set->policies()) ++modes[static_cast<std::size_t>(p->config.write)];
  for (std::size_t i = 0; i < modes.size(); ++i) shared_->stats->policies[i].store(modes[i]);
  if (config.cache.invalidation_channel != channel_) {
    spdlog::warn(
        "reload: cache.invalidation_channel changed: needs a restart; still listening on "
        "'{}'",
        channel_);
  }
  if (!config.cache.database) {
    spdlog::warn("reload: cache.database removed: write modes need it; the running database stays");
  }
  // Same layout: the flushers and the listener follow the nodes' addresses, TLS and AUTH. A
  // cluster pool's nodes follow its topology; its queues are per slot, its security pool-wide
  // (node 0's).
  const bool same_nodes = follow(config.pool);
  const bool cluster = shared_->by_slot;
  if (!same_nodes && cluster) security_->set(config.pool);  // new connections: reloaded TLS, AUTH
  if (!same_nodes && !cluster && modes[static_cast<std::size_t>(config::WriteMode::kBehind)] > 0) {
    spdlog::warn(
        "reload: pool.nodes changed: the write-behind queues and flushers keep the "
        "startup node list until a restart (drain the queues first)");
  }
  const std::lock_guard lock(mutex_);
  if (stopped_ || !flushers_.empty() || cluster_flusher_ || !any_behind(*snap->set)) return;
  make_flushers();
  if (started_) {
    for (auto& f : flushers_) f->start();
    if (cluster_flusher_) cluster_flusher_->start();
  }
}

bool Service::follow(const config::PoolConfig& pool) {
  if (pool.type != pool_.type || pool.nodes.size() != pool_.nodes.size()) return false;
  for (std::size_t i = 0; i < pool_.nodes.size(); ++i) {
    const auto& a = pool.nodes[i];
    const auto& b = pool_.nodes[i];
    // A sentinel pool's one node is whichever primary the Sentinels name (named host:port), a
    // Sentinel group is its name and master: their queues are replicated to the new primary.
    // A plain ring node is its name and address.
    if (pool.type == config::PoolType::kSentinel) continue;
    if (a.name != b.name || a.master != b.master) return false;
    if (a.master.empty() && !(a.address == b.address)) return false;
  }
  security_->set(pool);
  return true;
}

void Service::start() {
  const std::lock_guard lock(mutex_);
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& f : flushers_) f->start();
  if (cluster_flusher_) cluster_flusher_->start();
  if (listener_) listener_->start();
}

void Service::stop(std::chrono::milliseconds drain) {
  const std::lock_guard lock(mutex_);
  if (stopped_) return;
  stopped_ = true;
  if (listener_) listener_->stop();
  // Each flusher drains its own node; they stop in parallel.
  std::vector<std::thread> stoppers;
  for (auto& f : flushers_) {
    stoppers.emplace_back([&f, drain] { f->stop(drain); });
  }
  if (cluster_flusher_) cluster_flusher_->stop(drain);
  for (auto& t : stoppers) t.join();
}

}  // namespace sidecache::writeback
