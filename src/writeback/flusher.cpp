#include "writeback/flusher.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "backend/blocking_client.hpp"
#include "db/database.hpp"
#include "route/cluster_slots.hpp"
#include "writeback/security_book.hpp"

namespace sidecache::writeback {

namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

using backend::Reply;
using Type = Reply::Type;

std::string str(const Reply* r) {
  if (r == nullptr) return {};
  if (r->type == Type::kString || r->type == Type::kStatus || r->type == Type::kError) {
    return r->str;
  }
  if (r->type == Type::kInteger) return std::to_string(r->integer);
  return {};
}

// [[id, [f, v, ...]], ...] -> the writes, and the stream entries in order (one not ours has no
// writes: acknowledged unread; a deleted entry's fields are nil).
void parse_entries(const Reply& list, std::vector<Entry>& out, std::vector<StreamEntry>& read) {
  if (list.type != Type::kArray) return;
  std::vector<std::pair<std::string, std::string>> fields;  // reused: its capacity stays
  for (const Reply& e : list.items) {
    if (e.type != Type::kArray || e.items.size() != 2) continue;
    std::string id = str(&e.items[0]);
    const Reply& fv = e.items[1];
    fields.clear();
    if (fv.type == Type::kArray) {
      for (std::size_t j = 0; j + 1 < fv.items.size(); j += 2) {
        fields.emplace_back(str(&fv.items[j]), str(&fv.items[j + 1]));
      }
    }
    read.push_back(parse_stream_entry(std::move(id), fields, out));
  }
}

// The first stream's entries of an XREADGROUP reply ([[stream, entries]]), or null.
const Reply* stream_entries(const std::optional<Reply>& r) {
  if (!r || r->type != Type::kArray || r->items.size() != 1) return nullptr;
  const Reply& s = r->items[0];
  if (s.type != Type::kArray || s.items.size() != 2) return nullptr;
  return &s.items[1];
}

}  // namespace

struct Flusher::Impl {
  FlusherOptions o;
  std::thread thread;
  std::mutex mutex;
  std::condition_variable wake;
  std::atomic<bool> stopping{false};
  Clock::time_point drain_deadline{};
  backend::BlockingClient own_redis;  // node mode; a slot queue uses its primary's client
  backend::BlockingClient* redis = &own_redis;
  bool authenticated_logged = false;  // an auth failure is logged once per streak
  std::unique_ptr<db::Database> db;
  std::mt19937_64 rng{std::random_device{}()};
  bool leader = false;
  Clock::time_point last_claim{};
  Clock::time_point last_gauge{};
  std::unordered_map<std::string, std::uint32_t> rejections;  // write id -> rejected tries
  // Writes dead-lettered whose stream entry is not acknowledged yet (an earlier write of the
  // batch waits): not dead-lettered twice.
  std::unordered_set<std::string> settled;
  config::WriteBehindQueueConfig queue_options;  // of the running config (refresh_options)
  std::set<std::string> retired_seen;            // policies logged as written after retirement
  // A slot queue's round: Redis answered with a cluster redirect (the slot moved or is moving:
  // MOVED, ASK, TRYAGAIN, CLUSTERDOWN); `moved_to` names the new owner of a MOVED.
  bool redirected = false;
  std::string moved_to;
  std::int64_t depth = 0;  // the queue's gauges, last seen
  std::int64_t oldest_age_ms = 0;

  explicit Impl(FlusherOptions options)
      : o(std::move(options)),
        own_redis(backend::NodeAddress{o.node_name, o.address.host, o.address.port, nullptr},
                  o.redis_timeout) {
    queue_options = o.book->queue_options();
  }

  // cache.write_behind of the running config (a reload may have changed it).
  void refresh_options() { queue_options = o.book->queue_options(); }

  ~Impl() { disconnect(); }

  void disconnect() {
    redis->close();
    leader = false;
  }

  bool past_deadline() const { return stopping.load() && Clock::now() >= drain_deadline; }

  // Sleeps up to `d`, less when stopping.
  void nap(Millis d) {
    std::unique_lock lock(mutex);
    wake.wait_for(lock, d, [&] { return past_deadline(); });
  }

