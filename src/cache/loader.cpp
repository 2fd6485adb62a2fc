// The load path: lease (optional), one batched database call per policy, store in Redis (or
// the negative marker), release the lease, and finish the flights. Also warming.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "cache/engine.hpp"
#include "cache/generation.hpp"
#include "cache/store_hook.hpp"
#include "resp/reply.hpp"

namespace sidecache::cache {
namespace {

constexpr Millis kLeasePoll{5};
constexpr std::string_view kShuttingDown = "sidecache is shutting down";

std::string reason_text(const db::Status& status) {
  switch (status.kind) {
    case db::ErrorKind::kTimeout:
      return "database query timed out" + (status.message.empty() ? "" : ": " + status.message);
    case db::ErrorKind::kRejected:
      return "database rejected the query: " + status.message;
    default:
      return "database unavailable" + (status.message.empty() ? "" : ": " + status.message);
  }
}

LoadResultPtr error_result(LoadError error, std::string reason) {
  auto r = std::make_shared<LoadResult>();
  r->kind = LoadResult::Kind::kError;
  r->error = error;
  r->reason = std::move(reason);
  return r;
}

}  // namespace

void Engine::start_load(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad> keys) {
  const Policy& p = snap->policy(index);
  if (!p.config.lease) return fetch(snap, index, std::move(keys));
  // SET <lease key> <token> NX PX lease_ttl for every key; the ones won are loaded in one
  // batch, the others wait for their holder's value.
  struct State {
    std::vector<KeyLoad> mine, others;
    std::size_t pending = 0;
  };
  auto state = std::make_shared<State>();
  state->pending = keys.size();
  auto self = shared_from_this();
  const auto ttl = std::to_string(p.config.lease_ttl.count());
  for (auto& k : keys) {
    k.token = token();
    const std::string lk = lease_key(k.key, side_keys());
    redis(lk, command({"SET", lk, k.token, "NX", "PX", ttl}), false, 0,
          [self, snap, index, state, k](std::string_view reply) mutable {
            if (reply.starts_with("+OK")) {
              state->mine.push_back(std::move(k));
            } else if (is_null_reply(reply)) {
              state->others.push_back(std::move(k));
            } else {  // Redis failed: load without a lease
              k.token.clear();
              state->mine.push_back(std::move(k));
            }
            if (--state->pending != 0) return;
            self->load_leased(snap, index, std::move(state->mine), std::move(state->others));
          });
  }
}

void Engine::load_leased(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad> mine,
                         std::vector<KeyLoad> others) {
  if (!mine.empty()) fetch(snap, index, std::move(mine));
  const auto deadline = runtime_->now() + snap->policy(index).config.lease_wait;
  for (auto& other : others) {
    snap->stats[index]->lease_waits.add();
    other.token.clear();
    poll_lease(snap, index, std::move(other), deadline);
  }
}

// Another loader holds the lease: look for its value every few ms until lease_wait, then load
// ourselves. Markers in the key: the key's value, the negative marker or still the lease;
// beside it: the value and the negative marker's key.
void Engine::poll_lease(const SnapPtr& snap, std::size_t index, KeyLoad key,
                        std::chrono::steady_clock::time_point deadline) {
  auto self = shared_from_this();
  runtime_->after(kLeasePoll, [self, snap, index, key = std::move(key), deadline]() mutable {
    const Policy& p = snap->policy(index);
    const bool in_key = self->markers_in_key(snap, p);
    struct Seen {
      std::string value;
      bool negative = false;
      int pending = 2;
    };
    auto seen = std::make_shared<Seen>();
    seen->pending = in_key ? 1 : 2;
    auto done = [self, snap, index, key, deadline, seen]() mutable {
      if (--seen->pending != 0) return;
      const Policy& policy = snap->policy(index);
      auto result = std::make_shared<LoadResult>();
      if (seen->negative) {
        result->kind = LoadResult::Kind::kAbsent;
      } else if (!seen->value.empty() && !resp::is_error_reply(seen->value) &&
                 !is_null_reply(seen->value)) {
        result->kind = LoadResult::Kind::kValue;
        if (policy.is_hash()) {
          result->value.is_hash = true;
          if (!hash_fields(seen->value, result->value.fields) || result->value.fields.empty()) {
            result = nullptr;
          }
        } else if (auto payload = bulk_payload(seen->value)) {
          result->value.text = std::string(*payload);
        } else {
          result = nullptr;
        }
      } else {
        result = nullptr;
      }
      if (result) return self->shared_->flights().finish(key.key, result);
      if (self->runtime_->now() >= deadline) {
        return self->fetch(snap, index, {std::move(key)});
      }
      self->poll_lease(snap, index, std::move(key), deadline);
    };
    const std::string read =
        p.is_hash() ? command({"HGETALL", key.key}) : command({"GET", key.key});
    self->redis(key.key, read, true, 0, [seen, done, in_key](std::string_view reply) mutable {
      const auto payload = in_key ? bulk_payload(reply) : std::nullopt;
      const Marker marker = payload ? marker_of(*payload) : Marker::kNone;
      if (marker == Marker::kNegative) seen->negative = true;
      if (marker == Marker::kNone) seen->value = std::string(reply);
      done();
    });
    if (in_key) return;
    const std::string neg = negative_key(key.key, self->side_keys());
    self->redis(neg, command({"EXISTS", neg}), true, 0,
                [seen, done](std::string_view reply) mutable {
                  seen->negative = resp::integer_reply(reply).value_or(0) > 0;
                  done();
                });
  });
}

// Misses (not refreshes or warming, which are batched already or must not wait) of a policy
// with a load_batch_window wait up to that long for misses of other keys, then share one
// database call (one IN (...) query for a table source), at most load_batch_max keys.
void Engine::fetch(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad> keys) {
  const auto& config = snap->policy(index).config;
  const bool misses =
      std::all_of(keys.begin(), keys.end(), [](const KeyLoad& k) { return k.miss; });
  if (config.load_batch_window.count() == 0 || !misses || keys.size() >= config.load_batch_max) {
    return fetch_now(snap, index, std::move(keys));
  }
  MissBatch& batch = batches_[{snap.get(), index}];
  if (batch.keys.empty()) {
    batch.snap = snap;
    batch.id = ++next_batch_id_;
    auto self = shared_from_this();
    runtime_->after(config.load_batch_window, [self, snap, index, id = batch.id] {
      self->flush_batch(snap.get(), index, id);
    });
  }
  for (auto& k : keys) batch.keys.push_back(std::move(k));
  if (batch.keys.size() >= config.load_batch_max) flush_batch(snap.get(), index, batch.id);
}

void Engine::flush_batch(const Snapshot* snap, std::size_t index, std::uint64_t id) {
  const auto it = batches_.find({snap, index});
  if (it == batches_.end() || it->second.id != id) return;  // flushed when it filled up
  MissBatch batch = std::move(it->second);
  batches_.erase(it);
  fetch_now(batch.snap, index, std::move(batch.keys));
}

// A load of a write policy that cannot rely on a lease in the key (refreshes, warming, hash
// policies, policies without a lease, write-behind) reads the key's write generation before
// the database, and stores only if it has not changed (store_stamped, or the store hook): a
// write that committed while the load read the row has changed it. True: the generations are
// being read, fetch_now runs again when they are.
bool Engine::stamp(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad>& keys) {
  const Policy& p = snap->policy(index);
  if (p.config.write == config::WriteMode::kNone) return false;
  std::vector<std::size_t> need;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!keys[i].lease_in_key && !keys[i].stamped) need.push_back(i);
  }
  if (need.empty()) return false;
  const auto hook = shared_->store_hook();
  const bool hooked = hook && hook->takes(p);
  auto shared_keys = std::make_shared<std::vector<KeyLoad>>(std::move(keys));
  auto pending = std::make_shared<std::size_t>(need.size());
  auto self = shared_from_this();
  const std::string ttl = std::to_string(kGenerationTtl.count());
  for (const std::size_t i : need) {
    KeyLoad& k = (*shared_keys)[i];
    k.stamped = true;
    k.stamp = "0";
    k.stamped_at = runtime_->now();
    const std::string queue = hooked ? hook->pending_hash(*nodes_, k.key) : std::string();
    std::vector<std::string> args{"EVAL", std::string(kGenerationScript), queue.empty() ? "1" : "3",
                                  generation_key(k.key, side_keys())};
    if (!queue.empty()) args.insert(args.end(), {queue, k.key});
    args.insert(args.end(), {ttl, "read"});
    redis(k.key, command(std::span<const std::string>(args)), false, 0,
          [self, snap, index, shared_keys, pending, i](std::string_view reply) {
            if (const auto g = bulk_payload(reply)) (*shared_keys)[i].stamp = std::string(*g);
            if (--*pending == 0) self->fetch_now(snap, index, std::move(*shared_keys));
          });
  }
  return true;
}

