// The near cache's coherence connections: one per node, on one background thread with its own
// io_context (they carry no client traffic, so they stay off the workers' event loops, and one
// thread serves every node). Each opens like any node connection (TLS, HELLO 3 with AUTH),
// registers `CLIENT TRACKING on BCAST PREFIX p ...` and turns the node's invalidation pushes
// into calls on a TrackingSink: keys invalidated, the node flushed, the connection up or down.
// Up is reported only once the node acknowledged the tracking registration; down as soon as
// the connection fails (EOF, error, or no reply to a PING within the heartbeat timeout). It
// reconnects with backoff (8 ms .. 1 s).
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
  std::chrono::milliseconds heartbeat{1000};  // a PING this often; no reply in 3x: down
};

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

  std::vector<std::string> prefixes_;
  TrackingSink& sink_;
  TrackingOptions options_;
  asio::io_context io_{1};
  std::vector<std::unique_ptr<Link>> links_;
  std::thread thread_;
  bool stopping_ = false;
};

}  // namespace sidecache::backend
