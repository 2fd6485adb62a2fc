// Every metric family, from tables: name, help, and where the value comes from (TWEM nc_stats.h,
// PEL's metric tables). Values are summed over workers at scrape time.
#include "metrics/collector.hpp"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <limits>

#include "cache/stats.hpp"
#include "config/config.hpp"
#include "metrics/families.hpp"
#include "metrics/hotkeys_view.hpp"
#include "resp/command_table.hpp"

namespace sidecache::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr std::size_t kBuckets = Histogram::kBounds.size() + 1;

struct WorkerCounterSpec {
  const char* name;
  const char* help;
  Counter WorkerStats::*member;
};

constexpr WorkerCounterSpec kWorkerCounters[] = {
    {"sidecache_client_connections_accepted_total", "Client connections accepted.",
     &WorkerStats::connections_accepted},
    {"sidecache_client_connections_rejected_total",
     "Client connections refused because limits.max_clients was reached.",
     &WorkerStats::connections_rejected},
    {"sidecache_client_bytes_received_total", "Bytes read from client connections.",
     &WorkerStats::bytes_in},
    {"sidecache_client_bytes_sent_total", "Bytes written to client connections.",
     &WorkerStats::bytes_out},
    {"sidecache_protocol_errors_total", "Client connections closed after a RESP protocol error.",
     &WorkerStats::protocol_errors},
    {"sidecache_unknown_commands_total",
     "Commands with a name sidecache does not know, answered with an error.",
     &WorkerStats::commands_unknown},
    {"sidecache_script_reloads_total",
     "EVALSHA answered NOSCRIPT by a node and healed: the script body sidecache remembered was "
     "loaded on that node (SCRIPT LOAD) and the EVALSHA sent again.",
     &WorkerStats::script_reloads},
    {"sidecache_script_registry_full_total",
     "Script bodies not remembered for NOSCRIPT healing because the registry was full.",
     &WorkerStats::script_registry_full},
    {"sidecache_auth_failures_total",
     "AUTH and HELLO AUTH attempts with an unknown user, a wrong password or a user that is off.",
     &WorkerStats::auth_failures},
    {"sidecache_auth_failure_disconnects_total",
     "Client connections closed after auth.max_failures failed AUTH attempts.",
     &WorkerStats::auth_closed},
    {"sidecache_access_denied_total",
     "Commands refused by access control: NOAUTH, NOPERM (command, key or channel) and "
     "commands.deny.",
     &WorkerStats::access_denied},
    {"sidecache_tls_handshakes_total", "TLS handshakes completed on listen_tls.",
     &WorkerStats::tls_handshakes},
    {"sidecache_tls_handshake_failures_total",
     "TLS handshakes on listen_tls that failed (bad or missing client certificate, protocol "
     "error) or timed out.",
     &WorkerStats::tls_handshake_failures},
    {"sidecache_pubsub_messages_total",
     "Pub/Sub messages delivered to subscribed clients (a pattern match counts once per "
     "pattern, as Redis sends it).",
     &WorkerStats::pubsub_messages},
};

struct WorkerGaugeSpec {
  const char* name;
  const char* help;
  Gauge WorkerStats::*member;
};

constexpr WorkerGaugeSpec kWorkerGauges[] = {
    {"sidecache_blocking_commands",
     "Blocking commands (BLPOP, XREAD BLOCK, ...) waiting for their reply on a dedicated node "
     "connection.",
     &WorkerStats::blocking_inflight},
    {"sidecache_pubsub_clients", "Clients with at least one Pub/Sub subscription.",
     &WorkerStats::subscribed_clients},
};

struct TransactionResult {
  const char* label;
  Counter WorkerStats::*member;
};

constexpr TransactionResult kTransactionResults[] = {
    {"exec", &WorkerStats::transactions_exec},
    {"discard", &WorkerStats::transactions_discard},
    {"aborted", &WorkerStats::transactions_aborted},
};

struct NodeCounterSpec {
  const char* name;
  const char* help;
  std::uint64_t NodeTotals::*member;
};

