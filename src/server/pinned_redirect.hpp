// The reply to the first command a session sends on a dedicated connection to a cluster node
// (WATCH, a transaction's first queued command, a blocking command): when the node answers
// -MOVED (or -ASK, where the session can use it) because the slot moved, the session follows
// it to the node named, transparently, at most pool.cluster.max_redirects times; any other
// reply, or a redirect it cannot follow, goes to the client unchanged. A redirect to a node
// that is not a primary of the pool yet (just added, just promoted) is tried again after
// retry_delay (doubling up to 8x), at most max_redirects times, while the slot-map refresh the
// redirect asked for brings the node in. Worker thread only; Asio-free (the wait is given).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "route/cluster_slots.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::server {

class PinnedRedirect final : public ReplySink, public std::enable_shared_from_this<PinnedRedirect> {
 public:
  // What a Follow did: resent the command to the redirect's node (the next reply comes to
  // this sink again) or answered the client itself (kYes); nothing, the redirect reaches the
  // client (kNo); nothing yet, the node named is not a primary of the pool yet (kLater).
  enum class Followed { kYes, kNo, kLater };
  using Follow = std::function<Followed(const route::Redirect& redirect)>;
  // Runs `then` after `delay` on the session's thread (a timer); empty: kLater gives up.
  using Wait = std::function<void(std::chrono::milliseconds delay, std::function<void()> then)>;

  PinnedRedirect(ReplyTarget client, std::uint32_t max_redirects, bool follow_ask, Follow follow,
                 Wait wait = {}, std::chrono::milliseconds retry_delay = {})
      : client_(std::move(client)),
        max_redirects_(max_redirects),
        follow_ask_(follow_ask),
        follow_(std::move(follow)),
        wait_(std::move(wait)),
        retry_delay_(retry_delay) {}

  // The target to send the command with (one reply expected, then maybe a resend).
  ReplyTarget target() {
    return ReplyTarget{shared_from_this(), 0, client_.lane, client_.protocol};
  }
  // Answers the client (once; later replies are dropped).
  void finish(std::string_view reply);
  // The session left the mode: a late reply goes to the client as it is.
  void cancel() { follow_ = nullptr; }

  void on_reply(std::uint64_t tag, std::string_view reply) override;
  void hold(std::int64_t bytes) override {
    if (client_.sink) client_.sink->hold(bytes);
  }
  bool gone() const override { return !client_.sink || client_.sink->gone(); }

 private:
  void attempt();

  ReplyTarget client_;
  std::uint32_t max_redirects_;
  bool follow_ask_;
  std::uint32_t followed_ = 0;
  std::uint32_t waits_ = 0;
  Follow follow_;
  Wait wait_;
  std::chrono::milliseconds retry_delay_;
  route::Redirect redirect_;  // the one being followed; its target views target_
  std::string target_;
  std::string error_;  // the node's redirect error, the client's reply if not followed
};

}  // namespace sidecache::server