void Engine::fetch_now(const SnapPtr& snap, std::size_t index, std::vector<KeyLoad> keys) {
  if (stamp(snap, index, keys)) return;
  PolicyStats& st = *snap->stats[index];
  st.loads.add();
  st.keys_loaded.add(keys.size());
  auto self = shared_from_this();
  auto shared_keys = std::make_shared<std::vector<KeyLoad>>(std::move(keys));
  const auto started = self->runtime_->now();
  const auto runner = shared_->db();
  const bool queued =
      runner && runner->submit([self, snap, index, shared_keys, started](db::Database* db) {
        db::FetchResult result;
        if (db == nullptr) {
          result.status = {db::ErrorKind::kUnavailable, std::string(kShuttingDown)};
        } else {
          std::vector<std::string> ids;
          ids.reserve(shared_keys->size());
          for (const auto& k : *shared_keys) ids.push_back(k.id);
          result = db->fetch(snap->policy(index).source, ids);
        }
        const auto took = self->runtime_->now() - started;
        self->runtime_->post([self, snap, index, shared_keys, result = std::move(result), took] {
          self->on_fetched(snap, index, *shared_keys, result, took);
        });
      });
  if (!queued) {
    st.load_errors[static_cast<std::size_t>(LoadError::kQueueFull)].add();
    for (const auto& k : *shared_keys) {
      release_lease(k);
      shared_->flights().finish(k.key, error_result(LoadError::kQueueFull, "database queue full"));
    }
  }
}

