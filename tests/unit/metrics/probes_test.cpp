// What each path and method gets, and why /readyz says not ready.
#include "metrics/probes.hpp"

#include <catch2/catch.hpp>

#include "fixture.hpp"

namespace sidecache::metrics {
namespace {

using test::FakeProcess;

TEST_CASE("paths, methods and their status codes", "[metrics][probes]") {
  FakeProcess fake;
  Probes probes(fake.process, 0);
  probes.set_state(Probes::State::kServing);
  CHECK(probes.respond("GET", "/healthz").status == 200);
  CHECK(probes.respond("GET", "/healthz").body == "ok\n");
  CHECK(probes.respond("HEAD", "/healthz").status == 200);
  CHECK(probes.respond("GET", "/readyz").body == "ready\n");

  const auto metrics = probes.respond("GET", "/metrics?x=1");
  CHECK(metrics.status == 200);
  CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body.find("# TYPE sidecache_node_up gauge\n") != std::string::npos);

  CHECK(probes.respond("GET", "/").status == 404);
  CHECK(probes.respond("GET", "/metricsx").status == 404);
  CHECK(probes.respond("POST", "/nothing").status == 404);
  const auto post = probes.respond("POST", "/metrics");
  CHECK(post.status == 405);
  CHECK(post.allow == "GET, HEAD");
  CHECK(probes.respond("DELETE", "/readyz").status == 405);
  CHECK(probes.respond("get", "/readyz").status == 405);  // methods are case-sensitive
}

TEST_CASE("/readyz: listening and enough nodes up", "[metrics][probes]") {
  FakeProcess fake;
  Probes probes(fake.process, 2);
  CHECK(probes.not_ready_reason() == "not accepting clients yet");
  probes.set_state(Probes::State::kServing);
  CHECK(probes.not_ready_reason() == "0 of 2 nodes up, need 2");
  fake.node(1, 0).connections.add(1);  // node a, on worker 1 only
  CHECK(probes.not_ready_reason() == "1 of 2 nodes up, need 2");
  const auto reply = probes.respond("GET", "/readyz");
  CHECK(reply.status == 503);
  CHECK(reply.body == "1 of 2 nodes up, need 2\n");
  fake.node(0, 1).connections.add(1);
  CHECK(probes.not_ready_reason().empty());
  CHECK(probes.respond("GET", "/readyz").status == 200);
  fake.node(0, 1).connections.add(-1);
  CHECK(probes.respond("GET", "/readyz").status == 503);
  probes.set_state(Probes::State::kDraining);
  CHECK(probes.not_ready_reason() == "draining: finishing open requests before exiting");
}

TEST_CASE("/readyz follows http.ready_min_nodes_up of the current configuration",
          "[metrics][probes]") {
  FakeProcess fake(1, "http: {ready_min_nodes_up: 2}\n");
  Probes probes(fake.process, 0);
  probes.set_state(Probes::State::kServing);
  fake.node(0, 0).connections.add(1);
  CHECK(probes.not_ready_reason() == "1 of 2 nodes up, need 2");
  // A reload lowers it.
  auto next = std::make_shared<config::Config>(*fake.process.current_config());
  next->http->ready_min_nodes_up = 1;
  fake.process.set_config(std::move(next));
  CHECK(probes.not_ready_reason().empty());
}

TEST_CASE("/readyz without a configuration", "[metrics][probes]") {
  ProcessStats empty;
  Probes probes(empty, 1);
  probes.set_state(Probes::State::kServing);
  CHECK(probes.not_ready_reason() == "no configuration loaded");
  CHECK(probes.respond("GET", "/healthz").status == 200);
}

}  // namespace
}  // namespace sidecache::metrics
