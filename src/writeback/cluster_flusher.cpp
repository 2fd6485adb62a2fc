#include "writeback/cluster_flusher.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "backend/blocking_client.hpp"
#include "backend/cluster_topology.hpp"
#include "route/cluster_slots.hpp"
#include "write/queue_layout.hpp"
#include "writeback/security_book.hpp"

namespace sidecache::writeback {

namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using Round = Flusher::Round;

// Passes a queue may find nothing to do before it leaves the round: an empty queue is deleted
// then (write::kDropEmptyQueueScript; new writes make it again, the hints bring it back); one
// another sidecache flushes is left alone for claim_idle (the next SCANs skip it; if that
// sidecache died, its lease has expired by then and this one takes over).
constexpr std::uint32_t kIdlePasses = 20;
// SCAN calls per primary at most (COUNT 1000 each): a bound, never reached in practice.
constexpr int kMaxScanCalls = 100000;

}  // namespace

struct ClusterFlusher::Impl {
  struct Queue {
    std::unique_ptr<Flusher> flusher;
    std::uint32_t idle = 0;
    Clock::time_point since{};  // added to the round
  };

  ClusterFlusherOptions o;
  std::thread thread;
  std::mutex mutex;  // stopping's deadline, and queues' structure (stop() walks it)
  std::condition_variable wake;
  std::atomic<bool> stopping{false};
  Clock::time_point deadline{};
  std::shared_ptr<const route::ClusterSlots> map;
  std::uint64_t epoch = 0;
  std::vector<std::string> owner = std::vector<std::string>(route::kClusterSlots);  // MOVED
  std::map<std::string, std::unique_ptr<backend::BlockingClient>> clients;          // "host:port"
  std::map<std::uint16_t, Queue> queues;
  std::map<std::uint16_t, Clock::time_point> resting;  // flushed by another: SCAN skips until
  Clock::time_point last_scan{};
  Clock::time_point last_refresh{};

  explicit Impl(ClusterFlusherOptions options) : o(std::move(options)) {}

  bool past_deadline() const { return stopping.load() && Clock::now() >= deadline; }

  void nap(Millis d) {
    std::unique_lock lock(mutex);
    wake.wait_for(lock, d, [&] { return stopping.load(); });
  }

  void refresh_map() {
    last_refresh = Clock::now();
    std::vector<config::NodeConfig> candidates;
    if (map) {
      for (const auto& n : map->nodes()) {
        config::NodeConfig c;
        c.name = n.name;
        c.address = config::Endpoint{n.host, n.port};
        candidates.push_back(std::move(c));
      }
    }
    std::string error;
    auto next = backend::fetch_cluster_slots(o.pool, candidates, ++epoch, error);
    if (!next) {
      spdlog::warn("write-behind: cannot read the cluster's slot map: {}", error);
      return;
    }
    map = std::move(next);
    for (auto& name : owner) name.clear();
  }

  std::string owner_of(std::uint16_t slot) const {
    if (!owner[slot].empty()) return owner[slot];
    if (map && !map->nodes().empty()) return map->nodes()[map->node_of_slot(slot)].name;
    return {};
  }

  // The connection to the node "host:port" (opened by its first user).
  backend::BlockingClient* client_for(const std::string& name) {
    if (name.empty()) return nullptr;
    auto& client = clients[name];
    if (!client) {
      config::Endpoint at;
      try {
        at = config::parse_endpoint(name);
      } catch (const std::invalid_argument& e) {
        spdlog::warn("write-behind: bad node address '{}': {}", name, e.what());
        clients.erase(name);
        return nullptr;
      }
      client = std::make_unique<backend::BlockingClient>(
          backend::NodeAddress{name, at.host, at.port, nullptr}, o.base.redis_timeout);
    }
    return client.get();
  }

  // `found`: by SCAN (a slot resting is skipped); else a hint (our own writes).
  void add(std::uint16_t slot, bool found = false) {
    if (found) {
      auto r = resting.find(slot);
      if (r != resting.end() && Clock::now() < r->second) return;
      if (r != resting.end()) resting.erase(r);
    }
    auto it = queues.find(slot);
    if (it != queues.end()) {
      it->second.idle = 0;
      return;
    }
    FlusherOptions f = o.base;
    f.node = 0;
    f.node_name = "slot " + std::to_string(slot);
    f.queue = write::slot_queue(slot);
    f.slot_queue = true;
    f.on_gauges = [this] { gauges(); };  // also while a round waits for the database
    auto flusher = std::make_unique<Flusher>(std::move(f));
    const std::lock_guard lock(mutex);
    if (stopping.load()) flusher->signal_stop(deadline);
    queues.emplace(slot, Queue{std::move(flusher), 0, Clock::now()});
  }