constexpr NodeCounterSpec kNodeCounters[] = {
    {"sidecache_node_requests_total", "Requests sent (or failed fast) to a backend node.",
     &NodeTotals::requests},
    {"sidecache_node_connects_total",
     "Connections established to a backend node (the first and every reconnect).",
     &NodeTotals::connects},
    {"sidecache_node_connect_failures_total", "Failed attempts to connect to a backend node.",
     &NodeTotals::connect_failures},
    {"sidecache_node_retries_total",
     "Read-only requests sent again after the node connection broke before their reply.",
     &NodeTotals::retries},
    {"sidecache_node_ejections_total",
     "Times the health checker marked the node down (consecutive failures).",
     &NodeTotals::ejections},
};

struct NodeGaugeSpec {
  const char* name;
  const char* help;
  std::int64_t NodeTotals::*member;
};

constexpr NodeGaugeSpec kNodeGauges[] = {
    {"sidecache_node_connections", "Connections to a backend node currently established.",
     &NodeTotals::connections},
    {"sidecache_node_inflight_requests", "Requests sent to a backend node and not yet answered.",
     &NodeTotals::inflight},
};

struct ErrorKind {
  const char* label;
  std::uint64_t NodeTotals::*member;
};

constexpr ErrorKind kErrorKinds[] = {
    {"timeout", &NodeTotals::errors_timeout},     {"connection", &NodeTotals::errors_connection},
    {"reply", &NodeTotals::errors_reply},         {"node_auth_failed", &NodeTotals::auth_failures},
    {"tls_handshake", &NodeTotals::tls_failures},
};

void add_histogram(MetricFamily& family, const std::vector<std::uint64_t>& buckets, double sum,
                   Labels labels) {
  ClientMetric metric;
  metric.label = std::move(labels);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    cumulative += buckets[i];
    const double bound = i < Histogram::kBounds.size() ? Histogram::kBounds[i]
                                                       : std::numeric_limits<double>::infinity();
    metric.histogram.bucket.push_back({cumulative, bound});
  }
  metric.histogram.sample_count = cumulative;
  metric.histogram.sample_sum = sum;
  family.metric.push_back(std::move(metric));
}

void collect_clients(const ProcessStats& process, std::vector<MetricFamily>& out) {
  std::int64_t clients = 0;
  for (const auto& w : process.workers) clients += w->clients.get();
  add_value(add_family(out, "sidecache_client_connections", "Client connections currently open.",
                       MetricType::Gauge),
            static_cast<double>(clients));
  std::int64_t resp3 = 0;
  for (const auto& w : process.workers) resp3 += w->resp3_clients.get();
  add_value(add_family(out, "sidecache_client_resp3_connections",
                       "Client connections speaking RESP3 (after HELLO 3).", MetricType::Gauge),
            static_cast<double>(resp3));
  std::int64_t output = 0;
  for (const auto& w : process.workers) output += w->output_bytes.get();
  add_value(add_family(out, "sidecache_client_output_bytes",
                       "Reply bytes buffered for clients (being written, queued, parked out of "
                       "order, held by multi-node merges), against limits.max_total_output_bytes.",
                       MetricType::Gauge),
            static_cast<double>(output));
  auto& closed = add_family(
      out, "sidecache_client_connections_closed_total",
      "Client connections closed by sidecache, by reason: output_limit (more replies buffered "
      "than limits.max_output_bytes and the client does not read), total_output_limit (among the "
      "largest when all clients' buffered replies exceeded limits.max_total_output_bytes).",
      MetricType::Counter);
  std::uint64_t by_client = 0;
  std::uint64_t by_total = 0;
  for (const auto& w : process.workers) {
    by_client += w->clients_closed_output.get();
    by_total += w->clients_closed_total_output.get();
  }
  add_value(closed, static_cast<double>(by_client), {{"reason", "output_limit"}});
  add_value(closed, static_cast<double>(by_total), {{"reason", "total_output_limit"}});
  for (const auto& spec : kWorkerCounters) {
    std::uint64_t total = 0;
    for (const auto& w : process.workers) total += ((*w).*(spec.member)).get();
    add_value(add_family(out, spec.name, spec.help, MetricType::Counter),
              static_cast<double>(total));
  }
}