  // One command; a read may wait up to the BLOCK of XREADGROUP (flush_interval) beyond the
  // Redis timeout.
  std::optional<Reply> command(const std::vector<std::string>& args) {
    if (!redis->connected()) return std::nullopt;
    auto r = redis->command(args, queue_options.flush_interval);
    if (!r) {
      spdlog::warn("write-behind: node {}: redis error: {}", o.node_name, redis->error());
      disconnect();
    } else if (r->is_error() && r->str.starts_with("NOGROUP")) {
      // The stream or its group went away (Redis restarted without persistence, FLUSHALL):
      // make them again; the caller retries next round.
      create_group();
      return std::nullopt;
    } else if (r->is_error() && o.slot_queue && is_cluster_redirect(r->str)) {
      redirected = true;
      route::Redirect to;
      if (route::parse_redirect(r->str, to) && to.kind == route::Redirect::Kind::kMoved) {
        moved_to = std::string(to.target);
      }
      return std::nullopt;
    }
    return r;
  }

  static bool is_cluster_redirect(std::string_view error) {
    for (std::string_view prefix : {"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN"}) {
      if (error.starts_with(prefix)) return true;
    }
    return false;
  }

  void create_group() {
    const std::vector<std::string> args{"XGROUP", "CREATE",  o.queue.stream, std::string(kGroup),
                                        "0",      "MKSTREAM"};
    if (!redis->command(args)) disconnect();
  }

  bool connect() {
    // Node mode: the node may have moved (a sentinel pool's failover), its queue is on the new
    // primary. (A slot queue's client is its slot owner's, kept by the caller.)
    if (redis == &own_redis) {
      const auto target = o.security->address(o.node);
      if (redis->connected() && !redis->at(target)) {
        spdlog::info("write-behind: node {}: now at {}: reconnecting", o.node_name,
                     config::format_endpoint(target));
        disconnect();
      }
      if (!redis->connected()) redis->set_address(target);
    }
    if (redis->connected()) return true;
    redis->set_security(o.security->get(o.node));
    if (!redis->connect()) {
      if (!authenticated_logged || redis->last_failure() != backend::OpenFailure::kAuth) {
        spdlog::warn("write-behind: node {}: cannot connect: {}", o.node_name, redis->error());
      }
      authenticated_logged = redis->last_failure() == backend::OpenFailure::kAuth;
      return false;
    }
    authenticated_logged = false;
    create_group();
    return redis->connected();
  }

  bool take_lease() {
    const auto ttl = std::to_string(queue_options.claim_idle.count());
    auto r = command({"EVAL", std::string(kLeaseScript), "1", o.queue.lease, o.consumer, ttl});
    const bool held = r && r->type == Type::kInteger && r->integer == 1;
    if (held && !leader) {
      spdlog::log(o.slot_queue ? spdlog::level::debug : spdlog::level::info,
                  "write-behind: {}: flushing as {}", o.node_name, o.consumer);
    }
    leader = held;
    return held;
  }

  void update_gauges() {
    if (Clock::now() - last_gauge < Millis(250)) return;
    last_gauge = Clock::now();
    // Queued writes: the counter, or (a queue of the previous layout, one write per entry)
    // the stream's length.
    if (auto r = command({"GET", o.queue.count}); r && r->type == Type::kString) {
      depth = std::max<std::int64_t>(0, std::atoll(r->str.c_str()));
    } else if (auto n = command({"XLEN", o.queue.stream}); n && n->type == Type::kInteger) {
      depth = n->integer;
    } else if (r && r->type == Type::kNil) {
      depth = 0;
    }
    std::int64_t age = 0;
    if (auto r = command({"XRANGE", o.queue.stream, "-", "+", "COUNT", "1"});
        r && r->type == Type::kArray && !r->items.empty() && !r->items[0].items.empty()) {
      const std::string id = str(&r->items[0].items[0]);
      const auto ms = std::stoll(id.substr(0, id.find('-')));
      const auto now =
          std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      age = std::max<std::int64_t>(0, now - ms);
    }
    oldest_age_ms = age;
    if (o.slot_queue && o.on_gauges) o.on_gauges();
    if (!o.slot_queue) {  // a slot queue's gauges are summed by its ClusterFlusher
      auto& g = *o.stats->nodes[o.node];
      g.depth.store(depth);
      g.oldest_age_ms.store(age);
    }
  }

