#include "cache/asio_runtime.hpp"

namespace sidecache::cache {

void AsioRuntime::post(std::function<void()> fn) {
  const std::lock_guard lock(mutex_);
  if (io_ != nullptr) asio::post(*io_, std::move(fn));
}

void AsioRuntime::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  if (io_ == nullptr) return;
  auto timer = std::make_shared<asio::steady_timer>(*io_, delay);
  timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec) fn();
  });
}

void AsioRuntime::close() {
  const std::lock_guard lock(mutex_);
  io_ = nullptr;
}

}  // namespace sidecache::cache