// Transactions, blocking commands, Pub/Sub, and the dedicated node connections they use.
void collect_sessions(const ProcessStats& process, std::vector<MetricFamily>& out) {
  auto& transactions = add_family(out, "sidecache_transactions_total",
                                  "Transactions ended, by result: exec (EXEC sent to the node), "
                                  "discard, aborted (EXECABORT after a queued error).",
                                  MetricType::Counter);
  for (const auto& result : kTransactionResults) {
    std::uint64_t total = 0;
    for (const auto& w : process.workers) total += ((*w).*(result.member)).get();
    add_value(transactions, static_cast<double>(total), {{"result", result.label}});
  }
  for (const auto& spec : kWorkerGauges) {
    std::int64_t total = 0;
    for (const auto& w : process.workers) total += ((*w).*(spec.member)).get();
    add_value(add_family(out, spec.name, spec.help, MetricType::Gauge), static_cast<double>(total));
  }
  auto& dedicated = add_family(
      out, "sidecache_node_dedicated_connections",
      "Dedicated node connections open or opening (transactions, blocking commands, Pub/Sub), "
      "counted against pool.max_dedicated_connections.",
      MetricType::Gauge);
  auto used = process.dedicated_links.snapshot();
  if (const auto config = process.current_config()) {
    for (const auto& node : config->pool.nodes) {
      const bool listed = std::any_of(used.begin(), used.end(),
                                      [&](const auto& u) { return u.first == node.name; });
      if (!listed) used.emplace_back(node.name, 0);
    }
  }
  for (const auto& [name, count] : used) {
    add_value(dedicated, static_cast<double>(count), {{"node", name}});
  }
}

// Commands with a nonzero count only, so the output stays small (the table has ~400 ids).
void collect_commands(const ProcessStats& process, std::vector<MetricFamily>& out) {
  auto& family = add_family(out, "sidecache_commands_total",
                            "Commands answered, by command name and result (ok, or any error "
                            "reply). Subcommands are named container|sub, e.g. config|get.",
                            MetricType::Counter);
  const auto add = [&](const resp::CommandInfo& info) {
    std::uint64_t ok = 0;
    std::uint64_t error = 0;
    for (const auto& w : process.workers) {
      if (info.id < w->commands_ok.size()) ok += w->commands_ok[info.id].get();
      if (info.id < w->commands_error.size()) error += w->commands_error[info.id].get();
    }
    const std::string name(info.name);
    if (ok != 0) add_value(family, static_cast<double>(ok), {{"command", name}, {"result", "ok"}});
    if (error != 0) {
      add_value(family, static_cast<double>(error), {{"command", name}, {"result", "error"}});
    }
  };
  for (const auto& info : resp::CommandTable::instance().all()) {
    add(info);
    for (const auto& sub : info.subcommands) add(sub);
  }

  auto& latency = add_family(out, "sidecache_request_duration_seconds",
                             "Time from reading a command to its reply being ready, by command "
                             "class (read, write, multikey, local, other).",
                             MetricType::Histogram);
  for (std::size_t c = 0; c < kCommandClassNames.size(); ++c) {
    std::vector<std::uint64_t> buckets(kBuckets, 0);
    double sum = 0;
    for (const auto& w : process.workers) {
      for (std::size_t i = 0; i < kBuckets; ++i) buckets[i] += w->latency[c].bucket(i);
      sum += w->latency[c].sum_seconds();
    }
    add_histogram(latency, buckets, sum, {{"class", kCommandClassNames[c]}});
  }
}

void collect_nodes(const ProcessStats& process, std::vector<MetricFamily>& out) {
  const auto nodes = node_totals(process);
  const auto node_label = [](const NodeTotals& n) { return Labels{{"node", n.name}}; };
  auto& up = add_family(out, "sidecache_node_up",
                        "1 when at least one worker has a connection to the node established.",
                        MetricType::Gauge);
  for (const auto& n : nodes) add_value(up, n.up ? 1 : 0, node_label(n));
  auto& healthy =
      add_family(out, "sidecache_node_healthy",
                 "1 unless the health checker has marked the node down.", MetricType::Gauge);
  for (const auto& n : nodes) add_value(healthy, n.healthy ? 1 : 0, node_label(n));
  for (const auto& spec : kNodeCounters) {
    auto& family = add_family(out, spec.name, spec.help, MetricType::Counter);
    for (const auto& n : nodes)
      add_value(family, static_cast<double>(n.*(spec.member)), node_label(n));
  }
  auto& errors = add_family(out, "sidecache_node_errors_total",
                            "Failed backend requests by kind: timeout (no reply in time), "
                            "connection (broken, unavailable or overloaded), reply (error reply); "
                            "node_auth_failed and tls_handshake count connects the node refused "
                            "at AUTH/HELLO or whose TLS handshake failed.",
                            MetricType::Counter);
  for (const auto& n : nodes) {
    for (const auto& kind : kErrorKinds) {
      add_value(errors, static_cast<double>(n.*(kind.member)),
                {{"node", n.name}, {"kind", kind.label}});
    }
  }
  for (const auto& spec : kNodeGauges) {
    auto& family = add_family(out, spec.name, spec.help, MetricType::Gauge);
    for (const auto& n : nodes)
      add_value(family, static_cast<double>(n.*(spec.member)), node_label(n));
  }
  auto& latency = add_family(out, "sidecache_node_request_duration_seconds",
                             "Time from sending a request to a backend node to its reply.",
                             MetricType::Histogram);
  for (const auto& n : nodes) add_histogram(latency, n.buckets, n.latency_sum, node_label(n));
}

