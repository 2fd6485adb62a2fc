// The near cache's coherence connections: one per node, on one background thread with its own
// io_context (they carry no client traffic, so they stay off the workers' event loops, and one
// thread serves every node). Each opens like any node connection (TLS, HELLO 3 with AUTH),
// registers `CLIENT TRACKING on BCAST PREFIX p ...` and turns the node's invalidation pushes
// into calls on a TrackingSink: keys invalidated, the node flushed, the connection up or down.
// Up is reported only once the node acknowledged the tracking registration; down as soon as
// the connection fails (EOF, error, or no reply to a PING within the heartbeat timeout). It
// reconnects with backoff (8 ms .. 1 s).
//
// The lag probe: while a node's tracking connection is up, a second, ordinary connection to the
// node writes the link's marker key (`marker_prefix` + the node's index, under a BCAST prefix the
// caller registered) every `lag_probe_interval`; the time from just before the SET is written
// to the marker's invalidation push read on the tracking connection is reported as on_lag.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backend/node_stream.hpp"

namespace sidecache::backend {

// What a node's tracking connection reports, on the tracking thread.
class TrackingSink {
 public:
  virtual ~TrackingSink() = default;
  virtual void on_up(std::uint32_t node, bool up) = 0;
  virtual void on_invalidate(std::uint32_t node, std::string_view key) = 0;
  // The null invalidation message: the node was flushed (FLUSHALL / FLUSHDB).
  virtual void on_flush(std::uint32_t node) = 0;
  // A lag probe's marker write came back as a push after `lag`; or it did not come back before
  // the next probe was due (on_lag_lost).
  virtual void on_lag(std::uint32_t, std::chrono::nanoseconds) {}
  virtual void on_lag_lost(std::uint32_t) {}
  // Promoted keys (near_cache.promote_hot), each registered as a BCAST prefix of its own: the
  // keys wanted and a version that changes with them (asked on the tracking thread); a node
  // acknowledged or refused the registration of `keys`.
  virtual std::uint64_t promotion_version() { return 0; }
  virtual std::vector<std::string> promotion_keys() { return {}; }
  virtual void on_tracked(std::uint32_t, const std::vector<std::string>&) {}
  virtual void on_track_refused(std::uint32_t, const std::vector<std::string>&) {}
};

// One invalidation push, parsed (Asio-free helper, unit-tested).
struct Invalidation {
  bool flush = false;  // the null form: every key of the node
  std::vector<std::string> keys;
};
// `framed` is one complete RESP3 reply. The invalidation it carries (a `>` push of
// "invalidate" with an array of keys or a null), else nullopt (a reply, another push).
std::optional<Invalidation> parse_invalidation(std::string_view framed);
// CLIENT TRACKING on BCAST [PREFIX p]... NOLOOP is not used: sidecache's own writes must
// reach the other sidecache processes' L1s through Redis, and a key written here is dropped
// locally anyway.
std::vector<std::string> tracking_command(const std::vector<std::string>& prefixes);

struct TrackingOptions {
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds heartbeat{1000};        // a PING this often; no reply in 3x: down
  std::chrono::milliseconds lag_probe_interval{0};  // 0: no probe
  std::string marker_prefix;  // the marker key of node i is marker_prefix + i; must be tracked
  // When given, node i's marker key instead (a cluster node's must hash to one of its slots);
  // each must start with marker_prefix.
  std::vector<std::string> marker_keys;
  // How often the sink is asked for new promoted keys; 0: no promotion.
  std::chrono::milliseconds promotion_poll{0};
};
// The marker's TTL: it must outlive the interval (the key is rewritten before it expires, so
// no expiry push is mistaken for a write's) and vanish soon after the probes stop.
std::chrono::milliseconds marker_ttl(std::chrono::milliseconds interval);

class TrackingLinks {
 public:
  TrackingLinks(std::vector<NodeAddress> nodes, std::vector<std::string> prefixes,
                TrackingSink& sink, TrackingOptions options = {});
  ~TrackingLinks();  // stop()
  TrackingLinks(const TrackingLinks&) = delete;
  TrackingLinks& operator=(const TrackingLinks&) = delete;

  void start();
  // Closes every connection and joins the thread (no on_up(false) calls from here: the
  // caller drops what it must).
  void stop();

 private:
  struct Link;
  asio::awaitable<void> run(Link& link);
  asio::awaitable<bool> session(Link& link);
  asio::awaitable<void> heartbeat(Link& link, std::uint64_t epoch);
  asio::awaitable<void> probe(Link& link, std::uint64_t epoch);
  asio::awaitable<bool> probe_once(Link& link);
  void on_push(Link& link, const Invalidation& inv);
  void on_reply(Link& link, std::string_view reply);
  // Queues `bytes` on the link's connection (one writer at a time); `keys`: the promoted keys
  // its reply acknowledges (empty for a PING).
  void send(Link& link, std::string bytes, std::vector<std::string> keys);
  asio::awaitable<void> writer(Link& link, std::uint64_t epoch);
  asio::awaitable<void> promote_loop();

  std::vector<std::string> prefixes_;
  TrackingSink& sink_;
  TrackingOptions options_;
  asio::io_context io_{1};
  std::vector<std::unique_ptr<Link>> links_;
  std::thread thread_;
  bool stopping_ = false;
};

}  // namespace sidecache::backend
