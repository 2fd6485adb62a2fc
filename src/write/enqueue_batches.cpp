#include "write/enqueue_batches.hpp"

#include "cache/value.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"
#include "route/cluster_slots.hpp"

namespace sidecache::write {

std::uint32_t WriterShared::queue_of(std::string_view key, std::uint32_t node) const {
  return by_slot ? route::key_slot(key) : node;
}

EnqueueBatches::EnqueueBatches(std::shared_ptr<const WriterShared> shared,
                               std::shared_ptr<cache::Runtime> runtime, NodeSender& nodes)
    : shared_(std::move(shared)), runtime_(std::move(runtime)), nodes_(&nodes) {}

void EnqueueBatches::set_nodes(NodeSender& nodes) {
  send();  // to the pool they were made for
  nodes_ = &nodes;
}

void EnqueueBatches::to_node(std::uint32_t node, std::string request, std::uint64_t lane,
                             Reply on_reply) {
  // Writes go to the primary, on the lane's connection (a client's pipeline stays in order).
  nodes_->send(node, request,
               ReplyTarget{std::make_shared<CallbackSink>(std::move(on_reply)), 0, lane});
}

void EnqueueBatches::add(std::uint32_t node, std::uint32_t queue, const KeyWrite& w,
                         std::string_view op, bool must_exist, std::uint64_t lane, Reply on_reply) {
  // Writes per call, and arguments: the script unpacks its stream entry (about one field per
  // argument) and Lua's unpack takes a few thousand values at most.
  constexpr std::size_t kMaxWrites = 256;
  constexpr std::size_t kMaxArgs = 3000;
  const std::uint64_t connection = nodes_->connection_of(node, lane);
  Batch* batch = nullptr;
  for (auto& b : batches_) {
    if (b.node == node && b.connection == connection && b.queue == queue) batch = &b;
  }
  if (batch == nullptr) {
    batch = &batches_.emplace_back();
    batch->node = node;
    batch->queue = queue;
    batch->connection = connection;
    batch->lane = lane;
  }
  // KEYS: the key, and its negative marker when on this node (the script deletes it).
  const std::string neg = cache::negative_key(w.key, cache::side_keys_of(*nodes_));
  const bool with_neg = nodes_->node_for_key(neg) == node;
  resp::append_bulk(batch->keys, w.key);
  if (with_neg) resp::append_bulk(batch->keys, neg);
  batch->key_count += with_neg ? 2 : 1;
  // ARGV: key count, queue_max, must_exist, policy, id, op, payload count, payload.
  std::size_t payload = 0;
  if (op == "set") payload = 1;
  if (op == "incr") payload = 1;
  if (op == "hset") payload = 2 * w.fields.size();
  if (op == "hincr") payload = 2;
  std::string& a = batch->args;
  resp::append_bulk(a, with_neg ? "2" : "1");
  resp::append_bulk(a, std::to_string(w.policy->config.write_behind.queue_max));
  resp::append_bulk(a, must_exist ? "1" : "0");
  resp::append_bulk(a, w.policy->name());
  resp::append_bulk(a, w.id);
  resp::append_bulk(a, op);
  resp::append_bulk(a, std::to_string(payload));
  if (op == "set") resp::append_bulk(a, w.value);
  if (op == "incr") resp::append_bulk(a, std::to_string(w.delta));
  if (op == "hset") {
    for (const auto& [f, v] : w.fields) {
      resp::append_bulk(a, f);
      resp::append_bulk(a, v);
    }
  }
  if (op == "hincr") {
    resp::append_bulk(a, w.field);
    resp::append_bulk(a, std::to_string(w.delta));
  }
  batch->arg_count += 7 + payload;
  batch->replies.push_back(std::move(on_reply));
  const std::int64_t queue_max = w.policy->config.write_behind.queue_max;
  if (batch->sets_only &&
      (op != "set" || (batch->queue_max >= 0 && batch->queue_max != queue_max))) {
    batch->sets_only = false;
    batch->set_keys = batch->set_negs = batch->set_pairs = batch->set_meta = {};
  }
  if (batch->sets_only) {
    batch->queue_max = queue_max;
    resp::append_bulk(batch->set_keys, w.key);
    if (with_neg) {
      resp::append_bulk(batch->set_negs, neg);
      ++batch->neg_count;
    }
    resp::append_bulk(batch->set_pairs, w.key);
    resp::append_bulk(batch->set_pairs, w.value);
    append_set_meta(batch->set_meta, w.policy->name(), w.id);
  }
  if (batch->replies.size() >= kMaxWrites || batch->arg_count >= kMaxArgs) {
    Batch full = std::move(*batch);
    batches_.erase(batches_.begin() + (batch - batches_.data()));
    send_batch(std::move(full));
    return;
  }
  if (!posted_) {
    posted_ = true;
    auto self = shared_from_this();
    runtime_->post([self] { self->send(false); });
  }
}

std::uint32_t& EnqueueBatches::in_flight(std::uint32_t node, std::uint64_t connection) {
  for (auto& f : flights_) {
    if (f.node == node && f.connection == connection) return f.calls;
  }
  flights_.push_back({node, connection, 0});
  return flights_.back().calls;
}

void EnqueueBatches::send(bool all) {
  posted_ = false;
  auto batches = std::move(batches_);
  batches_.clear();
  // Decided before any is sent: the batches of one idle connection (one per queue) all go.
  std::vector<bool> go(batches.size(), all);
  for (std::size_t i = 0; i < batches.size() && !all; ++i) {
    go[i] = in_flight(batches[i].node, batches[i].connection) == 0;
  }
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (go[i]) {
      send_batch(std::move(batches[i]));
    } else {
      batches_.push_back(std::move(batches[i]));  // sent when the call in flight is answered
    }
  }
}

