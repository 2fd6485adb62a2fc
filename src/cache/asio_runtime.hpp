// cache::Runtime on a worker's io_context. close() (on the worker's thread, before the
// io_context goes) makes later posts from database threads no-ops.
#pragma once

#include <memory>
#include <mutex>

#include "cache/runtime.hpp"
#include "sidecache/util/asio.hpp"

namespace sidecache::cache {

class AsioRuntime final : public Runtime {
 public:
  explicit AsioRuntime(asio::io_context& io) : io_(&io) {}
  void post(std::function<void()> fn) override;
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override;
  void close();

 private:
  std::mutex mutex_;
  asio::io_context* io_;
};

}  // namespace sidecache::cache
