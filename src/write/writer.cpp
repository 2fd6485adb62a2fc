#include "write/writer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "cache/generation.hpp"
#include "cache/value.hpp"
#include "resp/errors.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"
#include "write/errors.hpp"

namespace sidecache::write {
namespace {

using config::WriteMode;
using Clock = std::chrono::steady_clock;

std::string error_reply(std::string_view text) {
  std::string out;
  resp::append_error(out, text);
  return out;
}

std::string db_error_text(const db::Status& status) {
  switch (status.kind) {
    case db::ErrorKind::kRejected:
      return errors::db_rejected(status.message);
    case db::ErrorKind::kTimeout:
      return errors::db_timed_out(status.message);
    default:
      return errors::db_unavailable(status.message);
  }
}

constexpr std::string_view kHsetIfAbsent =
    "if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) "
    "return 1 end return 0";

constexpr std::chrono::milliseconds kSlowPoll{20};

// The scripts' own errors: "-SIDECACHE_FULL ..." or, as Redis 7 prefixes a one-word error,
// "-ERR SIDECACHE_MISS".
bool script_error(std::string_view reply, std::string_view code) {
  if (!resp::is_error_reply(reply)) return false;
  const auto at = reply.find(code);
  return at == 1 || at == 5;
}

// An error reply's text, without '-' and CRLF.
std::string_view error_text(std::string_view reply) {
  reply.remove_prefix(reply.empty() ? 0 : 1);
  while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) reply.remove_suffix(1);
  return reply;
}

std::string integer(std::int64_t n) {
  std::string out(1, ':');
  out += std::to_string(n);
  out += "\r\n";
  return out;
}

// How many distinct fields of `fields` are not among `had` (null: no row), as HSET counts.
std::int64_t new_fields(const std::vector<std::pair<std::string, std::string>>& fields,
                        const std::vector<std::pair<std::string, std::string>>* had) {
  std::vector<std::string_view> seen;
  for (const auto& [f, v] : fields) {
    if (std::find(seen.begin(), seen.end(), f) != seen.end()) continue;
    const bool existed = had != nullptr && std::any_of(had->begin(), had->end(),
                                                       [&](const auto& h) { return h.first == f; });
    if (!existed) seen.push_back(f);
  }
  return static_cast<std::int64_t>(seen.size());
}

}  // namespace

struct Writer::Task {
  std::shared_ptr<const cache::Snapshot> snap;  // owns the policies `c` points to
  Classified c;
  resp::CacheRole role = resp::CacheRole::kNone;
  ReplyTarget target;
  // The chains of keys it waits in (a write: every key it writes, a DEL several), and in how
  // many of them it is not first yet: it starts when first in all.
  std::vector<std::string> waits_on;
  std::size_t waiting = 0;
  Clock::time_point slow_deadline{};
  bool waited = false;
  std::int64_t added = 0;  // HSET (through, invalidate): fields the row did not have
  std::string reply;       // when set, the reply (an increment's sum)
  // through: the key's write generation taken before the database write (empty: none, so the
  // cache write becomes a delete).
  std::string generation;
  // A request held behind writes of its keys (not a write): its command and its own copy of
  // its arguments.
  const resp::CommandInfo* held = nullptr;
  std::vector<std::string> held_args;
};

Writer::Writer(std::shared_ptr<const WriterShared> shared, std::shared_ptr<cache::Runtime> runtime,
               NodeSender& nodes)
    : ChainStep(runtime, nodes),
      shared_(shared),
      batches_(std::make_shared<EnqueueBatches>(std::move(shared), std::move(runtime), nodes)) {}

bool Writer::has_writes(const std::shared_ptr<const cache::Snapshot>& snapshot) {
  if (snapshot != writes_for_) {
    writes_for_ = snapshot;
    writes_ = false;
    for (const auto& p : snapshot->set->policies()) {
      writes_ = writes_ || p->config.write != WriteMode::kNone;
    }
  }
  return writes_;
}

