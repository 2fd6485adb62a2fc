#include "cache/near_step.hpp"

#include <algorithm>
#include <chrono>

#include "cache/value.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::cache {
namespace {

using nearcache::Clock;
using nearcache::InvalidationReason;

// A bulk string ($n, not $-1): the same bytes in RESP2 and RESP3, so one stored copy answers
// clients of either version. Nil, errors and other types are never stored.
bool storable(std::string_view reply) {
  return reply.size() >= 4 && reply[0] == '$' && reply[1] != '-';
}

// An HGETALL reply (RESP2 `*2n`, RESP3 `%n`) of a hash with at least one field, as the bytes
// the L1 stores: always the RESP2 flat array (so its first byte, '*', tells it from a string's
// '$'). Empty when it cannot be stored: an empty hash (no key), an error, another type.
std::string storable_hash(std::string_view reply) {
  std::string out;
  if (reply.size() < 4 || (reply[0] != '*' && reply[0] != '%')) return out;
  const std::size_t eol = reply.find("\r\n");
  if (eol == std::string_view::npos) return out;
  std::size_t count = 0;
  for (std::size_t i = 1; i < eol; ++i) {
    if (reply[i] < '0' || reply[i] > '9') return out;
    count = count * 10 + static_cast<std::size_t>(reply[i] - '0');
  }
  if (reply[0] == '%') count *= 2;
  if (count == 0 || count % 2 != 0) return out;
  out.push_back('*');
  out.append(std::to_string(count));
  out.append(reply.substr(eol));
  std::vector<std::string_view> elements;
  const bool bulks =
      resp::split_array(out, elements) && elements.size() == count &&
      std::all_of(elements.begin(), elements.end(), [](std::string_view e) { return storable(e); });
  if (!bulks) out.clear();
  return out;
}

// The elements of an array reply (`*n`), as byte ranges; false for another reply.
bool split_array(std::string_view reply, std::vector<std::string_view>& out) {
  if (reply.empty() || reply[0] != '*') return false;
  const std::size_t eol = reply.find("\r\n");
  if (eol == std::string_view::npos) return false;
  std::size_t pos = eol + 2;
  resp::ReplyFramer framer;
  while (pos < reply.size()) {
    std::size_t length = 0;
    if (framer.frame(reply.substr(pos), length) != resp::FrameStatus::kComplete) return false;
    out.push_back(reply.substr(pos, length));
    pos += length;
  }
  return true;
}

// Passes the node's reply on, dropping the written keys again first: a read sent on another
// connection before the write reached the node cannot have been stored after this.
class DropOnReply final : public ReplySink {
 public:
  DropOnReply(std::shared_ptr<nearcache::NearCache> near, std::vector<std::string> keys,
              std::shared_ptr<ReplySink> inner)
      : near_(std::move(near)), keys_(std::move(keys)), inner_(std::move(inner)) {}
  void on_reply(std::uint64_t tag, std::string_view reply) override {
    for (const auto& key : keys_) near_->store().invalidate(key, InvalidationReason::kWrite);
    inner_->on_reply(tag, reply);
  }
  void hold(std::int64_t bytes) override { inner_->hold(bytes); }
  bool gone() const override { return inner_->gone(); }

 private:
  std::shared_ptr<nearcache::NearCache> near_;
  std::vector<std::string> keys_;
  std::shared_ptr<ReplySink> inner_;
};

// Hands the reply of a request resumed into read-through to `fill` (which copies what it
// keeps), then passes it on.
class FillOnReply final : public ReplySink {
 public:
  FillOnReply(std::shared_ptr<ReplySink> inner, std::function<void(std::string_view)> fill)
      : inner_(std::move(inner)), fill_(std::move(fill)) {}
  void on_reply(std::uint64_t tag, std::string_view reply) override {
    fill_(reply);
    inner_->on_reply(tag, reply);
  }
  void hold(std::int64_t bytes) override { inner_->hold(bytes); }
  bool gone() const override { return inner_->gone(); }

