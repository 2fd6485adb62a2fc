#include "backend/tracking_link.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>

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

std::chrono::milliseconds marker_ttl(std::chrono::milliseconds interval) {
  return std::max(3 * interval, std::chrono::milliseconds(1000));
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
      : index(i),
        address(std::move(a)),
        stream(io.get_executor()),
        timer(io),
        probe_stream(io.get_executor()) {}
  std::uint32_t index;
  NodeAddress address;
  NodeStream stream;
  asio::steady_timer timer;
  ByteBuffer in{kReadChunk};
  resp::ReplyFramer framer;
  std::uint64_t epoch = 0;
  Clock::time_point last_rx{};
  std::uint64_t failures = 0;   // consecutive failed opens
  Clock::time_point read_at{};  // when the last read from the tracking connection completed
  // The lag probe: its own connection, the marker key, the send time of the probe whose push
  // is awaited.
  NodeStream probe_stream;
  ByteBuffer probe_in{1024};
  resp::ReplyFramer probe_framer;
  std::string marker;
  std::optional<Clock::time_point> probe_sent;
  std::uint64_t probe_failures = 0;
  // After registration: what is written goes through `outbox` (one writer coroutine), and the
  // replies expected, in order: a PING's (no keys) or a promoted keys' registration.
  bool up = false;
  std::string outbox;
  bool writing = false;
  std::deque<std::vector<std::string>> expected;
  std::set<std::string> registered;  // promoted keys registered in this session
};

TrackingLinks::TrackingLinks(std::vector<NodeAddress> nodes, std::vector<std::string> prefixes,
                             TrackingSink& sink, TrackingOptions options)
    : prefixes_(std::move(prefixes)), sink_(sink), options_(options) {
  for (std::uint32_t i = 0; i < nodes.size(); ++i) {
    links_.push_back(std::make_unique<Link>(i, std::move(nodes[i]), io_));
    links_.back()->marker = i < options_.marker_keys.size()
                                ? options_.marker_keys[i]
                                : options_.marker_prefix + std::to_string(i);
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
  if (options_.promotion_poll.count() > 0) {
    asio::co_spawn(io_, promote_loop(), asio::detached);
  }
  thread_ = std::thread([this] { io_.run(); });
}

void TrackingLinks::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    for (auto& link : links_) {
      link->stream.close();
      link->probe_stream.close();
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
    ++link.epoch;  // ends the heartbeat and the probe of that session
    link.stream.close();
    link.probe_stream.close();
    link.probe_sent.reset();
    link.up = false;
    link.outbox.clear();
    link.writing = false;  // a writer of the old session ends at its next step (epoch)
    link.expected.clear();
    link.registered.clear();
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
  // The promoted keys known now are registered with the patterns' prefixes, so the node is
  // up only with all of them tracked.
  std::vector<std::string> promoted;
  if (options_.promotion_poll.count() > 0) promoted = sink_.promotion_keys();
  auto prefixes = prefixes_;
  prefixes.insert(prefixes.end(), promoted.begin(), promoted.end());
  request += encode(tracking_command(prefixes));
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
        on_push(link, *inv);
      } else if (framed[0] != '>' && up) {
        on_reply(link, framed);
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
          link.up = true;
          link.registered.insert(promoted.begin(), promoted.end());
          spdlog::info("near cache: tracking connection to {} up", link.address.name);
          if (!promoted.empty()) sink_.on_tracked(link.index, promoted);
          sink_.on_up(link.index, true);
          asio::co_spawn(link.stream.get_executor(), heartbeat(link, link.epoch), asio::detached);
          if (options_.lag_probe_interval.count() > 0) {
            asio::co_spawn(link.stream.get_executor(), probe(link, link.epoch), asio::detached);
          }
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
    link.read_at = Clock::now();
  }
}

void TrackingLinks::on_push(Link& link, const Invalidation& inv) {
  if (inv.flush) {
    sink_.on_flush(link.index);
    return;
  }
  for (const auto& key : inv.keys) {
    if (key != link.marker) {
      sink_.on_invalidate(link.index, key);
    } else if (link.probe_sent) {  // else the marker's expiry, or a probe already counted lost
      sink_.on_lag(link.index, link.read_at - *link.probe_sent);
      link.probe_sent.reset();
    }
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
    send(link, kPing, {});
  }
}

void TrackingLinks::on_reply(Link& link, std::string_view reply) {
  if (link.expected.empty()) return;
  const std::vector<std::string> keys = std::move(link.expected.front());
  link.expected.pop_front();
  if (keys.empty()) return;  // a PONG
  if (reply[0] == '-' || reply[0] == '!') {
    spdlog::warn("near cache: {} refused to track {} promoted key(s): {}", link.address.name,
                 keys.size(), reply.substr(0, reply.find('\r')));
    sink_.on_track_refused(link.index, keys);
  } else {
    sink_.on_tracked(link.index, keys);
  }
}