bool Writer::handle(cache::ChainRequest& request, const ReplyTarget& target) {
  if (take(request, target)) return true;
  // The request goes to Redis now: the writes queued before it must get there first.
  if (batches_->waiting()) batches_->send();
  return !chains_.empty() && hold_behind_writes(request, target);
}

// A request naming a key whose writes are still in progress (a client's pipelined GET after
// its SET, a second write of the key waiting in its chain) waits behind them in the key's chain,
// so that it sees them as it would on Redis; then it goes on through the rest of the chain and
// to routing. Requests routed to one node or split by key; not blocking ones (a session's).
bool Writer::hold_behind_writes(cache::ChainRequest& request, const ReplyTarget& target) {
  const resp::CommandInfo& info = request.info();
  if (info.routing != resp::Routing::kSingleNode && info.routing != resp::Routing::kSplit) {
    return false;
  }
  if (info.has(resp::kFlagBlocking) || !can_resume()) return false;
  const auto args = request.args();
  if (!resp::key_indexes(info, args, keys_, key_error_)) return false;
  OpPtr op;
  for (const std::uint32_t i : keys_) {
    const auto it = chains_.find(args[i]);
    if (it == chains_.end()) continue;
    if (!op) {
      op = std::make_shared<Task>();
      op->held = &info;
      op->held_args.assign(args.begin(), args.end());
      op->target = target;
    }
    if (std::find(op->waits_on.begin(), op->waits_on.end(), args[i]) != op->waits_on.end()) {
      continue;  // a key named twice (MGET k k)
    }
    op->waits_on.emplace_back(args[i]);
    it->second.push_back(op);  // a chain is never empty: it waits for the writes in it
  }
  if (!op) return false;
  op->waiting = op->waits_on.size();
  shared_->stats->held.add();
  return true;
}

void Writer::enqueue(const OpPtr& op) {
  op->waiting = op->waits_on.size();
  for (const auto& key : op->waits_on) {
    auto& chain = chains_[key];
    chain.push_back(op);
    if (chain.size() == 1) start(op);  // first here; it starts once first in all
  }
}

void Writer::release_held(const OpPtr& op) {
  // The writes after it wait for its reply: a read-through miss it starts must not load a row
  // they write, nor may a write overtake it on another node connection.
  ReplyTarget target = op->target;
  target.tag = 0;
  target.sink =
      std::make_shared<CallbackSink>([self = shared_from_this(), op](std::string_view reply) {
        op->target.deliver(reply);
        for (const auto& key : op->waits_on) self->advance(op, key);
      });
  const std::vector<std::string_view> args(op->held_args.begin(), op->held_args.end());
  resume(*op->held, args, target);
}

bool Writer::take(cache::ChainRequest& request, const ReplyTarget& target) {
  if (!has_writes(request.snapshot())) return false;
  Classified c = classify(request);
  if (c.kind == Classified::Kind::kPass) return false;
  if (c.kind == Classified::Kind::kError) {
    shared_->stats->refused.add();
    target.deliver(error_reply(c.error));
    return true;
  }
  const resp::CacheRole role = request.role();
  if (role == resp::CacheRole::kMset) {
    run_mset(request.snapshot(), std::move(c), target);
    return true;
  }
  if (role == resp::CacheRole::kDel || role == resp::CacheRole::kUnlink) {
    bool any = false;
    for (const auto& w : c.writes) {
      any =
          any || w.policy->config.delete_row_on_del || w.policy->config.write == WriteMode::kBehind;
    }
    if (!any) return false;  // only the cached copies go: a plain DEL
  }
  auto op = std::make_shared<Task>();
  op->snap = request.snapshot();
  op->c = std::move(c);
  op->role = role;
  op->target = target;
  for (const auto& w : op->c.writes) {  // a DEL of several keys waits for the writes of each
    if (std::find(op->waits_on.begin(), op->waits_on.end(), w.key) == op->waits_on.end()) {
      op->waits_on.push_back(w.key);
    }
  }
  enqueue(op);
  return true;
}

