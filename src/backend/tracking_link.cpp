#include "backend/tracking_link.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "backend/blocking_client.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::backend {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
using Clock = std::chrono::steady_clock;

std::string encode(const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string out;
  resp::append_command(out, views);
  return out;
}

}  // namespace

std::optional<Invalidation> parse_invalidation(std::string_view framed) {
  if (framed.empty() || framed[0] != '>') return std::nullopt;
  const Reply push = decode_reply(framed);
  if (push.type != Reply::Type::kArray || push.items.size() != 2) return std::nullopt;
  if (push.items[0].type != Reply::Type::kString || push.items[0].str != "invalidate") {
    return std::nullopt;
  }
  Invalidation out;
  const Reply& keys = push.items[1];
  if (keys.type == Reply::Type::kNil) {
    out.flush = true;
    return out;
  }
  if (keys.type != Reply::Type::kArray) return std::nullopt;
  for (const Reply& k : keys.items) {
    if (k.type == Reply::Type::kString) out.keys.push_back(k.str);
  }
  return out;
}

std::vector<std::string> tracking_command(const std::vector<std::string>& prefixes) {
  std::vector<std::string> args{"CLIENT", "TRACKING", "on", "BCAST"};
  for (const auto& p : prefixes) {
    if (p.empty()) continue;  // no PREFIX: every key
    args.push_back("PREFIX");
    args.push_back(p);
  }
  return args;
}

struct TrackingLinks::Link {
  Link(std::uint32_t i, NodeAddress a, asio::io_context& io)
      : index(i), address(std::move(a)), stream(io.get_executor()), timer(io) {}
  std::uint32_t index;
  NodeAddress address;
  NodeStream stream;
  asio::steady_timer timer;
  ByteBuffer in{kReadChunk};
  resp::ReplyFramer framer;
  std::uint64_t epoch = 0;
  Clock::time_point last_rx{};
  std::uint64_t failures = 0;  // consecutive failed opens
};

TrackingLinks::TrackingLinks(std::vector<NodeAddress> nodes, std::vector<std::string> prefixes,
                             TrackingSink& sink, TrackingOptions options)
    : prefixes_(std::move(prefixes)), sink_(sink), options_(options) {
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    links_.push_back(std::make_unique<Link>(i, std::move(nodes[i]), io_));
  }
}

TrackingLinks::~TrackingLinks() { stop(); }

void TrackingLinks::start() {
  for (auto& link : links_) {
    asio::co_spawn(io_, run(*link), [name = link->address.name](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("near cache: tracking connection to {} stopped: {}", name, ex.what());
      }
    });
  }
  thread_ = std::thread([this] { io_.run(); });
}

void TrackingLinks::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    for (auto& link : links_) {
      link->stream.close();
      link->timer.cancel();
    }
    io_.stop();
  });
  thread_.join();
}

asio::awaitable<void> TrackingLinks::run(Link& link) {
  std::chrono::milliseconds backoff{8};
  while (!stopping_) {
    const bool was_up = co_await session(link);
    ++link.epoch;  // ends the heartbeat of that session
    link.stream.close();
    if (was_up) {
      sink_.on_up(link.index, false);
      backoff = std::chrono::milliseconds(8);
    }
    if (stopping_) break;
    link.timer.expires_after(backoff);
    boost::system::error_code ec;
    co_await link.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

// One connection: open, register, then read pushes until it fails. True when it was up.
asio::awaitable<bool> TrackingLinks::session(Link& link) {
  link.in.consume(link.in.size());
  link.framer.reset();
  const OpenResult opened =
      co_await open_node(link.stream, link.address, true, options_.connect_timeout, link.in);
  if (!opened.ok()) {
    // Once per streak of failures, then every 60th: the node's keys are not cached meanwhile.
    if (link.failures++ % 60 == 0) {
      spdlog::warn("near cache: tracking connection to {} failed ({}); its keys are not cached",
                   link.address.name, opened.reason);
    }
    co_return false;
  }
  std::string request = encode({"CLIENT", "SETNAME", "sidecache-l1-tracking"});
  request += encode(tracking_command(prefixes_));
  boost::system::error_code ec;
  co_await asio::async_write(link.stream, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  int replies = 0;  // SETNAME, TRACKING: both must be +OK before the node counts as up
  bool up = false;
  for (;;) {
    std::size_t length = 0;
    const auto status = link.framer.frame(link.in.readable(), length);
    if (status == resp::FrameStatus::kError) {
      spdlog::warn("near cache: tracking connection to {}: protocol error: {}", link.address.name,
                   link.framer.error());
      co_return up;
    }
    if (status == resp::FrameStatus::kComplete) {
      const std::string_view framed = link.in.readable().substr(0, length);
      link.last_rx = Clock::now();
      if (auto inv = parse_invalidation(framed)) {
        if (inv->flush) {
          sink_.on_flush(link.index);
        } else {
          for (const auto& key : inv->keys) sink_.on_invalidate(link.index, key);
        }
      } else if (framed[0] != '>' && !up) {
        if (framed[0] == '-' || framed[0] == '!') {
          if (link.failures++ % 60 == 0) {
            spdlog::warn("near cache: CLIENT TRACKING refused by {}: {}", link.address.name,
                         framed.substr(0, framed.find('\r')));
          }
          link.in.consume(length);
          co_return false;
        }
        if (++replies == 2) {
          up = true;
          link.failures = 0;
          spdlog::info("near cache: tracking connection to {} up", link.address.name);
          sink_.on_up(link.index, true);
          asio::co_spawn(link.stream.get_executor(), heartbeat(link, link.epoch), asio::detached);
        }
      }
      link.in.consume(length);
      continue;
    }
    std::size_t free = 0;
    char* space = link.in.prepare(kReadChunk, free);
    const std::size_t n = co_await link.stream.async_read_some(
        asio::buffer(space, free), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (up && !stopping_) {
        spdlog::warn("near cache: tracking connection to {} lost: {}", link.address.name,
                     ec == asio::error::eof ? std::string("closed by the node") : ec.message());
      }
      co_return up;
    }
    link.in.commit(n);
  }
}

// While the session of `epoch` lasts: a PING every heartbeat; nothing heard for three
// heartbeats closes the connection (the read fails, the node goes down).
asio::awaitable<void> TrackingLinks::heartbeat(Link& link, std::uint64_t epoch) {
  asio::steady_timer timer(link.stream.get_executor());
  static const std::string kPing = "*1\r\n$4\r\nPING\r\n";
  for (;;) {
    timer.expires_after(options_.heartbeat);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_ || link.epoch != epoch || !link.stream.is_open()) co_return;
    if (Clock::now() - link.last_rx > 3 * options_.heartbeat) {
      spdlog::warn("near cache: tracking connection to {}: no reply for {} ms, closing",
                   link.address.name, 3 * options_.heartbeat.count());
      link.stream.close();
      co_return;
    }
    co_await asio::async_write(link.stream, asio::buffer(kPing),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

}  // namespace sidecache::backend
