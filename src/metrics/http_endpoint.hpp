// The HTTP endpoint for Prometheus and Kubernetes: /metrics, /healthz, /readyz on its own thread
// and io_context, so a scrape never runs on (or waits for) a worker thread.
#pragma once

// First: Asio 1.18 needs <utility> before any of its headers (Beast includes them).
#include "sidecache/util/asio.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_set>

#include "config/config.hpp"
#include "dispatch/process_state.hpp"
#include "metrics/probes.hpp"

namespace sidecache::metrics {

class HttpEndpoint {
 public:
  // Null when the configuration has no `http:` section; else an endpoint bound to http.listen
  // (throws std::runtime_error naming the address when it cannot bind).
  static std::unique_ptr<HttpEndpoint> create(const dispatch::ProcessState& process);

  HttpEndpoint(const config::HttpConfig& config, const dispatch::ProcessState& process);
  ~HttpEndpoint();  // stop() and join
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  void listen();               // binds; throws std::runtime_error naming the address
  std::uint16_t port() const;  // the bound port (http.listen may ask for port 0)
  void start();                // runs the thread; /readyz may now answer 200
  void set_draining();         // from any thread: /readyz answers 503 "draining: ..."
  void stop();                 // from any thread: /readyz answers 503, connections close

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket);

  config::HttpConfig config_;
  Probes probes_;
  // Open connections, used on the io thread only. Declared before io_: coroutine frames that
  // io_ destroys unregister themselves.
  std::unordered_set<boost::beast::tcp_stream*> connections_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace sidecache::metrics
