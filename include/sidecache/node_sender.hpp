// The seam between request handling and the nodes: NodeSender sends a request to one node,
// and its reply goes to a ReplySink (a client session's reply slot or a merger of a split
// command). Asio-free so the dispatch logic can be tested against fakes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace sidecache {

namespace backend {
struct NodeSecurity;  // how a node connection authenticates and encrypts (backend/node_stream.hpp)
}  // namespace backend

class ReplySink {
 public:
  virtual ~ReplySink() = default;
  // One complete RESP reply for the request tagged `tag` (a backend reply, or an error reply
  // made by sidecache when the request failed). The bytes are valid only during the call.
  virtual void on_reply(std::uint64_t tag, std::string_view reply) = 0;
  // Bytes held on this sink's behalf before its reply is complete (a merge's parts): +n when
  // taken, -n when released. Counted against the client's output limit.
  virtual void hold(std::int64_t /*bytes*/) {}
  // True once nobody waits for the reply (the client is gone): parts need not be kept.
  virtual bool gone() const { return false; }
  // A cluster pool resent the request to another node (a MOVED or ASK followed, a replica's
  // read given to its primary): the reply will not come from the node it was sent to.
  virtual void redirected() {}
};

// A sink for one reply, handed to a function (the first reply only; later ones are dropped).
class CallbackSink final : public ReplySink {
 public:
  explicit CallbackSink(std::function<void(std::string_view)> fn) : fn_(std::move(fn)) {}
  void on_reply(std::uint64_t, std::string_view reply) override {
    if (!fn_) return;
    auto fn = std::move(fn_);
    fn_ = nullptr;
    fn(reply);
  }

 private:
  std::function<void(std::string_view)> fn_;
};

struct ReplyTarget {
  std::shared_ptr<ReplySink> sink;
  std::uint64_t tag = 0;
  // The client a request belongs to: with several connections per node, one client's requests
  // always take the same one, so a pipeline runs in order.
  std::uint64_t lane = 0;
  // RESP version of the client (2 or 3): the request goes to a node connection speaking the
  // same version, so the reply bytes pass through unchanged (no conversion).
  std::uint8_t protocol = 2;

  void deliver(std::string_view reply) const { sink->on_reply(tag, reply); }
};

// Sends a request to one node. The real implementation is backend::Pool; tests use fakes.

class NodeSender {
 public:
  virtual ~NodeSender() = default;
  virtual std::uint32_t node_count() const = 0;
  virtual std::uint32_t node_for_key(std::string_view key) const = 0;
  // Keys that may share one request: a ring puts every key of a node in one request, a Redis
  // Cluster only keys of one slot (else -CROSSSLOT). Groups are numbered 0..group_count()-1.
  virtual std::uint32_t group_count() const { return node_count(); }
  virtual std::uint32_t group_of_key(std::string_view key) const { return node_for_key(key); }
  virtual std::uint32_t node_of_group(std::uint32_t group) const { return group; }
  // What a request whose keys span groups gets (the CROSSSLOT error's text; a ring says
  // "node", a cluster "slot"); empty: resp::errors::kCrossSlot.
  virtual std::string_view cross_group_error() const { return {}; }
  // True when keys are placed by Redis Cluster slot (a cluster pool): the keys of one request,
  // and of one script, must share a slot, and a slot may move to another node at any time.
  virtual bool by_slot() const { return false; }
  // `request` is one or more complete RESP requests' bytes, copied before returning; exactly one
  // reply is delivered to `target` per call (the request must be a single command).
  virtual void send(std::uint32_t node, std::string_view request, ReplyTarget target) = 0;
  // A read-only request: may be sent again if the connection breaks before its reply.
  virtual void send_read(std::uint32_t node, std::string_view request, ReplyTarget target) {
    send(node, request, std::move(target));
  }
  // Which RESP2 connection of `node` a request of `lane` takes: requests with the same answer
  // reach the node in the order they were sent. By default every lane is its own connection.
  virtual std::uint64_t connection_of(std::uint32_t /*node*/, std::uint64_t lane) const {
    return lane;
  }
  virtual const std::string& node_name(std::uint32_t node) const = 0;
  // A cluster node answered a request of a dedicated connection (a transaction, a blocking
  // command, a shard subscription) with -MOVED / -ASK naming `target` ("host:port"), and the
  // caller will resend it there: counts the redirect and, for MOVED, points `slot` at the node
  // and asks for a slot-map refresh. Returns the node's index, or node_count() when `target`
  // is not a primary of this pool (yet): then nothing is counted and the caller gives up.
  virtual std::uint32_t follow_redirect(bool /*ask*/, std::uint16_t /*slot*/,
                                        std::string_view /*target*/) {
    return node_count();
  }
  // False while the health checker has the node marked down.
  virtual bool node_up(std::uint32_t /*node*/) const { return true; }
  // How connections to `node` authenticate and encrypt (dedicated links open theirs with it);
  // null: plain TCP, no AUTH.
  virtual std::shared_ptr<const backend::NodeSecurity> node_security(std::uint32_t /*node*/) const {
    return nullptr;
  }
};

}  // namespace sidecache
