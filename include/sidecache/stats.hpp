// Statistics every module writes on the data path and the metrics endpoint reads. Each value is
// written by one worker thread only (plain relaxed load+store, no locked instructions) and
// summed over workers when scraped. No Prometheus types here: the hot path stays free of them.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sidecache/util/counter.hpp"

namespace sidecache {

// Latency histogram with fixed buckets (upper bounds in seconds), Prometheus-style cumulative
// on export. observe() is a short linear scan: most requests land in the first buckets.
class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0};

  void observe(std::chrono::nanoseconds d) {
    const double seconds = static_cast<double>(d.count()) * 1e-9;
    std::size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].add();
    sum_ns_.add(static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count()));
  }
  // Non-cumulative count of bucket i (i == kBounds.size(): above the last bound).
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }
  double sum_seconds() const { return static_cast<double>(sum_ns_.get()) * 1e-9; }

 private:
  std::array<Counter, kBounds.size() + 1> buckets_;
  Counter sum_ns_;
};

// One backend node as seen by one worker.
struct NodeStats {
  explicit NodeStats(std::string n) : name(std::move(n)) { healthy.add(1); }
  const std::string name;
  Counter requests;
  Counter errors_timeout;     // answered with a timeout error
  Counter errors_connection;  // failed because the connection broke or could not be made
  Counter errors_reply;       // the node answered with an error reply
  Counter connects;           // successful connects (the first and every reconnect)
  Counter connect_failures;
  Counter auth_failures;  // connects the node refused at AUTH / HELLO (wrong credentials)
  Counter tls_failures;   // connects whose TLS handshake failed (certificate, name, protocol)
  Counter retries;        // read-only requests sent again after a connection broke
  Counter ejections;      // marked down by the health checker
  Gauge healthy;          // 1 unless marked down (set in the constructor)
  Gauge connections;      // connections currently established
  Gauge inflight;         // requests sent and not yet answered
  Histogram latency;
};

enum class CommandClass : std::uint8_t { kRead, kWrite, kMultiKey, kLocal, kOther, kCount };
inline constexpr std::array<const char*, 5> kCommandClassNames = {"read", "write", "multikey",
                                                                  "local", "other"};

struct WorkerStats {
  explicit WorkerStats(std::size_t command_ids)
      : commands_ok(command_ids), commands_error(command_ids) {}

  Counter connections_accepted;
  Counter connections_rejected;
  Gauge clients;
  Counter commands;  // all requests framed
  Counter protocol_errors;
  Counter bytes_in;
  Counter bytes_out;
  Gauge output_bytes;                   // replies buffered for this worker's clients, all forms
  Gauge largest_output;                 // the largest client's, as of the last over-total check
  Counter clients_closed_output;        // closed beyond limits.max_output_bytes
  Counter clients_closed_total_output;  // closed beyond limits.max_total_output_bytes
  std::vector<Counter> commands_ok;     // by CommandInfo::id
  std::vector<Counter> commands_error;  // by CommandInfo::id (any error reply)
  Counter commands_unknown;             // unknown command names (not labelled: unbounded)
  Gauge resp3_clients;                  // clients that switched to RESP3 with HELLO 3
  Counter script_reloads;               // NOSCRIPT healed: SCRIPT LOAD sent to a node, retried
  Counter script_registry_full;         // script bodies not remembered (registry at its cap)
  Counter auth_failures;                // AUTH / HELLO AUTH with a wrong user or password
  Counter auth_closed;                  // connections closed after auth.max_failures
  Counter access_denied;                // NOAUTH, NOPERM and commands.deny replies
  Counter tls_handshakes;               // TLS handshakes completed on listen_tls
  Counter tls_handshake_failures;       // failed or timed out
  std::array<Histogram, static_cast<std::size_t>(CommandClass::kCount)> latency;

  // Session modes on dedicated node connections (server/transaction, blocking, pubsub).
  Counter transactions_exec;     // EXEC sent to a node
  Counter transactions_discard;  // DISCARD
  Counter transactions_aborted;  // EXEC answered EXECABORT (an error was queued)
  Gauge blocking_inflight;       // blocking commands waiting for their reply
  Gauge subscribed_clients;      // clients with at least one subscription
  Counter pubsub_messages;       // Pub/Sub messages delivered to clients

  // Cluster pools (backend/pool.cpp): requests sent again after a node's redirect or retry.
  Counter cluster_moved;       // -MOVED followed
  Counter cluster_ask;         // -ASK followed (ASKING + the request)
  Counter cluster_retry;       // -TRYAGAIN / -CLUSTERDOWN, sent again after a wait
  Counter shard_resubscribes;  // shard channels a node gave up (slot moved), subscribed again

  // Node statistics of this worker's current pool. The list changes on reload (under the
  // mutex); the values are written by the worker without it.
  std::mutex nodes_mutex;
  std::vector<std::shared_ptr<NodeStats>> nodes;
};

}  // namespace sidecache
