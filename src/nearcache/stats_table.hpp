// The near cache's Prometheus families, one row per StoreStats field: name, help and the field,
// exported by metrics/near_cache_metrics.cpp. Asio-free.
#pragma once

#include <cstdint>
#include <string_view>

#include "nearcache/stats.hpp"

namespace sidecache::nearcache {

struct StatSpec {
  const char* name;
  const char* help;
  std::uint64_t StoreStats::*member;
};

inline constexpr StatSpec kCounters[] = {
    {"sidecache_l1_hits_total", "GET/MGET keys answered from the near cache", &StoreStats::hits},
    {"sidecache_l1_misses_total", "Near cache look-ups that found nothing (or an expired entry)",
     &StoreStats::misses},
    {"sidecache_l1_inserts_total", "Entries stored in the near cache's window",
     &StoreStats::inserts},
    {"sidecache_l1_admissions_total", "Window candidates admitted to the main space by W-TinyLFU",
     &StoreStats::admissions},
    {"sidecache_l1_rejections_total",
     "Window candidates W-TinyLFU dropped (less frequent than main's victim)",
     &StoreStats::rejections},
    {"sidecache_l1_evictions_total", "Entries dropped to make room", &StoreStats::evictions},
    {"sidecache_l1_expirations_total", "Entries dropped at their expiry (Redis TTL or max_ttl)",
     &StoreStats::expirations},
    {"sidecache_l1_oversized_total", "Values not stored: larger than the per-entry limit",
     &StoreStats::oversized},
    {"sidecache_l1_fill_race_drops_total",
     "Replies not stored because their key was invalidated while the read was in flight",
     &StoreStats::fill_race_drops},
};

inline constexpr StatSpec kGauges[] = {
    {"sidecache_l1_bytes", "Bytes charged to near cache entries and hash tables",
     &StoreStats::bytes},
    {"sidecache_l1_fixed_bytes", "Bytes of the near cache's fixed structures (sketches, slots)",
     &StoreStats::fixed_bytes},
    {"sidecache_l1_entries", "Entries in the near cache", &StoreStats::entries},
};

}  // namespace sidecache::nearcache
