#include "cache/recent_hits.hpp"

#include <time.h>

#include <algorithm>
#include <functional>
#include <limits>

namespace sidecache::cache {
namespace {

std::uint32_t tag_of(std::uint64_t entry) { return static_cast<std::uint32_t>(entry >> 32); }
std::uint32_t expiry_of(std::uint64_t entry) { return static_cast<std::uint32_t>(entry); }

}  // namespace

RecentHits::Place RecentHits::place(std::string_view key) {
  const std::uint64_t mixed = std::hash<std::string_view>{}(key)*0x9E3779B97F4A7C15ull;
  const auto tag = static_cast<std::uint32_t>(mixed >> 32);
  return {static_cast<std::size_t>(mixed) & (kEntries - 2), tag == 0 ? 1u : tag};
}

RecentHits::RecentHits() : epoch_(now()) {}

RecentHits::~RecentHits() { delete[] table_.load(); }

RecentHits::Clock::time_point RecentHits::now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return Clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

std::uint32_t RecentHits::ticks(Clock::time_point t) const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - epoch_).count();
  if (ms <= 0) return 0;
  return static_cast<std::uint32_t>(
      std::min<std::int64_t>(ms / kTickMs, std::numeric_limits<std::uint32_t>::max()));
}

bool RecentHits::expects_hit(Place p, Clock::time_point now) const {
  const auto* table = table_.load(std::memory_order_acquire);
  if (table == nullptr) return false;
  const std::uint32_t t = ticks(now);
  for (std::size_t i = p.set; i < p.set + 2; ++i) {
    const std::uint64_t e = table[i].load(std::memory_order_relaxed);
    if (tag_of(e) == p.tag) return t < expiry_of(e);
  }
  return false;
}

void RecentHits::hit(Place p, Clock::time_point now, std::int64_t remaining_ms) {
  auto* table = table_.load(std::memory_order_acquire);
  if (table == nullptr) {
    auto* made = new std::atomic<std::uint64_t>[kEntries]();
    if (table_.compare_exchange_strong(table, made, std::memory_order_acq_rel)) {
      table = made;
    } else {
      delete[] made;  // another worker's table won
    }
  }
  // Rounded down: the entry never claims a value lasts longer than it does.
  const std::uint32_t expires = remaining_ms < 0
                                    ? std::numeric_limits<std::uint32_t>::max()
                                    : ticks(now + std::chrono::milliseconds(remaining_ms));
  const std::uint64_t entry = (std::uint64_t{p.tag} << 32) | expires;
  auto& a = table[p.set];
  auto& b = table[p.set + 1];
  const std::uint64_t ea = a.load(std::memory_order_relaxed);
  const std::uint64_t eb = b.load(std::memory_order_relaxed);
  // The key's own entry, else a free one, else the one expiring first. A hot key's entry is
  // rewritten only when its expiry moved, so its cache line is not written on every hit.
  auto& e = tag_of(ea) == p.tag   ? a
            : tag_of(eb) == p.tag ? b
            : ea == 0             ? a
            : eb == 0             ? b
                                  : (expiry_of(ea) <= expiry_of(eb) ? a : b);
  if (e.load(std::memory_order_relaxed) != entry) e.store(entry, std::memory_order_relaxed);
}

void RecentHits::forget(std::string_view key) {
  auto* table = table_.load(std::memory_order_acquire);
  if (table == nullptr) return;
  const Place p = place(key);
  for (std::size_t i = p.set; i < p.set + 2; ++i) {
    if (tag_of(table[i].load(std::memory_order_relaxed)) == p.tag) {
      table[i].store(0, std::memory_order_relaxed);
    }
  }
}

}  // namespace sidecache::cache