  // Stream entries to read for `writes` more writes (a stream entry holds the writes of one
  // enqueue call: as many as the last ones read held on average).
  std::string read_count(std::size_t writes) const {
    return std::to_string(std::max<std::size_t>(1, writes / std::max<std::size_t>(1, per_entry)));
  }
  std::size_t per_entry = 1;

  // Writes to write next, oldest first: our own pending ones (a failed batch, or those of our
  // previous life), then — when no other consumer has entries pending — new ones. `read`: the
  // stream entries they came from, in order.
  std::vector<Entry> next_batch(std::vector<StreamEntry>& read) {
    std::vector<Entry> out;
    const auto& q = queue_options;
    const std::string count = read_count(q.batch_size);
    if (Clock::now() - last_claim >= q.claim_idle / 4) {
      last_claim = Clock::now();
      command({"XAUTOCLAIM", o.queue.stream, std::string(kGroup), o.consumer,
               std::to_string(q.claim_idle.count()), "0-0", "COUNT", "1000"});
    }
    auto mine = command({"XREADGROUP", "GROUP", std::string(kGroup), o.consumer, "COUNT", count,
                         "STREAMS", o.queue.stream, "0"});
    if (const Reply* list = stream_entries(mine)) {
      parse_entries(*list, out, read);
      if (!read.empty()) return out;
    }
    if (!redis->connected() || redirected) return out;
    // Entries pending on another (dead) consumer are older than anything new: wait for them.
    auto pending = command({"XPENDING", o.queue.stream, std::string(kGroup)});
    if (pending && pending->type == Type::kArray && !pending->items.empty() &&
        pending->items[0].type == Type::kInteger && pending->items[0].integer > 0) {
      if (!o.slot_queue) nap(Millis(50));  // a slot queue: the other slots' turn meanwhile
      return out;
    }
    if (redirected) return out;
    const auto first_deadline = Clock::now() + q.flush_interval;
    while (out.size() < q.batch_size && redis->connected()) {
      const auto left = std::chrono::duration_cast<Millis>(first_deadline - Clock::now());
      if (!out.empty() && left.count() <= 0) break;
      // A slot queue never blocks: one thread serves every slot queue in turn.
      const bool draining = stopping.load() || o.slot_queue;
      std::vector<std::string> args{"XREADGROUP", "GROUP", std::string(kGroup),
                                    o.consumer,   "COUNT", read_count(q.batch_size - out.size())};
      if (!draining) {
        args.insert(args.end(), {"BLOCK", std::to_string(std::max<std::int64_t>(1, left.count()))});
      }
      args.insert(args.end(), {"STREAMS", o.queue.stream, ">"});
      auto r = command(args);
      const std::size_t before = out.size();
      const std::size_t entries_before = read.size();
      if (const Reply* list = stream_entries(r)) parse_entries(*list, out, read);
      if (read.size() > entries_before) {
        per_entry =
            std::max<std::size_t>(1, (out.size() - before) / (read.size() - entries_before));
      }
      if (redirected) break;
      if (read.size() == entries_before && (draining || left.count() <= 0)) break;
      if (read.size() == entries_before && read.empty() && Clock::now() >= first_deadline) break;
    }
    return out;
  }

