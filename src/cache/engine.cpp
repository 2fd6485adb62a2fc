// The read path: hit, stale, negative hit, or a wait for a load (single flight).
#include "cache/engine.hpp"

#include <spdlog/spdlog.h>

#include <limits>

#include "cache/store_hook.hpp"
#include "resp/errors.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::cache {

// One client request taken by the engine: a state machine over its keys. Every state is one
// wait, for Redis or for the loads:
//
//   kReading   every key's read is in flight, one round trip: the command (GET for MGET) and
//              PTTL, pipelined. When the read asks for the lease (lease_in_read; with `auto`,
//              unless the key recently hit on this worker, RecentHits):
//              - a string policy's GET is SET key <lease marker> NX GET PX lease_ttl: a hit
//                reads the value and writes nothing; an absent key is a miss whose lease this
//                read took. The negative marker and another loader's lease are read in the key;
//              - policies with their markers beside the key (hash policies, those a store hook
//                takes) pipeline EXISTS of the negative marker and SET <lease key> NX PX with
//                the read; a hit releases the lease it took.
//              Hits, stale-while-revalidate answers, negative hits and errors finish their
//              slots here; the other keys become misses and join their flight (this process).
//   kProbing   only when a miss still needs its negative marker or lease asked for, one more
//              round trip: reads that did not ask (a key expected to hit that missed,
//              lease_in_read: false), a value expired past stale_while_revalidate (the lease
//              goes beside the key, which keeps the value for stale-if-error), and reads whose
//              lease attempt Redis refused.
//   kLoading   the keys whose lease we hold (or, without a lease, whose flight we lead) are
//              loaded (one database call per policy); the others wait for their flight or for
//              another loader's lease.
//   kAnswered  the one reply went to the client (every slot done, an error, or load_timeout).
struct Engine::Read {
  enum class State { kReading, kProbing, kLoading, kAnswered };
  // The lease of one miss.
  enum class Lease { kNone, kWon, kHeld, kFailed };
  // The reply to SET <lease> NX PX.
  static Lease lease_of(std::string_view reply) {
    return reply.starts_with("+OK") ? Lease::kWon
           : is_null_reply(reply)   ? Lease::kHeld
                                    : Lease::kFailed;
  }
  struct Slot {
    std::string key;
    std::size_t index = 0;  // policy index in snap
    bool policy = false;    // false: a plain key of a mixed MGET
    bool in_key = false;    // the policy keeps its markers in the key
    std::string id;
    std::string reply;  // this key's part of the answer
    bool done = false;
    // The read: the pipelined command (or the lease attempt) + PTTL.
    bool lease_read = false;  // the read is SET key <lease marker> NX GET
    bool read_again = false;  // Redis refused the lease attempt: read with the command
    // Markers beside the key: the read also asked for the negative marker and the lease.
    bool asked_beside = false;
    RecentHits::Place place;  // lease_in_read: auto, computed by the read
    std::string cmd_reply;
    std::int64_t pttl = -2;
    int pending = 0;
    // A miss: absent, or expired past stale_while_revalidate (its value kept for
    // stale-if-error).
    bool miss = false;
    bool absent = false;
    std::string stale;
    bool has_stale = false;
    std::int64_t stale_for_ms = 0;
    bool leader = false;    // this request leads the key's flight
    bool negative = false;  // the negative marker beside the key exists (kProbing)
    Lease lease = Lease::kNone;
    std::string token;
  };
  State state = State::kReading;
  ReadOp op = ReadOp::kNone;
  RecentHits::Clock::time_point now{};  // lease_in_read: auto, read once per request
  std::vector<std::string> args;
  ReplyTarget target;
  SnapPtr snap;
  std::vector<Slot> slots;
  std::size_t open = 0;     // slots not done
  std::size_t reading = 0;  // policy slots whose read is not answered (kReading)
  std::size_t misses = 0;   // slots that became misses
  std::size_t probing = 0;  // probe replies not answered (kProbing)
  bool timer = false;
  std::string error;
};

Engine::Engine(std::shared_ptr<Shared> shared, std::shared_ptr<Runtime> runtime, NodeSender& nodes)
    : ChainStep(std::move(runtime), nodes), shared_(std::move(shared)) {}

bool Engine::markers_in_key(const SnapPtr& snap, const Policy& p) {
  if (p.is_hash()) return false;
  if (hook_snap_ != snap) {
    hook_ = shared_->store_hook();
    hook_snap_ = snap;
  }
  return !(hook_ && hook_->takes(p));
}