void EnqueueBatches::call_done(std::uint32_t node, std::uint64_t connection) {
  auto& calls = in_flight(node, connection);
  if (calls > 0) --calls;
  if (calls != 0) return;
  std::vector<Batch> ready;
  for (auto it = batches_.begin(); it != batches_.end();) {
    if (it->node == node && it->connection == connection) {
      ready.push_back(std::move(*it));
      it = batches_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& b : ready) send_batch(std::move(b));
}

void EnqueueBatches::send_batch(Batch batch) {
  static const std::string kSha = script_sha1(kEnqueueScript);
  static const std::string kSetsSha = script_sha1(kEnqueueSetsScript);
  auto b = std::make_shared<Batch>(std::move(batch));
  const NodeQueue* q = &shared_->queues[b->queue];  // shared_ outlives the requests
  // EVALSHA|EVAL, sha|script, numkeys, stream, pending, count, the writes' keys, their
  // arguments.
  auto request = [b, q](std::string_view verb, std::string_view body) {
    const std::size_t writes = b->replies.size();
    const std::string& keys = b->sets_only ? b->set_keys : b->keys;
    std::string out;
    out.reserve(128 + body.size() + q->stream.size() + q->pending.size() + q->count.size() +
                keys.size() + b->set_negs.size() + b->args.size() + b->set_pairs.size() +
                b->set_meta.size());
    if (b->sets_only) {
      resp::append_array_header(out, 9 + writes + b->neg_count + 2 * writes);
    } else {
      resp::append_array_header(out, 6 + b->key_count + b->arg_count);
    }
    resp::append_bulk(out, verb);
    resp::append_bulk(out, body);
    const std::size_t key_count = b->sets_only ? writes + b->neg_count : b->key_count;
    resp::append_bulk(out, std::to_string(3 + key_count));
    resp::append_bulk(out, q->stream);
    resp::append_bulk(out, q->pending);
    resp::append_bulk(out, q->count);
    out += keys;
    if (!b->sets_only) {
      out += b->args;
      return out;
    }
    // ARGV: W, queue_max, meta, key value pairs.
    out += b->set_negs;
    resp::append_bulk(out, std::to_string(writes));
    resp::append_bulk(out, std::to_string(b->queue_max));
    resp::append_bulk(out, b->set_meta);
    out += b->set_pairs;
    return out;
  };
  // One reply per write: the script's array (a count: each SET is +OK), or one error (NOSCRIPT
  // again, connection) for all.
  auto self = shared_from_this();
  auto deliver = [self, b](std::string_view reply) {
    std::vector<std::string_view> parts;
    const bool split =
        !b->sets_only && resp::split_array(reply, parts) && parts.size() == b->replies.size();
    const bool ok = b->sets_only && reply.starts_with(':');
    for (std::size_t i = 0; i < b->replies.size(); ++i) {
      b->replies[i](split ? parts[i] : ok ? std::string_view("+OK\r\n") : reply);
    }
    // A cluster pool: the flusher learns that this slot's queue has writes (after the script
    // ran, so it cannot look before they are there).
    if (self->shared_->hints) self->shared_->hints->mark(static_cast<std::uint16_t>(b->queue));
    self->call_done(b->node, b->connection);
  };
  ++in_flight(b->node, b->connection);
  const std::string_view sha = b->sets_only ? kSetsSha : kSha;
  const std::string_view script = b->sets_only ? kEnqueueSetsScript : kEnqueueScript;
  to_node(b->node, request("EVALSHA", sha), b->lane,
          [self, b, request, deliver, script](std::string_view reply) {
            if (!reply.starts_with("-NOSCRIPT")) return deliver(reply);
            // Not in this node's script cache yet (or Redis restarted): EVAL loads it.
            self->to_node(b->node, request("EVAL", script), b->lane, deliver);
          });
}

}  // namespace sidecache::write