void Engine::on_fetched(const SnapPtr& snap, std::size_t index, const std::vector<KeyLoad>& keys,
                        const db::FetchResult& result, std::chrono::nanoseconds took) {
  const Policy& p = snap->policy(index);
  PolicyStats& st = *snap->stats[index];
  st.observe_load(took);
  if (!result.status.ok()) {
    const LoadError error = result.status.message == kShuttingDown
                                ? LoadError::kShutdown
                                : load_error_of(result.status.kind);
    st.load_errors[static_cast<std::size_t>(error)].add();
    auto shared_result = error_result(error, reason_text(result.status));
    spdlog::debug("cache: policy {}: load of {} key(s) failed: {}", p.name(), keys.size(),
                  shared_result->reason);
    for (const auto& k : keys) {
      release_lease(k);
      shared_->flights().finish(k.key, shared_result);
    }
    return;
  }
  snap->load_ms[index]->observe(std::chrono::duration<double, std::milli>(took).count());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto loaded = std::make_shared<LoadResult>();
    std::optional<Value> value;
    if (i < result.rows.size() && result.rows[i]) value = map_row(p.config, *result.rows[i]);
    if (value) {
      loaded->kind = LoadResult::Kind::kValue;
      loaded->value = std::move(*value);
    } else {
      loaded->kind = LoadResult::Kind::kAbsent;
    }
    store(p, snap->stats[index], keys[i], std::move(loaded));
  }
}