std::string Writer::refusal_in_transaction(cache::ChainRequest& request) {
  if (!has_writes(request.snapshot())) return {};
  std::string refusal = write::refusal_in_transaction(request);
  if (!refusal.empty()) shared_->stats->refused.add();
  return refusal;
}

// MSET: one SET per key (write-policy keys in their key's chain, plain keys straight to Redis);
// +OK once all are answered without error, else the first error. Not atomic.
void Writer::run_mset(const std::shared_ptr<const cache::Snapshot>& snapshot, Classified c,
                      const ReplyTarget& target) {
  struct Sum {
    std::size_t pending = 0;
    std::string error;
    ReplyTarget target;
  };
  auto sum = std::make_shared<Sum>();
  sum->pending = c.writes.size() + c.plain_sets.size();
  sum->target = target;
  auto on_reply = [sum](std::string_view reply) {
    if (resp::is_error_reply(reply) && sum->error.empty()) sum->error = std::string(reply);
    if (--sum->pending != 0) return;
    sum->target.deliver(sum->error.empty() ? std::string_view("+OK\r\n") : sum->error);
  };
  for (auto& w : c.writes) {
    auto op = std::make_shared<Task>();
    op->snap = snapshot;
    op->c.kind = Classified::Kind::kWrite;
    op->c.writes.push_back(std::move(w));
    op->role = resp::CacheRole::kSet;
    op->target = target;
    op->target.sink = std::make_shared<CallbackSink>(on_reply);
    op->target.tag = 0;
    op->waits_on = {op->c.writes.front().key};
    enqueue(op);
  }
  for (const auto& [key, value] : c.plain_sets) {
    redis(key, cache::command({"SET", key, value}), target.lane, on_reply);
  }
}

void Writer::start(const OpPtr& op) {
  if (--op->waiting != 0) return;  // still behind writes of another of its keys
  if (op->held != nullptr) return release_held(op);
  if (op->role == resp::CacheRole::kDel || op->role == resp::CacheRole::kUnlink) {
    return run_del(op);
  }
  const KeyWrite& w = op->c.writes.front();
  const auto mode = w.policy->config.write;
  shared_->stats->writes[static_cast<std::size_t>(mode)].add();
  if (mode == WriteMode::kBehind) {
    return run_behind(op, w.op != Op::kSet);
  }
  const bool increment = w.op == Op::kIncr || w.op == Op::kHincr;
  // A through write that caches its value takes a new write generation first (see
  // cache/generation.hpp): a write of the key by anyone else until it finishes makes it delete
  // the key instead, whatever order the commits and the cache writes come in.
  if (mode != WriteMode::kThrough || w.policy->config.mapping == config::ValueMapping::kJson) {
    return increment ? run_increment(op) : run_database_first(op);
  }
  auto self = shared_from_this();
  const std::string ttl = std::to_string(cache::kGenerationTtl.count());
  redis(w.key,
        cache::command({"EVAL", cache::kGenerationScript, "1",
                        cache::generation_key(w.key, side_keys()), ttl, "bump"}),
        op->target.lane, [self, op, increment](std::string_view reply) {
          if (const auto g = cache::bulk_payload(reply)) op->generation = std::string(*g);
          increment ? self->run_increment(op) : self->run_database_first(op);
        });
}

