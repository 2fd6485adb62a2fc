// The endpoint on a loopback socket: keep-alive, HTTP errors, slow and excess clients.
#include "metrics/http_endpoint.hpp"

#include <sys/socket.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "fixture.hpp"

namespace sidecache::metrics {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using test::FakeProcess;

// An endpoint on a free loopback port (port 0: only possible from code, not from a file).
config::HttpConfig on_free_port(std::uint32_t ready_min_nodes_up = 1) {
  config::HttpConfig config;
  config.listen = {"127.0.0.1", 0};
  config.ready_min_nodes_up = ready_min_nodes_up;
  return config;
}

struct Running {
  explicit Running(const config::HttpConfig& config) : fake(1), endpoint(config, fake.process) {
    endpoint.listen();
    endpoint.start();
  }
  FakeProcess fake;
  HttpEndpoint endpoint;
};

// A blocking client socket whose reads give up after 3 s, so a test cannot hang.
tcp::socket connect(asio::io_context& io, std::uint16_t port) {
  tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  timeval tv{3, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return socket;
}

http::response<http::string_body> get(tcp::socket& socket, boost::beast::flat_buffer& buffer,
                                      http::verb method, const std::string& target) {
  http::request<http::empty_body> request{method, target, 11};
  request.set(http::field::host, "localhost");
  http::write(socket, request);
  http::response_parser<http::string_body> parser;
  parser.skip(method == http::verb::head);
  http::read(socket, buffer, parser);
  return parser.release();
}

// Whether the server closes `socket` within `within` (reading and dropping anything it sends).
bool closed_by_server(tcp::socket& socket, std::chrono::milliseconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  char data[512];
  while (std::chrono::steady_clock::now() < deadline) {
    boost::system::error_code ec;
    socket.read_some(asio::buffer(data), ec);
    if (ec == asio::error::eof || ec == asio::error::connection_reset) return true;
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) return true;
  }
  return false;
}

TEST_CASE("keep-alive: several requests on one connection", "[metrics][http]") {
  Running running(on_free_port(0));
  asio::io_context io;
  auto socket = connect(io, running.endpoint.port());
  boost::beast::flat_buffer buffer;
  auto health = get(socket, buffer, http::verb::get, "/healthz");
  CHECK(health.result_int() == 200);
  CHECK(health.body() == "ok\n");
  CHECK(health.keep_alive());
  auto metrics = get(socket, buffer, http::verb::get, "/metrics");
  CHECK(metrics.result_int() == 200);
  CHECK(metrics[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics.body().find("sidecache_node_up{node=\"a\"} 0\n") != std::string::npos);
  auto head = get(socket, buffer, http::verb::head, "/readyz");
  CHECK(head.result_int() == 200);
  CHECK(head[http::field::content_length] == "6");
  CHECK(head.body().empty());
  auto missing = get(socket, buffer, http::verb::get, "/nope");
  CHECK(missing.result_int() == 404);
  auto post = get(socket, buffer, http::verb::post, "/metrics");
  CHECK(post.result_int() == 405);
  CHECK(post[http::field::allow] == "GET, HEAD");
  CHECK(get(socket, buffer, http::verb::get, "/readyz").result_int() == 200);
}

TEST_CASE("oversized headers get 431 and the connection is closed", "[metrics][http]") {
  Running running(on_free_port());
  asio::io_context io;
  auto socket = connect(io, running.endpoint.port());
  const std::string request =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n";
  asio::write(socket, asio::buffer(request));
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  CHECK(response.result_int() == 431);
  CHECK(closed_by_server(socket, 2s));
}

TEST_CASE("a malformed request gets 400", "[metrics][http]") {
  Running running(on_free_port());
  asio::io_context io;
  auto socket = connect(io, running.endpoint.port());
  asio::write(socket, asio::buffer(std::string("GET /healthz HTTP/9\r\n\r\n")));
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  http::read(socket, buffer, response);
  CHECK(response.result_int() == 400);
}

// The endpoint's count of connections closed for `reason`, once it reaches `expected` (the count
// follows the close the client sees by a moment) or after 2 s.
std::uint64_t closed(const HttpEndpoint& endpoint, HttpCloseReason reason, std::uint64_t expected) {
  const auto& counter = endpoint.stats().closed[static_cast<std::size_t>(reason)];
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  while (counter.load() != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  return counter.load();
}

TEST_CASE("a slow client is closed after request_timeout", "[metrics][http]") {
  auto config = on_free_port();
  config.idle_timeout = 10s;
  config.request_timeout = 300ms;
  Running running(config);
  asio::io_context io;
  auto socket = connect(io, running.endpoint.port());
  const auto started = std::chrono::steady_clock::now();
  asio::write(socket, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n")));
  CHECK(closed_by_server(socket, 2s));
  CHECK(std::chrono::steady_clock::now() - started >= 250ms);
  CHECK(closed(running.endpoint, HttpCloseReason::kRequestTimeout, 1) == 1);
}

TEST_CASE("a connection that starts no request is closed after idle_timeout", "[metrics][http]") {
  auto config = on_free_port(0);
  config.idle_timeout = 200ms;
  config.request_timeout = 10s;
  Running running(config);
  asio::io_context io;
  auto silent = connect(io, running.endpoint.port());
  const auto started = std::chrono::steady_clock::now();
  CHECK(closed_by_server(silent, 2s));
  CHECK(std::chrono::steady_clock::now() - started >= 150ms);
  // A keep-alive connection idle after its reply goes the same way.
  auto kept = connect(io, running.endpoint.port());
  boost::beast::flat_buffer buffer;
  CHECK(get(kept, buffer, http::verb::get, "/healthz").result_int() == 200);
  CHECK(closed_by_server(kept, 2s));
  CHECK(closed(running.endpoint, HttpCloseReason::kIdleTimeout, 2) == 2);
  CHECK(running.endpoint.stats().accepted.load() == 2);
}

TEST_CASE("past max_connections the longest-idle connection makes room", "[metrics][http]") {
  auto config = on_free_port(0);
  config.max_connections = 2;
  Running running(config);
  asio::io_context io;
  boost::beast::flat_buffer b1, b2, b3, b4;
  auto first = connect(io, running.endpoint.port());
  CHECK(get(first, b1, http::verb::get, "/healthz").result_int() == 200);
  auto second = connect(io, running.endpoint.port());
  CHECK(get(second, b2, http::verb::get, "/healthz").result_int() == 200);
  // A third is served; the first, idle longest, is closed for it.
  auto third = connect(io, running.endpoint.port());
  CHECK(get(third, b3, http::verb::get, "/readyz").result_int() == 200);
  CHECK(closed_by_server(first, 2s));
  CHECK(closed(running.endpoint, HttpCloseReason::kEvicted, 1) == 1);
}

TEST_CASE("the connection waiting longest makes room, idle or partway through a request",
          "[metrics][http]") {
  auto config = on_free_port(0);
  config.max_connections = 2;
  Running running(config);
  asio::io_context io;
  boost::beast::flat_buffer b1, b2, b3;
  auto partial = connect(io, running.endpoint.port());
  asio::write(partial, asio::buffer(std::string("GET /healthz HTTP/1.1\r\n")));
  auto idle = connect(io, running.endpoint.port());
  CHECK(get(idle, b2, http::verb::get, "/healthz").result_int() == 200);
  // The partial request has waited longest: it goes, the idle connection stays.
  auto fresh = connect(io, running.endpoint.port());
  CHECK(get(fresh, b3, http::verb::get, "/healthz").result_int() == 200);
  CHECK(closed_by_server(partial, 2s));
  CHECK(get(idle, b2, http::verb::get, "/readyz").result_int() == 200);
  CHECK(closed(running.endpoint, HttpCloseReason::kEvicted, 1) == 1);
}

TEST_CASE("/metrics counts the endpoint's connections by close reason", "[metrics][http]") {
  Running running(on_free_port(0));
  asio::io_context io;
  {
    auto once = connect(io, running.endpoint.port());
    asio::write(once,
                asio::buffer(std::string("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")));
    CHECK(closed_by_server(once, 2s));
  }
  auto socket = connect(io, running.endpoint.port());
  boost::beast::flat_buffer buffer;
  const auto body = get(socket, buffer, http::verb::get, "/metrics").body();
  CHECK(body.find("sidecache_http_connections_accepted_total 2\n") != std::string::npos);
  CHECK(body.find("sidecache_http_connections 1\n") != std::string::npos);
  CHECK(body.find("sidecache_http_connections_closed_total{reason=\"client\"} 1\n") !=
        std::string::npos);
  CHECK(body.find("sidecache_http_connections_closed_total{reason=\"evicted\"} 0\n") !=
        std::string::npos);
}

TEST_CASE("binding an address in use fails with the address in the message", "[metrics][http]") {
  Running running(on_free_port());
  auto config = on_free_port();
  config.listen.port = running.endpoint.port();
  HttpEndpoint endpoint(config, running.fake.process);
  CHECK_THROWS_WITH(endpoint.listen(),
                    Catch::Contains("cannot listen on HTTP address 127.0.0.1:" +
                                    std::to_string(running.endpoint.port()) + " (http.listen)"));
}

TEST_CASE("create: none without an http section, else bound", "[metrics][http]") {
  FakeProcess fake;
  CHECK(HttpEndpoint::create(fake.process) == nullptr);
  // A port taken by a listener of ours: create() reports it.
  Running running(on_free_port());
  FakeProcess with_http(
      1, "http: {listen: 127.0.0.1:" + std::to_string(running.endpoint.port()) + "}\n");
  CHECK_THROWS_WITH(HttpEndpoint::create(with_http.process),
                    Catch::Contains("cannot listen on HTTP address"));
}

}  // namespace
}  // namespace sidecache::metrics
