// The HTTP endpoint for Prometheus and Kubernetes: /metrics, /healthz, /readyz on its own thread
// and io_context, so a scrape never runs on (or waits for) a worker thread.
#pragma once

// First: Asio 1.18 needs <utility> before any of its headers (Beast includes them).
#include "sidecache/util/asio.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <thread>

#include "config/config.hpp"
#include "metrics/http_stats.hpp"
#include "metrics/probes.hpp"
#include "sidecache/process_stats.hpp"

namespace sidecache::metrics {

class HttpEndpoint {
 public:
  // Null when the configuration has no `http:` section; else an endpoint bound to http.listen
  // (throws std::runtime_error naming the address when it cannot bind).
  static std::unique_ptr<HttpEndpoint> create(const ProcessStats& process);

  HttpEndpoint(const config::HttpConfig& config, const ProcessStats& process);
  ~HttpEndpoint();  // stop() and join
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  void listen();               // binds; throws std::runtime_error naming the address
  std::uint16_t port() const;  // the bound port (http.listen may ask for port 0)
  void start();                // runs the thread; /readyz may now answer 200
  void set_draining();         // from any thread: /readyz answers 503 "draining: ..."
  void stop();                 // from any thread: /readyz answers 503, connections close
  const HttpStats& stats() const { return stats_; }

  // One open connection; lives in its serve() frame and is listed in connections_ until closed.
  struct Connection {
    enum class State { kIdle, kReading, kAnswering };
    boost::beast::tcp_stream* stream = nullptr;
    State state = State::kIdle;
    std::chrono::steady_clock::time_point since;  // entered `state`
    bool probe = false;                           // answering /healthz or /readyz
    HttpCloseReason reason = HttpCloseReason::kClient;
    bool closed_by_endpoint = false;  // `reason` set by the endpoint; the frame must keep it
    bool listed = false;
    std::list<Connection*>::iterator position;
  };

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket);
  // Enters `state`, moving `connection` to the back of connections_ (the front has been in its
  // state longest).
  void enter(Connection& connection, Connection::State state);
  // Closes one connection to make room for a new one: the one that has waited longest for the
  // rest of a request or for a new one, else the oldest answering anything but /healthz or
  // /readyz (whose replies are small and go at once); either only once it has been in its state
  // for grace_. Zero when it closed one; else how long to wait before trying again.
  std::chrono::steady_clock::duration make_room();
  void close(Connection& connection, HttpCloseReason reason);

  config::HttpConfig config_;
  // The least time a connection keeps its slot in each state, however many new ones wait: long
  // enough for a client to send its request once accepted, even on a loaded machine.
  std::chrono::steady_clock::duration grace_;
  HttpStats stats_;
  Probes probes_;
  // Open connections, used on the io thread only. Declared before io_: coroutine frames that
  // io_ destroys unregister themselves.
  std::list<Connection*> connections_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::thread thread_;
};

}  // namespace sidecache::metrics
