// The reply to the first command a session sends on a dedicated connection to a cluster node
// (WATCH, a transaction's first queued command, a blocking command): when the node answers
// -MOVED (or -ASK, where the session can use it) because the slot moved, the session follows
// it to the node named, transparently, at most pool.cluster.max_redirects times; any other
// reply, or a redirect it cannot follow, goes to the client unchanged. Worker thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "route/cluster_slots.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::server {

class PinnedRedirect final : public ReplySink, public std::enable_shared_from_this<PinnedRedirect> {
 public:
  // Resends the command to the redirect's node and returns true (the next reply comes to this
  // sink again), or answers the client itself and returns true, or returns false: the
  // redirect reaches the client.
  using Follow = std::function<bool(const route::Redirect& redirect)>;

  PinnedRedirect(ReplyTarget client, std::uint32_t max_redirects, bool follow_ask, Follow follow)
      : client_(std::move(client)),
        max_redirects_(max_redirects),
        follow_ask_(follow_ask),
        follow_(std::move(follow)) {}

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
  ReplyTarget client_;
  std::uint32_t max_redirects_;
  bool follow_ask_;
  std::uint32_t followed_ = 0;
  Follow follow_;
};

}  // namespace sidecache::server
