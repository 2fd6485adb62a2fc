// Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BZPOPMIN/MAX, BLMPOP, BZMPOP, XREAD and
// XREADGROUP with BLOCK): each runs on a dedicated connection to the node of its keys, so it
// never holds a shared pipelined connection. Redis itself honours the command's timeout. The
// session reads on while the command blocks (to notice the client leaving) but processes
// nothing more until its reply is written; the client leaving closes the connection, which
// unblocks Redis. Answered, the connection goes back to the worker's idle cache.
// On a cluster pool a -MOVED (the slot moved before the command ran) or -ASK (it is being
// migrated) is followed: the command is sent again on a dedicated connection to the node named
// (after ASKING for ASK), up to cluster.max_redirects times, and the client sees only the
// final reply.
#pragma once

#include <memory>
#include <string>

#include "server/pinned_redirect.hpp"
#include "server/session_modes.hpp"

namespace sidecache::server {

class Blocking {
 public:
  explicit Blocking(ModeContext ctx) : ctx_(ctx) {}
  ~Blocking() { stop(); }
  Blocking(const Blocking&) = delete;
  Blocking& operator=(const Blocking&) = delete;

  // Runs the command; its reply (or an error) goes to `target`. Returns the node, or
  // Where::answered() when answered at once with an error.
  dispatch::Where run(const resp::CommandInfo& info, const resp::Command& command,
                      std::string_view raw, const ReplyTarget& target);
  // True while a blocking command waits for its reply.
  bool active() const { return link_ && !link_->stopped(); }
  // Its reply was delivered (by the link) or the client is gone.
  void done();
  // The client left or the session stops: close the connection.
  void stop();

 private:
  // Sends request_ on a new dedicated connection to `node` (ASKING first when `asking`),
  // replies to `to`; false with error_ set when no connection can be had.
  bool send_on(std::uint32_t node, const ReplyTarget& to, bool asking);
  PinnedRedirect::Followed follow(const route::Redirect& redirect);

  ModeContext ctx_;
  std::shared_ptr<backend::Link> link_;
  std::shared_ptr<PinnedRedirect> follower_;  // cluster pools: the command's reply
  std::string request_;                       // cluster pools: the command, to resend
  bool counted_ = false;                      // in stats.blocking_inflight
  std::string error_;
  std::string scratch_;
};

}  // namespace sidecache::server
