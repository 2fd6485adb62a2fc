// The process-wide table of loads in flight, by key: concurrent misses on one key anywhere in
// the process make one load; the others register a callback and get its result. Thread-safe
// (one mutex, held only to touch the table). Asio-free: a callback posts itself to its own
// worker (see Runtime).
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/value.hpp"

namespace sidecache::cache {

class SingleFlight {
 public:
  using Callback = std::function<void(const LoadResultPtr&)>;

  // Registers `callback` (may be empty: a background refresh) for `key`. Returns true when no
  // load of `key` was in flight: the caller is the leader and must call finish() once.
  bool join(const std::string& key, Callback callback);
  // Ends the flight of `key`: every registered callback is called with `result`, outside the
  // lock, on the calling thread. Later join()s start a new flight.
  void finish(const std::string& key, const LoadResultPtr& result);
  // Drops every flight without calling its callbacks (shutdown, once the workers have stopped:
  // callbacks hold client sessions, which must go while their workers exist).
  void clear();
  bool in_flight(const std::string& key) const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<Callback>> flights_;
};

}  // namespace sidecache::cache
