#include "server/worker.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>

#include <boost/asio/ip/address.hpp>

#include "resp/errors.hpp"
#include "server/output_guard.hpp"
#include "server/session.hpp"

namespace sidecache::server {
namespace {

constexpr std::chrono::milliseconds kOutputCheck{100};
constexpr std::size_t kPromoteCandidates = 32;  // a worker's hottest keys looked at per tick

tcp::endpoint resolve_listen(const config::Endpoint& listen) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(listen.host, ec);
  if (!ec) return {address, listen.port};
  asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(listen.host, std::to_string(listen.port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("cannot resolve listen address " + listen.host + ": " + ec.message());
  }
  return results.begin()->endpoint();
}

}  // namespace

Worker::Worker(unsigned index, dispatch::ProcessState& process,
               std::shared_ptr<const config::Config> config,
               std::shared_ptr<backend::HealthChecker> health)
    : index_(index),
      process_(process),
      stats_(*process.workers.at(index)),
      config_(std::move(config)),
      pool_(make_pool(std::move(health))),
      dispatcher_(*pool_, process_, stats_),
      acceptor_(std::make_unique<tcp::acceptor>(*io_)),
      output_timer_(std::make_unique<asio::steady_timer>(*io_)),
      hotkeys_timer_(std::make_unique<asio::steady_timer>(*io_)) {
  load_tls(true);
  make_hotkeys();
  if (process_.cache) {
    cache_runtime_ = std::make_shared<cache::AsioRuntime>(*io_);
    cache_ = std::make_shared<cache::Engine>(process_.cache, cache_runtime_, *pool_);
  }
  if (process_.writes) {
    write_runtime_ = std::make_shared<cache::AsioRuntime>(*io_);
    writer_ = std::make_shared<write::Writer>(process_.writes, write_runtime_, *pool_);
  }
  if (process_.near_cache) {
    if (!cache_runtime_ && !write_runtime_) {
      cache_runtime_ = std::make_shared<cache::AsioRuntime>(*io_);
    }
    near_ = std::make_shared<cache::NearStep>(
        process_.near_cache, cache_runtime_ ? cache_runtime_ : write_runtime_, *pool_);
  }
  if (cache_ || writer_ || near_) {
    // The near cache first (it answers hits and sees every write), then write modes (a write
    // on a policy key is theirs), then read-through.
    chain_ = std::make_unique<cache::PolicyChain>(process_.cache ? process_.cache
                                                                 : process_.writes->cache);
    if (near_) chain_->add(*near_);
    if (writer_) chain_->add(*writer_);
    if (cache_) chain_->add(*cache_);
    dispatcher_.set_chain(chain_.get());
  }
}

std::shared_ptr<backend::Pool> Worker::make_pool(std::shared_ptr<backend::HealthChecker> health) {
  std::function<void()> want_refresh;
  if (config_->pool.type != config::PoolType::kRing) {
    want_refresh = [&process = process_] {
      process.cluster_refresh_wanted.store(true, std::memory_order_relaxed);
    };
  }
  return std::make_shared<backend::Pool>(*io_, config_->pool, stats_, std::move(health),
                                         std::move(want_refresh));
}

Worker::~Worker() {
  stop();
  join();
  if (write_runtime_) write_runtime_->close();  // database threads' posts become no-ops
  // Order matters: sockets before their io_context; the io_context (whose pending handlers
  // own the sessions) before the members sessions use.
  acceptor_.reset();
  tls_acceptor_.reset();
  output_timer_.reset();
  hotkeys_timer_.reset();
  if (cache_runtime_) cache_runtime_->close();  // database threads post no more
  pool_.reset();
  io_.reset();
}

namespace {

void bind_listener(tcp::acceptor& acceptor, const config::Endpoint& listen, bool probe_first) {
  const tcp::endpoint endpoint = resolve_listen(listen);
  boost::system::error_code ec;
  if (probe_first) {
    // SO_REUSEPORT lets our workers share the port, but it would also let a second process
    // share it silently. A plain bind first fails if anyone holds the address.
    tcp::acceptor probe(acceptor.get_executor());
    probe.open(endpoint.protocol(), ec);
    if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) probe.bind(endpoint, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + listen.host + ":" +
                               std::to_string(listen.port) + ": " + ec.message());
    }
  }
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) {
    const int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec.assign(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on " + listen.host + ":" + std::to_string(listen.port) +
                             ": " + ec.message());
  }
}

}  // namespace