void Writer::run_database_first(const OpPtr& op) {
  const KeyWrite& w = op->c.writes.front();
  db::Upsert upsert;
  upsert.key = w.id;
  if (w.op == Op::kSet && w.policy->config.mapping == config::ValueMapping::kJson) {
    upsert.values = w.columns;
  } else if (w.op == Op::kSet) {
    upsert.values.emplace_back(w.policy->config.value_column, w.value);
  } else {
    for (const auto& [f, v] : w.fields) upsert.values.emplace_back(f, v);
  }
  auto self = shared_from_this();
  auto runtime = runtime_;
  const std::string table = w.policy->config.table;
  const std::string key_column = w.policy->config.key_column;
  // HSET answers the number of fields that are new; the row as it was tells (one more query).
  const bool count_new = w.op == Op::kHset && op->role != resp::CacheRole::kHmset;
  const bool queued = shared_->db->submit([self, runtime, op, table, key_column, count_new,
                                           upsert = std::move(upsert)](db::Database* db) {
    db::Status status;
    if (db == nullptr) {
      status = {db::ErrorKind::kUnavailable, "sidecache is shutting down"};
    } else {
      if (count_new) {
        const KeyWrite& kw = op->c.writes.front();
        const auto before = db->fetch(kw.policy->source, std::span<const std::string>(&kw.id, 1));
        status = before.status;
        if (status.ok()) {
          std::optional<cache::Value> old;
          if (!before.rows.empty() && before.rows[0]) {
            old = cache::map_row(kw.policy->config, *before.rows[0]);
          }
          op->added = new_fields(kw.fields, old ? &old->fields : nullptr);
        }
      }
      if (status.ok()) {
        status = db->write(table, key_column, std::span<const db::Upsert>(&upsert, 1), {});
      }
    }
    runtime->post([self, op, status] { self->after_database(op, status); });
  });
  if (!queued) {
    after_database(op, {db::ErrorKind::kUnavailable, "the database queue is full"});
  }
}

// through / invalidate: the database adds the delta under a row lock (so concurrent increments
// from any number of sidecaches all count), then the cache gets the sum like a SET / HSET.
void Writer::run_increment(const OpPtr& op) {
  const KeyWrite& w = op->c.writes.front();
  const auto& cfg = w.policy->config;
  const std::string column = w.op == Op::kIncr ? cfg.value_column : w.field;
  auto self = shared_from_this();
  auto runtime = runtime_;
  const bool queued =
      shared_->db->submit([self, runtime, op, table = cfg.table, key_column = cfg.key_column,
                           id = w.id, column, delta = w.delta](db::Database* db) {
        db::IncrementResult r;
        if (db == nullptr) {
          r.status = {db::ErrorKind::kUnavailable, "sidecache is shutting down"};
        } else {
          r = db->increment(table, key_column, id, column, delta);
        }
        runtime->post([self, op, r] {
          if (r.status.ok()) {
            KeyWrite& kw = op->c.writes.front();
            op->reply = integer(r.value);
            if (kw.op == Op::kIncr) {
              kw.op = Op::kSet;
              kw.value = std::to_string(r.value);
            } else {
              kw.op = Op::kHset;
              kw.fields = {{kw.field, std::to_string(r.value)}};
            }
          }
          self->after_database(op, r.status);
        });
      });
  if (!queued) after_database(op, {db::ErrorKind::kUnavailable, "the database queue is full"});
}

