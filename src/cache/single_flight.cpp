#include "cache/single_flight.hpp"

namespace sidecache::cache {

bool SingleFlight::join(const std::string& key, Callback callback) {
  const std::lock_guard lock(mutex_);
  auto [it, inserted] = flights_.try_emplace(key);
  if (callback) it->second.push_back(std::move(callback));
  return inserted;
}

void SingleFlight::finish(const std::string& key, const LoadResultPtr& result) {
  std::vector<Callback> callbacks;
  {
    const std::lock_guard lock(mutex_);
    auto it = flights_.find(key);
    if (it == flights_.end()) return;
    callbacks = std::move(it->second);
    flights_.erase(it);
  }
  for (auto& cb : callbacks) cb(result);
}

void SingleFlight::clear() {
  std::unordered_map<std::string, std::vector<Callback>> flights;
  {
    const std::lock_guard lock(mutex_);
    flights.swap(flights_);
  }
}

bool SingleFlight::in_flight(const std::string& key) const {
  const std::lock_guard lock(mutex_);
  return flights_.count(key) != 0;
}

std::size_t SingleFlight::size() const {
  const std::lock_guard lock(mutex_);
  return flights_.size();
}

}  // namespace sidecache::cache
