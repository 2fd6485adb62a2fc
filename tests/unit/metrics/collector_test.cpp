// The collector's exposition: exact lines for every family, summed over workers.
#include "metrics/collector.hpp"

#include <catch2/catch.hpp>
#include <sstream>
#include <vector>

#include "fixture.hpp"

namespace sidecache::metrics {
namespace {

using namespace std::chrono_literals;
using test::FakeProcess;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

bool has_line(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// Lines of `text` that start with `prefix`, in order.
std::vector<std::string> starting_with(const std::vector<std::string>& lines,
                                       const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    if (l.starts_with(prefix)) out.push_back(l);
  }
  return out;
}

std::string scrape(const ProcessStats& process) { return serialize(Collector(process).Collect()); }

TEST_CASE("client counters are summed over workers", "[metrics][collector]") {
  FakeProcess fake;
  fake.worker(0).connections_accepted.add(3);
  fake.worker(1).connections_accepted.add(4);
  fake.worker(1).connections_rejected.add(2);
  fake.worker(0).clients.add(2);
  fake.worker(1).clients.add(1);
  fake.worker(0).bytes_in.add(100);
  fake.worker(1).bytes_out.add(250);
  fake.worker(0).protocol_errors.add();
  fake.worker(1).commands_unknown.add(10);
  const auto lines = lines_of(scrape(fake.process));
  CHECK(has_line(lines, "# HELP sidecache_client_connections Client connections currently open."));
  CHECK(has_line(lines, "# TYPE sidecache_client_connections gauge"));
  CHECK(has_line(lines, "sidecache_client_connections 3"));
  CHECK(has_line(lines, "# TYPE sidecache_client_connections_accepted_total counter"));
  CHECK(has_line(lines, "sidecache_client_connections_accepted_total 7"));
  CHECK(has_line(lines, "sidecache_client_connections_rejected_total 2"));
  CHECK(has_line(lines, "sidecache_client_bytes_received_total 100"));
  CHECK(has_line(lines, "sidecache_client_bytes_sent_total 250"));
  CHECK(has_line(lines, "sidecache_protocol_errors_total 1"));
  CHECK(has_line(lines, "sidecache_unknown_commands_total 10"));
}

TEST_CASE("commands by name and result, nonzero ones only", "[metrics][collector]") {
  FakeProcess fake;
  fake.worker(0).commands_ok[FakeProcess::id("set")].add(600);
  fake.worker(1).commands_ok[FakeProcess::id("set")].add(400);
  fake.worker(1).commands_error[FakeProcess::id("get")].add(2);
  fake.worker(0).commands_ok[FakeProcess::id("config|get")].add();
  const auto lines = lines_of(scrape(fake.process));
  CHECK(starting_with(lines, "sidecache_commands_total") ==
        std::vector<std::string>{
            R"(sidecache_commands_total{command="config|get",result="ok"} 1)",
            R"(sidecache_commands_total{command="get",result="error"} 2)",
            R"(sidecache_commands_total{command="set",result="ok"} 1000)",
        });
  CHECK(has_line(lines, "# TYPE sidecache_commands_total counter"));
}

TEST_CASE("latency histograms are cumulative, in seconds", "[metrics][collector]") {
  FakeProcess fake;
  auto& read = fake.worker(0).latency[static_cast<std::size_t>(CommandClass::kRead)];
  read.observe(30us);   // first bucket (50us)
  read.observe(200us);  // 250us
  fake.worker(1).latency[static_cast<std::size_t>(CommandClass::kRead)].observe(10s);  // +Inf
  const auto lines = lines_of(scrape(fake.process));
  const auto read_lines =
      starting_with(lines, R"(sidecache_request_duration_seconds_bucket{class="read")");
  REQUIRE(read_lines.size() == Histogram::kBounds.size() + 1);
  CHECK(read_lines[0] == R"(sidecache_request_duration_seconds_bucket{class="read",le="5e-05"} 1)");
  CHECK(read_lines[1] ==
        R"(sidecache_request_duration_seconds_bucket{class="read",le="0.0001"} 1)");
  CHECK(read_lines[2] ==
        R"(sidecache_request_duration_seconds_bucket{class="read",le="0.00025"} 2)");
  CHECK(read_lines[15] == R"(sidecache_request_duration_seconds_bucket{class="read",le="5"} 2)");
  CHECK(read_lines[16] == R"(sidecache_request_duration_seconds_bucket{class="read",le="+Inf"} 3)");
  CHECK(has_line(lines, R"(sidecache_request_duration_seconds_count{class="read"} 3)"));
  CHECK(has_line(lines, R"(sidecache_request_duration_seconds_sum{class="read"} 10.00023)"));
  // Every class is present, empty ones too.
  CHECK(has_line(lines, R"(sidecache_request_duration_seconds_count{class="multikey"} 0)"));
  CHECK(has_line(lines, R"(sidecache_request_duration_seconds_count{class="other"} 0)"));
  CHECK(has_line(lines, "# TYPE sidecache_request_duration_seconds histogram"));
}

TEST_CASE("node metrics are summed by node name", "[metrics][collector]") {
  FakeProcess fake;
  fake.node(0, 0).requests.add(5);
  fake.node(1, 0).requests.add(7);
  fake.node(0, 1).errors_timeout.add(1);
  fake.node(1, 1).errors_connection.add(2);
  fake.node(1, 1).errors_reply.add(3);
  fake.node(1, 1).auth_failures.add(4);
  fake.node(0, 1).tls_failures.add(5);
  fake.node(0, 0).connects.add(1);
  fake.node(1, 0).connects.add(1);
  fake.node(0, 1).connect_failures.add(4);
  fake.node(0, 0).connections.add(1);  // only worker 0 is connected to a
  fake.node(1, 0).inflight.add(2);
  fake.node(0, 0).latency.observe(2ms);
  fake.node(1, 0).latency.observe(3ms);
  const auto lines = lines_of(scrape(fake.process));
  CHECK(starting_with(lines, "sidecache_node_up") ==
        std::vector<std::string>{R"(sidecache_node_up{node="a"} 1)",
                                 R"(sidecache_node_up{node="b"} 0)"});
  CHECK(has_line(lines, R"(sidecache_node_requests_total{node="a"} 12)"));
  CHECK(has_line(lines, R"(sidecache_node_requests_total{node="b"} 0)"));
  CHECK(starting_with(lines, R"(sidecache_node_errors_total{node="b")") ==
        std::vector<std::string>{
            R"(sidecache_node_errors_total{node="b",kind="timeout"} 1)",
            R"(sidecache_node_errors_total{node="b",kind="connection"} 2)",
            R"(sidecache_node_errors_total{node="b",kind="reply"} 3)",
            R"(sidecache_node_errors_total{node="b",kind="node_auth_failed"} 4)",
            R"(sidecache_node_errors_total{node="b",kind="tls_handshake"} 5)",
        });
  CHECK(has_line(lines, R"(sidecache_node_connects_total{node="a"} 2)"));
  CHECK(has_line(lines, R"(sidecache_node_connect_failures_total{node="b"} 4)"));
  CHECK(has_line(lines, R"(sidecache_node_connections{node="a"} 1)"));
  CHECK(has_line(lines, R"(sidecache_node_inflight_requests{node="a"} 2)"));
  CHECK(has_line(lines, R"(sidecache_node_request_duration_seconds_count{node="a"} 2)"));
  CHECK(has_line(lines, R"(sidecache_node_request_duration_seconds_sum{node="a"} 0.005)"));
  CHECK(
      has_line(lines, R"(sidecache_node_request_duration_seconds_bucket{node="a",le="0.0025"} 1)"));
  CHECK(
      has_line(lines, R"(sidecache_node_request_duration_seconds_bucket{node="a",le="0.005"} 2)"));
}

TEST_CASE("node_totals: config order first, then names only workers know", "[metrics][collector]") {
  FakeProcess fake(1);
  fake.worker(0).nodes.push_back(std::make_shared<NodeStats>("z"));
  fake.worker(0).nodes.back()->connections.add(1);
  const auto nodes = node_totals(fake.process);
  REQUIRE(nodes.size() == 3);
  CHECK(nodes[0].name == "a");
  CHECK(nodes[1].name == "b");
  CHECK(nodes[2].name == "z");
  CHECK(nodes[2].up);
  CHECK_FALSE(nodes[0].up);
}

TEST_CASE("process, config and build information", "[metrics][collector]") {
  FakeProcess fake;
  fake.process.reloads_ok = 2;
  fake.process.reloads_failed = 1;
  const auto lines = lines_of(scrape(fake.process));
  CHECK(has_line(lines, R"(sidecache_config_reloads_total{result="ok"} 2)"));
  CHECK(has_line(lines, R"(sidecache_config_reloads_total{result="failed"} 1)"));
  const auto& digest = fake.process.current_config()->digest;
  CHECK(digest.size() == 16);
  CHECK(has_line(lines, R"(sidecache_config_info{file="fake.yaml",hash=")" + digest + R"("} 1)"));
  CHECK(has_line(lines, R"(sidecache_build_info{version=")" SIDECACHE_VERSION R"("} 1)"));
  CHECK(starting_with(lines, "sidecache_uptime_seconds ").size() == 1);
  CHECK(starting_with(lines, "process_resident_memory_bytes ").size() == 1);
  CHECK(starting_with(lines, "process_cpu_seconds_total ").size() == 1);
  CHECK(starting_with(lines, "process_open_fds ").size() == 1);
  CHECK(starting_with(lines, "process_start_time_seconds ").size() == 1);
}

TEST_CASE("every family has HELP and TYPE, names follow the conventions", "[metrics][collector]") {
  FakeProcess fake;
  for (const auto& family : Collector(fake.process).Collect()) {
    INFO(family.name);
    CHECK_FALSE(family.help.empty());
    const bool sidecache = family.name.starts_with("sidecache_");
    CHECK((sidecache || family.name.starts_with("process_")));
    if (family.type == prometheus::MetricType::Counter) CHECK(family.name.ends_with("_total"));
    if (family.type != prometheus::MetricType::Counter)
      CHECK_FALSE(family.name.ends_with("_total"));
  }
}

}  // namespace
}  // namespace sidecache::metrics
