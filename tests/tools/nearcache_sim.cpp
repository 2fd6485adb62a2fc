// Replays key traces through the L1 store (W-TinyLFU), a plain LRU and Belady's optimum (offline:
// on a miss, evict the entry whose next use is farthest, or bypass the new key if its own next
// use is farther still), and prints hit ratios. Traces: Zipf s=1.0 and s=1.2 over 100,000 keys,
// and Zipf s=1.0 interrupted by a one-off scan of 1,000,000 keys. Also printed: "top-C", a
// cache that always holds the C keys the trace requests most (the best any online policy can
// do on independent draws; Belady beats it by knowing the order).
//
// The store gets a byte budget; the LRU and Belady get the same capacity in entries as the
// number of entries the store holds when full (every value has the same size, so bytes and
// entries are proportional). Every store miss is followed by a put, as a read-through fill would.
//
// Usage: nearcache_sim [--budget BYTES[,BYTES...]] [--shards N] [--requests N] [--value BYTES]
//        nearcache_sim --bench-hits THREADS [--bench-keys N] [--shards N]   (the hit path's cost)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <list>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "nearcache/store.hpp"

namespace {

using sidecache::nearcache::Clock;
using sidecache::nearcache::Store;
using sidecache::nearcache::StoreOptions;

constexpr std::uint32_t kKeys = 100'000;
constexpr std::uint32_t kScanKeys = 1'000'000;

// Zipf(s) draws over `keys` key ids.
std::vector<std::uint32_t> zipf(std::size_t length, double s, std::uint32_t seed,
                                std::uint32_t keys = kKeys) {
  std::vector<double> cdf(keys);
  double sum = 0;
  for (std::uint32_t i = 0; i < keys; ++i) cdf[i] = sum += 1.0 / std::pow(double(i + 1), s);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, sum);
  // Ranks are shuffled onto key ids so the hottest keys are not 0, 1, 2, ...
  std::vector<std::uint32_t> id(keys);
  for (std::uint32_t i = 0; i < keys; ++i) id[i] = i;
  std::shuffle(id.begin(), id.end(), rng);
  std::vector<std::uint32_t> out(length);
  for (auto& k : out) {
    const auto rank = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
    k = id[std::min<std::size_t>(rank, keys - 1)];
  }
  return out;
}

struct Trace {
  std::string name;
  std::vector<std::uint32_t> keys;
  std::size_t scan_begin = 0, scan_end = 0;  // the scan's accesses, if any
};

std::string key_of(std::uint32_t id) { return "key:" + std::to_string(id); }

struct Result {
  std::vector<bool> hit;  // per access
  std::size_t entries = 0;
};

double ratio(const std::vector<bool>& hit, std::size_t from, std::size_t to) {
  std::size_t n = 0;
  for (std::size_t i = from; i < to; ++i) n += hit[i];
  return to > from ? double(n) / double(to - from) : 0;
}

Result run_store(const Trace& t, std::size_t budget, std::size_t shards, std::size_t value_bytes,
                 const std::vector<std::string>& names) {
  StoreOptions options;
  options.max_memory = budget;
  options.shards = shards;
  Store store(options);
  const std::string value(value_bytes, 'v');
  const auto now = Clock::time_point{} + std::chrono::seconds(1);
  const auto expiry = now + std::chrono::hours(1);
  Result r;
  r.hit.resize(t.keys.size());
  for (std::size_t i = 0; i < t.keys.size(); ++i) {
    const std::string& key = names[t.keys[i]];
    r.hit[i] = store.get(key, now, [](std::string_view) {});
    if (!r.hit[i]) store.put(key, value, expiry, 0, now);
    if (i + 1 == t.scan_begin || i + 1 == t.keys.size()) {
      r.entries = std::max<std::size_t>(r.entries, store.stats().entries);
    }
  }
  const auto s = store.stats();
  std::fprintf(stderr,
               "  [%s budget %zu] store: %llu entries, %llu bytes + %llu fixed, admissions %llu, "
               "rejections %llu, evictions %llu\n",
               t.name.c_str(), budget, (unsigned long long)s.entries, (unsigned long long)s.bytes,
               (unsigned long long)s.fixed_bytes, (unsigned long long)s.admissions,
               (unsigned long long)s.rejections, (unsigned long long)s.evictions);
  return r;
}

