#include "metrics/http_stats.hpp"

namespace sidecache::metrics {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::string_view close_reason_name(HttpCloseReason reason) {
  switch (reason) {
    case HttpCloseReason::kClient:
      return "client";
    case HttpCloseReason::kIdleTimeout:
      return "idle_timeout";
    case HttpCloseReason::kRequestTimeout:
      return "request_timeout";
    case HttpCloseReason::kEvicted:
      return "evicted";
    case HttpCloseReason::kBadRequest:
      return "bad_request";
    case HttpCloseReason::kShutdown:
      return "shutdown";
  }
  return "unknown";
}

void collect_http_metrics(const HttpStats& stats, std::vector<MetricFamily>& out) {
  const auto relaxed = std::memory_order_relaxed;
  ClientMetric accepted;
  accepted.counter.value = static_cast<double>(stats.accepted.load(relaxed));
  out.push_back(MetricFamily{"sidecache_http_connections_accepted_total",
                             "Connections accepted by the HTTP endpoint.",
                             MetricType::Counter,
                             {std::move(accepted)}});
  ClientMetric open;
  open.gauge.value = static_cast<double>(stats.open.load(relaxed));
  out.push_back(MetricFamily{"sidecache_http_connections",
                             "Connections open on the HTTP endpoint.",
                             MetricType::Gauge,
                             {std::move(open)}});
  MetricFamily closed{"sidecache_http_connections_closed_total",
                      "Connections the HTTP endpoint closed, by reason.",
                      MetricType::Counter,
                      {}};
  for (std::size_t i = 0; i < kHttpCloseReasons; ++i) {
    ClientMetric m;
    m.label = {{"reason", std::string(close_reason_name(static_cast<HttpCloseReason>(i)))}};
    m.counter.value = static_cast<double>(stats.closed[i].load(relaxed));
    closed.metric.push_back(std::move(m));
  }
  out.push_back(std::move(closed));
}

}  // namespace sidecache::metrics
