// sidecache_db_*: the database threads (db::Executor), summed over threads at scrape time.
#include <limits>

#include "metrics/collector.hpp"
#include "metrics/families.hpp"

namespace sidecache::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

}  // namespace

void collect_db_metrics(const db::ExecutorStats& stats, std::vector<MetricFamily>& out) {
  const auto relaxed = std::memory_order_relaxed;
  add_value(add_family(out, "sidecache_db_threads",
                       "Database threads (each with its own connection).", MetricType::Gauge),
            static_cast<double>(stats.per_thread.size()));
  add_value(add_family(out, "sidecache_db_queue_depth",
                       "Database jobs waiting for a database thread.", MetricType::Gauge),
            static_cast<double>(stats.queue_depth.load(relaxed)));
  add_value(add_family(out, "sidecache_db_busy_threads", "Database threads running a job.",
                       MetricType::Gauge),
            static_cast<double>(stats.busy.load(relaxed)));
  add_value(
      add_family(out, "sidecache_db_queue_rejections_total",
                 "Database jobs refused at once because the queue was full (max_queue) or the "
                 "executor was stopping.",
                 MetricType::Counter),
      static_cast<double>(stats.rejected.load(relaxed)));

  auto& queries = add_family(out, "sidecache_db_queries_total",
                             "Database calls (a batched fetch, a warming query, a validation, a "
                             "write) by result: ok, unavailable, timeout, rejected.",
                             MetricType::Counter);
  for (const auto kind : {db::ErrorKind::kNone, db::ErrorKind::kUnavailable,
                          db::ErrorKind::kTimeout, db::ErrorKind::kRejected}) {
    add_value(queries, static_cast<double>(stats.calls(kind)), {{"result", db::to_string(kind)}});
  }
  add_value(
      add_family(out, "sidecache_db_connects_total",
                 "Database connections opened (the first of each thread and every reconnect).",
                 MetricType::Counter),
      static_cast<double>(stats.connects()));
  add_value(
      add_family(out, "sidecache_db_reconnects_total",
                 "Database connections opened again after one was lost or could not be opened.",
                 MetricType::Counter),
      static_cast<double>(stats.reconnects()));

  auto& latency =
      add_family(out, "sidecache_db_query_duration_seconds",
                 "Duration of database calls, connecting included.", MetricType::Histogram);
  ClientMetric m;
  const auto buckets = stats.latency_buckets();
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i];
    const double bound = i < Histogram::kBounds.size() ? Histogram::kBounds[i]
                                                       : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back({cumulative, bound});
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = stats.latency_sum_seconds();
  latency.metric.push_back(std::move(m));
}

}  // namespace sidecache::metrics