 private:
  std::shared_ptr<ReplySink> inner_;
  std::function<void(std::string_view)> fill_;
};

// A fill's PTTL reply, and whether a cluster pool redirected the PTTL: then the key was not
// on the node it was read from and is tracked by (the read, sent before the PTTL on the same
// connection, was redirected too, or the slot moved in between), and the fill is not stored.
class PttlSink final : public ReplySink {
 public:
  explicit PttlSink(std::function<void(std::string_view, bool)> fn) : fn_(std::move(fn)) {}
  void on_reply(std::uint64_t, std::string_view reply) override {
    if (!fn_) return;
    auto fn = std::move(fn_);
    fn_ = nullptr;
    fn(reply, redirected_);
  }
  void redirected() override { redirected_ = true; }

 private:
  std::function<void(std::string_view, bool)> fn_;
  bool redirected_ = false;
};

}  // namespace

struct NearStep::Fill {
  std::string key;
  nearcache::FillToken token;
  std::uint32_t node = 0;
  bool can_store = false;
  std::string reply;
  std::chrono::milliseconds max_ttl{0};
  // A read-through policy's grace (kept in Redis past its logical expiry): subtracted from
  // the PTTL, so the L1 never serves a value read-through would call expired.
  std::chrono::milliseconds grace{0};
};

struct NearStep::Mget {
  ReplyTarget target;
  std::vector<std::string> replies;  // by key
  std::size_t left = 0;              // node reads outstanding
  std::string error;                 // a node's error reply: the whole answer
};

NearStep::NearStep(std::shared_ptr<nearcache::NearCache> near, std::shared_ptr<Runtime> runtime,
                   NodeSender& nodes)
    : ChainStep(std::move(runtime), nodes), near_(std::move(near)) {
  flushall_ = resp::find_command("flushall");
  flushdb_ = resp::find_command("flushdb");
}

const nearcache::NearSettings& NearStep::settings() {
  if (const auto g = near_->generation(); g != generation_) {
    settings_ = near_->settings();
    patterns_ = nearcache::KeyPatterns(settings_->patterns);
    generation_ = g;
  }
  return *settings_;
}

bool NearStep::matches(std::string_view key) const {
  return patterns_.matches(key) ||
         (settings_->promoted != nullptr && settings_->promoted->active(key));
}

bool NearStep::handle(ChainRequest& request, const ReplyTarget& target) {
  const resp::CommandInfo& info = request.info();
  if (info.cache_role == resp::CacheRole::kGet) return get(request, target);
  if (info.cache_role == resp::CacheRole::kMget) return mget(request, target);
  if (info.cache_role == resp::CacheRole::kHget || info.cache_role == resp::CacheRole::kHmget ||
      info.cache_role == resp::CacheRole::kHgetall ||
      info.cache_role == resp::CacheRole::kHexists || info.cache_role == resp::CacheRole::kHlen) {
    return hash_read(request, target);
  }
  if (&info == flushall_ || &info == flushdb_) {
    // Refused by the dispatcher when not allowed: then nothing was flushed.
    if (settings().flush_allowed) near_->store().clear(InvalidationReason::kFlush);
    return false;
  }
  if (info.has(resp::kFlagReadOnly)) return false;
  return write(request, target);
}

std::string NearStep::refusal_in_transaction(ChainRequest& request) {
  const resp::CommandInfo& info = request.info();
  if (&info == flushall_ || &info == flushdb_) {
    if (settings().flush_allowed) near_->store().clear(InvalidationReason::kFlush);
  } else if (!info.has(resp::kFlagReadOnly)) {
    for (const auto& key : matching_keys(request)) {
      near_->store().invalidate(key, InvalidationReason::kWrite);
    }
  }
  return {};
}

std::vector<std::string> NearStep::matching_keys(ChainRequest& request) {
  std::vector<std::string> keys;
  const resp::CommandInfo& info = request.info();
  if (info.first_key == 0 && !info.has(resp::kFlagMovableKeys)) return keys;
  const auto args = request.args();
  if (!resp::key_indexes(info, args, key_indexes_, key_error_)) return keys;
  settings();
  for (const std::uint32_t i : key_indexes_) {
    if (i < args.size() && matches(args[i])) keys.emplace_back(args[i]);
  }
  return keys;
}