void collect_process_info(const ProcessStats& process, std::vector<MetricFamily>& out) {
  auto& reloads = add_family(out, "sidecache_config_reloads_total",
                             "Configuration reloads, by result (ok, or failed: the old one stays).",
                             MetricType::Counter);
  add_value(reloads, static_cast<double>(process.reloads_ok.load(std::memory_order_relaxed)),
            {{"result", "ok"}});
  add_value(reloads, static_cast<double>(process.reloads_failed.load(std::memory_order_relaxed)),
            {{"result", "failed"}});

  const auto config = process.current_config();
  auto& info = add_family(out, "sidecache_config_info",
                          "The loaded configuration: FNV-1a 64 hash of the file's bytes, and "
                          "its path. Always 1.",
                          MetricType::Gauge);
  if (config) add_value(info, 1, {{"file", config->source}, {"hash", config->digest}});
  add_value(
      add_family(out, "sidecache_build_info", "sidecache's version. Always 1.", MetricType::Gauge),
      1, {{"version", SIDECACHE_VERSION}});
  const std::chrono::duration<double> uptime = std::chrono::steady_clock::now() - process.started;
  add_value(add_family(out, "sidecache_uptime_seconds", "Seconds since sidecache started.",
                       MetricType::Gauge),
            uptime.count());
}

void collect_cache(const ProcessStats& process, std::vector<MetricFamily>& out) {
  if (!process.cache_stats) return;
  const auto policies = process.cache_stats->all();
  const auto label = [](const std::string& name) { return Labels{{"policy", name}}; };
  for (const auto& spec : cache::kCacheCounters) {
    auto& family = add_family(out, spec.name, spec.help, MetricType::Counter);
    for (const auto& [name, st] : policies) {
      add_value(family, static_cast<double>(((*st).*(spec.member)).get()), label(name));
    }
  }
  auto& stale = add_family(out, "sidecache_cache_stale_total",
                           "Stale values answered, by reason: swr (within "
                           "stale_while_revalidate, refreshing), error (the load failed; "
                           "within stale_if_error).",
                           MetricType::Counter);
  auto& errors = add_family(out, "sidecache_cache_load_errors_total",
                            "Failed loads by reason: unavailable, timeout, rejected (database), "
                            "queue_full, shutdown, wait_timeout (no result within load_timeout).",
                            MetricType::Counter);
  for (const auto& [name, st] : policies) {
    add_value(stale, static_cast<double>(st->stale_swr.get()),
              {{"policy", name}, {"reason", "swr"}});
    add_value(stale, static_cast<double>(st->stale_error.get()),
              {{"policy", name}, {"reason", "error"}});
    for (std::size_t e = 1; e < cache::kLoadErrorCount; ++e) {
      add_value(errors, static_cast<double>(st->load_errors[e].get()),
                {{"policy", name}, {"reason", cache::kLoadErrorNames[e]}});
    }
  }
  auto& latency = add_family(out, "sidecache_cache_load_duration_seconds",
                             "Time of one database load (a batch), from queueing to result.",
                             MetricType::Histogram);
  for (const auto& [name, st] : policies) {
    std::vector<std::uint64_t> buckets(kBuckets, 0);
    for (std::size_t i = 0; i < kBuckets; ++i) buckets[i] = st->latency_buckets[i].get();
    add_histogram(latency, buckets, static_cast<double>(st->latency_sum_ns.get()) * 1e-9,
                  label(name));
  }
  add_value(add_family(out, "sidecache_cache_warming",
                       "1 while cache warming (startup or reload) is running.", MetricType::Gauge),
            process.cache_stats->warming_done.load() ? 0 : 1);
}