void Worker::listen() {
  bind_listener(*acceptor_, config_->listen, index_ == 0);
  if (config_->listen_tls) {
    tls_acceptor_ = std::make_unique<tcp::acceptor>(*io_);
    bind_listener(*tls_acceptor_, config_->listen_tls->listen, index_ == 0);
  }
}

void Worker::load_tls(bool at_start) {
  if (!config_->listen_tls) return;
  try {
    tls_context_ = make_server_context(*config_->listen_tls);
  } catch (const std::exception& e) {
    if (at_start) throw;
    if (index_ == 0) {
      spdlog::error("reload: {}; TLS clients keep the previous certificate", e.what());
    }
  }
}

void Worker::start() {
  pool_->start();
  check_total_output();
  tick_hotkeys();
  const auto on_exit = [index = index_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("worker {}: accept loop failed: {}", index, ex.what());
    }
  };
  asio::co_spawn(*io_, accept_loop(*acceptor_, false), on_exit);
  if (tls_acceptor_) asio::co_spawn(*io_, accept_loop(*tls_acceptor_, true), on_exit);
  thread_ = std::thread([this] {
    this_worker() = index_;  // this thread's slot in WorkerCounters
    try {
      io_->run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {}: stopped by an exception: {}", index_, e.what());
    }
  });
}

void Worker::stop() {
  asio::post(*io_, [this] {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    if (tls_acceptor_) tls_acceptor_->close(ignored);
    // Sessions close their dedicated node connections (which hold references back to them).
    const std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
    for (Session* s : sessions) s->stop();
    pool_->stop();
    io_->stop();
  });
}

void Worker::drain() {
  asio::post(*io_, [this] {
    draining_ = true;
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    if (tls_acceptor_) tls_acceptor_->close(ignored);
    // drain() may end sessions at once (and so call remove()): iterate over a copy.
    const std::vector<Session*> sessions(sessions_.begin(), sessions_.end());
    for (Session* s : sessions) s->drain();
    if (sessions_.empty()) {
      pool_->stop();
      io_->stop();
    }
  });
}

void Worker::check_total_output() {
  enforce_total_output(sessions_, process_, stats_, config_->limits.max_total_output_bytes);
  output_timer_->expires_after(kOutputCheck);
  output_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) check_total_output();
  });
}

void Worker::make_hotkeys() {
  dispatcher_.set_hotkeys(nullptr);
  hotkeys_.reset();
  if (config_->hotkeys.enabled) {
    hotkeys_ = std::make_unique<hotkeys::Tracker>(config_->hotkeys, process_.hotkeys.get(), index_,
                                                  hotkeys::Tracker::Clock::now());
    dispatcher_.set_hotkeys(hotkeys_.get());
  } else if (process_.hotkeys) {
    hotkeys::Snapshot empty;
    process_.hotkeys->publish(index_, empty);
  }
}

void Worker::tick_hotkeys() {
  if (hotkeys_) hotkeys_->tick(hotkeys::Tracker::Clock::now());
  const auto& hk = config_->hotkeys;
  if (hotkeys_ && hk.refresh_top > 0) {
    hot_.rebuild(hotkeys_->sketch(), hk.refresh_top);
  } else {
    hot_.clear();
  }
  if (cache_) cache_->set_hot_keys(hot_.empty() ? nullptr : &hot_, hk.refresh_ahead);
  if (hotkeys_ && process_.near_cache && config_->near_cache.promote_hot.enabled) {
    promote_hot_keys();
  }
  hotkeys_timer_->expires_after(hotkeys::Tracker::kTick);
  hotkeys_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) tick_hotkeys();
  });
}

// A key whose certain count (count - error) makes at least min_rate / workers requests per
// second on this worker, whose whole name the sketch holds, and that no pattern matches.
void Worker::promote_hot_keys() {
  const double window = hotkeys_->window_seconds();
  if (window <= 0) return;
  const auto& promote = config_->near_cache.promote_hot;
  const double per_count = static_cast<double>(config_->hotkeys.sample) / window;
  const double workers = static_cast<double>(std::max<std::size_t>(1, process_.workers.size()));
  const double min_rate = promote.min_rate / workers;
  nearcache::NearCache& near = *process_.near_cache;
  const auto settings = near.settings();
  for (const auto& c : hotkeys_->sketch().top(kPromoteCandidates)) {
    if (static_cast<double>(c.count - c.error) * per_count < min_rate) continue;
    if (c.key.size() != c.key_len || settings->matches(c.key)) continue;
    near.promotions().request(c.key);
  }
}