std::vector<bool> run_lru(const Trace& t, std::size_t capacity) {
  std::list<std::uint32_t> order;  // front: most recent
  std::unordered_map<std::uint32_t, std::list<std::uint32_t>::iterator> where;
  std::vector<bool> hit(t.keys.size());
  for (std::size_t i = 0; i < t.keys.size(); ++i) {
    const std::uint32_t k = t.keys[i];
    if (auto it = where.find(k); it != where.end()) {
      hit[i] = true;
      order.splice(order.begin(), order, it->second);
      continue;
    }
    if (where.size() >= capacity) {
      where.erase(order.back());
      order.pop_back();
    }
    order.push_front(k);
    where[k] = order.begin();
  }
  return hit;
}

std::vector<bool> run_belady(const Trace& t, std::size_t capacity) {
  constexpr std::size_t kNever = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> next(t.keys.size());
  std::unordered_map<std::uint32_t, std::size_t> last;
  for (std::size_t i = t.keys.size(); i-- > 0;) {
    auto it = last.find(t.keys[i]);
    next[i] = it == last.end() ? kNever : it->second;
    last[t.keys[i]] = i;
  }
  std::set<std::pair<std::size_t, std::uint32_t>> by_next;  // (next use, key)
  std::unordered_map<std::uint32_t, std::size_t> cached;    // key -> its next use
  std::vector<bool> hit(t.keys.size());
  for (std::size_t i = 0; i < t.keys.size(); ++i) {
    const std::uint32_t k = t.keys[i];
    if (auto it = cached.find(k); it != cached.end()) {
      hit[i] = true;
      by_next.erase({it->second, k});
      it->second = next[i];
      by_next.insert({next[i], k});
      continue;
    }
    if (next[i] == kNever) continue;  // never used again: bypass
    if (cached.size() >= capacity) {
      auto farthest = std::prev(by_next.end());
      if (farthest->first <= next[i]) continue;  // the new key is needed last: bypass
      cached.erase(farthest->second);
      by_next.erase(farthest);
    }
    cached[k] = next[i];
    by_next.insert({next[i], k});
  }
  return hit;
}

// The best an online policy can do on a trace of independent draws: a cache that always holds
// the `capacity` keys the trace requests most (counted over the whole trace, so offline too).
std::vector<bool> run_top(const Trace& t, std::size_t capacity) {
  std::unordered_map<std::uint32_t, std::size_t> count;
  for (auto k : t.keys) ++count[k];
  std::vector<std::pair<std::size_t, std::uint32_t>> by_count;
  for (auto [k, c] : count) by_count.push_back({c, k});
  const std::size_t n = std::min(capacity, by_count.size());
  std::partial_sort(by_count.begin(), by_count.begin() + n, by_count.end(), std::greater<>());
  std::unordered_map<std::uint32_t, bool> top;
  for (std::size_t i = 0; i < n; ++i) top[by_count[i].second] = true;
  std::vector<bool> hit(t.keys.size());
  for (std::size_t i = 0; i < t.keys.size(); ++i) hit[i] = top.count(t.keys[i]) != 0;
  return hit;
}

// The hit path's cost: `threads` threads each read a warm store's Zipf 1.0 keys (all cached).
void bench_hits(std::size_t threads, std::size_t shards, std::uint32_t keys,
                const std::vector<std::string>& names) {
  StoreOptions options;
  options.max_memory = 64 << 20;
  options.shards = shards;
  Store store(options);
  const auto now = Clock::time_point{} + std::chrono::seconds(1);
  for (std::uint32_t k = 0; k < keys; ++k) {
    store.put(names[k], std::string(16, 'v'), now + std::chrono::hours(1), 0, now);
  }
  const auto trace = zipf(1'000'000, 1.0, 9, keys);
  std::vector<std::thread> workers;
  std::atomic<std::uint64_t> bytes{0};
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t copied = 0;
      for (std::size_t i = 0; i < trace.size(); ++i) {
        const auto k = trace[(i + t * 7919) % trace.size()];
        store.get(names[k], now, [&](std::string_view v) { copied += v.size(); });
      }
      bytes += copied;
    });
  }
  for (auto& w : workers) w.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto s = store.stats();
  std::printf(
      "hit path: %u keys, %zu thread(s), %zu shards: %.0f ns per get (wall, per thread), hit "
      "ratio %.4f\n",
      keys, threads, shards, seconds * 1e9 / double(trace.size()),
      double(s.hits) / double(s.hits + s.misses));
}