// Stores a loaded row (or the negative marker), releases the lease once Redis has it, and ends
// the key's flight. A lease held in the key makes the store conditional: a client write or an
// invalidation that replaced the lease marker during the load wins.
void Engine::store(const Policy& p, const std::shared_ptr<PolicyStats>& stats, const KeyLoad& k,
                   std::shared_ptr<LoadResult> loaded) {
  if (const auto hook = shared_->store_hook(); hook && hook->takes(p)) {
    return store_hooked(*hook, p, stats, k, std::move(loaded));
  }
  if (k.stamped) return store_stamped(p, stats, k, std::move(loaded));
  const bool in_key = !p.is_hash();  // the markers are in the key (no hook takes p)
  const bool value = loaded->kind == LoadResult::Kind::kValue;
  std::vector<std::string> requests;
  std::string node = k.key;  // the node the requests go to
  const auto store_if_leased = [&](std::string_view text, std::int64_t ttl_ms) {
    return command({"EVAL", kStoreIfLeasedScript, "1", k.key, lease_marker(k.token), text,
                    std::to_string(ttl_ms)});
  };
  const std::int64_t negative_ms = p.config.negative_ttl.count();
  if (value) {
    const Millis ttl = jittered(p.ttl, p.config.ttl_jitter, rng_) + p.grace;
    requests = k.lease_in_key ? std::vector{store_if_leased(loaded->value.text, ttl.count())}
                              : store_requests(k.key, loaded->value, ttl.count(),
                                               side_keys() == SideKeys::kSlotTagged);
  } else if (in_key) {
    // The marker replaces a stale value of a row that is gone; no marker: the key goes.
    if (negative_ms > 0) {
      requests.push_back(k.lease_in_key ? store_if_leased(kNegativeMarker, negative_ms)
                                        : command({"SET", k.key, kNegativeMarker, "PX",
                                                   std::to_string(negative_ms)}));
    } else if (!k.lease_in_key) {
      requests.push_back(command({"DEL", k.key}));
    }  // else the release below deletes our lease marker
  } else {
    // A stale value of a row that is gone goes too, so the negative marker is read next.
    redis(k.key, command({"DEL", k.key}), false, 0, [](std::string_view) {});
    if (negative_ms > 0) {
      node = negative_key(k.key, side_keys());
      requests.push_back(
          command({"SET", node, "1", "PX", std::to_string(p.config.negative_ttl.count())}));
    }
  }
  // The requests go out back to back on one connection (lane 0 of the key's node), so a
  // MULTI ... EXEC is never interleaved. The lease goes once the last one is answered (a lease
  // in the key went with the conditional store).
  for (std::size_t j = 0; j < requests.size(); ++j) {
    const bool release = j + 1 == requests.size() && !k.lease_in_key;
    auto self = shared_from_this();
    redis(node, std::move(requests[j]), false, 0,
          [self, stats, k, release](std::string_view reply) {
            if (resp::is_error_reply(reply)) {
              stats->store_errors.add();
              spdlog::debug("cache: storing {} failed: {}", k.key, reply.substr(1));
            } else if (k.lease_in_key && reply.starts_with(":0")) {
              stats->stores_superseded.add();
              spdlog::debug("cache: {} was written during its load: the load is not stored", k.key);
            }
            if (release) self->release_lease(k);
          });
  }
  if (requests.empty()) release_lease(k);
  shared_->flights().finish(k.key, loaded);
}

// A policy the store hook takes (write-behind) is stored by the hook, which may keep a newer
// cached value; the readers waiting for the load get what it says.
void Engine::store_hooked(StoreHook& hook, const Policy& p,
                          const std::shared_ptr<PolicyStats>& stats, const KeyLoad& k,
                          std::shared_ptr<LoadResult> loaded) {
  const bool has_value = loaded->kind == LoadResult::Kind::kValue;
  const Millis ttl = jittered(p.ttl, p.config.ttl_jitter, rng_) + p.grace;
  const std::int64_t negative_ms = has_value ? 0 : p.config.negative_ttl.count();
  auto self = shared_from_this();
  std::string stamp;
  if (k.stamped) {
    stamp = runtime_->now() - k.stamped_at < kGenerationTtl / 2 ? k.stamp : std::string("0");
  }
  hook.store(*nodes_, StoreRequest{k.key, p.is_hash(), k.miss, loaded, ttl, std::move(stamp)},
             [self, k, loaded, negative_ms, stats](StoreOutcome outcome) {
               if (outcome.superseded) stats->stores_superseded.add();
               self->release_lease(k);
               if (outcome.stored && negative_ms > 0) {
                 const std::string neg = negative_key(k.key, self->side_keys());
                 self->redis(neg, command({"SET", neg, "1", "PX", std::to_string(negative_ms)}),
                             false, 0, [](std::string_view) {});
               }
               self->shared_->flights().finish(k.key, outcome.result ? outcome.result : loaded);
             });
}

