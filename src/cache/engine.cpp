// The read path: hit, stale, negative hit, or a wait for a load (single flight).
#include "cache/engine.hpp"

#include <limits>

#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::cache {
namespace {}  // namespace

// One client request taken by the engine, with one slot per key.
struct Engine::Read {
  struct Slot {
    std::string key;
    std::size_t index = 0;  // policy index in snap
    bool policy = false;    // false: a plain key of a mixed MGET
    std::string id;
    std::string reply;  // this key's part of the answer
    bool done = false;
    bool loading = false;
    std::string stale;  // the stale reply, for stale-if-error
    bool has_stale = false;
    std::int64_t stale_for_ms = 0;
    // The pipelined command + PTTL.
    std::string cmd_reply;
    std::int64_t pttl = -2;
    int pending = 0;
  };
  ReadOp op = ReadOp::kNone;
  std::vector<std::string> args;
  ReplyTarget target;
  SnapPtr snap;
  std::vector<Slot> slots;
  std::size_t open = 0;     // slots not done
  std::size_t reading = 0;  // policy slots whose read (and negative check) is not over
  bool answered = false;
  bool timer = false;
  std::string error;
};

Engine::Engine(std::shared_ptr<Shared> shared, std::shared_ptr<Runtime> runtime, NodeSender& nodes)
    : shared_(std::move(shared)),
      runtime_(std::move(runtime)),
      nodes_(&nodes),
      rng_(std::random_device{}()) {}

bool Engine::handle(std::string_view name, std::span<const std::string_view> args,
                    const ReplyTarget& target) {
  const ReadOp op = read_op(name);
  if (op == ReadOp::kNone || args.size() < 2) return false;
  if (const auto g = shared_->generation(); g != generation_) {
    snapshot_ = shared_->snapshot();
    generation_ = g;
  }
  if (snapshot_->set->empty()) return false;
  auto snap = snapshot_;
  const bool get_like = op == ReadOp::kGet || op == ReadOp::kMget;
  const std::size_t last = op == ReadOp::kMget ? args.size() : 2;
  const auto applies = [&](std::string_view key) {
    const auto m = snap->set->match(key);
    return m.policy != nullptr && m.policy->is_hash() != get_like;
  };
  // Plain keys cost one pattern scan and no allocation.
  bool any = false;
  for (std::size_t i = 1; i < last && !any; ++i) any = applies(args[i]);
  if (!any) return false;
  auto r = std::make_shared<Read>();
  for (std::size_t i = 1; i < last; ++i) {
    Read::Slot slot;
    slot.key = std::string(args[i]);
    const auto m = snap->set->match(args[i]);
    if (m.policy != nullptr && m.policy->is_hash() != get_like) {
      slot.policy = true;
      slot.index = m.policy->index;
      slot.id = std::string(m.id);
    }
    r->slots.push_back(std::move(slot));
  }
  r->op = op;
  r->args.assign(args.begin(), args.end());
  r->target = target;
  r->snap = std::move(snap);
  r->open = r->slots.size();
  for (const auto& s : r->slots) r->reading += s.policy ? 1 : 0;
  for (std::size_t i = 0; i < r->slots.size(); ++i) start_read(r, i);
  return true;
}

void Engine::start_read(const ReadPtr& r, std::size_t i) {
  auto& s = r->slots[i];
  const std::uint64_t lane = r->target.lane;
  if (!s.policy) {
    redis(
        s.key, command({"GET", s.key}), true, lane,
        [this, r, i](std::string_view reply) {
          auto& slot = r->slots[i];
          slot.reply = resp::is_error_reply(reply) ? std::string(null_reply(r->target.protocol))
                                                   : std::string(reply);
          finish_slot(r, i);
        },
        r->target.protocol);
    return;
  }
  std::string cmd = r->op == ReadOp::kMget ? command({"GET", s.key}) : command(r->args);
  s.pending = 2;
  auto self = shared_from_this();
  // The client's RESP version: a hit's reply bytes go to the client unchanged.
  const int protocol = r->target.protocol;
  redis(
      s.key, std::move(cmd), true, lane,
      [self, r, i](std::string_view reply) {
        auto& slot = r->slots[i];
        slot.cmd_reply = std::string(reply);
        if (--slot.pending == 0) self->on_read(r, i, slot.cmd_reply, slot.pttl);
      },
      protocol);
  redis(
      s.key, command({"PTTL", s.key}), true, lane,
      [self, r, i](std::string_view reply) {
        auto& slot = r->slots[i];
        slot.pttl = resp::integer_reply(reply).value_or(-2);
        if (--slot.pending == 0) self->on_read(r, i, slot.cmd_reply, slot.pttl);
      },
      protocol);
}

