// XFetch early refresh (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache
// Stampede Prevention", VLDB 2015): a reader refreshes a value ahead of its expiry when
//   now - delta * beta * ln(u) >= expiry,   u uniform in (0, 1]
// delta being the time a recomputation takes. With `remaining = expiry - now` this is
// -delta * beta * ln(u) >= remaining, i.e. it fires with probability exp(-remaining /
// (delta * beta)): negligible while many deltas remain, certain at expiry. Not a linear
// age/ttl probability, which the paper shows is not optimal. Asio-free.
#pragma once

#include <atomic>
#include <cstdint>

namespace sidecache::cache {

// True when a reader should refresh now. `remaining_ms` is the time to logical expiry,
// `delta_ms` the measured recompute time, `beta` >= 0 (0: never early), `u` in (0, 1].
bool xfetch_should_refresh(double remaining_ms, double delta_ms, double beta, double u);

// Exponentially weighted moving average of load times (alpha = 0.2), lock-free: every cache
// hit reads it (one relaxed load), loads update it with a compare-and-swap.
class Ewma {
 public:
  void observe(double value_ms);
  double get() const;  // 0 until the first observation

 private:
  // The average's bit pattern; kUnseeded (a NaN) until the first observation.
  static constexpr std::uint64_t kUnseeded = 0x7ff8000000000001ULL;
  std::atomic<std::uint64_t> bits_{kUnseeded};
};

}  // namespace sidecache::cache
