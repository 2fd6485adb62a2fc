// The invalidation lag of each node, as the tracking connections' probes measure it: a marker
// key written on an ordinary connection, its invalidation push awaited on the tracking
// connection (backend/tracking_link.hpp). One histogram per node name, written by the tracking
// thread only (relaxed Counters), read by the metrics collector and INFO. Asio-free.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "sidecache/util/counter.hpp"

namespace sidecache::nearcache {

class LagHistogram {
 public:
  // Upper bounds in seconds: finely below a millisecond (a loopback push takes tens of µs).
  static constexpr std::array<double, 18> kBounds = {
      0.000025, 0.00005, 0.000075, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.00075,
      0.001,    0.002,   0.005,    0.01,   0.025,   0.05,   0.1,    0.25,   1.0};

  void observe(std::chrono::nanoseconds lag) {
    const std::uint64_t ns = lag.count() < 0 ? 0 : static_cast<std::uint64_t>(lag.count());
    const double seconds = static_cast<double>(ns) * 1e-9;
    std::size_t i = 0;
    while (i < kBounds.size() && seconds > kBounds[i]) ++i;
    buckets_[i].add();
    sum_ns_.add(ns);
  }
  // A probe whose push did not come before the next one was due.
  void lost() { lost_.add(); }

  // Non-cumulative count of bucket i (i == kBounds.size(): above the last bound).
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (const auto& b : buckets_) n += b.get();
    return n;
  }
  double sum_seconds() const { return static_cast<double>(sum_ns_.get()) * 1e-9; }
  std::uint64_t lost_count() const { return lost_.get(); }
  // The upper bound of the bucket holding quantile q (0 < q <= 1) in seconds; 0 with no
  // samples, +inf when it lies above the last bound.
  double quantile_bound(double q) const;

 private:
  std::array<Counter, kBounds.size() + 1> buckets_;
  Counter sum_ns_;
  Counter lost_;
};

// The histograms by node name. A node keeps its histogram across reloads; entries are never
// removed (a node renamed away keeps its last figures, a few hundred bytes).
class LagBook {
 public:
  // The node's histogram, created on first use; the reference stays valid.
  LagHistogram& node(const std::string& name);
  void for_each(const std::function<void(const std::string&, const LagHistogram&)>& f) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<LagHistogram>> nodes_;
};

}  // namespace sidecache::nearcache