// The read-through policy of argument `i`, or nullptr for a plain key.
static const Policy* policy_of(ChainRequest& request, std::size_t i) {
  const auto& snapshot = request.snapshot();
  return snapshot && snapshot->set && !snapshot->set->empty() ? request.match(i).policy : nullptr;
}

// A key of a read-through policy is left to the read-through step (its miss loads from the
// database) unless the policy says `l1: true` and the read is of the policy's type (a GET of a
// hash policy's key goes to Redis through the chain, which answers WRONGTYPE).
static bool left_to_read_through(const Policy* p, bool hash_read) {
  return p != nullptr && (!p->config.l1 || p->is_hash() != hash_read);
}

// Any key of a read-through policy: an MGET naming one is left to read-through, whole.
static bool has_policy(ChainRequest& request, std::size_t i) {
  return policy_of(request, i) != nullptr;
}

bool NearStep::get(ChainRequest& request, const ReplyTarget& target) {
  const std::string_view key = request.args()[1];
  settings();
  if (!matches(key)) return false;
  const Policy* policy = policy_of(request, 1);
  if (left_to_read_through(policy, false)) return false;
  const auto now = Clock::now();
  if (near_->store().get(
          key, now, [this](std::string_view v) { scratch_.assign(v); }, '$')) {
    target.deliver(scratch_);
    return true;
  }
  if (policy != nullptr) return read_through(request, target, *policy);
  fill(key, target, [target](std::string_view reply) { target.deliver(reply); });
  return true;
}

bool NearStep::mget(ChainRequest& request, const ReplyTarget& target) {
  const auto args = request.args();
  settings();
  if (std::none_of(args.begin() + 1, args.end(),
                   [this](std::string_view k) { return matches(k); })) {
    return false;
  }
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (has_policy(request, i)) return false;  // the read-through step serves the whole MGET
  }
  auto m = std::make_shared<Mget>();
  m->target = target;
  m->replies.resize(args.size() - 1);
  const auto now = Clock::now();
  // The misses by group, in argument order (few groups: a linear search).
  std::vector<std::pair<std::uint32_t, std::vector<std::size_t>>> by_node;
  for (std::size_t i = 1; i < args.size(); ++i) {
    auto& out = m->replies[i - 1];
    const bool hit =
        matches(args[i]) && near_->store().get(
                                args[i], now, [&out](std::string_view v) { out.assign(v); }, '$');
    if (hit) continue;
    // By group: a ring's node, a cluster's slot (one MGET may not span slots).
    const std::uint32_t node = nodes_->group_of_key(args[i]);
    auto it = std::find_if(by_node.begin(), by_node.end(),
                           [node](const auto& g) { return g.first == node; });
    if (it == by_node.end()) it = by_node.insert(by_node.end(), {node, {}});
    it->second.push_back(i);
  }
  if (by_node.empty()) {
    answer_mget(*m);
    return true;
  }
  m->left = by_node.size();
  for (const auto& [group, indexes] : by_node) {
    read_misses(m, nodes_->node_of_group(group), indexes, args);
  }
  return true;
}