void Engine::on_read(const ReadPtr& r, std::size_t i, std::string_view reply, std::int64_t pttl) {
  auto& s = r->slots[i];
  const Policy& p = r->snap->policy(s.index);
  PolicyStats& st = *r->snap->stats[s.index];
  if (resp::is_error_reply(reply)) {  // WRONGTYPE, node down, ...: as Redis (MGET: nil)
    s.reply =
        r->op == ReadOp::kMget ? std::string(null_reply(r->target.protocol)) : std::string(reply);
    --r->reading;
    finish_slot(r, i);
    if (r->reading == 0) launch_loads(r);
    return;
  }
  const bool absent = pttl == -2 || (!p.is_hash() && is_null_reply(reply));
  if (absent) return check_negative(r, i);
  const std::int64_t remaining =
      pttl < 0 ? std::numeric_limits<std::int64_t>::max() : pttl - p.grace.count();
  if (remaining > 0) {
    st.hits.add();
    s.reply = std::string(reply);
    --r->reading;
    finish_slot(r, i);
    const double beta = p.config.xfetch_beta;
    if (beta > 0 && pttl >= 0 &&
        xfetch_should_refresh(static_cast<double>(remaining), r->snap->load_ms[s.index]->get(),
                              beta, uniform())) {
      refresh(r->snap, s.index, s.key, s.id, true);
    }
  } else if (-remaining <= p.config.stale_while_revalidate.count()) {
    st.stale_swr.add();
    s.reply = std::string(reply);
    --r->reading;
    finish_slot(r, i);
    refresh(r->snap, s.index, s.key, s.id, false);
  } else {
    st.misses.add();
    s.stale = std::string(reply);
    s.has_stale = true;
    s.stale_for_ms = -remaining;
    need_load(r, i);
    return;
  }
  if (r->reading == 0) launch_loads(r);
}

void Engine::check_negative(const ReadPtr& r, std::size_t i) {
  auto& s = r->slots[i];
  const Policy& p = r->snap->policy(s.index);
  if (p.config.negative_ttl.count() <= 0) {
    r->snap->stats[s.index]->misses.add();
    return need_load(r, i);
  }
  auto self = shared_from_this();
  const std::string neg = negative_key(s.key);
  redis(neg, command({"EXISTS", neg}), true, r->target.lane, [self, r, i](std::string_view reply) {
    auto& slot = r->slots[i];
    PolicyStats& st = *r->snap->stats[slot.index];
    if (resp::integer_reply(reply).value_or(0) > 0) {
      st.negative_hits.add();
      slot.reply.clear();
      render(r->op == ReadOp::kMget ? ReadOp::kGet : r->op, r->args, nullptr, slot.reply,
             r->target.protocol);
      --r->reading;
      self->finish_slot(r, i);
      if (r->reading == 0) self->launch_loads(r);
      return;
    }
    st.misses.add();
    self->need_load(r, i);
  });
}

void Engine::need_load(const ReadPtr& r, std::size_t i) {
  r->slots[i].loading = true;
  if (--r->reading == 0) launch_loads(r);
}

// Every policy slot has been read: join (or lead) the flights of the misses, one batched
// load per policy for the keys this request leads.
void Engine::launch_loads(const ReadPtr& r) {
  std::vector<std::vector<KeyLoad>> leads(r->snap->set->policies().size());
  Millis wait{0};
  auto self = shared_from_this();
  for (std::size_t i = 0; i < r->slots.size(); ++i) {
    auto& s = r->slots[i];
    if (!s.loading || s.done) continue;
    const Policy& p = r->snap->policy(s.index);
    wait = std::max(wait, p.config.load_timeout);
    auto runtime = runtime_;
    const bool leader =
        shared_->flights().join(s.key, [self, runtime, r, i](const LoadResultPtr& res) {
          runtime->post([self, r, i, res] { self->on_loaded(r, i, res); });
        });
    if (leader) {
      leads[s.index].push_back(KeyLoad{s.key, s.id, {}});
    } else {
      r->snap->stats[s.index]->single_flight_waits.add();
    }
  }
  if (wait.count() > 0 && !r->timer && !r->answered) {
    r->timer = true;
    runtime_->after(wait, [self, r] { self->on_timeout(r); });
  }
  for (std::size_t index = 0; index < leads.size(); ++index) {
    if (!leads[index].empty()) start_load(r->snap, index, std::move(leads[index]));
  }
}