void Writer::after_database(const OpPtr& op, const db::Status& status) {
  if (!status.ok()) {
    shared_->stats->write_errors.add();
    return finish(op, error_reply(db_error_text(status)));
  }
  const KeyWrite& w = op->c.writes.front();
  const cache::Policy& p = *w.policy;
  const std::uint64_t lane = op->target.lane;
  const std::string ok = !op->reply.empty() ? op->reply
                         : w.op == Op::kSet || op->role == resp::CacheRole::kHmset
                             ? std::string("+OK\r\n")
                             : integer(op->added);
  // The row exists now: a negative marker would hide it. A string policy keeps it in the key,
  // which the DEL or SET below replaces; a hash policy beside the key.
  if (p.is_hash()) {
    const std::string neg = cache::negative_key(w.key, side_keys());
    redis(neg, cache::command({"DEL", neg}), lane, [](std::string_view) {});
  }
  auto self = shared_from_this();
  // A json value is the whole row as the database returns it: the next read loads it.
  if (p.config.write == WriteMode::kInvalidate || p.config.mapping == config::ValueMapping::kJson) {
    const auto request = cache::command({"EVAL", cache::kDeleteBumpScript, "2", w.key,
                                         cache::generation_key(w.key, side_keys()), "DEL"});
    redis(w.key, request, lane, [self, op, ok](std::string_view reply) {
      if (resp::is_error_reply(reply)) {
        self->shared_->stats->write_errors.add();
        return self->finish(op, error_reply(errors::cache_delete_failed(error_text(reply))));
      }
      self->finish(op, ok);
    });
    return;
  }
  // through: cached only if no other write of the key started or finished since this one
  // took its generation (else deleted; the next read loads the row).
  std::vector<std::string> args{"EVAL",
                                std::string(cache::kThroughFinishScript),
                                "2",
                                w.key,
                                cache::generation_key(w.key, side_keys()),
                                op->generation,
                                w.op == Op::kSet ? "s" : "h"};
  if (w.op == Op::kSet) {
    const auto ttl = cache::jittered(p.ttl, p.config.ttl_jitter, rng_) + p.grace;
    args.push_back(std::to_string(ttl.count()));
    args.push_back(w.value);
  } else {
    // A hash is updated only when cached: a partial hash would read as the whole row.
    args.emplace_back("0");
    for (const auto& [f, v] : w.fields) {
      args.push_back(f);
      args.push_back(v);
    }
  }
  const std::string key = w.key;
  redis(key, cache::command(std::span<const std::string>(args)), lane,
        [self, op, ok, key, lane](std::string_view reply) {
          if (reply.starts_with(":0")) {
            const KeyWrite& kw = op->c.writes.front();
            op->snap->stats[kw.policy->index]->write_races.add();
            spdlog::debug("write: through: {} raced another write: key deleted", key);
          }
          if (!resp::is_error_reply(reply)) return self->finish(op, ok);
          // The database has the new value, the cache may hold an older one: drop it.
          self->shared_->stats->cache_repairs.add();
          spdlog::warn("write: through: caching {} failed ({}); key deleted", key,
                       error_text(reply));
          self->redis(key, cache::command({"DEL", key}), lane,
                      [self, op, ok](std::string_view) { self->finish(op, ok); });
        });
}

void Writer::run_behind(const OpPtr& op, bool must_exist) {
  const KeyWrite& w = op->c.writes.front();
  const std::uint32_t node = nodes_->node_for_key(w.key);
  const std::uint32_t queue = shared_->queue_of(w.key, node);
  if (queue >= shared_->queues.size()) {
    return finish(op, error_reply(errors::kNoBehindQueue));
  }
  static constexpr std::string_view kOps[] = {"set", "incr", "hset", "hincr", "del"};  // by Op
  auto self = shared_from_this();
  const std::uint64_t lane = op->target.lane;
  auto on_reply = [self, op, must_exist, node](std::string_view reply) {
    const KeyWrite& kw = op->c.writes.front();
    const auto& wb = kw.policy->config.write_behind;
    if (script_error(reply, "SIDECACHE_FULL")) {
      if (!op->waited) {
        self->shared_->stats->backpressure.add();
      }
      const auto now = Clock::now();
      if (wb.on_full == config::OnFull::kSlow) {
        if (!op->waited) {
          op->waited = true;
          op->slow_deadline = now + wb.slow_wait;
        }
        if (now < op->slow_deadline) {
          self->runtime_->after(kSlowPoll,
                                [self, op, must_exist] { self->run_behind(op, must_exist); });
          return;
        }
      }
      return self->finish(
          op, error_reply(errors::behind_queue_full(self->nodes_->node_name(node), wb.queue_max)));
    }
    if (script_error(reply, "SIDECACHE_MISS")) return self->load_then_enqueue(op);
    if (!resp::is_error_reply(reply)) {
      const std::string neg = cache::negative_key(kw.key, self->side_keys());
      if (self->nodes_->node_for_key(neg) != node) {  // else the script deleted it
        self->redis(neg, cache::command({"DEL", neg}), op->target.lane, [](std::string_view) {});
      }
    } else {
      self->shared_->stats->write_errors.add();
    }
    self->finish(op, std::string(reply));
  };
  batches_->add(node, queue, w, kOps[static_cast<std::size_t>(w.op)], must_exist, lane,
                std::move(on_reply));
}

