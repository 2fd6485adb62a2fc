#include "metrics/probes.hpp"

#include "cache/stats.hpp"
#include "config/config.hpp"
#include "metrics/hotkeys_view.hpp"

#include <array>

namespace sidecache::metrics {
namespace {

constexpr std::string_view kAllowed = "GET, HEAD";
constexpr std::array<std::string_view, 4> kPaths = {"/metrics", "/healthz", "/readyz",
                                                    "/debug/hotkeys"};
constexpr std::string_view kJsonContentType = "application/json";

HttpReply text(unsigned status, std::string body) {
  HttpReply reply;
  reply.status = status;
  reply.body = std::move(body);
  reply.body += '\n';
  return reply;
}

}  // namespace

std::string Probes::not_ready_reason() const {
  const auto config = process_.current_config();
  if (!config) return "no configuration loaded";
  switch (state_.load(std::memory_order_relaxed)) {
    case State::kStarting:
      return "not accepting clients yet";
    case State::kDraining:
      return "draining: finishing open requests before exiting";
    case State::kServing:
      break;
  }
  // A reloaded configuration may change the number (http.listen itself needs a restart).
  const auto need = config->http ? config->http->ready_min_nodes_up : ready_min_nodes_up_;
  std::size_t up = 0;
  const auto nodes = node_totals(process_);
  for (const auto& node : nodes) up += node.up ? 1 : 0;
  if (up < need) {
    return std::to_string(up) + " of " + std::to_string(nodes.size()) + " nodes up, need " +
           std::to_string(need);
  }
  if (config->cache.ready_waits_for_warming && process_.cache_stats &&
      !process_.cache_stats->warming_done.load()) {
    return "warming the cache (cache.ready_waits_for_warming)";
  }
  return {};
}

HttpReply Probes::respond(std::string_view method, std::string_view target) const {
  const auto path = target.substr(0, target.find('?'));
  bool known = false;
  for (const auto p : kPaths) known = known || p == path;
  if (!known) return text(404, "not found; try /metrics, /healthz, /readyz or /debug/hotkeys");
  if (method != "GET" && method != "HEAD") {
    auto reply = text(405, "method not allowed; use GET or HEAD");
    reply.allow = kAllowed;
    return reply;
  }
  if (path == "/metrics") {
    HttpReply reply;
    reply.content_type = kMetricsContentType;
    auto families = collector_.Collect();
    if (http_stats_ != nullptr) collect_http_metrics(*http_stats_, families);
    reply.body = serialize(families);
    return reply;
  }
  if (path == "/debug/hotkeys") {
    const auto mark = target.find('?');
    std::string error;
    auto body = hotkeys_json(
        process_, mark == std::string_view::npos ? std::string_view() : target.substr(mark + 1),
        error);
    if (!error.empty()) return text(400, std::move(error));
    HttpReply reply = text(200, std::move(body));
    reply.content_type = kJsonContentType;
    return reply;
  }
  if (path == "/healthz") return text(200, "ok");
  auto reason = not_ready_reason();
  return reason.empty() ? text(200, "ready") : text(503, std::move(reason));
}

}  // namespace sidecache::metrics