bool NearStep::hash_read(ChainRequest& request, const ReplyTarget& target) {
  const auto args = request.args();
  const ReadOp op = read_op(request.info().cache_role);
  // A wrong arity goes to Redis, which answers it.
  const bool arity_ok = op == ReadOp::kHgetall || op == ReadOp::kHlen ? args.size() == 2
                        : op == ReadOp::kHmget                        ? args.size() >= 3
                                                                      : args.size() == 3;
  if (!arity_ok) return false;
  const std::string_view key = args[1];
  settings();
  if (!matches(key)) return false;
  const Policy* policy = policy_of(request, 1);
  if (left_to_read_through(policy, true)) return false;
  const auto now = Clock::now();
  if (near_->store().get(
          key, now, [this](std::string_view v) { scratch_.assign(v); }, '*')) {
    // The stored HGETALL reply was checked when stored: its fields parse.
    Value value;
    value.is_hash = true;
    hash_fields(scratch_, value.fields);
    const std::vector<std::string> words(args.begin(), args.end());
    std::string reply;
    render(op, words, &value, reply, target.protocol);
    target.deliver(reply);
    return true;
  }
  if (policy != nullptr) return read_through(request, target, *policy);
  // A miss: the client's command as it is (its reply delivered unchanged), then, to fill, an
  // HGETALL (unless that was the command) and PTTL, pipelined on the client's lane.
  auto f = std::make_shared<Fill>();
  f->key.assign(key);
  f->node = nodes_->node_for_key(key);
  f->max_ttl = settings_->max_ttl;
  f->token = near_->store().begin_fill(key);
  f->can_store = near_->node_up(f->node);
  const bool is_hgetall = op == ReadOp::kHgetall;
  redis_node(
      f->node, command(std::vector<std::string>(args.begin(), args.end())), true, target.lane,
      [f, target, is_hgetall](std::string_view reply) {
        if (is_hgetall && f->can_store) f->reply = storable_hash(reply);
        target.deliver(reply);
      },
      target.protocol);
  if (!f->can_store) return true;
  if (!is_hgetall) {
    redis_node(
        f->node, command({"HGETALL", key}), true, target.lane,
        [f](std::string_view reply) { f->reply = storable_hash(reply); }, target.protocol);
  }
  store_after_pttl(f, target);
  return true;
}

bool NearStep::read_through(ChainRequest& request, const ReplyTarget& target,
                            const Policy& policy) {
  if (!can_resume()) return false;
  const std::string_view key = request.args()[1];
  auto f = std::make_shared<Fill>();
  f->key.assign(key);
  f->node = nodes_->node_for_key(key);
  f->max_ttl = settings_->max_ttl;
  f->grace = policy.grace;
  // The guard before read-through's own Redis read is sent (below, by resume()).
  f->token = near_->store().begin_fill(key);
  f->can_store = near_->node_up(f->node);
  if (!f->can_store) return false;
  const bool hash = policy.is_hash();
  // The reply is the whole value (GET, HGETALL), or one needs an HGETALL after it.
  const bool whole = !hash || request.info().cache_role == resp::CacheRole::kHgetall;
  auto self = shared_from_this();
  ReplyTarget wrapped = target;
  wrapped.sink = std::make_shared<FillOnReply>(
      target.sink, [self, f, target, hash, whole](std::string_view reply) {
        if (resp::is_error_reply(reply)) return;
        if (whole) {
          // Nil (a missing key, a negative-cached row) and an empty hash are not values.
          if (hash) {
            f->reply = storable_hash(reply);
          } else if (storable(reply)) {
            f->reply.assign(reply);
          }
          if (!f->reply.empty()) self->store_after_pttl(f, target);
          return;
        }
        self->redis_node(
            f->node, command({"HGETALL", f->key}), true, target.lane,
            [f](std::string_view all) { f->reply = storable_hash(all); }, target.protocol);
        self->store_after_pttl(f, target);
      });
  resume(request.info(), request.args(), wrapped);
  return true;
}

void NearStep::answer_mget(Mget& m) {
  if (!m.error.empty()) {
    m.target.deliver(m.error);
    return;
  }
  std::string reply;
  reply.push_back('*');
  reply.append(std::to_string(m.replies.size()));
  reply.append("\r\n");
  for (const auto& r : m.replies) reply.append(r);
  m.target.deliver(reply);
}