// INCR, HSET and HINCRBY of a key that is not cached start from the database row, so that
// the row's other columns and the counter's value are not lost.
void Writer::load_then_enqueue(const OpPtr& op) {
  const KeyWrite& w = op->c.writes.front();
  auto self = shared_from_this();
  auto runtime = runtime_;
  const cache::Policy* policy = w.policy;
  const std::string id = w.id;
  auto source = policy->source;
  const bool queued = shared_->db->submit([self, runtime, op, source, id](db::Database* db) {
    db::FetchResult result;
    if (db == nullptr) {
      result.status = {db::ErrorKind::kUnavailable, "sidecache is shutting down"};
    } else {
      result = db->fetch(source, std::span<const std::string>(&id, 1));
    }
    runtime->post([self, op, result = std::move(result)] {
      const KeyWrite& kw = op->c.writes.front();
      if (!result.status.ok()) {
        self->shared_->stats->write_errors.add();
        return self->finish(op, error_reply(db_error_text(result.status)));
      }
      std::optional<cache::Value> value;
      if (!result.rows.empty() && result.rows[0]) {
        value = cache::map_row(kw.policy->config, *result.rows[0]);
      }
      if (!value || (value->is_hash && value->fields.empty())) {
        return self->run_behind(op, false);
      }
      std::string request;
      if (value->is_hash) {
        std::vector<std::string> args{"EVAL", std::string(kHsetIfAbsent), "1", kw.key};
        for (const auto& [f, v] : value->fields) args.insert(args.end(), {f, v});
        request = cache::command(std::span<const std::string>(args));
      } else {
        request = cache::command({"SET", kw.key, value->text, "NX"});
      }
      self->redis(kw.key, std::move(request), op->target.lane,
                  [self, op](std::string_view) { self->run_behind(op, false); });
    });
  });
  if (!queued) finish(op, error_reply(errors::kDbQueueFull));
}

