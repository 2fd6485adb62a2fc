// What the HTTP endpoint answers, without any socket: /metrics, /healthz, /readyz,
// /debug/hotkeys, and the HTTP errors for other paths and methods. The endpoint (http_endpoint.hpp)
// only moves bytes.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "metrics/collector.hpp"
#include "metrics/http_stats.hpp"
#include "sidecache/process_stats.hpp"

namespace sidecache::metrics {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

struct HttpReply {
  unsigned status = 200;
  std::string content_type{kTextContentType};
  std::string body;
  std::string allow;  // the Allow header of a 405
};

class Probes {
 public:
  // `http`, when given, adds the endpoint's own connection counters to /metrics.
  Probes(const ProcessStats& process, std::uint32_t ready_min_nodes_up,
         const HttpStats* http = nullptr)
      : process_(process),
        collector_(process),
        ready_min_nodes_up_(ready_min_nodes_up),
        http_stats_(http) {}

  // Not ready until serving; not ready again once draining (SIGTERM) so that Kubernetes stops
  // sending traffic while open requests finish.
  enum class State { kStarting, kServing, kDraining };
  void set_state(State state) { state_.store(state, std::memory_order_relaxed); }

  // Empty when ready; else one line saying why not, e.g. "2 of 3 nodes up, need 3". The
  // number of nodes needed is the current configuration's http.ready_min_nodes_up, else the
  // constructor's.
  std::string not_ready_reason() const;

  // The reply to `method` on `target` (a query string is ignored but by /debug/hotkeys). HEAD gets
  // GET's reply; the caller sends its headers only.
  HttpReply respond(std::string_view method, std::string_view target) const;

 private:
  const ProcessStats& process_;
  Collector collector_;
  std::uint32_t ready_min_nodes_up_;
  const HttpStats* http_stats_;
  std::atomic<State> state_{State::kStarting};
};

}  // namespace sidecache::metrics