// One MGET of a node's misses, then a PTTL of each one that may be stored, pipelined on the
// client's lane; the MGET's elements fill the reply array and the L1.
void NearStep::read_misses(const std::shared_ptr<Mget>& m, std::uint32_t node,
                           const std::vector<std::size_t>& indexes,
                           std::span<const std::string_view> args) {
  const auto& s = settings();
  std::vector<std::string_view> words{"MGET"};
  std::vector<std::shared_ptr<Fill>> fills;
  for (const std::size_t i : indexes) {
    words.push_back(args[i]);
    auto f = std::make_shared<Fill>();
    f->node = node;
    f->max_ttl = s.max_ttl;
    if (matches(args[i])) {
      f->key.assign(args[i]);
      f->token = near_->store().begin_fill(args[i]);
      f->can_store = near_->node_up(node);
    }
    fills.push_back(std::move(f));
  }
  std::string request;
  resp::append_command(request, words);
  const ReplyTarget& target = m->target;
  auto self = shared_from_this();
  redis_node(
      node, std::move(request), true, target.lane,
      [self, m, fills, indexes](std::string_view reply) {
        std::vector<std::string_view> elements;
        if (!split_array(reply, elements) || elements.size() != indexes.size()) {
          if (m->error.empty()) m->error.assign(reply);
        } else {
          for (std::size_t j = 0; j < indexes.size(); ++j) {
            m->replies[indexes[j] - 1].assign(elements[j]);
            if (fills[j]->can_store && storable(elements[j])) fills[j]->reply.assign(elements[j]);
          }
        }
        if (--m->left == 0) self->answer_mget(*m);
      },
      target.protocol);
  for (const auto& f : fills) {
    if (f->can_store) store_after_pttl(f, target);
  }
}

bool NearStep::write(ChainRequest& request, const ReplyTarget& target) {
  std::vector<std::string> keys = matching_keys(request);
  if (keys.empty()) return false;
  for (const auto& key : keys) near_->store().invalidate(key, InvalidationReason::kWrite);
  const resp::CommandInfo& info = request.info();
  const bool held_routable =
      info.routing == resp::Routing::kSingleNode || info.routing == resp::Routing::kSplit;
  if (!held_routable || info.has(resp::kFlagBlocking) || !can_resume()) return false;
  ReplyTarget wrapped = target;
  wrapped.sink = std::make_shared<DropOnReply>(near_, std::move(keys), target.sink);
  resume(info, request.args(), wrapped);
  return true;
}

void NearStep::fill(std::string_view key, const ReplyTarget& target,
                    std::function<void(std::string_view)> done) {
  auto f = std::make_shared<Fill>();
  f->key.assign(key);
  f->node = nodes_->node_for_key(key);
  f->max_ttl = settings().max_ttl;
  const bool wanted = matches(key);
  if (wanted) {
    // The guard first, then the node's state: a node going down after this check bumps it.
    f->token = near_->store().begin_fill(key);
    f->can_store = near_->node_up(f->node);
  }
  const int protocol = target.protocol;
  redis_node(
      f->node, command({"GET", key}), true, target.lane,
      [f, done = std::move(done)](std::string_view reply) {
        if (f->can_store && storable(reply)) f->reply.assign(reply);
        done(reply);
      },
      protocol);
  if (f->can_store) store_after_pttl(f, target);
}

void NearStep::store_after_pttl(const std::shared_ptr<Fill>& f, const ReplyTarget& target) {
  auto near = near_;
  auto on_pttl = [f, near](std::string_view reply, bool redirected) {
    if (f->reply.empty() || redirected) return;
    const std::int64_t pttl = resp::integer_reply(reply).value_or(-2);
    if (pttl == -2) return;  // gone meanwhile
    const std::int64_t left = pttl - f->grace.count();
    if (pttl >= 0 && left <= 0) return;  // expiring now, or expired for read-through
    const auto ttl = pttl < 0 ? f->max_ttl : std::min(f->max_ttl, std::chrono::milliseconds(left));
    const auto now = Clock::now();
    near->store().finish_fill(f->token, f->key, f->reply, now + ttl,
                              static_cast<std::uint16_t>(f->node), now);
  };
  ReplyTarget to{std::make_shared<PttlSink>(std::move(on_pttl)), 0, target.lane};
  to.protocol = static_cast<std::uint8_t>(target.protocol);
  nodes_->send_read(f->node, command({"PTTL", f->key}), std::move(to));
}

}  // namespace sidecache::cache