void TrackingLinks::send(Link& link, std::string bytes, std::vector<std::string> keys) {
  link.outbox += bytes;
  link.expected.push_back(std::move(keys));
  if (link.writing) return;
  link.writing = true;
  asio::co_spawn(link.stream.get_executor(), writer(link, link.epoch), asio::detached);
}

asio::awaitable<void> TrackingLinks::writer(Link& link, std::uint64_t epoch) {
  std::string buffer;
  while (!stopping_ && link.epoch == epoch && !link.outbox.empty()) {
    buffer.swap(link.outbox);
    link.outbox.clear();
    boost::system::error_code ec;
    co_await asio::async_write(link.stream, asio::buffer(buffer),
                               asio::redirect_error(asio::use_awaitable, ec));
    buffer.clear();
    if (ec) break;  // the read fails too: the session ends
  }
  if (link.epoch == epoch) link.writing = false;
}

// Every promotion_poll: the promoted keys each registered connection lacks, in one
// CLIENT TRACKING on BCAST PREFIX k1 PREFIX k2 ... per connection.
asio::awaitable<void> TrackingLinks::promote_loop() {
  asio::steady_timer timer(io_);
  std::uint64_t version = ~std::uint64_t{0};
  std::vector<std::string> keys;
  while (!stopping_) {
    timer.expires_after(options_.promotion_poll);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    if (const auto v = sink_.promotion_version(); v != version) {
      version = v;
      keys = sink_.promotion_keys();
    }
    for (auto& link : links_) {
      if (!link->up) continue;
      std::vector<std::string> missing;
      for (const auto& k : keys) {
        if (!link->registered.contains(k)) missing.push_back(k);
      }
      if (missing.empty()) continue;
      link->registered.insert(missing.begin(), missing.end());
      send(*link, encode(tracking_command(missing)), missing);
    }
  }
}

// While the session of `epoch` lasts: every lag_probe_interval, SET the marker on a connection
// of its own (an ordinary one: RESP2, no tracking). A failure to open or an error reply ends the
// probing until the next session (logged once per streak); the tracking connection is unharmed.
asio::awaitable<void> TrackingLinks::probe(Link& link, std::uint64_t epoch) {
  link.probe_in.consume(link.probe_in.size());
  link.probe_framer.reset();
  const OpenResult opened = co_await open_node(link.probe_stream, link.address, false,
                                               options_.connect_timeout, link.probe_in);
  if (stopping_ || link.epoch != epoch) co_return;  // the session ended meanwhile (closed)
  if (!opened.ok()) {
    if (link.probe_failures++ % 60 == 0) {
      spdlog::warn("near cache: lag probe connection to {} failed ({})", link.address.name,
                   opened.reason);
    }
    co_return;
  }
  asio::steady_timer timer(link.stream.get_executor());
  for (;;) {
    timer.expires_after(options_.lag_probe_interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_ || link.epoch != epoch || !link.probe_stream.is_open()) break;
    if (link.probe_sent) {
      sink_.on_lag_lost(link.index);
      link.probe_sent.reset();
    }
    if (!co_await probe_once(link)) break;
  }
  if (link.epoch == epoch) link.probe_stream.close();
}

// One SET of the marker and its reply. False: the connection failed or the node refused.
asio::awaitable<bool> TrackingLinks::probe_once(Link& link) {
  const auto wall = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  const std::string request =
      encode({"SET", link.marker, std::to_string(wall.count()), "PX",
              std::to_string(marker_ttl(options_.lag_probe_interval).count())});
  link.probe_sent = Clock::now();
  boost::system::error_code ec;
  co_await asio::async_write(link.probe_stream, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  for (;;) {
    std::size_t length = 0;
    const auto status = link.probe_framer.frame(link.probe_in.readable(), length);
    if (status == resp::FrameStatus::kError) co_return false;
    if (status == resp::FrameStatus::kComplete) {
      const std::string_view reply = link.probe_in.readable().substr(0, length);
      const bool ok = reply[0] != '-' && reply[0] != '!';
      if (!ok && link.probe_failures++ % 60 == 0) {
        spdlog::warn("near cache: lag probe refused by {}: {}", link.address.name,
                     reply.substr(0, reply.find('\r')));
      }
      if (ok) link.probe_failures = 0;
      link.probe_in.consume(length);
      if (!ok) link.probe_sent.reset();
      co_return ok;
    }
    std::size_t free = 0;
    char* space = link.probe_in.prepare(1024, free);
    const std::size_t n = co_await link.probe_stream.async_read_some(
        asio::buffer(space, free), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    link.probe_in.commit(n);
  }
}

}  // namespace sidecache::backend