void Engine::store_stamped(const Policy& p, const std::shared_ptr<PolicyStats>& stats,
                           const KeyLoad& k, std::shared_ptr<LoadResult> loaded) {
  // Past half the generation's TTL it may have expired and come back: not stored ("0" is no
  // generation's value).
  const std::string stamp =
      runtime_->now() - k.stamped_at < kGenerationTtl / 2 ? k.stamp : std::string("0");
  const std::int64_t negative_ms = p.config.negative_ttl.count();
  std::vector<std::string> keys{k.key, generation_key(k.key, side_keys())};
  std::vector<std::string> argv{stamp};
  std::string negative_after;  // a hash policy's negative marker on another node
  if (loaded->kind == LoadResult::Kind::kValue) {
    const Millis ttl = jittered(p.ttl, p.config.ttl_jitter, rng_) + p.grace;
    argv.insert(argv.end(), {loaded->value.is_hash ? "h" : "s", std::to_string(ttl.count())});
    if (loaded->value.is_hash) {
      for (const auto& [f, v] : loaded->value.fields) argv.insert(argv.end(), {f, v});
    } else {
      argv.push_back(loaded->value.text);
    }
  } else if (!p.is_hash() && negative_ms > 0) {
    argv.insert(argv.end(), {"s", std::to_string(negative_ms), std::string(kNegativeMarker)});
  } else {
    argv.insert(argv.end(), {"a", std::to_string(negative_ms)});
    if (p.is_hash() && negative_ms > 0) {
      std::string neg = negative_key(k.key, side_keys());
      if (nodes_->node_for_key(neg) == nodes_->node_for_key(k.key)) {
        keys.push_back(std::move(neg));
      } else {
        negative_after = std::move(neg);
      }
    }
  }
  std::vector<std::string> args{"EVAL", std::string(kStoreIfGenerationScript),
                                std::to_string(keys.size())};
  args.insert(args.end(), keys.begin(), keys.end());
  args.insert(args.end(), argv.begin(), argv.end());
  auto self = shared_from_this();
  redis(k.key, command(std::span<const std::string>(args)), false, 0,
        [self, stats, k, negative_after, negative_ms](std::string_view reply) {
          if (resp::is_error_reply(reply)) {
            stats->store_errors.add();
            spdlog::debug("cache: storing {} failed: {}", k.key, reply.substr(1));
          } else if (reply.starts_with(":0")) {
            stats->stores_superseded.add();
            spdlog::debug("cache: {} was written during its load: the load is not stored", k.key);
          } else if (!negative_after.empty()) {
            self->redis(negative_after,
                        command({"SET", negative_after, "1", "PX", std::to_string(negative_ms)}),
                        false, 0, [](std::string_view) {});
          }
          self->release_lease(k);
        });
  shared_->flights().finish(k.key, loaded);
}

void Engine::release_lease(const KeyLoad& key) {
  if (key.token.empty()) return;
  if (key.lease_in_key) {
    redis(key.key, command({"EVAL", kReleaseScript, "1", key.key, lease_marker(key.token)}), false,
          0, [](std::string_view) {});
    return;
  }
  const std::string lk = lease_key(key.key, side_keys());
  redis(lk, command({"EVAL", kReleaseScript, "1", lk, key.token}), false, 0,
        [](std::string_view) {});
}

// Warming ---------------------------------------------------------------------------------

void Engine::warm_all(SnapPtr snap, std::vector<std::size_t> indexes, std::function<void()> done) {
  struct All {
    std::size_t pending = 1;
    std::uint64_t warmed = 0;
    std::function<void()> done;
  };
  auto all = std::make_shared<All>();
  all->done = std::move(done);
  auto finish = [all] {
    if (--all->pending != 0) return;
    spdlog::info("cache: warming done: {} key(s) cached", all->warmed);
    if (all->done) all->done();
  };
  for (const std::size_t i : indexes) {
    if (i >= snap->set->policies().size() || !snap->policy(i).config.warm) continue;
    ++all->pending;
    warm(snap, i, [all, finish](std::uint64_t n) {
      all->warmed += n;
      finish();
    });
  }
  finish();
}

