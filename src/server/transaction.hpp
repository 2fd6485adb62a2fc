// MULTI/EXEC/DISCARD/WATCH/UNWATCH. MULTI is answered here; the commands queued after it are
// checked (known, arity, keys) and go, with MULTI, to a dedicated connection to the node of the
// first keyed command (or of the keys WATCH pinned). Keyless commands queued before that node
// is known are answered +QUEUED here and sent, replies dropped, once it is. A key on another
// node answers CROSSSLOT and flags the transaction: EXEC then answers EXECABORT as Redis does
// and DISCARD goes to the node. +QUEUED and EXEC's reply pass through unchanged. After EXEC,
// DISCARD or UNWATCH the connection goes back to the worker's idle cache; one that may still
// hold a WATCH is closed instead, so no WATCH state can leak to another client.
// A write to a key of a write-mode policy cannot be queued (write::refusal_in_transaction): it
// answers an error and flags the transaction.
// On a cluster pool the first command sent on the connection (WATCH, or the first keyed command
// queued after MULTI) may be answered -MOVED: the slot moved since the map was read. Nothing
// ran there yet, so the transaction moves to the node named (DISCARD on the old one, MULTI and
// what was queued again on the new one), at most cluster.max_redirects times; the session holds
// further commands until that first reply is in (take_hold()). A MOVED of any later command
// (or an -ASK) reaches the client as Redis sends it, and the node aborts the transaction
// (EXEC answers EXECABORT).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/pinned_redirect.hpp"
#include "server/session_modes.hpp"

namespace sidecache::server {

class Transaction {
 public:
  explicit Transaction(ModeContext ctx) : ctx_(ctx) {}
  ~Transaction() { reset(); }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // Between MULTI and EXEC/DISCARD: every command goes to queue().
  bool in_multi() const { return multi_; }
  // MULTI, EXEC, DISCARD, WATCH or UNWATCH outside a transaction (by its session role).
  // Returns where it went.
  dispatch::Where command(const resp::CommandInfo& info, const resp::Command& command,
                          std::string_view raw, const ReplyTarget& target);
  // Any command inside MULTI, looked up by the session (EXEC and DISCARD end the transaction).
  dispatch::Dispatched queue(const dispatch::Resolved& resolved, const resp::Command& command,
                             std::string_view raw, const ReplyTarget& target);
  // RESET, QUIT, the client leaving: forget the transaction and close the connection.
  void reset();
  // True once after a command that the session must see answered before it dispatches the
  // next one (the first command on a cluster node, which may be redirected).
  bool take_hold() { return std::exchange(hold_, false); }

 private:
  dispatch::Where exec(const ReplyTarget& target);
  dispatch::Where discard(const ReplyTarget& target);
  dispatch::Where unwatch(const resp::Command& command, std::string_view raw,
                          const ReplyTarget& target);
  dispatch::Where watch(const resp::CommandInfo& info, const resp::Command& command,
                        std::string_view raw, const ReplyTarget& target);
  // Queues one checked command: `keyed` with its `node`, or keyless.
  dispatch::Where enqueue(bool keyed, std::uint32_t node, const resp::Command& command,
                          std::string_view raw, const ReplyTarget& target);
  bool pin(std::uint32_t node, std::string& error);
  void send_multi();
  void release(bool reusable);
  void on_link_lost();
  void flag() { flagged_ = true; }
  void reply(const ReplyTarget& target, std::string_view bytes) const { target.deliver(bytes); }
  void reply_error(const ReplyTarget& target, std::string_view text);
  // The first command on a just pinned link: its reply target (a PinnedRedirect on a cluster
  // pool, which remembers `request` and what MULTI replays, for follow()).
  ReplyTarget first_target(std::string_view request, const ReplyTarget& target);
  PinnedRedirect::Followed follow(const route::Redirect& redirect);

  ModeContext ctx_;
  std::shared_ptr<backend::Link> link_;
  std::uint32_t node_ = 0;
  bool multi_ = false;                 // MULTI read, EXEC/DISCARD not yet
  bool multi_sent_ = false;            // MULTI sent on link_
  bool flagged_ = false;               // an error was queued: EXEC answers EXECABORT
  bool watching_ = false;              // WATCH sent on link_
  bool watch_lost_ = false;            // the connection holding WATCH broke: EXEC answers nil
  std::vector<std::string> buffered_;  // keyless commands queued before the node was known
  bool hold_ = false;                  // see take_hold()
  std::shared_ptr<PinnedRedirect> follower_;  // the first command's reply, until it is in
  std::string first_;                         // that command, to resend on a redirect
  std::vector<std::string> replay_;           // buffered_ as sent after MULTI before first_
  std::string error_;
  std::vector<std::uint32_t> keys_;  // scratch for access checks
  std::string scratch_;
};

}  // namespace sidecache::server
