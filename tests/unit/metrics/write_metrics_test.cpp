// sidecache_write_*: the write modes' statistics through the collector, with the names, types
// and HELP texts the dashboards and alert rules use.
#include <algorithm>
#include <catch2/catch.hpp>
#include <sstream>
#include <thread>
#include <vector>

#include "fixture.hpp"
#include "metrics/collector.hpp"
#include "write/stats.hpp"

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

TEST_CASE("write-mode families are exported through the collector", "[metrics][write]") {
  test::FakeProcess fake;
  auto stats = std::make_shared<write::WriteStats>();
  stats->writes[2].add(2);  // through
  stats->policies[0].store(1);
  stats->policies[3].store(2);
  stats->refused.add(3);
  stats->write_errors.add();
  stats->flushed.fetch_add(5);
  stats->invalidations.fetch_add(7);
  stats->observe_batch(3, 2ms);
  stats->observe_batch(50, 20ms);
  stats->nodes.push_back(std::make_unique<write::NodeQueueStats>());
  stats->nodes.back()->node = "a";
  stats->nodes.back()->depth.store(4);
  stats->nodes.back()->oldest_age_ms.store(1500);
  fake.process.write_stats = stats;

  const auto lines = scrape_lines(fake.process);
  CHECK(has(lines,
            "# HELP sidecache_write_requests_total Client writes to write-mode policy "
            "keys, by mode"));
  CHECK(has(lines, "# TYPE sidecache_write_requests_total counter"));
  CHECK(has(lines, R"(sidecache_write_requests_total{mode="invalidate"} 0)"));
  CHECK(has(lines, R"(sidecache_write_requests_total{mode="through"} 2)"));
  CHECK_FALSE(has(lines, R"(sidecache_write_requests_total{mode="none"} 0)"));
  CHECK(has(lines, "# TYPE sidecache_write_policies gauge"));
  CHECK(has(lines, R"(sidecache_write_policies{mode="none"} 1)"));
  CHECK(has(lines, R"(sidecache_write_policies{mode="behind"} 2)"));
  CHECK(has(lines, "# HELP sidecache_write_errors_total Writes answered with an error"));
  CHECK(has(lines, "sidecache_write_errors_total 1"));
  CHECK(has(lines, "sidecache_write_refused_total 3"));
  CHECK(has(lines, "sidecache_write_behind_flushed_total 5"));
  CHECK(has(lines, "# TYPE sidecache_invalidations_total counter"));
  CHECK(has(lines, "sidecache_invalidations_total 7"));
  CHECK(has(lines, "# TYPE sidecache_write_behind_batch_size histogram"));
  CHECK(has(lines, R"(sidecache_write_behind_batch_size_bucket{le="1"} 0)"));
  CHECK(has(lines, R"(sidecache_write_behind_batch_size_bucket{le="10"} 1)"));
  CHECK(has(lines, R"(sidecache_write_behind_batch_size_bucket{le="100"} 2)"));
  CHECK(has(lines, R"(sidecache_write_behind_batch_size_bucket{le="+Inf"} 2)"));
  CHECK(has(lines, "sidecache_write_behind_batch_size_sum 53"));
  CHECK(has(lines, "sidecache_write_behind_batch_size_count 2"));
  CHECK(has(lines, R"(sidecache_write_behind_flush_seconds_bucket{le="0.001"} 0)"));
  CHECK(has(lines, R"(sidecache_write_behind_flush_seconds_bucket{le="0.005"} 1)"));
  CHECK(has(lines, R"(sidecache_write_behind_flush_seconds_bucket{le="0.05"} 2)"));
  CHECK(has(lines, "sidecache_write_behind_flush_seconds_count 2"));
  CHECK(has(lines, "# TYPE sidecache_write_behind_queue_depth gauge"));
  CHECK(has(lines, R"(sidecache_write_behind_queue_depth{node="a"} 4)"));
  CHECK(has(lines, R"(sidecache_write_behind_oldest_age_seconds{node="a"} 1.5)"));
}

TEST_CASE("no write families without write modes", "[metrics][write]") {
  test::FakeProcess fake;
  for (const auto& line : scrape_lines(fake.process)) {
    CHECK_FALSE(line.starts_with("sidecache_write"));
  }
}

TEST_CASE("worker counters sum every worker's slot and other threads' adds", "[metrics][write]") {
  write::WriteStats stats;
  std::vector<std::thread> workers;
  for (std::uint32_t w = 0; w < 3; ++w) {
    workers.emplace_back([&stats, w] {
      this_worker() = w;
      for (int i = 0; i < 1000; ++i) stats.refused.add();
    });
  }
  for (auto& t : workers) t.join();
  stats.refused.add(5);  // this thread is no worker: the common slot
  CHECK(stats.refused.get() == 3005);
}

}  // namespace
}  // namespace sidecache::metrics