  // Acknowledges the longest prefix of `read` whose writes are all in `done` (a stream entry
  // holds several writes: one written while an earlier one waits is written again with it, in
  // order, so a key's older write never lands after a newer one), in one script: XACK + trim,
  // the queued-writes counter, each key's pending field (and its policy's TTL back).
  bool acknowledge(const std::vector<const Entry*>& done, const std::vector<StreamEntry>& read) {
    std::unordered_map<std::string_view, std::uint32_t> parts;
    for (const Entry* e : done) ++parts[e->stream_id];
    std::vector<std::string_view> ids;
    std::uint64_t taken = 0;
    for (const auto& se : read) {
      if (se.writes != 0 && parts[se.id] < se.writes) break;
      ids.push_back(se.id);
      taken += se.counted;
    }
    if (ids.empty()) return true;
    const std::unordered_set<std::string_view> acked(ids.begin(), ids.end());
    struct Key {
      std::int64_t ttl = 0;
      std::int64_t writes = 0;
    };
    std::map<std::string_view, Key> keys;
    std::size_t writes = 0;
    for (const Entry* e : done) {
      if (!acked.contains(e->stream_id)) continue;
      auto& k = keys[e->key];
      if (k.writes++ == 0) k.ttl = o.book->ttl(e->policy).count();
      ++writes;
    }
    std::vector<std::string> args{
        "EVAL",         std::string(kDoneScript), std::to_string(3 + keys.size()),
        o.queue.stream, o.queue.pending,          o.queue.count};
    args.reserve(args.size() + 4 + ids.size() + 3 * keys.size());
    for (const auto& [key, k] : keys) args.emplace_back(key);
    args.insert(args.end(), {std::string(kGroup), std::to_string(ids.size())});
    for (const auto id : ids) args.emplace_back(id);
    args.push_back(std::to_string(taken));
    for (const auto& [key, k] : keys) {
      args.push_back(std::to_string(k.ttl));
      args.push_back(std::to_string(k.writes));
    }
    auto r = command(args);
    if (!r && redirected) {
      spdlog::info(
          "write-behind: {}: the slot moved before its batch was acknowledged: written again "
          "from the new owner",
          o.node_name);
      return false;
    }
    if (!r || r->is_error()) {
      spdlog::warn("write-behind: node {}: acknowledging failed: {}", o.node_name,
                   r ? r->str : redis->error());
      return false;
    }
    o.stats->flushed.fetch_add(writes, std::memory_order_relaxed);
    if (!settled.empty()) {
      std::erase_if(settled, [&](const std::string& w) {
        return acked.contains(std::string_view(w).substr(0, w.find('/')));
      });
    }
    return true;
  }

  void dead_letter(const Entry& e, const std::string& reason) {
    o.stats->dead_letters.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("write-behind: dead letter: key {} (policy {}, entry {}): {}", e.key, e.policy,
                 e.stream_id, reason);
    std::vector<std::string> args{
        "XADD",
        o.queue.dead,
        "*",
        "k",
        e.key,
        "p",
        e.policy,
        "id",
        e.id,
        "reason",
        reason,
        "entry",
        e.part == 0 ? e.stream_id : e.stream_id + "/" + std::to_string(e.part)};
    if (e.op == Entry::Op::kSet) args.insert(args.end(), {"op", "set", "v", e.value});
    if (e.op == Entry::Op::kDel) args.insert(args.end(), {"op", "del"});
    if (e.op == Entry::Op::kHset) {
      args.insert(args.end(), {"op", "hset"});
      for (const auto& [f, v] : e.fields) args.insert(args.end(), {"f:" + f, v});
    }
    command(args);
  }

  // One database write with retries while the database is unavailable. Returns the final
  // status (ok, rejected, or unavailable when the drain deadline passed).
  db::Status write_step(const cache::Policy& p, const WritePlan::Step& step) {
    for (std::uint32_t attempt = 0;; ++attempt) {
      const auto t0 = Clock::now();
      db::Status s = db->write(p.config.table, p.config.key_column, step.upserts, step.deletes);
      if (s.ok()) {
        o.stats->observe_batch(step.upserts.size() + step.deletes.size(), Clock::now() - t0);
        return s;
      }
      if (s.kind == db::ErrorKind::kRejected) return s;
      if (past_deadline()) return s;
      o.stats->retries.fetch_add(1, std::memory_order_relaxed);
      const auto delay = backoff(queue_options.backoff_min, queue_options.backoff_max, attempt,
                                 std::uniform_real_distribution<double>(0, 1)(rng));
      if (attempt == 0 || attempt % 10 == 0) {
        spdlog::warn("write-behind: node {}: database write failed ({}), retrying in {} ms",
                     o.node_name, s.message, delay.count());
      }
      nap(delay);
      update_gauges();  // the depth grows while the database is down: keep it visible
      if (past_deadline()) return s;
      // Keep the lease while waiting for the database.
      if (!take_lease()) return {db::ErrorKind::kUnavailable, "lost the lease"};
    }
  }