  // SCAN of every primary for queue streams.
  void scan() {
    last_scan = Clock::now();
    if (!map) refresh_map();
    if (!map) return;
    std::size_t found = 0;
    for (const auto& node : map->nodes()) {
      backend::BlockingClient* client = client_for(node.name);
      if (client == nullptr) continue;
      if (!client->connected()) {
        client->set_security(o.base.security->get(0));  // every cluster node: the pool's
        if (!client->connect()) {
          spdlog::warn("write-behind: cannot scan {} for queues: {}", node.name, client->error());
          continue;
        }
      }
      std::string cursor = "0";
      for (int calls = 0; calls < kMaxScanCalls; ++calls) {
        const std::vector<std::string> args{
            "SCAN", cursor,   "MATCH", std::string(write::kSlotStreamPattern),
            "TYPE", "stream", "COUNT", "1000"};
        auto r = client->command(args);
        if (!r || r->type != backend::Reply::Type::kArray || r->items.size() != 2) {
          spdlog::warn("write-behind: scanning {} for queues failed: {}", node.name,
                       r ? r->str : client->error());
          break;
        }
        for (const auto& name : r->items[1].items) {
          if (const int slot = write::queue_stream_slot(name.str); slot >= 0) {
            add(static_cast<std::uint16_t>(slot), true);
            ++found;
          }
        }
        cursor = r->items[0].str;
        if (cursor == "0") break;
      }
    }
    spdlog::debug("write-behind: scan found {} slot queues", found);
  }

  // One round of every queue; true when one of them flushed something.
  bool pass() {
    bool worked = false;
    bool refresh = false;
    // Nodes that could not be reached in this pass: their other slots wait for the next one
    // (a dead primary costs one connect timeout per pass, not one per slot).
    std::set<std::string> unreachable;
    for (auto it = queues.begin(); it != queues.end();) {
      if (past_deadline()) break;
      const std::uint16_t slot = it->first;
      Queue& q = it->second;
      const std::string node = owner_of(slot);
      if (unreachable.contains(node)) {
        ++it;
        continue;
      }
      backend::BlockingClient* client = client_for(node);
      const Round r = client != nullptr ? q.flusher->round(*client) : Round::kFailed;
      if (r == Round::kFailed) unreachable.insert(node);
      q.idle = r == Round::kWorked ? 0 : q.idle + 1;
      worked = worked || r == Round::kWorked;
      if (r == Round::kRedirected || r == Round::kFailed) {
        // MOVED: its owner now (and a new map soon); ASK, TRYAGAIN (moving): next pass.
        if (!q.flusher->moved_to().empty()) owner[slot] = q.flusher->moved_to();
        refresh = true;
        q.idle = 0;  // not idle: it has to be tried again
      }
      if (q.idle >= kIdlePasses && !stopping.load() && leaves(slot, q, r, client)) {
        const std::lock_guard lock(mutex);
        it = queues.erase(it);
      } else {
        ++it;
      }
    }
    if (refresh && Clock::now() - last_refresh >= Millis(500)) refresh_map();
    return worked;
  }

  // Whether an idle queue leaves the round (see kIdlePasses).
  bool leaves(std::uint16_t slot, Queue& q, Round last, backend::BlockingClient* client) {
    const auto now = Clock::now();
    if (last == Round::kNotLeader) {
      const auto rest = o.base.book->queue_options().claim_idle;
      if (now - q.since < rest) return false;
      resting[slot] = now + rest;
      return true;
    }
    if (last != Round::kIdle || client == nullptr) return false;
    return q.flusher->drop_if_empty(*client);
  }

  void gauges() {
    std::int64_t depth = 0;
    std::int64_t age = 0;
    for (const auto& [slot, q] : queues) {
      depth += q.flusher->depth();
      age = std::max(age, q.flusher->oldest_age_ms());
    }
    if (o.base.stats->nodes.empty()) return;
    auto& g = *o.base.stats->nodes[0];
    g.depth.store(depth);
    g.oldest_age_ms.store(age);
  }

  void run() {
    refresh_map();
    scan();
    while (!past_deadline()) {
      for (const std::uint16_t slot : o.hints->take()) add(slot);
      if (!stopping.load() && Clock::now() - last_scan >= o.rescan) scan();
      const bool worked = pass();
      gauges();
      if (worked) continue;
      if (stopping.load()) break;  // drained (or nothing of ours to drain)
      nap(o.base.book->queue_options().flush_interval);
    }
    for (auto& [slot, q] : queues) {
      if (auto* client = client_for(owner_of(slot)); client != nullptr) q.flusher->release(*client);
    }
    for (auto& [name, client] : clients) client->close();
  }
};

ClusterFlusher::ClusterFlusher(ClusterFlusherOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ClusterFlusher::~ClusterFlusher() { stop(std::chrono::milliseconds(0)); }

void ClusterFlusher::start() {
  spdlog::info(
      "write-behind: cluster pool: one queue per slot (sidecache:wb:{{<slot tag>}}), "
      "flushed as {}",
      impl_->o.base.consumer);
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void ClusterFlusher::stop(std::chrono::milliseconds drain) {
  if (!impl_->thread.joinable()) return;
  {
    const std::lock_guard lock(impl_->mutex);
    impl_->deadline = Clock::now() + drain;
    impl_->stopping.store(true);
    for (auto& [slot, q] : impl_->queues) q.flusher->signal_stop(impl_->deadline);
  }
  impl_->wake.notify_all();
  impl_->thread.join();
}

}  // namespace sidecache::writeback