// Cluster pools only: a ring's scrape has none of these families.
void collect_cluster(const ProcessStats& process, std::vector<MetricFamily>& out) {
  const auto config = process.current_config();
  if (!config || config->pool.type != config::PoolType::kCluster) return;
  std::uint64_t moved = 0;
  std::uint64_t ask = 0;
  std::uint64_t retry = 0;
  std::uint64_t resubscribes = 0;
  for (const auto& w : process.workers) {
    moved += w->cluster_moved.get();
    ask += w->cluster_ask.get();
    retry += w->cluster_retry.get();
    resubscribes += w->shard_resubscribes.get();
  }
  auto& redirects = add_family(out, "sidecache_cluster_redirects_total",
                               "Requests to a cluster pool sent again to the node a -MOVED or "
                               "-ASK reply named, by kind.",
                               MetricType::Counter);
  add_value(redirects, static_cast<double>(moved), {{"kind", "moved"}});
  add_value(redirects, static_cast<double>(ask), {{"kind", "ask"}});
  add_value(add_family(out, "sidecache_cluster_retries_total",
                       "Requests to a cluster pool sent again after a -TRYAGAIN or -CLUSTERDOWN "
                       "reply and a short wait.",
                       MetricType::Counter),
            static_cast<double>(retry));
  add_value(add_family(out, "sidecache_cluster_shard_resubscribes_total",
                       "Shard channel subscriptions a cluster node ended because the channel's "
                       "slot moved (its sunsubscribe push), which sidecache subscribed again.",
                       MetricType::Counter),
            static_cast<double>(resubscribes));
  add_value(add_family(out, "sidecache_cluster_slot_map_refreshes_total",
                       "CLUSTER SLOTS answers received (startup, periodic, after a MOVED or a "
                       "node failure, reload).",
                       MetricType::Counter),
            static_cast<double>(process.cluster_refreshes.load(std::memory_order_relaxed)));
  add_value(add_family(out, "sidecache_cluster_slot_map_epoch",
                       "Epoch of the slot map in use: bumped each time the cluster's topology "
                       "changed.",
                       MetricType::Gauge),
            static_cast<double>(process.cluster_epoch.load(std::memory_order_relaxed)));
  // Which sidecache_node_* series are primaries and which replicas (read_from): join on `node`.
  if (!config->pool.slots) return;
  auto& roles = add_family(out, "sidecache_cluster_node_info",
                           "1 per node of the slot map: role primary or replica (replicas with "
                           "their primary); the node label is that of the sidecache_node_* "
                           "series.",
                           MetricType::Gauge);
  for (const auto& primary : config->pool.slots->nodes()) {
    add_value(roles, 1, {{"node", primary.name}, {"role", "primary"}, {"primary", primary.name}});
    for (const auto& replica : primary.replicas) {
      add_value(roles, 1, {{"node", replica.name}, {"role", "replica"}, {"primary", primary.name}});
    }
  }
}

}  // namespace

std::vector<NodeTotals> node_totals(const ProcessStats& process) {
  std::vector<std::string> names;
  if (const auto config = process.current_config()) {
    for (const auto& node : config->pool.nodes) names.push_back(node.name);
  }
  return sidecache::node_totals(process.workers, names);
}

std::vector<MetricFamily> Collector::Collect() const {
  std::vector<MetricFamily> out;
  collect_clients(process_, out);
  collect_commands(process_, out);
  collect_sessions(process_, out);
  collect_nodes(process_, out);
  collect_cache(process_, out);
  collect_process_info(process_, out);
  collect_cluster(process_, out);
  collect_sentinel_metrics(process_, out);
  if (const auto db = process_.db_stats()) collect_db_metrics(*db, out);
  if (process_.write_stats) collect_write_metrics(*process_.write_stats, out);
  collect_hotkey_metrics(process_, out);
  collect_near_cache_metrics(process_, out);
  collect_process_metrics(process_, out);
  return out;
}

std::string serialize(const std::vector<MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace sidecache::metrics