bool Engine::handle(ChainRequest& request, const ReplyTarget& target) {
  const ReadOp op = read_op(request.role());
  const auto args = request.args();
  if (op == ReadOp::kNone || args.size() < 2) return false;
  const SnapPtr& snap = request.snapshot();
  if (snap->set->empty()) return false;
  const bool get_like = op == ReadOp::kGet || op == ReadOp::kMget;
  const std::size_t last = op == ReadOp::kMget ? args.size() : 2;
  const auto applies = [&](const PolicySet::Match& m) {
    return m.policy != nullptr && m.policy->is_hash() != get_like;
  };
  // Plain keys cost one pattern scan and no allocation.
  bool any = false;
  for (std::size_t i = 1; i < last && !any; ++i) any = applies(request.match(i));
  if (!any) return false;
  auto r = std::make_shared<Read>();
  for (std::size_t i = 1; i < last; ++i) {
    Read::Slot slot;
    slot.key = std::string(args[i]);
    const auto& m = request.match(i);  // matched above, or now: once per key either way
    if (applies(m)) {
      slot.policy = true;
      slot.index = m.policy->index;
      slot.id = std::string(m.id);
      slot.in_key = markers_in_key(snap, *m.policy);
    }
    r->slots.push_back(std::move(slot));
  }
  r->op = op;
  r->args.assign(args.begin(), args.end());
  r->target = target;
  r->snap = snap;
  r->open = r->slots.size();
  for (const auto& s : r->slots) r->reading += s.policy ? 1 : 0;
  for (std::size_t i = 0; i < r->slots.size(); ++i) read_key(r, i);
  return true;
}

// kReading: one key's read. Plain keys of a mixed MGET are a GET; policy keys the client's
// command (GET for MGET), or the lease attempt that reads the value, and PTTL, pipelined.
void Engine::read_key(const ReadPtr& r, std::size_t i) {
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
  const auto& config = r->snap->policy(s.index).config;
  const bool ask = asks_in_read(*r, i, config);
  s.lease_read = ask && s.in_key && config.lease && set_nx_get_ && !s.read_again;
  s.asked_beside = ask && !s.in_key && (config.lease || config.negative_ttl.count() > 0);
  std::string cmd;
  if (s.lease_read) {
    s.token = token();
    cmd = lease_read_command(s.key, s.token, config.lease_ttl.count());
  } else {
    cmd = r->op == ReadOp::kMget ? command({"GET", s.key}) : command(r->args);
  }
  s.pending = 2;
  auto self = shared_from_this();
  if (s.asked_beside) ask_beside(r, i);
  // The client's RESP version: a hit's reply bytes go to the client unchanged.
  const int protocol = r->target.protocol;
  redis(
      s.key, std::move(cmd), !s.lease_read, lane,
      [self, r, i](std::string_view reply) {
        auto& slot = r->slots[i];
        slot.cmd_reply = std::string(reply);
        if (--slot.pending == 0) self->on_read(r, i);
      },
      protocol);
  redis(
      s.key, command({"PTTL", s.key}), true, lane,
      [self, r, i](std::string_view reply) {
        auto& slot = r->slots[i];
        slot.pttl = resp::integer_reply(reply).value_or(-2);
        if (--slot.pending == 0) self->on_read(r, i);
      },
      protocol);
}

bool Engine::guesses(const config::CachePolicy& config, bool in_key) {
  return config.lease_in_read == config::LeaseInRead::kAuto &&
         (config.lease || (!in_key && config.negative_ttl.count() > 0));
}

bool Engine::asks_in_read(Read& r, std::size_t i, const config::CachePolicy& config) {
  auto& s = r.slots[i];
  switch (config.lease_in_read) {
    case config::LeaseInRead::kNever:
      return false;
    case config::LeaseInRead::kAlways:
      return true;
    case config::LeaseInRead::kAuto:
      break;
  }
  if (!guesses(config, s.in_key)) return false;  // nothing to ask for
  if (r.now == RecentHits::Clock::time_point{}) r.now = RecentHits::now();
  s.place = RecentHits::place(s.key);
  return !shared_->recent_hits().expects_hit(s.place, r.now);
}

