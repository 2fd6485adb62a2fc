// cache_load: a closed-loop read load with Zipf-like key popularity, for scripts/bench_cache.py.
//
//   cache_load --port P --mode sidecache|naive [--pg CONNINFO --query SQL] [--keys N]
//              [--zipf S] [--threads T] [--seconds D] [--ttl-ms MS] [--prefix product:]
//              [--seed N] [--rate R] [--window-ms MS] [--hot N]
//
// Each thread has its own hiredis connection and GETs `prefix + id`, id drawn with probability
// proportional to 1 / rank^S over 1..N. With --rate, the threads together send R requests per
// second (each on its own schedule; a late request is sent at once, not skipped), so that runs
// against different targets see the same request rate, and so the same hit ratio for a TTL.
//   sidecache: the proxy reads through to the database itself; every GET is one request.
//   naive:     hand-written cache-aside against Redis: GET; on a miss, run the query (the same
//              one the sidecache policy runs, $1 = id) on PostgreSQL with the thread's own
//              connection, build the row's JSON, SET PX ttl. No single flight, no early
//              refresh: what most application code does.
// Prints one JSON object: requests, seconds, rps, misses seen by the client, database queries
// made by the client (naive only), errors (and those on keys that had been read before, which a
// cache should still answer while its database is down), latency percentiles, the p50/p99 of
// every second, and how many (key, window) pairs were requested: the run is cut into windows
// of --window-ms (default: the TTL), and a cache that loads each key once per TTL makes about
// one database query per such pair. The same per-second percentiles again for the --hot most
// popular keys alone: a stampede at their expiry shows there.
#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int port = 0;
  std::string mode = "sidecache";
  std::string pg;
  std::string query;
  int keys = 100000;
  double zipf = 0.99;
  int threads = 8;
  double seconds = 10;
  long ttl_ms = 5000;
  std::string prefix = "product:";
  unsigned seed = 1;
  double rate = 0;     // requests per second over all threads; 0: as fast as possible
  long window_ms = 0;  // 0: ttl_ms
  int hot = 10;        // the most popular keys, whose latencies are also reported apart
};

// Keys some request has read a value of (any thread): an error on one of them is an error a
// cache with stale-if-error should not give.
std::unique_ptr<std::atomic<bool>[]> g_seen;

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "cache_load: %s\n", why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + a).c_str());
    const char* v = argv[++i];
    if (a == "--port") {
      o.port = std::atoi(v);
    } else if (a == "--mode") {
      o.mode = v;
    } else if (a == "--pg") {
      o.pg = v;
    } else if (a == "--query") {
      o.query = v;
    } else if (a == "--keys") {
      o.keys = std::atoi(v);
    } else if (a == "--zipf") {
      o.zipf = std::atof(v);
    } else if (a == "--threads") {
      o.threads = std::atoi(v);
    } else if (a == "--seconds") {
      o.seconds = std::atof(v);
    } else if (a == "--ttl-ms") {
      o.ttl_ms = std::atol(v);
    } else if (a == "--prefix") {
      o.prefix = v;
    } else if (a == "--rate") {
      o.rate = std::atof(v);
    } else if (a == "--hot") {
      o.hot = std::atoi(v);
    } else if (a == "--window-ms") {
      o.window_ms = std::atol(v);
    } else if (a == "--seed") {
      o.seed = static_cast<unsigned>(std::atoi(v));
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.port <= 0 || o.keys <= 0 || o.threads <= 0) usage("--port, --keys, --threads > 0");
  if (o.window_ms <= 0) o.window_ms = o.ttl_ms;
  if (o.mode != "sidecache" && o.mode != "naive") usage("--mode sidecache|naive");
  if (o.mode == "naive" && (o.pg.empty() || o.query.empty())) {
    usage("--mode naive needs --pg and --query");
  }
  return o;
}

