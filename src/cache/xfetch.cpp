#include "cache/xfetch.hpp"

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
  const std::lock_guard lock(mutex_);
  if (!seeded_) {
    value_ = value_ms;
    seeded_ = true;
  } else {
    value_ = 0.8 * value_ + 0.2 * value_ms;
  }
}

double Ewma::get() const {
  const std::lock_guard lock(mutex_);
  return value_;
}

}  // namespace sidecache::cache
