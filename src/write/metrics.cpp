#include <cstdio>
#include <string>

#include "write/stats.hpp"

namespace sidecache::write {
namespace {

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, const std::string& labels, double v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  char buf[64];
  std::snprintf(buf, sizeof buf, " %.17g\n", v);
  out += buf;
}

void counter(std::string& out, const char* name, const char* help,
             const std::atomic<std::uint64_t>& v) {
  family(out, name, "counter", help);
  sample(out, name, "", static_cast<double>(v.load(std::memory_order_relaxed)));
}

std::string le(double bound) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", bound);
  return std::string("le=\"") + buf + "\"";
}

}  // namespace

void append_metrics(const WriteStats& s, std::string& out) {
  static constexpr const char* kModes[] = {"none", "invalidate", "through", "behind"};
  family(out, "sidecache_write_requests_total", "counter",
         "Client writes to write-mode policy keys, by mode");
  for (std::size_t i = 1; i < 4; ++i) {
    sample(out, "sidecache_write_requests_total", std::string("mode=\"") + kModes[i] + "\"",
           static_cast<double>(s.writes[i].load()));
  }
  family(out, "sidecache_write_policies", "gauge",
         "Cache policies in force by write mode (changes with a reload)");
  for (std::size_t i = 0; i < 4; ++i) {
    sample(out, "sidecache_write_policies", std::string("mode=\"") + kModes[i] + "\"",
           static_cast<double>(s.policies[i].load()));
  }
  counter(out, "sidecache_write_errors_total", "Writes answered with an error", s.write_errors);
  counter(out, "sidecache_write_refused_total",
          "Writes to write-policy keys refused before anything was written (command that does not "
          "map to the row, multi-key write, script, inside MULTI, invalid JSON)",
          s.refused);
  counter(out, "sidecache_write_cache_repairs_total",
          "Write-through: cache write failed after the database commit, key deleted",
          s.cache_repairs);
  counter(out, "sidecache_write_backpressure_total",
          "Write-behind writes that found their queue full", s.backpressure);
  counter(out, "sidecache_write_behind_flushed_total",
          "Write-behind entries acknowledged after their database commit", s.flushed);
  counter(out, "sidecache_write_behind_coalesced_total",
          "Write-behind entries folded into a later write of the same key", s.coalesced);
  counter(out, "sidecache_write_behind_retries_total",
          "Write-behind database writes retried after a failure", s.retries);
  counter(out, "sidecache_write_behind_dead_letters_total",
          "Write-behind entries the database rejected, moved to the dead-letter stream",
          s.dead_letters);
  counter(out, "sidecache_invalidations_total", "Cache keys deleted on a PostgreSQL notification",
          s.invalidations);
  family(out, "sidecache_write_behind_batch_size", "histogram",
         "Entries per write-behind database transaction");
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < s.kBatchBounds.size(); ++i) {
    cum += s.batch_size[i].load();
    sample(out, "sidecache_write_behind_batch_size_bucket",
           le(static_cast<double>(s.kBatchBounds[i])), static_cast<double>(cum));
  }
  cum += s.batch_size[s.kBatchBounds.size()].load();
  sample(out, "sidecache_write_behind_batch_size_bucket", "le=\"+Inf\"", static_cast<double>(cum));
  sample(out, "sidecache_write_behind_batch_size_sum", "",
         static_cast<double>(s.batch_size_sum.load()));
  sample(out, "sidecache_write_behind_batch_size_count", "", static_cast<double>(cum));
  family(out, "sidecache_write_behind_flush_seconds", "histogram",
         "Duration of one write-behind database transaction");
  cum = 0;
  for (std::size_t i = 0; i < s.kLatencyBounds.size(); ++i) {
    cum += s.flush_latency[i].load();
    sample(out, "sidecache_write_behind_flush_seconds_bucket", le(s.kLatencyBounds[i]),
           static_cast<double>(cum));
  }
  cum += s.flush_latency[s.kLatencyBounds.size()].load();
  sample(out, "sidecache_write_behind_flush_seconds_bucket", "le=\"+Inf\"",
         static_cast<double>(cum));
  sample(out, "sidecache_write_behind_flush_seconds_sum", "",
         static_cast<double>(s.flush_latency_ns.load()) / 1e9);
  sample(out, "sidecache_write_behind_flush_seconds_count", "", static_cast<double>(cum));
  family(out, "sidecache_write_behind_queue_depth", "gauge",
         "Entries in the node's write-behind queue (last seen by its flusher)");
  for (const auto& n : s.nodes) {
    sample(out, "sidecache_write_behind_queue_depth", "node=\"" + n->node + "\"",
           static_cast<double>(n->depth.load()));
  }
  family(out, "sidecache_write_behind_oldest_age_seconds", "gauge",
         "Age of the oldest entry in the node's write-behind queue");
  for (const auto& n : s.nodes) {
    sample(out, "sidecache_write_behind_oldest_age_seconds", "node=\"" + n->node + "\"",
           static_cast<double>(n->oldest_age_ms.load()) / 1000.0);
  }
}

}  // namespace sidecache::write