  // Writes one policy's entries, batch_size at most per transaction; fills `done` with those
  // settled (written or dead-lettered). False: stop here (database down past the deadline,
  // lease lost, an entry rejected and to be tried again).
  bool write_policy(const cache::Policy& p, const std::vector<const Entry*>& entries,
                    std::vector<const Entry*>& done) {
    const std::size_t size = std::max<std::size_t>(1, queue_options.batch_size);
    for (std::size_t i = 0; i < entries.size(); i += size) {
      const std::span<const Entry* const> chunk(entries.data() + i,
                                                std::min(size, entries.size() - i));
      if (!write_chunk(p, chunk, done)) return false;
    }
    return true;
  }

  bool write_chunk(const cache::Policy& p, std::span<const Entry* const> entries,
                   std::vector<const Entry*>& done) {
    const auto& wb = p.config.write_behind;
    const std::string value_column = p.is_hash() ? std::string() : p.config.value_column;
    std::optional<JsonSet> json;
    if (p.config.mapping == config::ValueMapping::kJson) json = JsonSet{p.config.key_column};
    const JsonSet* json_set = json ? &*json : nullptr;
    WritePlan plan = plan_writes(entries, value_column, wb.coalesce, json_set);
    bool rejected = false;
    db::Status last;
    for (const auto& step : plan.steps) {
      last = write_step(p, step);
      if (last.kind == db::ErrorKind::kRejected) {
        rejected = true;
        break;
      }
      if (!last.ok()) return false;
    }
    if (!rejected) {
      o.stats->coalesced.fetch_add(plan.coalesced, std::memory_order_relaxed);
      done.insert(done.end(), entries.begin(), entries.end());
      return true;
    }
    // A rejected batch: one entry per transaction finds the entries at fault (the batch's
    // other entries are written again: upserts are idempotent).
    for (const Entry* e : entries) {
      const std::string write_id = e->stream_id + "/" + std::to_string(e->part);
      if (settled.contains(write_id)) {  // dead-lettered, its stream entry not acknowledged yet
        done.push_back(e);
        continue;
      }
      const Entry* one[] = {e};
      WritePlan single = plan_writes(one, value_column, false, json_set);
      db::Status s;
      for (const auto& step : single.steps) {
        s = write_step(p, step);
        if (!s.ok()) break;
      }
      if (s.ok()) {
        done.push_back(e);
        continue;
      }
      if (s.kind != db::ErrorKind::kRejected) return false;
      const auto tries = ++rejections[write_id];
      if (tries <= wb.max_retries) {
        o.stats->retries.fetch_add(1, std::memory_order_relaxed);
        return false;  // retried with the next batch (it stays pending, first in order)
      }
      rejections.erase(write_id);
      settled.insert(write_id);
      if (wb.dead_letter) {
        dead_letter(*e, s.message);
      } else {
        o.stats->dead_letters.fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("write-behind: dropped rejected write of key {} (policy {}): {}", e->key,
                     e->policy, s.message);
      }
      done.push_back(e);
    }
    return true;
  }

