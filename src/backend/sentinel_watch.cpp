#include "backend/sentinel_watch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "backend/blocking_client.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::backend {
namespace {

constexpr std::size_t kReadChunk = 4096;
constexpr std::chrono::milliseconds kBackoffMin{100};
constexpr std::chrono::milliseconds kBackoffMax{2000};
constexpr std::string_view kChannel = "+switch-master";
constexpr std::chrono::milliseconds kPingInterval{1000};
constexpr std::chrono::milliseconds kSilenceLimit{3000};

}  // namespace

SentinelWatch::SentinelWatch(asio::io_context& io, const config::PoolConfig& pool,
                             std::vector<std::string> masters, OnSwitch on_switch,
                             std::function<void()> on_resubscribed,
                             std::atomic<std::int64_t>& subscribed)
    : io_(io),
      config_(pool.sentinel),
      masters_(std::move(masters)),
      connect_timeout_(pool.connect_timeout),
      on_switch_(std::move(on_switch)),
      on_resubscribed_(std::move(on_resubscribed)),
      subscribed_(subscribed) {
  const auto security = sentinel_security(config_);
  for (const auto& address : config_.sentinels) {
    links_.push_back(std::make_unique<Link>(
        io_, NodeAddress{config::format_endpoint(address), address.host, address.port, security}));
  }
}

SentinelWatch::~SentinelWatch() {
  for (auto& link : links_) set_subscribed(*link, false);
}

void SentinelWatch::start() {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    asio::co_spawn(io_, follow(i), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("sentinel: subscription stopped: {}", ex.what());
      }
    });
  }
}

void SentinelWatch::stop() {
  stopped_ = true;
  for (auto& link : links_) {
    link->stream.close();
    link->timer.cancel();
    link->keepalive.cancel();
    set_subscribed(*link, false);
  }
}

void SentinelWatch::set_subscribed(Link& link, bool subscribed) {
  if (link.subscribed == subscribed) return;
  link.subscribed = subscribed;
  subscribed_.fetch_add(subscribed ? 1 : -1, std::memory_order_relaxed);
}

asio::awaitable<void> SentinelWatch::follow(std::size_t index) {
  const auto self = shared_from_this();
  Link& link = *links_[index];
  auto backoff = kBackoffMin;
  while (!stopped_) {
    const std::string why = co_await listen(link);
    if (stopped_) break;
    if (link.subscribed) backoff = kBackoffMin;
    set_subscribed(link, false);
    if (why != link.last_error) {
      spdlog::warn("sentinel {}: +switch-master subscription: {}; retrying", link.address.name,
                   why);
      link.last_error = why;
    }
    link.timer.expires_after(backoff);
    boost::system::error_code ec;
    co_await link.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    backoff = std::min(backoff * 2, kBackoffMax);
  }
}

asio::awaitable<void> SentinelWatch::keep_alive(Link& link, std::uint64_t session) {
  const auto self = shared_from_this();
  static const std::string ping = "*1\r\n$4\r\nPING\r\n";
  for (;;) {
    link.keepalive.expires_after(kPingInterval);
    boost::system::error_code ec;
    co_await link.keepalive.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_ || link.session != session || !link.stream.is_open()) co_return;
    if (std::chrono::steady_clock::now() - link.last_seen > kSilenceLimit) {
      spdlog::warn("sentinel {}: nothing read for {} ms; reconnecting", link.address.name,
                   kSilenceLimit.count());
      link.stream.close();
      co_return;
    }
    co_await asio::async_write(link.stream, asio::buffer(ping),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

asio::awaitable<std::string> SentinelWatch::listen(Link& link) {
  const std::uint64_t session = ++link.session;
  ByteBuffer in(kReadChunk);
  const auto opened = co_await open_node(link.stream, link.address, false, connect_timeout_, in);
  if (stopped_) co_return "stopped";
  if (!opened.ok()) co_return opened.reason;
  std::string request;
  const std::string_view args[] = {"SUBSCRIBE", kChannel};
  resp::append_command(request, args);
  boost::system::error_code ec;
  co_await asio::async_write(link.stream, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return "write failed: " + ec.message();
  link.last_seen = std::chrono::steady_clock::now();
  asio::co_spawn(io_, keep_alive(link, session), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("sentinel: keepalive stopped: {}", ex.what());
    }
  });
  resp::ReplyFramer framer;
  for (;;) {
    std::size_t length = 0;
    const auto status = framer.frame(in.readable(), length);
    if (status == resp::FrameStatus::kError) {
      link.stream.close();
      co_return "protocol error: " + std::string(framer.error());
    }
    if (status == resp::FrameStatus::kComplete) {
      const Reply reply = decode_reply(in.readable().substr(0, length));
      in.consume(length);
      if (reply.is_error()) {
        link.stream.close();
        co_return "SUBSCRIBE refused: " + reply.str;
      }
      // ["subscribe", channel, count] or ["message", channel, payload]
      if (reply.type != Reply::Type::kArray || reply.items.size() != 3) continue;
      const auto& kind = reply.items[0].str;
      if (kind == "subscribe") {
        if (!link.last_error.empty()) {
          spdlog::info("sentinel {}: subscribed to +switch-master again", link.address.name);
          if (on_resubscribed_) on_resubscribed_();
        } else {
          spdlog::info("sentinel {}: subscribed to +switch-master", link.address.name);
        }
        link.last_error.clear();
        set_subscribed(link, true);
        continue;
      }
      if (kind != "message") continue;
      const auto event = parse_switch_master(reply.items[2].str);
      if (!event) {
        spdlog::warn("sentinel {}: unreadable +switch-master message '{}'", link.address.name,
                     reply.items[2].str);
        continue;
      }
      const bool ours =
          std::find(masters_.begin(), masters_.end(), event->master) != masters_.end();
      if (ours && on_switch_) on_switch_(*event, link.address.name);
      if (stopped_) co_return "stopped";
      continue;
    }
    std::size_t free = 0;
    char* space = in.prepare(kReadChunk, free);
    const std::size_t n = co_await link.stream.async_read_some(
        asio::buffer(space, free), asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) co_return "stopped";
    if (ec) {
      link.stream.close();
      co_return ec == asio::error::eof ? std::string("closed by the Sentinel") : ec.message();
    }
    in.commit(n);
    link.last_seen = std::chrono::steady_clock::now();
  }
}

}  // namespace sidecache::backend