// kReading, markers beside the key: the negative marker and the lease asked for with the read
// (the same answers kProbing would get, one round trip earlier).
void Engine::ask_beside(const ReadPtr& r, std::size_t i) {
  auto& s = r->slots[i];
  const auto& config = r->snap->policy(s.index).config;
  auto self = shared_from_this();
  if (config.negative_ttl.count() > 0) {
    ++s.pending;
    const std::string neg = negative_key(s.key, side_keys());
    redis(neg, command({"EXISTS", neg}), true, r->target.lane,
          [self, r, i](std::string_view reply) {
            auto& slot = r->slots[i];
            slot.negative = resp::integer_reply(reply).value_or(0) > 0;
            if (--slot.pending == 0) self->on_read(r, i);
          });
  }
  if (config.lease) {
    ++s.pending;
    s.token = token();
    const std::string lk = lease_key(s.key, side_keys());
    const auto ttl = std::to_string(config.lease_ttl.count());
    redis(lk, command({"SET", lk, s.token, "NX", "PX", ttl}), false, 0,
          [self, r, i](std::string_view reply) {
            auto& slot = r->slots[i];
            slot.lease = Read::lease_of(reply);
            if (--slot.pending == 0) self->on_read(r, i);
          });
  }
}

// kReading: Redis refused the lease attempt (before 7.0 a syntax error; -OOM, -READONLY,
// -MISCONF refuse any write): the key is read again with the client's command, so a hit
// never fails because of the lease; a miss then asks for the lease in kProbing.
void Engine::read_again(const ReadPtr& r, std::size_t i) {
  auto& s = r->slots[i];
  if (set_nx_get_ && s.cmd_reply.find("syntax") != std::string::npos) {
    set_nx_get_ = false;
    spdlog::warn(
        "cache: Redis refused SET .. NX GET ({}): leases of misses cost a second round "
        "trip on this worker",
        std::string_view(s.cmd_reply).substr(1, s.cmd_reply.size() - 3));
  }
  s.read_again = true;
  s.token.clear();
  s.cmd_reply.clear();
  read_key(r, i);
}

// kReading: one key's read is answered: a hit (maybe refreshed early by XFetch), a stale
// answer within stale_while_revalidate, a negative hit, an error, or a miss. The last read
// moves on to the misses.
void Engine::on_read(const ReadPtr& r, std::size_t i) {
  auto& s = r->slots[i];
  const std::string_view reply = s.cmd_reply;
  if (s.lease_read && resp::is_error_reply(reply) && !reply.starts_with("-WRONGTYPE")) {
    return read_again(r, i);
  }
  const std::int64_t pttl = s.pttl;
  const Policy& p = r->snap->policy(s.index);
  PolicyStats& st = *r->snap->stats[s.index];
  Marker marker = Marker::kNone;
  if (s.in_key) {
    if (const auto payload = bulk_payload(reply)) marker = marker_of(*payload);
  }
  const bool absent =
      marker == Marker::kLease || pttl == -2 || (!p.is_hash() && is_null_reply(reply));
  const std::int64_t remaining =
      pttl < 0 ? std::numeric_limits<std::int64_t>::max() : pttl - p.grace.count();
  const bool guessing = guesses(p.config, s.in_key);
  if (resp::is_error_reply(reply)) {  // WRONGTYPE, node down, ...: as Redis (MGET: nil)
    s.reply =
        r->op == ReadOp::kMget ? std::string(null_reply(r->target.protocol)) : std::string(reply);
    finish_slot(r, i);
  } else if (marker == Marker::kNegative) {
    st.negative_hits.add();
    s.reply = std::string(null_reply(r->target.protocol));
    finish_slot(r, i);
  } else if (absent) {
    if (guessing) shared_->recent_hits().forget(s.key);
    s.miss = true;
    s.absent = true;
    ++r->misses;
    if (s.lease_read) {
      s.lease = marker == Marker::kLease ? Read::Lease::kHeld : Read::Lease::kWon;
    } else if (marker == Marker::kLease && p.config.lease) {
      s.lease = Read::Lease::kHeld;
    }
  } else if (remaining > 0) {
    st.hits.add();
    if (guessing) {
      shared_->recent_hits().hit(s.place, r->now, pttl < 0 ? -1 : remaining);
    }
    s.reply = std::string(reply);
    finish_slot(r, i);
    const double beta = p.config.xfetch_beta;
    if (pttl >= 0 && hot_ != nullptr &&
        static_cast<double>(remaining) <= hot_ahead_ * static_cast<double>(p.ttl.count()) &&
        hot_->contains(s.key)) {
      // One of this worker's hottest keys near its expiry: reloaded now, so it never misses.
      if (refresh(r->snap, s.index, s.key, s.id, false)) st.hot_refreshes.add();
    } else if (beta > 0 && pttl >= 0 &&
               xfetch_should_refresh(static_cast<double>(remaining),
                                     r->snap->load_ms[s.index]->get(), beta, uniform())) {
      refresh(r->snap, s.index, s.key, s.id, true);
    }
  } else if (-remaining <= p.config.stale_while_revalidate.count()) {
    st.stale_swr.add();
    s.reply = std::string(reply);
    finish_slot(r, i);
    refresh(r->snap, s.index, s.key, s.id, false);
  } else {
    st.misses.add();
    s.miss = true;
    ++r->misses;
    s.stale = std::string(reply);
    s.has_stale = true;
    s.stale_for_ms = -remaining;
  }
  if (s.asked_beside && !s.miss && s.lease == Read::Lease::kWon) {
    // Not a miss after all (a hit, a stale answer, an error): the lease goes back.
    release_lease(KeyLoad{s.key, s.id, s.token, false});
    s.lease = Read::Lease::kNone;
  }
  s.cmd_reply.clear();
  if (--r->reading == 0 && r->misses > 0) start_misses(r);
}

