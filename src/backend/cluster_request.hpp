// One request to a cluster pool, between the pool and the caller's sink: error replies that
// say the slot is elsewhere (MOVED, ASK) or briefly unavailable (TRYAGAIN, CLUSTERDOWN) make it
// resend the same request bytes instead of answering, at most cluster.max_redirects times;
// every other reply goes to the caller unchanged. Internal to backend::Pool; worker thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sidecache/node_sender.hpp"

namespace sidecache::backend {

class Pool;

class ClusterRequest final : public ReplySink, public std::enable_shared_from_this<ClusterRequest> {
 public:
  ClusterRequest(std::shared_ptr<Pool> pool, std::string request, ReplyTarget client,
                 bool retryable);
  // First send, to `node` of `pool`. `fallback` (read_from: prefer_replica, `node` a replica):
  // the primary ("host:port") the read is sent to once when the replica cannot answer it
  // (its connection failed or it is marked down, LOADING, MASTERDOWN).
  void start(Pool& pool, std::uint32_t node, std::string fallback = {});

  void on_reply(std::uint64_t tag, std::string_view reply) override;
  void hold(std::int64_t bytes) override { client_.sink->hold(bytes); }
  bool gone() const override { return client_.sink->gone(); }

 private:
  // The pool new requests use now: the one sent on, or the one that replaced it on a reload.
  std::shared_ptr<Pool> current_pool();
  // Sends to target_ (by name) on the current pool, ASKING first when asking_.
  void resend();
  void resend_after(Pool& pool, std::chrono::milliseconds delay);
  // Resends after a wait (TRYAGAIN, CLUSTERDOWN, a MOVED to a node not known yet): the next
  // wait, retry_delay doubling up to 8 times it, or false when it would end after the
  // pool's request_timeout counted from the first send (with request_timeout 0: after
  // max_redirects waits).
  bool next_wait(const Pool& pool, std::chrono::milliseconds& delay);
  void give_up() { client_.deliver(last_error_); }
  // A replica's failure for a read with a fallback: sent to the primary instead.
  bool fall_back(std::string_view text);

  // The pool last sent on (kept alive: a retired pool leads to its successor).
  std::shared_ptr<Pool> pool_;
  std::string request_;
  ReplyTarget client_;
  bool retryable_;
  bool asking_ = false;
  std::uint32_t attempts_ = 0;  // MOVED and ASK followed
  std::uint32_t waits_ = 0;     // resends after a wait
  std::chrono::steady_clock::time_point started_;
  std::uint32_t first_node_ = 0;  // of the pool first sent on
  std::string target_;            // "host:port" of the node to send to next
  std::string last_error_;        // the node's last redirect or retry error, given up with
  std::string fallback_;          // see start(); emptied once used
};

}  // namespace sidecache::backend
