#include "backend/health.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sidecache::backend {

HealthChecker::HealthChecker(std::vector<NodeAddress> nodes, HealthOptions options,
                             OnChange on_change, const std::vector<std::string>& initially_down)
    : options_(options), on_change_(std::move(on_change)) {
  for (auto& address : nodes) {
    auto node = std::make_unique<Node>(io_, std::move(address));
    if (std::find(initially_down.begin(), initially_down.end(), node->address.name) !=
        initially_down.end()) {
      node->up = false;
    }
    nodes_.push_back(std::move(node));
  }
}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::start() {
  for (std::uint32_t i = 0; i < nodes_.size(); ++i) {
    // No address (a Sentinel group without a known primary): nothing to probe.
    if (nodes_[i]->address.port == 0) continue;
    asio::co_spawn(io_, probe_loop(i), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("health checker stopped probing: {}", ex.what());
      }
    });
  }
  thread_ = std::thread([this] { io_.run(); });
}

void HealthChecker::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopped_ = true;
    io_.stop();
  });
  thread_.join();
}

void HealthChecker::report_failure(std::uint32_t node, std::string reason) {
  asio::post(io_, [this, node, reason = std::move(reason)] {
    if (node < nodes_.size()) record(node, false, reason);
  });
}

std::vector<std::string> HealthChecker::down_names() const {
  std::vector<std::string> names;
  for (const auto& n : nodes_) {
    if (!n->up.load(std::memory_order_relaxed)) names.push_back(n->address.name);
  }
  return names;
}

asio::awaitable<void> HealthChecker::probe_loop(std::uint32_t index) {
  Node& node = *nodes_[index];
  asio::steady_timer wait(io_);
  auto interval = options_.interval;
  while (!stopped_) {
    const Outcome outcome = co_await probe(node);
    record(index, outcome.reason.empty(), outcome.reason);
    interval = next_wait(node, outcome, interval);
    wait.expires_after(interval);
    boost::system::error_code ec;
    co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// The pause before the next probe of `node`. A down node that refuses or closes connections is
// probed at the normal pace: that costs one round trip, and a backoff there is what would delay
// its readmission after a restart. Only probes that time out back off (doubling up to
// max_interval). Once a down node answers, the confirming probes come quickly.
std::chrono::milliseconds HealthChecker::next_wait(const Node& node, const Outcome& outcome,
                                                   std::chrono::milliseconds last) const {
  if (node.up.load(std::memory_order_relaxed)) return options_.interval;
  if (outcome.reason.empty()) {
    return std::max(options_.interval / 4, std::chrono::milliseconds(10));
  }
  if (!outcome.timed_out) return options_.interval;
  return std::clamp(last * 2, options_.interval,
                    std::max(options_.interval, options_.max_interval));
}

asio::awaitable<HealthChecker::Outcome> HealthChecker::probe(Node& node) {
  if (!node.stream.is_open()) {
    node.in.consume(node.in.size());
    // Probes authenticate and use TLS like every other connection: a wrong password or a bad
    // certificate makes the node fail its probes, hence down.
    OpenResult opened =
        co_await open_node(node.stream, node.address, false, options_.timeout, node.in);
    if (!opened.ok()) {
      const bool timed_out = opened.reason.find("timed out") != std::string::npos;
      co_return Outcome{opened.reason, timed_out};
    }
  }
  boost::system::error_code ec;
  auto timed_out = std::make_shared<bool>(false);
  auto finished = std::make_shared<bool>(false);
  asio::steady_timer watchdog(io_);
  watchdog.expires_after(options_.timeout);
  watchdog.async_wait([&node, timed_out, finished](boost::system::error_code wec) {
    if (wec || *finished) return;
    *timed_out = true;
    node.stream.close();
  });
  auto fail = [&](std::string what) {
    *finished = true;
    watchdog.cancel();
    node.stream.close();
    if (!*timed_out) return Outcome{std::move(what), false};
    return Outcome{"no answer to PING within " + std::to_string(options_.timeout.count()) + " ms",
                   true};
  };
  static constexpr std::string_view kPing = "*1\r\n$4\r\nPING\r\n";
  co_await asio::async_write(node.stream, asio::buffer(kPing.data(), kPing.size()),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail("write: " + ec.message());
  std::string reply;
  char buf[256];
  while (reply.find("\r\n") == std::string::npos && reply.size() < sizeof buf) {
    const std::size_t n = co_await node.stream.async_read_some(
        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail(ec == asio::error::eof ? "closed by the node" : "read: " + ec.message());
    reply.append(buf, n);
  }
  if (reply.rfind("+PONG\r\n", 0) != 0) {
    const auto end = reply.find("\r\n");
    const std::string text = reply.substr(0, end == std::string::npos ? 64 : end);
    if (text.starts_with("-NOAUTH") || text.starts_with("-WRONGPASS")) {
      co_return fail("authentication failed: " + text.substr(1));
    }
    co_return fail("PING answered " + text);
  }
  *finished = true;
  watchdog.cancel();
  co_return Outcome{};
}

void HealthChecker::record(std::uint32_t index, bool ok, const std::string& reason) {
  Node& node = *nodes_[index];
  const bool was_up = node.up.load(std::memory_order_relaxed);
  if (ok) {
    node.failures = 0;
    if (was_up) return;
    if (++node.successes < options_.success_threshold) return;
    node.successes = 0;
    node.up = true;
    spdlog::info("node {} is up again after {} successful probes; readmitted", node.address.name,
                 options_.success_threshold);
    on_change_(index, true, "probes succeeded");
    return;
  }
  node.successes = 0;
  if (!was_up) return;
  if (++node.failures < options_.failure_threshold) return;
  node.up = false;
  spdlog::warn("node {} is down after {} consecutive failures: {}", node.address.name,
               node.failures, reason);
  on_change_(index, false, reason);
}

}  // namespace sidecache::backend
