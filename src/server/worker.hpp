// One worker thread: its own io_context, acceptor (SO_REUSEPORT: the kernel spreads clients
// over workers), backend connections and dispatcher. Nothing is shared with other workers
// except the read-only configuration and the statistics they publish.
#pragma once

#include <memory>
#include <thread>

#include "backend/pool.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/process_state.hpp"
#include "sidecache/util/asio.hpp"

namespace sidecache::server {

class Worker {
 public:
  Worker(unsigned index, dispatch::ProcessState& process);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds the listen address; throws std::runtime_error naming the address on failure.
  void listen();
  void start();  // runs the worker's thread
  void stop();   // from any thread
  void join();

 private:
  asio::awaitable<void> accept_loop();
  void accept(tcp::socket socket);

  unsigned index_;
  dispatch::ProcessState& process_;
  dispatch::WorkerStats& stats_;
  asio::io_context io_{1};
  backend::Pool pool_;
  dispatch::Dispatcher dispatcher_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace sidecache::server