// The misses join their flights (the leases this request's reads took first: their holder
// leads when it can), then either load at once or, when a miss still needs its negative marker
// or lease asked for, go through kProbing.
void Engine::start_misses(const ReadPtr& r) {
  auto self = shared_from_this();
  for (const bool won : {true, false}) {
    for (std::size_t i = 0; i < r->slots.size(); ++i) {
      auto& s = r->slots[i];
      if (!s.miss || (s.lease == Read::Lease::kWon) != won) continue;
      auto runtime = runtime_;
      s.leader = shared_->flights().join(s.key, [self, runtime, r, i](const LoadResultPtr& res) {
        runtime->post([self, r, i, res] { self->on_loaded(r, i, res); });
      });
    }
  }
  std::vector<std::size_t> leases;  // slots whose lease is asked for (else: negative marker)
  std::vector<std::size_t> markers;
  for (std::size_t i = 0; i < r->slots.size(); ++i) {
    const auto& s = r->slots[i];
    if (!s.miss) continue;
    const auto& config = r->snap->policy(s.index).config;
    if (!s.in_key && s.absent && config.negative_ttl.count() > 0 && !s.asked_beside) {
      markers.push_back(i);
    }
    if (s.leader && config.lease && s.lease == Read::Lease::kNone) leases.push_back(i);
  }
  if (leases.empty() && markers.empty()) return on_probed(r);
  // Every ask is counted before the first goes out, so no reply ends the state early.
  if (r->state == Read::State::kReading) r->state = Read::State::kProbing;
  r->probing = leases.size() + markers.size();
  for (const std::size_t i : markers) {
    const std::string neg = negative_key(r->slots[i].key, side_keys());
    redis(neg, command({"EXISTS", neg}), true, r->target.lane,
          [self, r, i](std::string_view reply) {
            r->slots[i].negative = resp::integer_reply(reply).value_or(0) > 0;
            if (--r->probing == 0) self->on_probed(r);
          });
  }
  probe(r, leases);
}

// kProbing: the lease attempts of misses whose read did not take one: in the key when it is
// absent and the policy keeps its markers there, else beside it.
void Engine::probe(const ReadPtr& r, const std::vector<std::size_t>& leases) {
  auto self = shared_from_this();
  for (const std::size_t i : leases) {
    auto& s = r->slots[i];
    s.token = token();
    const bool in_key = s.in_key && s.absent;
    const std::string lk = in_key ? s.key : lease_key(s.key, side_keys());
    const auto ttl = std::to_string(r->snap->policy(s.index).config.lease_ttl.count());
    redis(lk, command({"SET", lk, in_key ? lease_marker(s.token) : s.token, "NX", "PX", ttl}),
          false, 0, [self, r, i](std::string_view reply) {
            r->slots[i].lease = Read::lease_of(reply);
            if (--r->probing == 0) self->on_probed(r);
          });
  }
}

