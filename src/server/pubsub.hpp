// Pub/Sub for one client. A channel lives on the node the ring gives its name
// (node_for_key(channel)), so PUBLISH and SUBSCRIBE of one channel meet on one node; patterns
// are subscribed on every node (on a ring a PUBLISH reaches exactly one node, so a message
// arrives once; a cluster delivers it on every node, and only the channel's node's copy is
// passed on).
// The client keeps one dedicated connection per node it has subscriptions on, speaking its
// protocol (RESP3 clients get push frames), and receives every message on its one connection.
// Confirmations are built here with the client's total subscription count, in argument order,
// once every node involved has confirmed. PUBLISH/SPUBLISH and PUBSUB queries use the shared
// connections.
// Shard channels on a cluster pool: one SSUBSCRIBE's channels must share a slot (-CROSSSLOT, as
// Redis, else). An SSUBSCRIBE answered -MOVED (the worker's map was behind) is sent again to the
// node named, up to cluster.max_redirects times. When a subscribed shard channel's slot leaves
// its node, the node pushes `sunsubscribe`: the channel is subscribed again where the slot map
// (then the node's MOVED) says, unseen by the client; if that fails the client gets the
// `sunsubscribe` (Redis' own signal to subscribe again).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/session_modes.hpp"

namespace sidecache::server {

class PubSub {
 public:
  explicit PubSub(ModeContext ctx) : ctx_(ctx) {}
  ~PubSub() { reset(); }
  PubSub(const PubSub&) = delete;
  PubSub& operator=(const PubSub&) = delete;

  // Channels, patterns and shard channels subscribed to (RESP2 clients are then limited to
  // the subscribe commands, PING, QUIT and RESET).
  std::size_t subscriptions() const { return channels_.size() + patterns_.size() + shard_.size(); }
  // (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB <sub>, by their session role.
  // Returns where the command went.
  dispatch::Where command(const resp::CommandInfo& info, const resp::Command& command,
                          std::string_view raw, const ReplyTarget& target);
  // RESET or the client leaving: every subscription ends, the connections close. Confirmations
  // still owed are answered.
  void reset();

 private:
  enum class Kind { kChannel, kPattern, kShard };
  // One client command waiting for the nodes' confirmations.
  struct Op {
    ReplyTarget target;
    std::string reply;  // built here, delivered when `waiting` reaches 0
    std::uint32_t waiting = 0;
  };
  // One request sent to a node, whose confirmations are owed.
  struct Pending {
    std::shared_ptr<Op> op;
    std::uint32_t frames = 0;        // confirmation frames still owed
    std::vector<std::string> shard;  // an SSUBSCRIBE's channels (to follow a MOVED)
    std::uint32_t redirects = 0;     // MOVED followed for them so far
  };
  struct NodeLink {
    std::shared_ptr<backend::Link> link;
    std::uint32_t subscriptions = 0;  // of this client on this node
    std::deque<Pending> expected;
    // Shard channels whose sunsubscribe confirmation is owed (any other sunsubscribe is the
    // node giving the channel up: its slot moved).
    std::multiset<std::string> unsubscribing;
  };

  void subscribe(Kind kind, const resp::Command& command, const ReplyTarget& target);
  void unsubscribe(Kind kind, const resp::Command& command, const ReplyTarget& target);
  std::set<std::string>& set_of(Kind kind);
  // A pmessage from `node` is passed on: always on a ring (a PUBLISH reaches one node); on a
  // cluster, which delivers every PUBLISH on every primary, only the copy of the node the
  // channel's PUBLISH goes to (so each message arrives once and PUBLISH counts the client).
  bool pattern_copy_wanted(const std::string& node, std::string_view frame);
  std::size_t count_for(Kind kind) const;
  void append_confirmation(std::string& out, std::string_view type, const std::string* name,
                           std::size_t count) const;
  // The link to node `index` of the current configuration, opened if needed; nullptr with
  // `error` set when it cannot be.
  NodeLink* ensure_link(std::uint32_t index, std::string& error);
  void send(NodeLink& entry, std::string_view verb, const std::vector<std::string_view>& args,
            const std::shared_ptr<Op>& op, Kind kind = Kind::kChannel, bool subscribing = true,
            std::uint32_t redirects = 0);
  // Shard channels `names` (subscribed, on no node now) subscribed on node `index` for `op`
  // (its waiting count is raised). When no connection can be had they are dropped: the
  // client's SSUBSCRIBE answers the reason, a resubscription tells the client (sunsubscribe).
  void subscribe_shard_on(std::uint32_t index, const std::vector<std::string>& names,
                          const std::shared_ptr<Op>& op, std::uint32_t redirects);
  // `node` gave up shard channel `name` (its slot moved): subscribe it again.
  void shard_moved_away(const std::string& node, std::string_view name);
  // Shard channels of `pending` still subscribed on `node`, taken off it.
  std::vector<std::string> take_shard(const std::string& node, NodeLink& entry,
                                      const Pending& pending);
  // An SSUBSCRIBE refused with MOVED: sent to the node named. False when not followed.
  bool follow_moved(const std::string& node, NodeLink& entry, std::string_view error);
  // Shard channels the client lost (not subscribed again): forgotten, the client told.
  void drop_shard(const std::vector<std::string>& names, bool tell_client);
  void deliver(const Op& op);
  void on_frame(const std::string& node, std::string_view frame);
  void confirmed(const std::string& node, std::string_view error);
  void close_idle_links();
  void update_gauge();
  void reply_error(const ReplyTarget& target, std::string_view text);

  ModeContext ctx_;
  // By node name, not index: the node list may change on reload while subscriptions last.
  std::map<std::string, NodeLink> links_;
  std::set<std::string> channels_;
  std::set<std::string> patterns_;
  std::set<std::string> shard_;
  std::map<std::string, std::string> node_of_;  // channel and shard channel -> its node
  bool counted_ = false;                        // in stats.subscribed_clients
  std::string scratch_;
  std::string error_;
};

}  // namespace sidecache::server
