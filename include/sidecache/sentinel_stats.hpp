// What a sentinel pool counts (the daemon's control thread and its Sentinel subscriptions write
// it; the metrics collector reads it). The table below names the metric families;
// metrics/sentinel_metrics.cpp exports them, each labelled with the master's name.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace sidecache {

struct SentinelStats {
  std::atomic<std::uint64_t> switches{0};         // the pool moved to another primary
  std::atomic<std::uint64_t> resolves{0};         // asks that found a primary (ROLE master)
  std::atomic<std::uint64_t> resolve_errors{0};   // asks that found none
  std::atomic<std::uint64_t> switch_messages{0};  // +switch-master for our master received
  std::atomic<std::int64_t> subscriptions{0};     // Sentinels subscribed to now
};

// A ring of Sentinel groups: the same counters per group, by master name (subscriptions are
// shared by the groups and stay in the process-wide SentinelStats). An entry is made on first
// use and kept, so a reference stays valid for the process's life.
class SentinelGroupStats {
 public:
  SentinelStats& of(const std::string& master) const {
    const std::lock_guard lock(mutex_);
    auto& slot = by_master_[master];
    if (!slot) slot = std::make_unique<SentinelStats>();
    return *slot;
  }

 private:
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::unique_ptr<SentinelStats>> by_master_;
};

struct SentinelCounterSpec {
  const char* name;
  const char* help;
  std::atomic<std::uint64_t> SentinelStats::*member;
};

inline constexpr SentinelCounterSpec kSentinelCounters[] = {
    {"sidecache_sentinel_switches_total",
     "Times a sentinel pool moved to another primary (failover followed).",
     &SentinelStats::switches},
    {"sidecache_sentinel_resolves_total",
     "Asks of the Sentinels that found the primary (verified with ROLE): startup, periodic, "
     "after a +switch-master or a primary marked down, reload.",
     &SentinelStats::resolves},
    {"sidecache_sentinel_resolve_errors_total",
     "Asks of the Sentinels that found no primary (no Sentinel answered, unknown master, or the "
     "named address is not a master).",
     &SentinelStats::resolve_errors},
    {"sidecache_sentinel_switch_messages_total",
     "+switch-master messages received for the pool's master (one per Sentinel per failover).",
     &SentinelStats::switch_messages},
};

}  // namespace sidecache