void Writer::run_del(const OpPtr& op) {
  // 1. Rows of invalidate/through policies with delete_row_on_del, one transaction per policy.
  std::map<const cache::Policy*, std::vector<std::string>> rows;
  for (const auto& w : op->c.writes) {
    const auto& cfg = w.policy->config;
    shared_->stats->writes[static_cast<std::size_t>(cfg.write)].add();
    if (cfg.delete_row_on_del && cfg.write != WriteMode::kBehind) rows[w.policy].push_back(w.id);
  }
  auto self = shared_from_this();
  auto redis_part = [self, op] {
    // Writes of other keys waiting for an enqueue call in flight go first (the client's
    // pipeline reaches Redis in order; this DEL's own keys have none: it waited for them).
    self->batches_->send();
    struct Sum {
      std::int64_t total = 0;
      std::size_t pending = 0;
      std::string error;
    };
    auto sum = std::make_shared<Sum>();
    const std::string verb = op->role == resp::CacheRole::kUnlink ? "UNLINK" : "DEL";
    // How each key goes: a plain DEL; a queued delete (behind, delete_row_on_del); or, for a
    // behind key, a DEL that keeps a value with writes still queued (it is what the database
    // will hold, and a read must not load the older row in its place).
    enum class How { kPlain, kQueueDelete, kKeepQueued };
    std::vector<std::pair<std::string, How>> keys;
    for (const auto& w : op->c.writes) {
      const auto& cfg = w.policy->config;
      const How how = cfg.write != WriteMode::kBehind ? How::kPlain
                      : cfg.delete_row_on_del         ? How::kQueueDelete
                                                      : How::kKeepQueued;
      keys.emplace_back(w.key, how);
    }
    for (const auto& k : op->c.plain_keys) keys.emplace_back(k, How::kPlain);
    sum->pending = keys.size();
    auto on_reply = [self, op, sum](std::string_view reply) {
      if (resp::is_error_reply(reply)) {
        if (sum->error.empty()) sum->error = std::string(reply);
      } else {
        sum->total += resp::integer_reply(reply).value_or(0);
      }
      if (--sum->pending != 0) return;
      self->finish(op, !sum->error.empty() ? sum->error : integer(sum->total));
    };
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const auto& [key, how] = keys[i];
      if (how == How::kPlain && i < op->c.writes.size()) {
        // A key of an invalidate / through policy: its row may have just been deleted, so a
        // load or a through write racing this delete must not cache the row it saw.
        self->redis(key,
                    cache::command({"EVAL", cache::kDeleteBumpScript, "2", key,
                                    cache::generation_key(key, self->side_keys()), verb}),
                    op->target.lane, on_reply);
        continue;
      }
      if (how == How::kPlain) {
        self->redis(key, cache::command({verb, key}), op->target.lane, on_reply);
        continue;
      }
      const KeyWrite& w = op->c.writes[i];
      const std::uint32_t node = self->nodes_->node_for_key(key);
      const std::uint32_t queue = self->shared_->queue_of(key, node);
      if (queue >= self->shared_->queues.size()) {
        on_reply(resp::errors::frame(errors::kNoBehindQueue));
        continue;
      }
      if (how == How::kKeepQueued) {
        self->redis_node(node,
                         cache::command({"EVAL", kDelUnlessQueuedScript, "2", key,
                                         self->shared_->queues[queue].pending, verb}),
                         op->target.lane, on_reply);
        continue;
      }
      self->batches_->add(node, queue, w, "del", false, op->target.lane,
                          [on_reply](std::string_view reply) {
                            if (script_error(reply, "SIDECACHE_FULL")) {
                              return on_reply(resp::errors::frame(errors::kBehindQueueFull));
                            }
                            on_reply(reply);
                          });
    }
  };
  if (rows.empty()) return redis_part();
  struct Job {
    std::string table, key_column;
    std::vector<std::string> ids;
  };
  std::vector<Job> jobs;
  for (auto& [policy, ids] : rows) {
    jobs.push_back({policy->config.table, policy->config.key_column, std::move(ids)});
  }
  auto runtime = runtime_;
  const bool queued = shared_->db->submit(
      [self, runtime, op, jobs = std::move(jobs), redis_part](db::Database* db) {
        db::Status status;
        if (db == nullptr) status = {db::ErrorKind::kUnavailable, "sidecache is shutting down"};
        for (const auto& j : jobs) {
          if (!status.ok()) break;
          status = db->write(j.table, j.key_column, {}, j.ids);
        }
        runtime->post([self, op, status, redis_part] {
          if (!status.ok()) {
            self->shared_->stats->write_errors.add();
            return self->finish(op, error_reply(db_error_text(status)));
          }
          redis_part();
        });
      });
  if (!queued) finish(op, error_reply(errors::kDbQueueFull));
}

void Writer::finish(const OpPtr& op, std::string reply) {
  op->target.deliver(reply);
  for (const auto& key : op->waits_on) advance(op, key);
}

void Writer::advance(const OpPtr& op, const std::string& key) {
  auto it = chains_.find(key);
  if (it == chains_.end()) return;
  auto& chain = it->second;
  if (!chain.empty() && chain.front() == op) chain.erase(chain.begin());
  if (chain.empty()) {
    chains_.erase(it);
    return;
  }
  auto next = chain.front();
  // Later, not inline: a long chain must not grow the stack.
  auto self = shared_from_this();
  runtime_->post([self, next] { self->start(next); });
}

}  // namespace sidecache::write
