// Counters of the HTTP endpoint's own connections (sidecache_http_*): written by the endpoint's
// thread, read at scrape time.
#pragma once

#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sidecache::metrics {

// Why the endpoint closed a connection (the `reason` label).
enum class HttpCloseReason : std::uint8_t {
  kClient,          // the client closed, or asked to close after its reply
  kIdleTimeout,     // no request started within http.idle_timeout
  kRequestTimeout,  // a request not read and answered within http.request_timeout
  kEvicted,         // closed while idle to make room for a new connection (http.max_connections)
  kBadRequest,      // malformed, oversized: answered 400/413/431, then closed
  kShutdown,        // sidecache stopping
};
inline constexpr std::size_t kHttpCloseReasons = 6;

std::string_view close_reason_name(HttpCloseReason reason);

struct HttpStats {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::int64_t> open{0};
  std::array<std::atomic<std::uint64_t>, kHttpCloseReasons> closed{};

  void count_close(HttpCloseReason reason) {
    closed[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  }
};

// sidecache_http_connections_accepted_total, sidecache_http_connections (open) and
// sidecache_http_connections_closed_total{reason} appended to `out`.
void collect_http_metrics(const HttpStats& stats, std::vector<prometheus::MetricFamily>& out);

}  // namespace sidecache::metrics
