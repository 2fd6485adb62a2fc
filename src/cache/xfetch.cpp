#include "cache/xfetch.hpp"

#include <bit>
#include <cmath>

namespace sidecache::cache {

bool xfetch_should_refresh(double remaining_ms, double delta_ms, double beta, double u) {
  if (remaining_ms <= 0) return true;
  if (beta <= 0 || delta_ms <= 0) return false;
  if (u <= 0) u = 1e-300;  // ln(0) would be -inf: treat as the smallest positive draw
  if (u > 1) u = 1;
  return -delta_ms * beta * std::log(u) >= remaining_ms;
}

void Ewma::observe(double value_ms) {
  std::uint64_t old = bits_.load(std::memory_order_relaxed);
  for (;;) {
    const double next =
        old == kUnseeded ? value_ms : 0.8 * std::bit_cast<double>(old) + 0.2 * value_ms;
    if (bits_.compare_exchange_weak(old, std::bit_cast<std::uint64_t>(next),
                                    std::memory_order_relaxed)) {
      return;
    }
  }
}

double Ewma::get() const {
  const std::uint64_t bits = bits_.load(std::memory_order_relaxed);
  return bits == kUnseeded ? 0.0 : std::bit_cast<double>(bits);
}

}  // namespace sidecache::cache
