// INFO in Redis's format: "# Section" headers, "field:value" lines, CRLF separated.
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "dispatch/local_commands.hpp"
#include "nearcache/near_cache.hpp"
#include "sidecache/node_totals.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::dispatch {
namespace {

struct Totals {
  std::uint64_t accepted = 0, rejected = 0, commands = 0, protocol_errors = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  std::int64_t clients = 0;
};

Totals sum(const ProcessState& process) {
  Totals t;
  for (const auto& w : process.workers) {
    t.accepted += w->connections_accepted.get();
    t.rejected += w->connections_rejected.get();
    t.commands += w->commands.get();
    t.protocol_errors += w->protocol_errors.get();
    t.bytes_in += w->bytes_in.get();
    t.bytes_out += w->bytes_out.get();
    t.clients += w->clients.get();
  }
  return t;
}

void field(std::string& out, std::string_view name, const std::string& value) {
  out.append(name).append(":").append(value).append("\r\n");
}
template <typename T>
void field(std::string& out, std::string_view name, T value) {
  field(out, name, std::to_string(value));
}

}  // namespace

std::string info_text(const ProcessState& process, const NodeSender& nodes,
                      std::span<const std::string_view> sections) {
  bool all = sections.empty();
  auto wanted = [&](std::string_view name) {
    if (all) return true;
    for (const auto s : sections) {
      const std::string l = lower(s);
      if (l == name || l == "all" || l == "default" || l == "everything") return true;
    }
    return false;
  };
  const Totals t = sum(process);
  const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now() - process.started)
                          .count();
  const auto snapshot = process.current_config();
  const auto& config = *snapshot;
  std::string out;
  if (wanted("server")) {
    out.append("# Server\r\n");
    field(out, "redis_version", std::string("7.0.0"));
    field(out, "sidecache_version", std::string(SIDECACHE_VERSION));
    field(out, "redis_mode", std::string("standalone"));
    field(out, "arch_bits", sizeof(void*) * 8);
    field(out, "process_id", static_cast<long>(::getpid()));
    field(out, "tcp_port", config.listen.port);
    field(out, "uptime_in_seconds", uptime);
    field(out, "uptime_in_days", uptime / 86400);
    field(out, "io_threads_active", 0);
    field(out, "workers", process.workers.size());
    field(out, "config_file", config.source);
    out.append("\r\n");
  }
  if (wanted("clients")) {
    out.append("# Clients\r\n");
    field(out, "connected_clients", t.clients);
    field(out, "maxclients", config.limits.max_clients);
    field(out, "blocked_clients", 0);
    out.append("\r\n");
  }
  if (wanted("persistence")) {
    out.append("# Persistence\r\n");
    field(out, "loading", 0);
    out.append("\r\n");
  }
  if (wanted("stats")) {
    out.append("# Stats\r\n");
    field(out, "total_connections_received", t.accepted);
    field(out, "total_commands_processed", t.commands);
    field(out, "total_net_input_bytes", t.bytes_in);
    field(out, "total_net_output_bytes", t.bytes_out);
    field(out, "rejected_connections", t.rejected);
    field(out, "total_error_replies_protocol", t.protocol_errors);
    out.append("\r\n");
  }
  if (wanted("sidecache")) {
    std::uint32_t up = 0;
    for (std::uint32_t i = 0; i < nodes.node_count(); ++i) up += nodes.node_up(i) ? 1 : 0;
    out.append("# Sidecache\r\n");
    field(out, "nodes", config.pool.nodes.size());
    field(out, "nodes_up", up);
    field(out, "hash", std::string(route::hash_kind_name(config.pool.hash)));
    field(out, "distribution", std::string("ketama"));
    field(
        out, "down_policy",
        std::string(config.pool.down_policy == config::DownPolicy::kRemap ? "remap" : "fail_fast"));
    field(out, "config_digest", config.digest);
    field(out, "config_reloads_ok", process.reloads_ok.load());
    field(out, "config_reloads_failed", process.reloads_failed.load());
    out.append("\r\n");
  }
  if (wanted("nodes")) {
    // One line per node, like INFO keyspace's "db0:keys=..,expires=..".
    out.append("# Nodes\r\n");
    std::vector<std::string> names;
    for (const auto& n : config.pool.nodes) names.push_back(n.name);
    const auto totals = node_totals(process.workers, names);
    for (std::uint32_t i = 0; i < config.pool.nodes.size(); ++i) {
      const auto& n = config.pool.nodes[i];
      const NodeTotals& nt = totals[i];
      const bool is_up = i < nodes.node_count() ? nodes.node_up(i) : true;
      field(out, n.name,
            "addr=" + config::format_endpoint(n.address) + ",weight=" + std::to_string(n.weight) +
                ",state=" + (is_up ? "up" : "down") + ",connections=" +
                std::to_string(nt.connections) + ",inflight=" + std::to_string(nt.inflight) +
                ",requests=" + std::to_string(nt.requests) +
                ",errors=" + std::to_string(nt.errors()));
    }
    out.append("\r\n");
  }
  if (process.near_cache && wanted("nearcache")) {
    const nearcache::NearCache& near = *process.near_cache;
    const nearcache::StoreStats st = near.store().stats();
    out.append("# NearCache\r\n");
    field(out, "l1_max_memory", near.store().max_memory());
    field(out, "l1_bytes", st.bytes + st.fixed_bytes);
    field(out, "l1_entries", st.entries);
    field(out, "l1_hits", st.hits);
    field(out, "l1_misses", st.misses);
    field(out, "l1_evictions", st.evictions);
    field(out, "l1_fill_race_drops", st.fill_race_drops);
    for (std::size_t i = 0; i < nearcache::kInvalidationReasonNames.size(); ++i) {
      field(out, std::string("l1_invalidations_") + nearcache::kInvalidationReasonNames[i],
            st.invalidations[i]);
    }
    field(out, "l1_tracking_nodes_up", near.nodes_up());
    // The lag probes of every node: how many came back, and the p99's bucket bound in µs
    // (the worst node's; 0 with none yet, -1 above the last bucket).
    std::uint64_t probes = 0;
    double p99 = 0;
    near.lag().for_each([&](const std::string&, const nearcache::LagHistogram& h) {
      probes += h.count();
      p99 = std::max(p99, h.quantile_bound(0.99));
    });
    field(out, "l1_promoted_keys", near.promotions().active_count());
    field(out, "l1_lag_probes", probes);
    field(out, "l1_lag_p99_us",
          std::isinf(p99) ? std::int64_t{-1} : static_cast<std::int64_t>(p99 * 1e6 + 0.5));
    out.append("\r\n");
  }
  if (out.size() >= 2) out.resize(out.size() - 2);  // no blank line after the last section
  return out;
}

}  // namespace sidecache::dispatch
