// The endpoint on a loopback socket: keep-alive, HTTP errors, slow and excess clients.
#include "metrics/http_endpoint.hpp"

#include <sys/socket.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

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

TEST_CASE("a slow client is closed after request_timeout", "[metrics][http]") {
  auto config = on_free_port();
  config.request_timeout = 300ms;
  Running running(config);
  asio::io_context io;
  auto socket = connect(io, running.endpoint.port());
  const auto started = std::chrono::steady_clock::now();
  asio::write(socket, asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: x\r\n")));
  CHECK(closed_by_server(socket, 2s));
  CHECK(std::chrono::steady_clock::now() - started >= 250ms);
  // An idle keep-alive connection is closed the same way.
  auto idle = connect(io, running.endpoint.port());
  CHECK(closed_by_server(idle, 2s));
}

TEST_CASE("connections past max_connections are closed", "[metrics][http]") {
  auto config = on_free_port();
  config.max_connections = 2;
  Running running(config);
  asio::io_context io;
  boost::beast::flat_buffer b1, b2, b3;
  auto first = connect(io, running.endpoint.port());
  auto second = connect(io, running.endpoint.port());
  CHECK(get(first, b1, http::verb::get, "/healthz").result_int() == 200);
  CHECK(get(second, b2, http::verb::get, "/healthz").result_int() == 200);
  auto third = connect(io, running.endpoint.port());
  CHECK(closed_by_server(third, 2s));
  first.close();
  // The slot frees once the server sees the close.
  bool served = false;
  for (int attempt = 0; attempt < 50 && !served; ++attempt) {
    auto again = connect(io, running.endpoint.port());
    boost::system::error_code ec;
    http::request<http::empty_body> request{http::verb::get, "/healthz", 11};
    http::write(again, request, ec);
    http::response<http::string_body> response;
    if (!ec) http::read(again, b3, response, ec);
    served = !ec && response.result_int() == 200;
    if (!served) std::this_thread::sleep_for(20ms);
  }
  CHECK(served);
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