// -> kLoading: negative markers beside the key answer their keys (a flight we lead ends
// absent); the keys whose lease we hold, or whose flight we lead without a lease, are loaded,
// one database call per policy; a leader whose lease another loader holds waits for it; the
// others wait for their flight. The load_timeout timer starts.
void Engine::on_probed(const ReadPtr& r) {
  if (r->state != Read::State::kAnswered) r->state = Read::State::kLoading;
  std::vector<std::vector<KeyLoad>> mine(r->snap->set->policies().size());
  std::vector<std::vector<KeyLoad>> held(mine.size());
  Millis wait{0};
  for (std::size_t i = 0; i < r->slots.size(); ++i) {
    auto& s = r->slots[i];
    if (!s.miss) continue;
    PolicyStats& st = *r->snap->stats[s.index];
    const bool won = s.lease == Read::Lease::kWon;
    KeyLoad k{s.key, s.id, won ? s.token : std::string{}, true, won && s.in_key && s.absent};
    if (s.negative) {
      st.negative_hits.add();
      release_lease(k);  // a lease the read took beside the key
      if (s.leader) {
        auto absent = std::make_shared<LoadResult>();
        absent->kind = LoadResult::Kind::kAbsent;
        shared_->flights().finish(s.key, absent);
      }
      if (!s.done) {
        s.reply.clear();
        render(r->op == ReadOp::kMget ? ReadOp::kGet : r->op, r->args, nullptr, s.reply,
               r->target.protocol);
        finish_slot(r, i);
      }
      continue;
    }
    if (s.absent) st.misses.add();
    wait = std::max(wait, r->snap->policy(s.index).config.load_timeout);
    if (won) {
      // Our read took the lease: we load, even when another request of this process joined
      // the flight first (it waits for the lease, then for this load, which ends the flight).
      mine[s.index].push_back(std::move(k));
    } else if (!s.leader) {
      if (!s.done) st.single_flight_waits.add();
    } else if (s.lease == Read::Lease::kHeld) {
      held[s.index].push_back(std::move(k));
    } else {
      mine[s.index].push_back(std::move(k));
    }
  }
  if (wait.count() > 0 && !r->timer && r->state != Read::State::kAnswered) {
    r->timer = true;
    auto self = shared_from_this();
    runtime_->after(wait, [self, r] { self->on_timeout(r); });
  }
  for (std::size_t index = 0; index < mine.size(); ++index) {
    if (mine[index].empty() && held[index].empty()) continue;
    load_leased(r->snap, index, std::move(mine[index]), std::move(held[index]));
  }
}

void Engine::on_loaded(const ReadPtr& r, std::size_t i, const LoadResultPtr& result) {
  auto& s = r->slots[i];
  if (r->state == Read::State::kAnswered || s.done) return;
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
        r->error = resp::errors::cannot_load(s.key, result->reason);
        return answer(r);
      }
      break;
  }
  finish_slot(r, i);
}

void Engine::on_timeout(const ReadPtr& r) {
  if (r->state == Read::State::kAnswered) return;
  for (std::size_t i = 0; i < r->slots.size(); ++i) {
    auto& s = r->slots[i];
    if (s.done || !s.miss || s.negative) continue;
    const Policy& p = r->snap->policy(s.index);
    PolicyStats& st = *r->snap->stats[s.index];
    st.load_errors[static_cast<std::size_t>(LoadError::kWait)].add();
    if (s.has_stale && s.stale_for_ms <= p.config.stale_if_error.count()) {
      st.stale_error.add();
      s.reply = s.stale;
      s.done = true;
      --r->open;
    } else if (r->error.empty()) {
      r->error = resp::errors::load_timed_out(s.key, p.config.load_timeout.count());
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
  if (r->state == Read::State::kAnswered) return;
  r->state = Read::State::kAnswered;
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

bool Engine::refresh(const SnapPtr& snap, std::size_t index, const std::string& key,
                     const std::string& id, bool early) {
  if (!shared_->flights().join(key, {})) return false;  // a load is already under way
  if (early) snap->stats[index]->early_refreshes.add();
  start_load(snap, index, {KeyLoad{key, id, {}, false}});
  return true;
}

// A lease token: this engine's random 12-hex-digit prefix and a counter (every read of a
// string policy with a lease makes one, so it costs no random draw).
std::string Engine::token() {
  static constexpr char kHex[] = "0123456789abcdef";
  if (token_prefix_.empty()) {
    std::uint64_t a = rng_();
    for (int i = 0; i < 12; ++i, a >>= 4) token_prefix_ += kHex[a & 15];
  }
  std::string out;
  out.reserve(token_prefix_.size() + 16);
  out = token_prefix_;
  std::uint64_t n = ++token_count_;
  do {
    out += kHex[n & 15];
    n >>= 4;
  } while (n != 0);
  return out;
}

double Engine::uniform() {
  // (0, 1]: ln(u) stays finite.
  return 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

}  // namespace sidecache::cache
