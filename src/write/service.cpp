#include "write/service.hpp"

#include <spdlog/spdlog.h>

#include "db/executor.hpp"
#include "route/router.hpp"
#include "write/flusher.hpp"
#include "write/listener.hpp"

namespace sidecache::write {
namespace {

class ExecutorRunner final : public cache::DbRunner {
 public:
  explicit ExecutorRunner(db::Executor& executor) : executor_(executor) {}
  bool submit(std::function<void(db::Database*)> job) override {
    return executor_.submit(std::move(job));
  }

 private:
  db::Executor& executor_;
};

bool uses_writes(const config::Config& config) {
  if (!config.cache.invalidation_channel.empty()) return true;
  for (const auto& p : config.cache.policies) {
    if (p.write != config::WriteMode::kNone) return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<Service> Service::create(const config::Config& config) {
  if (!uses_writes(config) || !config.cache.database) return nullptr;
  return std::unique_ptr<Service>(new Service(config));
}

Service::Service(const config::Config& config) {
  executor_ = std::make_unique<db::Executor>(*config.cache.database);
  shared_ = std::make_shared<WriterShared>();
  shared_->policies = std::make_shared<const cache::PolicySet>(config.cache);
  shared_->db = std::make_shared<ExecutorRunner>(*executor_);
  shared_->stats = std::make_shared<WriteStats>();
  const auto& pool = config.pool;
  std::vector<route::RingNode> ring;
  for (std::uint32_t i = 0; i < pool.nodes.size(); ++i) {
    ring.push_back({pool.nodes[i].name, pool.nodes[i].weight, i});
  }
  const route::Router router(pool.hash, pool.hash_tag, ring);
  shared_->queues = queue_names(static_cast<std::uint32_t>(pool.nodes.size()),
                                [&](std::string_view key) { return router.node_for_key(key); });
  for (const auto& n : pool.nodes) {
    shared_->stats->nodes.push_back(std::make_unique<NodeQueueStats>());
    shared_->stats->nodes.back()->node = n.name;
  }
  const config::CachePolicy* behind = nullptr;
  for (const auto& p : config.cache.policies) {
    if (p.write == config::WriteMode::kBehind && behind == nullptr) behind = &p;
  }
  if (behind != nullptr) {
    const std::string consumer = "sidecache-" + config::format_endpoint(config.listen);
    for (std::uint32_t i = 0; i < pool.nodes.size(); ++i) {
      FlusherOptions o;
      o.node = i;
      o.address = pool.nodes[i].address;
      o.node_name = pool.nodes[i].name;
      o.queue = shared_->queues[i];
      o.consumer = consumer;
      o.database = *config.cache.database;
      o.policies = shared_->policies;
      o.queue_options = behind->write_behind;
      o.stats = shared_->stats;
      flushers_.push_back(std::make_unique<Flusher>(std::move(o)));
      spdlog::info("write-behind: node {}: queue {} (pending {}, dead letters {})",
                   pool.nodes[i].name, shared_->queues[i].stream, shared_->queues[i].pending,
                   shared_->queues[i].dead);
    }
  }
  if (!config.cache.invalidation_channel.empty()) {
    listener_ = std::make_unique<Listener>(*config.cache.database,
                                           config.cache.invalidation_channel, pool, shared_->stats);
  }
}

Service::~Service() { stop(std::chrono::milliseconds(0)); }

void Service::start() {
  for (auto& f : flushers_) f->start();
  if (listener_) listener_->start();
}

void Service::stop(std::chrono::milliseconds drain) {
  if (stopped_) return;
  stopped_ = true;
  if (listener_) listener_->stop();
  // Each flusher drains its own node; they stop in parallel.
  std::vector<std::thread> stoppers;
  for (auto& f : flushers_) {
    stoppers.emplace_back([&f, drain] { f->stop(drain); });
  }
  for (auto& t : stoppers) t.join();
  executor_->stop();
}

}  // namespace sidecache::write