struct Engine::Warm {
  SnapPtr snap;
  std::size_t index = 0;
  std::vector<std::string> ids;
  std::size_t next = 0;      // first id not started
  std::size_t inflight = 0;  // batches running
  std::size_t done_ids = 0;
  std::uint64_t warmed = 0;
  std::size_t logged = 0;
  std::function<void(std::uint64_t)> done;
};

void Engine::warm(SnapPtr snap, std::size_t index, std::function<void(std::uint64_t)> done) {
  auto w = std::make_shared<Warm>();
  w->snap = std::move(snap);
  w->index = index;
  w->done = std::move(done);
  const Policy& p = w->snap->policy(index);
  if (!p.config.warm) return w->done(0);
  if (!p.config.warm->ids.empty() || p.config.warm->query.empty()) {
    w->ids = p.config.warm->ids;
    spdlog::info("cache: warming policy {}: {} key(s)", p.name(), w->ids.size());
    return warm_next(w);
  }
  auto self = shared_from_this();
  const auto runner = shared_->db();
  const bool queued = runner && runner->submit([self, w](db::Database* db) {
    db::IdsResult ids;
    if (db == nullptr) {
      ids.status = {db::ErrorKind::kUnavailable, "shutting down"};
    } else {
      ids = db->fetch_ids(w->snap->policy(w->index).config.warm->query);
    }
    self->runtime_->post([self, w, ids = std::move(ids)]() mutable {
      const Policy& policy = w->snap->policy(w->index);
      if (!ids.status.ok()) {
        spdlog::error("cache: warming policy {}: the warm query failed: {}", policy.name(),
                      ids.status.message);
        return w->done(0);
      }
      w->ids = std::move(ids.ids);
      spdlog::info("cache: warming policy {}: {} key(s) from its query", policy.name(),
                   w->ids.size());
      self->warm_next(w);
    });
  });
  if (!queued) {
    spdlog::error("cache: warming policy {}: database queue full", p.name());
    w->done(0);
  }
}

void Engine::warm_next(const std::shared_ptr<Warm>& w) {
  const Policy& p = w->snap->policy(w->index);
  const auto& cfg = *p.config.warm;
  const std::size_t batch = std::max<std::size_t>(1, cfg.batch_size);
  const std::size_t concurrency = std::max<std::size_t>(1, cfg.concurrency);
  if (w->next >= w->ids.size() && w->inflight == 0) {
    spdlog::info("cache: warming policy {} done: {} of {} key(s) cached", p.name(), w->warmed,
                 w->ids.size());
    auto done = std::move(w->done);
    w->done = nullptr;
    if (done) done(w->warmed);
    return;
  }
  auto self = shared_from_this();
  while (w->inflight < concurrency && w->next < w->ids.size()) {
    const std::size_t end = std::min(w->ids.size(), w->next + batch);
    struct Batch {
      std::size_t pending = 0;
      std::uint64_t values = 0;
    };
    auto b = std::make_shared<Batch>();
    b->pending = end - w->next;
    ++w->inflight;
    std::vector<KeyLoad> leads;
    for (std::size_t i = w->next; i < end; ++i) {
      std::string key = key_of(p.config.match, w->ids[i]);
      auto runtime = runtime_;
      const bool leader = shared_->flights().join(
          key, [self, runtime, w, b, size = end - w->next](const LoadResultPtr& r) {
            const bool value = r->kind == LoadResult::Kind::kValue;
            runtime->post([self, w, b, value, size] {
              b->values += value ? 1 : 0;
              if (--b->pending != 0) return;
              --w->inflight;
              w->warmed += b->values;
              w->done_ids += size;
              w->snap->stats[w->index]->keys_warmed.add(b->values);
              if (w->done_ids - w->logged >= std::max<std::size_t>(w->ids.size() / 10, 1) &&
                  w->done_ids < w->ids.size()) {
                w->logged = w->done_ids;
                spdlog::info("cache: warming policy {}: {}/{} key(s)",
                             w->snap->policy(w->index).name(), w->done_ids, w->ids.size());
              }
              self->warm_next(w);
            });
          });
      if (leader) leads.push_back(KeyLoad{key, w->ids[i], {}, false});
    }
    w->next = end;
    if (!leads.empty()) start_load(w->snap, w->index, std::move(leads));
  }
}

}  // namespace sidecache::cache