// Cumulative distribution of ranks 1..n with weight 1/rank^s; sampled by binary search.
std::vector<double> zipf_cdf(int n, double s) {
  std::vector<double> cdf(static_cast<std::size_t>(n));
  double sum = 0;
  for (int i = 0; i < n; ++i) {
    sum += 1.0 / std::pow(i + 1, s);
    cdf[static_cast<std::size_t>(i)] = sum;
  }
  for (auto& c : cdf) c /= sum;
  return cdf;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

void json_string(std::string& out, const char* text) {
  out += '"';
  for (const char* p = text; *p != '\0'; ++p) {
    const unsigned char c = static_cast<unsigned char>(*p);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// The naive loader: the row as a JSON object of its columns (text values), or "" when absent.
class RowLoader {
 public:
  RowLoader(const std::string& conninfo, std::string query) : query_(std::move(query)) {
    conn_ = PQconnectdb(conninfo.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) usage(PQerrorMessage(conn_));
  }
  ~RowLoader() { PQfinish(conn_); }
  RowLoader(const RowLoader&) = delete;
  RowLoader& operator=(const RowLoader&) = delete;

  // The row's JSON, "" when absent, nullopt when the database failed (then reconnects).
  std::optional<std::string> load(const std::string& id) {
    if (PQstatus(conn_) != CONNECTION_OK) PQreset(conn_);
    const char* params[] = {id.c_str()};
    PGresult* res = PQexecParams(conn_, query_.c_str(), 1, nullptr, params, nullptr, nullptr, 0);
    std::string out;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
      PQclear(res);
      return std::nullopt;
    }
    if (PQntuples(res) > 0) {
      out = "{";
      for (int c = 0; c < PQnfields(res); ++c) {
        if (c > 0) out += ',';
        json_string(out, PQfname(res, c));
        out += ':';
        if (PQgetisnull(res, 0, c)) {
          out += "null";
        } else {
          json_string(out, PQgetvalue(res, 0, c));
        }
      }
      out += '}';
    }
    PQclear(res);
    return out;
  }

 private:
  PGconn* conn_ = nullptr;
  std::string query_;
};

struct ThreadResult {
  std::uint64_t requests = 0;
  std::uint64_t misses = 0;
  std::uint64_t queries = 0;
  std::uint64_t errors = 0;
  std::uint64_t errors_cached = 0;          // errors on keys read before
  std::vector<std::uint64_t> windows;       // per key: bit w set when requested in window w
  std::vector<std::uint32_t> latencies_us;  // every request
  std::vector<std::vector<std::uint32_t>> per_second;  // latencies by second of the run
  std::vector<std::vector<std::uint32_t>> hot_second;  // the same, hot keys only
};

void run_thread(const Options& o, const std::vector<double>& cdf, unsigned seed,
                Clock::time_point start, Clock::time_point end, ThreadResult& out) {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", o.port, tv);
  if (c == nullptr || c->err) usage("cannot connect to redis/sidecache");
  redisSetTimeout(c, tv);
  std::unique_ptr<RowLoader> loader;
  if (o.mode == "naive") loader = std::make_unique<RowLoader>(o.pg, o.query);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const auto seconds = static_cast<std::size_t>(std::ceil(o.seconds)) + 1;
  out.per_second.resize(seconds);
  out.hot_second.resize(seconds);
  out.windows.assign(cdf.size(), 0);
  const auto interval = o.rate > 0 ? std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.threads / o.rate))
                                   : Clock::duration::zero();
  auto next = start + interval * (seed % 1000) / std::max(1, o.threads);
  for (auto now = Clock::now(); now < end; now = Clock::now()) {
    if (o.rate > 0) {
      if (now < next) {
        std::this_thread::sleep_until(next);
        now = Clock::now();
      }
      next += interval;
    }
    const auto rank = std::lower_bound(cdf.begin(), cdf.end(), uniform(rng)) - cdf.begin();
    const std::string id = std::to_string(rank + 1);
    const std::string key = o.prefix + id;
    const auto window = static_cast<std::size_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now - start).count() / o.window_ms);
    out.windows[static_cast<std::size_t>(rank)] |= std::uint64_t{1}
                                                   << std::min<std::size_t>(window, 63);
    auto& seen = g_seen[static_cast<std::size_t>(rank)];
    const auto failed = [&] {
      ++out.errors;
      if (seen.load(std::memory_order_relaxed)) ++out.errors_cached;
    };
    Reply r(static_cast<redisReply*>(redisCommand(c, "GET %b", key.data(), key.size())));
    if (!r || r->type == REDIS_REPLY_ERROR) {
      failed();
      if (!r) usage("connection lost");
    } else if (r->type == REDIS_REPLY_NIL) {
      ++out.misses;
      if (loader) {
        ++out.queries;
        const auto value = loader->load(id);
        if (!value) {
          failed();
        } else if (!value->empty()) {
          seen.store(true, std::memory_order_relaxed);
          Reply set(
              static_cast<redisReply*>(redisCommand(c, "SET %b %b PX %ld", key.data(), key.size(),
                                                    value->data(), value->size(), o.ttl_ms)));
          if (!set) usage("connection lost");
        }
      }
    } else {
      seen.store(true, std::memory_order_relaxed);
    }
    const auto done = Clock::now();
    const auto us = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(done - now).count());
    ++out.requests;
    out.latencies_us.push_back(us);
    const auto second = static_cast<std::size_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now - start).count());
    if (second < seconds) out.per_second[second].push_back(us);
    if (second < seconds && rank < o.hot) out.hot_second[second].push_back(us);
  }
  redisFree(c);
}

