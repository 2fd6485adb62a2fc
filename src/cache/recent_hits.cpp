#include "cache/recent_hits.hpp"

#include <algorithm>
#include <functional>
#include <limits>

namespace sidecache::cache {
namespace {

struct Place {
  std::size_t set;    // index of the first of the set's two entries
  std::uint32_t tag;  // never 0
};

Place place(std::string_view key) {
  const std::uint64_t h = std::hash<std::string_view>{}(key)*0x9E3779B97F4A7C15ull;
  const auto tag = static_cast<std::uint32_t>(h >> 32);
  return {static_cast<std::size_t>(h) & (RecentHits::kEntries - 2), tag == 0 ? 1u : tag};
}

}  // namespace

std::uint32_t RecentHits::ticks(Clock::time_point t) const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - epoch_).count();
  if (ms <= 0) return 0;
  return static_cast<std::uint32_t>(
      std::min<std::int64_t>(ms / kTickMs, std::numeric_limits<std::uint32_t>::max()));
}

bool RecentHits::expects_hit(std::string_view key, Clock::time_point now) const {
  if (!table_) return false;
  const Place p = place(key);
  const std::uint32_t t = ticks(now);
  for (std::size_t i = p.set; i < p.set + 2; ++i) {
    if (table_[i].tag == p.tag) return t < table_[i].expires;
  }
  return false;
}

void RecentHits::hit(std::string_view key, Clock::time_point now, std::int64_t remaining_ms) {
  if (!table_) {
    table_ = std::make_unique<Entry[]>(kEntries);
    epoch_ = now;
  }
  const Place p = place(key);
  // Rounded down: the entry never claims a value lasts longer than it does.
  const std::uint32_t expires = remaining_ms < 0
                                    ? std::numeric_limits<std::uint32_t>::max()
                                    : ticks(now + std::chrono::milliseconds(remaining_ms));
  Entry* a = &table_[p.set];
  Entry* b = a + 1;
  // The key's own entry, else the free one, else the one expiring first.
  Entry* e = a->tag == p.tag   ? a
             : b->tag == p.tag ? b
             : a->tag == 0     ? a
             : b->tag == 0     ? b
                               : (a->expires <= b->expires ? a : b);
  e->tag = p.tag;
  e->expires = expires;
}

void RecentHits::forget(std::string_view key) {
  if (!table_) return;
  const Place p = place(key);
  for (std::size_t i = p.set; i < p.set + 2; ++i) {
    if (table_[i].tag == p.tag) table_[i] = Entry{};
  }
}

}  // namespace sidecache::cache