  // True when the batch was settled and acknowledged.
  bool flush(std::vector<Entry>& entries, const std::vector<StreamEntry>& read) {
    if (!db) db = db::make_database(o.database);
    std::vector<const Entry*> done;
    std::map<std::string, std::vector<const Entry*>> by_policy;
    std::vector<std::string> order;
    for (const auto& e : entries) {
      auto [it, fresh] = by_policy.try_emplace(e.policy);
      if (fresh) order.push_back(e.policy);
      it->second.push_back(&e);
    }
    bool complete = true;
    for (const auto& name : order) {
      bool retired = false;
      const auto policy = o.book->behind(name, &retired);
      auto& list = by_policy[name];
      if (retired && retired_seen.insert(name).second) {
        spdlog::info(
            "write-behind: node {}: policy '{}' no longer writes behind (reload): its queued "
            "entries are still written, to table {}",
            o.node_name, name, policy->config.table);
      }
      if (policy == nullptr) {
        for (const Entry* e : list) {
          dead_letter(*e, "no write: behind policy named '" + name + "' is configured");
          done.push_back(e);
        }
        continue;
      }
      if (!write_policy(*policy, list, done)) {
        complete = false;
        break;
      }
    }
    // What was settled is acknowledged even when the rest waits.
    acknowledge(done, read);
    return complete;
  }

  void run() {
    std::uint32_t failures = 0;
    while (true) {
      if (stopping.load() && (past_deadline())) break;
      if (!connect() || !take_lease()) {
        if (stopping.load()) break;  // not the flusher (or no Redis): nothing of ours to drain
        nap(!redis->connected() ? backoff(Millis(100), Millis(2000), failures++, 0.5)
                                : std::min<Millis>(Millis(1000), queue_options.claim_idle / 3));
        continue;
      }
      failures = 0;
      refresh_options();
      update_gauges();
      std::vector<StreamEntry> read;
      auto entries = next_batch(read);
      if (read.empty()) {
        if (stopping.load()) break;  // drained
        continue;
      }
      if (!flush(entries, read)) nap(Millis(10));
    }
    if (redis->connected()) {
      update_gauges();
      release_lease();
    }
    disconnect();
  }

  void release_lease() {
    command({"EVAL",
             "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) "
             "end return 0",
             "1", o.queue.lease, o.consumer});
  }

  // One round of a slot queue on `client` (its slot's owner as last known).
  Round slot_round(backend::BlockingClient& client) {
    redis = &client;
    redirected = false;
    moved_to.clear();
    if (!connect()) return Round::kFailed;
    if (!take_lease()) {
      if (redirected) return Round::kRedirected;
      return redis->connected() ? Round::kNotLeader : Round::kFailed;
    }
    refresh_options();
    update_gauges();
    std::vector<StreamEntry> read;
    auto entries = next_batch(read);
    if (!read.empty()) flush(entries, read);
    if (redirected) return Round::kRedirected;
    if (!redis->connected()) return Round::kFailed;
    if (read.empty()) return Round::kIdle;
    update_gauges();
    return Round::kWorked;
  }
};

Flusher::Flusher(FlusherOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Flusher::~Flusher() { stop(std::chrono::milliseconds(0)); }

Flusher::Round Flusher::round(backend::BlockingClient& client) { return impl_->slot_round(client); }

const std::string& Flusher::moved_to() const { return impl_->moved_to; }
std::int64_t Flusher::depth() const { return impl_->depth; }
std::int64_t Flusher::oldest_age_ms() const { return impl_->oldest_age_ms; }

bool Flusher::drop_if_empty(backend::BlockingClient& client) {
  impl_->redis = &client;
  const auto& q = impl_->o.queue;
  auto r = impl_->command({"EVAL", std::string(kDropEmptyQueueScript), "4", q.stream, q.pending,
                           q.count, q.lease, impl_->o.consumer});
  if (r && r->type == Type::kInteger && r->integer == 1) {
    impl_->depth = 0;
    impl_->oldest_age_ms = 0;
    impl_->leader = false;
    return true;
  }
  return false;
}

void Flusher::release(backend::BlockingClient& client) {
  impl_->redis = &client;
  if (client.connected()) impl_->release_lease();
}

void Flusher::signal_stop(std::chrono::steady_clock::time_point deadline) {
  {
    const std::lock_guard lock(impl_->mutex);
    impl_->drain_deadline = deadline;
    impl_->stopping.store(true);
  }
  impl_->wake.notify_all();
}

void Flusher::start() {
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

void Flusher::stop(std::chrono::milliseconds drain) {
  if (!impl_->thread.joinable()) return;
  signal_stop(Clock::now() + drain);
  impl_->thread.join();
}

}  // namespace sidecache::writeback
