// sidecache_db_*: the database threads' statistics, summed over threads, in the exposition.
#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <vector>

#include "fixture.hpp"
#include "metrics/collector.hpp"

namespace sidecache::metrics {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> scrape_lines(const ProcessStats& process) {
  std::vector<std::string> lines;
  std::istringstream in(serialize(Collector(process).Collect()));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

bool any_starting(const std::vector<std::string>& lines, const std::string& prefix) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.starts_with(prefix); });
}

TEST_CASE("database thread metrics are summed over threads", "[metrics][db]") {
  test::FakeProcess fake;
  CHECK_FALSE(any_starting(scrape_lines(fake.process), "sidecache_db_"));  // no database

  auto stats = std::make_shared<db::ExecutorStats>(2);
  stats->queue_depth.store(5);
  stats->busy.store(2);
  stats->rejected.store(7);
  auto& t0 = *stats->per_thread[0];
  auto& t1 = *stats->per_thread[1];
  t0.calls[static_cast<std::size_t>(db::ErrorKind::kNone)].add(10);
  t1.calls[static_cast<std::size_t>(db::ErrorKind::kNone)].add(5);
  t1.calls[static_cast<std::size_t>(db::ErrorKind::kTimeout)].add(2);
  t0.calls[static_cast<std::size_t>(db::ErrorKind::kUnavailable)].add(1);
  t0.connects.add(2);
  t0.reconnects.add(1);
  t1.connects.add(1);
  t0.latency.observe(2ms);   // le 0.0025
  t1.latency.observe(30ms);  // le 0.05
  fake.process.set_db_stats(stats);

  const auto lines = scrape_lines(fake.process);
  CHECK(has(lines, "# TYPE sidecache_db_queue_depth gauge"));
  CHECK(has(lines, "sidecache_db_threads 2"));
  CHECK(has(lines, "sidecache_db_queue_depth 5"));
  CHECK(has(lines, "sidecache_db_busy_threads 2"));
  CHECK(has(lines, "sidecache_db_queue_rejections_total 7"));
  CHECK(has(lines, "# TYPE sidecache_db_queries_total counter"));
  CHECK(has(lines, "sidecache_db_queries_total{result=\"ok\"} 15"));
  CHECK(has(lines, "sidecache_db_queries_total{result=\"timeout\"} 2"));
  CHECK(has(lines, "sidecache_db_queries_total{result=\"unavailable\"} 1"));
  CHECK(has(lines, "sidecache_db_queries_total{result=\"rejected\"} 0"));
  CHECK(has(lines, "sidecache_db_connects_total 3"));
  CHECK(has(lines, "sidecache_db_reconnects_total 1"));
  CHECK(has(lines, "# TYPE sidecache_db_query_duration_seconds histogram"));
  CHECK(has(lines, "sidecache_db_query_duration_seconds_count 2"));
  CHECK(has(lines, "sidecache_db_query_duration_seconds_bucket{le=\"0.001\"} 0"));
  CHECK(has(lines, "sidecache_db_query_duration_seconds_bucket{le=\"0.0025\"} 1"));
  CHECK(has(lines, "sidecache_db_query_duration_seconds_bucket{le=\"0.025\"} 1"));
  CHECK(has(lines, "sidecache_db_query_duration_seconds_bucket{le=\"0.05\"} 2"));
  CHECK(has(lines, "sidecache_db_query_duration_seconds_bucket{le=\"+Inf\"} 2"));

  fake.process.set_db_stats(nullptr);
  CHECK_FALSE(any_starting(scrape_lines(fake.process), "sidecache_db_"));
}

}  // namespace
}  // namespace sidecache::metrics
