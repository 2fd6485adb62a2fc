// One worker thread: its own io_context, acceptor (SO_REUSEPORT: the kernel spreads clients
// over workers), backend pool and dispatcher. Nothing is shared with other workers except the
// read-only configuration snapshot and the statistics they publish. Other threads talk to a
// worker only through the public methods below, which post to its thread.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "backend/pool.hpp"
#include "cache/asio_runtime.hpp"
#include "cache/engine.hpp"
#include "cache/near_step.hpp"
#include "cache/policy_chain.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/process_state.hpp"
#include "server/session.hpp"
#include "server/tls_listener.hpp"
#include "sidecache/util/asio.hpp"
#include "write/writer.hpp"

namespace sidecache::server {

class Worker final : public SessionRegistry {
 public:
  Worker(unsigned index, dispatch::ProcessState& process,
         std::shared_ptr<const config::Config> config,
         std::shared_ptr<backend::HealthChecker> health);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds the listen address; throws std::runtime_error naming the address on failure.
  void listen();
  void start();  // runs the worker's thread
  void stop();   // at once, from any thread
  void join();
  // Stops accepting, lets every session answer what it read, then stops (from any thread).
  void drain();
  // A new configuration (from any thread): new requests use a new pool; requests in flight
  // finish on the old one.
  // `applied`, when given, runs on this worker once it took the configuration (or ignored it,
  // draining).
  void apply(std::shared_ptr<const config::Config> config,
             std::shared_ptr<backend::HealthChecker> health, std::uint64_t generation,
             std::function<void()> applied = {});
  // Cluster pools: a new slot map over the same primaries, for configuration `generation`
  // (from any thread). A map with other primaries comes as a new configuration (apply).
  // `applied`, when given, runs on this worker once its pool took the map (or ignored it).
  void set_slots(std::uint64_t generation, std::shared_ptr<const route::ClusterSlots> slots,
                 std::function<void()> applied = {});
  // A node's health changed in configuration `generation` (from any thread). `applied`, when
  // given, runs on this worker once its pool took the change.
  void set_node_up(std::uint64_t generation, std::uint32_t node, bool up,
                   std::function<void()> applied = {});

  // Warms the cache policies `indexes` of `snap` on this worker (from any thread);
  // `done` runs on this worker when every one has finished.
  void warm_cache(std::shared_ptr<const cache::Snapshot> snap, std::vector<std::size_t> indexes,
                  std::function<void()> done);

  void add(Session* session) override { sessions_.insert(session); }
  void remove(Session* session) override;

 private:
  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, bool tls);
  void accept(tcp::socket socket, bool tls);
  // The listen_tls context from the current config's files; on failure keeps the previous one.
  void load_tls(bool at_start);
  std::shared_ptr<backend::Pool> make_pool(std::shared_ptr<backend::HealthChecker> health);
  // Every kOutputCheck: limits.max_total_output_bytes (server/output_guard.hpp).
  void check_total_output();
  // A tracker for config_->hotkeys (none when disabled), handed to the dispatcher.
  void make_hotkeys();
  // Every Tracker::kTick: ages the hot-key sketch and publishes it.
  void tick_hotkeys();
  void apply_now(const std::shared_ptr<const config::Config>& config,
                 const std::shared_ptr<backend::HealthChecker>& health, std::uint64_t generation);
  // near_cache.promote_hot: asks the near cache to promote this worker's hottest keys.
  void promote_hot_keys();

  unsigned index_;
  dispatch::ProcessState& process_;
  dispatch::WorkerStats& stats_;
  // A pointer so the destructor can end the io_context (and the sessions its handlers own)
  // while the members the sessions use still exist.
  std::unique_ptr<asio::io_context> io_ = std::make_unique<asio::io_context>(1);
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<backend::Pool> pool_;
  std::uint64_t generation_ = 0;
  dispatch::Dispatcher dispatcher_;
  std::shared_ptr<cache::AsioRuntime> cache_runtime_;
  std::shared_ptr<cache::Engine> cache_;  // when process.cache is set
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::unique_ptr<tcp::acceptor> tls_acceptor_;  // listen_tls, when configured at start
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::unordered_set<Session*> sessions_;
  std::unique_ptr<asio::steady_timer> output_timer_;  // destroyed before io_
  std::unique_ptr<hotkeys::Tracker> hotkeys_;         // null: hotkeys.enabled is false
  hotkeys::HotSet hot_;  // the hottest keys, for refresh_top (rebuilt each tick)
  std::unique_ptr<asio::steady_timer> hotkeys_timer_;  // destroyed before io_
  // Write modes (write-through, write-behind): null unless the configuration has them.
  std::shared_ptr<cache::AsioRuntime> write_runtime_;
  std::shared_ptr<write::Writer> writer_;
  std::shared_ptr<cache::NearStep> near_;  // when process.near_cache is set
  // The steps before routing, in order: near_, writer_, then cache_ (those that are set).
  std::unique_ptr<cache::PolicyChain> chain_;
  bool draining_ = false;
  std::thread thread_;
};

}  // namespace sidecache::server