double percentile(std::vector<std::uint32_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const auto cdf = zipf_cdf(o.keys, o.zipf);
  g_seen = std::make_unique<std::atomic<bool>[]>(cdf.size());
  std::vector<ThreadResult> results(static_cast<std::size_t>(o.threads));
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back(run_thread, std::cref(o), std::cref(cdf), o.seed * 1000 + t, start, end,
                         std::ref(results[static_cast<std::size_t>(t)]));
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  ThreadResult all;
  all.windows.assign(cdf.size(), 0);
  all.per_second.resize(static_cast<std::size_t>(std::ceil(o.seconds)) + 1);
  all.hot_second.resize(all.per_second.size());
  for (auto& r : results) {
    all.requests += r.requests;
    all.misses += r.misses;
    all.queries += r.queries;
    all.errors += r.errors;
    all.errors_cached += r.errors_cached;
    for (std::size_t k = 0; k < r.windows.size(); ++k) all.windows[k] |= r.windows[k];
    all.latencies_us.insert(all.latencies_us.end(), r.latencies_us.begin(), r.latencies_us.end());
    for (std::size_t s = 0; s < r.per_second.size(); ++s) {
      all.per_second[s].insert(all.per_second[s].end(), r.per_second[s].begin(),
                               r.per_second[s].end());
      all.hot_second[s].insert(all.hot_second[s].end(), r.hot_second[s].begin(),
                               r.hot_second[s].end());
    }
  }
  double worst_second_p99 = 0;
  std::string seconds_p50 = "[", seconds_p99 = "[";
  for (auto& s : all.per_second) {
    if (s.size() >= 100) worst_second_p99 = std::max(worst_second_p99, percentile(s, 0.99));
    if (seconds_p50.size() > 1) {
      seconds_p50 += ',';
      seconds_p99 += ',';
    }
    seconds_p50 += std::to_string(percentile(s, 0.50));
    seconds_p99 += std::to_string(percentile(s, 0.99));
  }
  seconds_p50 += ']';
  seconds_p99 += ']';
  std::string hot_p50 = "[", hot_p99 = "[";
  for (auto& s : all.hot_second) {
    if (hot_p50.size() > 1) {
      hot_p50 += ',';
      hot_p99 += ',';
    }
    hot_p50 += std::to_string(percentile(s, 0.50));
    hot_p99 += std::to_string(percentile(s, 0.99));
  }
  hot_p50 += ']';
  hot_p99 += ']';
  std::uint64_t key_windows = 0;
  for (const auto w : all.windows) key_windows += static_cast<std::uint64_t>(std::popcount(w));
  const double p50 = percentile(all.latencies_us, 0.50);
  const double p99 = percentile(all.latencies_us, 0.99);
  const double p999 = percentile(all.latencies_us, 0.999);
  std::printf(
      "{\"mode\": \"%s\", \"requests\": %llu, \"seconds\": %.3f, \"rps\": %.1f, "
      "\"client_misses\": %llu, \"client_queries\": %llu, \"errors\": %llu, "
      "\"errors_cached\": %llu, \"key_windows\": %llu, "
      "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"worst_second_p99_ms\": %.3f, "
      "\"second_p50_ms\": %s, \"second_p99_ms\": %s, \"hot_second_p50_ms\": %s, "
      "\"hot_second_p99_ms\": %s}\n",
      o.mode.c_str(), static_cast<unsigned long long>(all.requests), elapsed,
      static_cast<double>(all.requests) / elapsed, static_cast<unsigned long long>(all.misses),
      static_cast<unsigned long long>(all.queries), static_cast<unsigned long long>(all.errors),
      static_cast<unsigned long long>(all.errors_cached),
      static_cast<unsigned long long>(key_windows), p50, p99, p999, worst_second_p99,
      seconds_p50.c_str(), seconds_p99.c_str(), hot_p50.c_str(), hot_p99.c_str());
  return 0;
}