std::vector<std::size_t> parse_list(const char* s) {
  std::vector<std::size_t> out;
  for (const char* p = s; *p != 0;) {
    char* end = nullptr;
    out.push_back(std::strtoull(p, &end, 10));
    p = *end == ',' ? end + 1 : end;
    if (end == p && *p != 0) break;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> budgets = {256 << 10, 2 << 20};
  std::size_t shards = 16, requests = 2'000'000, value_bytes = 16, bench_threads = 0;
  std::uint32_t bench_keys = kKeys;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--budget")) {
      budgets = parse_list(argv[i + 1]);
    } else if (!std::strcmp(argv[i], "--shards")) {
      shards = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--requests")) {
      requests = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--bench-hits")) {
      bench_threads = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--bench-keys")) {
      bench_keys = static_cast<std::uint32_t>(
          std::clamp<std::size_t>(std::strtoull(argv[i + 1], nullptr, 10), 1, kKeys));
    } else if (!std::strcmp(argv[i], "--value")) {
      value_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    } else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  std::vector<std::string> names(kKeys + kScanKeys);
  for (std::uint32_t i = 0; i < names.size(); ++i) names[i] = key_of(i);
  if (bench_threads != 0) {
    bench_hits(bench_threads, shards, bench_keys, names);
    return 0;
  }

  std::vector<Trace> traces;
  traces.push_back({"zipf-1.0", zipf(requests, 1.0, 1)});
  traces.push_back({"zipf-1.2", zipf(requests, 1.2, 2)});
  {
    Trace t{"zipf-1.0+scan", zipf(requests / 2, 1.0, 3)};
    t.scan_begin = t.keys.size();
    for (std::uint32_t i = 0; i < kScanKeys; ++i) t.keys.push_back(kKeys + i);
    t.scan_end = t.keys.size();
    const auto after = zipf(requests / 2, 1.0, 3);  // the same popularity, a fresh draw
    t.keys.insert(t.keys.end(), after.begin(), after.end());
    traces.push_back(std::move(t));
  }

  std::printf("shards %zu, value %zu B, %zu requests per Zipf trace\n", shards, value_bytes,
              requests);
  std::printf("%-14s %9s %8s %10s %8s %8s %8s %12s\n", "trace", "budget", "entries", "W-TinyLFU",
              "LRU", "Belady", "top-C", "TinyLFU/OPT");
  for (const auto& t : traces) {
    for (std::size_t budget : budgets) {
      const Result store = run_store(t, budget, shards, value_bytes, names);
      const auto lru = run_lru(t, store.entries);
      const auto opt = run_belady(t, store.entries);
      const std::size_t n = t.keys.size();
      const auto top = run_top(t, store.entries);
      const double s = ratio(store.hit, 0, n), l = ratio(lru, 0, n), o = ratio(opt, 0, n);
      std::printf("%-14s %9zu %8zu %9.2f%% %7.2f%% %7.2f%% %7.2f%% %11.3f\n", t.name.c_str(),
                  budget, store.entries, 100 * s, 100 * l, 100 * o, 100 * ratio(top, 0, n),
                  o > 0 ? s / o : 0);
      if (t.scan_end != 0) {
        // The 20,000 Zipf requests just before the scan and the first 20,000 after it: long
        // enough to measure, short enough that a policy that lost the hot set still shows it.
        const std::size_t w = 20'000;
        std::printf(
            "  %-12s before scan %.2f%% / %.2f%% / %.2f%%, scan %.2f%% / %.2f%% / "
            "%.2f%%, after scan (first %zu) %.2f%% / %.2f%% / %.2f%% (W-TinyLFU / LRU / "
            "Belady)\n",
            "", 100 * ratio(store.hit, t.scan_begin - w, t.scan_begin),
            100 * ratio(lru, t.scan_begin - w, t.scan_begin),
            100 * ratio(opt, t.scan_begin - w, t.scan_begin),
            100 * ratio(store.hit, t.scan_begin, t.scan_end),
            100 * ratio(lru, t.scan_begin, t.scan_end), 100 * ratio(opt, t.scan_begin, t.scan_end),
            w, 100 * ratio(store.hit, t.scan_end, t.scan_end + w),
            100 * ratio(lru, t.scan_end, t.scan_end + w),
            100 * ratio(opt, t.scan_end, t.scan_end + w));
      }
    }
  }
  return 0;
}