void Worker::remove(Session* session) {
  sessions_.erase(session);
  if (draining_ && sessions_.empty() && io_) {  // io_ is null while the destructor ends it
    asio::post(*io_, [this] {
      pool_->stop();
      io_->stop();
    });
  }
}

void Worker::apply(std::shared_ptr<const config::Config> config,
                   std::shared_ptr<backend::HealthChecker> health, std::uint64_t generation,
                   std::function<void()> applied) {
  asio::post(*io_, [this, config = std::move(config), health = std::move(health), generation,
                    applied = std::move(applied)] {
    apply_now(config, health, generation);
    if (applied) applied();
  });
}

void Worker::apply_now(const std::shared_ptr<const config::Config>& config,
                       const std::shared_ptr<backend::HealthChecker>& health,
                       std::uint64_t generation) {
  if (draining_) return;
  const auto& a = config->hotkeys;
  const auto& b = config_->hotkeys;
  const bool hotkeys_changed = a.enabled != b.enabled || a.capacity != b.capacity ||
                               a.half_life != b.half_life || a.sample != b.sample;
  config_ = config;
  generation_ = generation;
  load_tls(false);
  // New sketch settings start a new sketch; metrics_top_n and expose_names are read when asked.
  if (hotkeys_changed) make_hotkeys();
  auto old = pool_;
  pool_ = make_pool(health);
  pool_->start();
  dispatcher_.set_nodes(*pool_);
  old->set_successor(pool_);  // requests being redirected go on on the new pool
  old->retire();              // its connections close once their requests are answered
}

void Worker::set_slots(std::uint64_t generation, std::shared_ptr<const route::ClusterSlots> slots,
                       std::function<void()> applied) {
  asio::post(*io_, [this, generation, slots = std::move(slots), applied = std::move(applied)] {
    if (generation == generation_) pool_->set_slots(*slots);
    if (applied) applied();
  });
}

void Worker::set_node_up(std::uint64_t generation, std::uint32_t node, bool up,
                         std::function<void()> applied) {
  asio::post(*io_, [this, generation, node, up, applied = std::move(applied)] {
    if (generation == generation_) pool_->set_node_up(node, up);
    if (applied) applied();
  });
}

void Worker::warm_cache(std::shared_ptr<const cache::Snapshot> snap,
                        std::vector<std::size_t> indexes, std::function<void()> done) {
  asio::post(*io_, [this, snap = std::move(snap), indexes = std::move(indexes),
                    done = std::move(done)]() mutable {
    if (!cache_) return done();
    cache_->warm_all(std::move(snap), std::move(indexes), std::move(done));
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<void> Worker::accept_loop(tcp::acceptor& acceptor, bool tls) {
  boost::system::error_code ec;
  asio::steady_timer pause(*io_);
  while (acceptor.is_open()) {
    tcp::socket socket(*io_);
    co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
    if (ec) {
      // Out of file descriptors or similar: say so and give the process a moment.
      spdlog::warn("worker {}: accept failed: {}", index_, ec.message());
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    accept(std::move(socket), tls);
  }
}

void Worker::accept(tcp::socket socket, bool tls) {
  stats_.connections_accepted.add();
  const auto max = static_cast<std::int64_t>(config_->limits.max_clients);
  if (process_.clients.fetch_add(1, std::memory_order_relaxed) >= max) {
    process_.clients.fetch_sub(1, std::memory_order_relaxed);
    stats_.connections_rejected.add();
    boost::system::error_code ignored;
    static const std::string kTooManyClients = resp::errors::frame(resp::errors::kMaxClients);
    socket.write_some(asio::buffer(kTooManyClients), ignored);
    socket.close(ignored);
    return;
  }
  auto session = std::make_shared<Session>(
      std::move(socket), SessionContext{dispatcher_, process_, stats_, config_, *this},
      tls ? tls_context_ : nullptr);
  session->start();
}

}  // namespace sidecache::server