void Engine::on_loaded(const ReadPtr& r, std::size_t i, const LoadResultPtr& result) {
  auto& s = r->slots[i];
  if (r->answered || s.done) return;
  const Policy& p = r->snap->policy(s.index);
  const ReadOp op = r->op == ReadOp::kMget ? ReadOp::kGet : r->op;
  s.reply.clear();
  switch (result->kind) {
    case LoadResult::Kind::kValue:
      render(op, r->args, &result->value, s.reply, r->target.protocol);
      break;
    case LoadResult::Kind::kAbsent:
      render(op, r->args, nullptr, s.reply, r->target.protocol);
      break;
    case LoadResult::Kind::kError:
      if (s.has_stale && s.stale_for_ms <= p.config.stale_if_error.count()) {
        r->snap->stats[s.index]->stale_error.add();
        s.reply = s.stale;
      } else {
        r->error = "ERR sidecache: cannot load " + s.key + ": " + result->reason;
        return answer(r);
      }
      break;
  }
  finish_slot(r, i);
}

void Engine::on_timeout(const ReadPtr& r) {
  if (r->answered) return;
  for (std::size_t i = 0; i < r->slots.size(); ++i) {
    auto& s = r->slots[i];
    if (s.done || !s.loading) continue;
    const Policy& p = r->snap->policy(s.index);
    PolicyStats& st = *r->snap->stats[s.index];
    st.load_errors[static_cast<std::size_t>(LoadError::kWait)].add();
    if (s.has_stale && s.stale_for_ms <= p.config.stale_if_error.count()) {
      st.stale_error.add();
      s.reply = s.stale;
      s.done = true;
      --r->open;
    } else if (r->error.empty()) {
      r->error = "ERR sidecache: cannot load " + s.key + ": no result within " +
                 std::to_string(p.config.load_timeout.count()) + " ms";
    }
  }
  if (!r->error.empty() || r->open == 0) answer(r);
}

void Engine::finish_slot(const ReadPtr& r, std::size_t i) {
  auto& s = r->slots[i];
  if (s.done) return;
  s.done = true;
  if (--r->open == 0) answer(r);
}

void Engine::answer(const ReadPtr& r) {
  if (r->answered) return;
  r->answered = true;
  std::string out;
  if (!r->error.empty()) {
    resp::append_error(out, r->error);
  } else if (r->op == ReadOp::kMget) {
    resp::append_array_header(out, r->slots.size());
    for (const auto& s : r->slots) out += s.reply;
  } else {
    out = std::move(r->slots[0].reply);
  }
  r->target.deliver(out);
}

void Engine::refresh(const SnapPtr& snap, std::size_t index, const std::string& key,
                     const std::string& id, bool early) {
  if (!shared_->flights().join(key, {})) return;  // a load is already under way
  if (early) snap->stats[index]->early_refreshes.add();
  start_load(snap, index, {KeyLoad{key, id, {}, false}});
}

void Engine::redis(std::string_view key, std::string request, bool read, std::uint64_t lane,
                   std::function<void(std::string_view)> on_reply, int protocol) {
  const std::uint32_t node = nodes_->node_for_key(key);
  ReplyTarget target{std::make_shared<CallbackSink>(std::move(on_reply)), 0, lane};
  target.protocol = static_cast<std::uint8_t>(protocol);
  if (read) {
    nodes_->send_read(node, request, std::move(target));
  } else {
    nodes_->send(node, request, std::move(target));
  }
}

std::string Engine::token() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(24, '0');
  std::uint64_t a = rng_(), b = rng_();
  for (std::size_t i = 0; i < 16; ++i, a >>= 4) out[i] = kHex[a & 15];
  for (std::size_t i = 16; i < 24; ++i, b >>= 4) out[i] = kHex[b & 15];
  return out;
}

double Engine::uniform() {
  // (0, 1]: ln(u) stays finite.
  return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

}  // namespace sidecache::cache
