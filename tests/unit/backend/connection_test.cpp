// backend::Connection against a scripted in-process server on 127.0.0.1: pipelining, timeouts
// (late replies dropped, never delivered to the wrong request), retries of read-only requests
// after a broken connection, fail-fast while a node is unreachable, idle close, max age.
#include "sidecache/util/asio.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backend/connection.hpp"

using namespace sidecache;
using namespace std::chrono_literals;

namespace {

class Recorder final : public ReplySink {
 public:
  std::map<std::uint64_t, std::string> replies;
  void on_reply(std::uint64_t tag, std::string_view reply) override {
    replies[tag] = std::string(reply);
  }
};

// Accepts connections one after another; `script(connection_index, request_count)` returns
// what to do with each request: a reply to send, "" to stay silent, or "CLOSE".
class ScriptedServer {
 public:
  using Script = std::function<std::string(int connection, int request)>;
  ScriptedServer(asio::io_context& io, Script script)
      : io_(io),
        acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        script_(std::move(script)) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections = 0;
  int eofs = 0;    // connections the client closed
  int hellos = 0;  // HELLO 3 handshakes received (answered with hello_reply)
  std::string hello_reply = "%1\r\n$5\r\nproto\r\n:3\r\n";

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      asio::co_spawn(io_, serve(std::move(socket), connections++), asio::detached);
    }
  }
  // Requests are "*1\r\n$N\r\n<payload>\r\n" style commands; count them by their "*" lines.
  asio::awaitable<void> serve(tcp::socket socket, int index) {
    std::string buffer;
    int request = 0;
    char chunk[4096];
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n = co_await socket.async_read_some(
          asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        ++eofs;
        co_return;
      }
      buffer.append(chunk, n);
      static constexpr std::string_view kHello3 = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
      if (buffer.starts_with(kHello3)) {
        buffer.erase(0, kHello3.size());
        ++hellos;
        co_await asio::async_write(socket, asio::buffer(hello_reply),
                                   asio::redirect_error(asio::use_awaitable, ec));
      }
      // One request per "*1\r\n" header (the tests send single-argument commands).
      std::size_t at = 0;
      while ((at = buffer.find("*1\r\n")) != std::string::npos) {
        const auto end = buffer.find("\r\n", buffer.find("\r\n", at + 4) + 2);
        if (end == std::string::npos) break;
        buffer.erase(0, end + 2);
        const std::string action = script_(index, request++);
        if (action == "CLOSE") co_return;
        if (!action.empty()) {
          co_await asio::async_write(socket, asio::buffer(action),
                                     asio::redirect_error(asio::use_awaitable, ec));
        }
      }
    }
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  Script script_;
};

std::string command(std::string_view name) {
  return "*1\r\n$" + std::to_string(name.size()) + "\r\n" + std::string(name) + "\r\n";
}

void run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.run_for(5ms);
    io.restart();
  }
}

struct Fixture {
  asio::io_context io;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
  std::shared_ptr<NodeStats> stats = std::make_shared<NodeStats>("n");
  std::vector<std::string> failures;

  std::shared_ptr<backend::Connection> connect(std::uint16_t port,
                                               backend::ConnectionOptions options = {}) {
    auto c = std::make_shared<backend::Connection>(
        io, backend::NodeAddress{"n", "127.0.0.1", port}, options, stats,
        [this](const std::string& why) { failures.push_back(why); });
    c->start();
    run_until(io, [&] { return c->state() == backend::Connection::State::kConnected; });
    return c;
  }
  void send(backend::Connection& c, std::string_view name, std::uint64_t tag, bool read = false) {
    c.send(command(name), ReplyTarget{recorder, tag}, read);
  }
  bool has(std::size_t n) const { return recorder->replies.size() >= n; }
};

}  // namespace

TEST_CASE("pipelined requests are answered in order") {
  Fixture f;
  ScriptedServer server(f.io,
                        [](int, int request) { return ":" + std::to_string(request) + "\r\n"; });
  auto c = f.connect(server.port());
  for (std::uint64_t i = 0; i < 100; ++i) f.send(*c, "PING", i);
  run_until(f.io, [&] { return f.has(100); });
  REQUIRE(f.recorder->replies.size() == 100);
  for (std::uint64_t i = 0; i < 100; ++i)
    CHECK(f.recorder->replies[i] == ":" + std::to_string(i) + "\r\n");
  CHECK(f.stats->requests.get() == 100);
  CHECK(f.stats->inflight.get() == 0);
  c->stop();
}

TEST_CASE("a timed-out request is answered at once; its late reply is dropped") {
  Fixture f;
  ScriptedServer server(f.io, [&](int, int request) -> std::string {
    if (request == 0) return "";  // never answered
    return ":" + std::to_string(request) + "\r\n";
  });
  backend::ConnectionOptions options;
  options.request_timeout = 50ms;
  auto c = f.connect(server.port(), options);
  f.send(*c, "SLOW", 0);
  run_until(f.io, [&] { return f.has(1); });
  CHECK(f.recorder->replies[0] == "-ERR backend 'n' timed out after 50 ms\r\n");
  CHECK(f.stats->errors_timeout.get() == 1);
  CHECK(!f.failures.empty());  // reported to the health checker
  c->stop();
}

TEST_CASE("late replies keep their place in line") {
  Fixture f;
  ScriptedServer server(f.io, [&](int, int request) -> std::string {
    if (request == 0) return "";              // request 0: silent for now
    if (request == 1) return ":0\r\n:1\r\n";  // late reply of 0, then 1
    return ":" + std::to_string(request) + "\r\n";
  });
  backend::ConnectionOptions options;
  options.request_timeout = 50ms;
  auto c = f.connect(server.port(), options);
  f.send(*c, "A", 0);
  run_until(f.io, [&] { return f.has(1); });  // timed out
  f.send(*c, "B", 1);
  f.send(*c, "C", 2);
  run_until(f.io, [&] { return f.has(3); });
  CHECK(f.recorder->replies[0].find("timed out") != std::string::npos);
  CHECK(f.recorder->replies[1] == ":1\r\n");  // not ":0", the late reply of request 0
  CHECK(f.recorder->replies[2] == ":2\r\n");
  c->stop();
}

TEST_CASE("a read-only request is retried once when the connection breaks; a write is not") {
  Fixture f;
  ScriptedServer server(f.io, [](int connection, int) -> std::string {
    return connection == 0 ? "CLOSE" : "$1\r\nv\r\n";
  });
  auto c = f.connect(server.port());
  f.send(*c, "GET", 0, /*read=*/true);
  run_until(f.io, [&] { return f.has(1); });
  CHECK(f.recorder->replies[0] == "$1\r\nv\r\n");
  CHECK(f.stats->retries.get() == 1);
  CHECK(server.connections == 2);

  ScriptedServer closing(f.io, [](int, int) -> std::string { return "CLOSE"; });
  auto w = f.connect(closing.port());
  f.send(*w, "SET", 1, /*read=*/false);
  run_until(f.io, [&] { return f.has(2); });
  CHECK(f.recorder->replies[1].find("outcome unknown") != std::string::npos);
  c->stop();
  w->stop();
}

TEST_CASE("the retry budget bounds retries") {
  Fixture f;
  ScriptedServer server(f.io, [](int, int) -> std::string { return "CLOSE"; });
  backend::ConnectionOptions options;
  options.retry_budget_percent = 0;
  auto c = f.connect(server.port(), options);
  f.send(*c, "GET", 0, /*read=*/true);
  run_until(f.io, [&] { return f.has(1); });
  CHECK(f.recorder->replies[0].find("connection lost") != std::string::npos);
  CHECK(f.stats->retries.get() == 0);
  c->stop();
}

TEST_CASE("an unreachable node fails requests fast while backing off") {
  Fixture f;
  std::uint16_t port = 0;
  {
    tcp::acceptor closed(f.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = closed.local_endpoint().port();
  }  // nothing listens there now
  auto c = std::make_shared<backend::Connection>(f.io, backend::NodeAddress{"n", "127.0.0.1", port},
                                                 backend::ConnectionOptions{}, f.stats);
  c->start();
  run_until(f.io, [&] { return c->state() == backend::Connection::State::kBackoff; });
  REQUIRE(c->state() == backend::Connection::State::kBackoff);
  const auto start = std::chrono::steady_clock::now();
  f.send(*c, "GET", 0);
  CHECK(f.has(1));  // answered synchronously
  CHECK(std::chrono::steady_clock::now() - start < 10ms);
  CHECK(f.recorder->replies[0].rfind("-ERR backend 'n' is unavailable (", 0) == 0);
  CHECK(f.stats->connect_failures.get() >= 1);
  c->stop();
}

TEST_CASE("an idle connection is closed and reopened on demand") {
  Fixture f;
  ScriptedServer server(f.io, [](int, int) -> std::string { return "+OK\r\n"; });
  backend::ConnectionOptions options;
  options.idle_timeout = 50ms;
  auto c = f.connect(server.port(), options);
  run_until(f.io, [&] { return server.eofs == 1; });
  CHECK(server.eofs == 1);
  CHECK(c->state() == backend::Connection::State::kIdle);
  f.send(*c, "PING", 0);
  run_until(f.io, [&] { return f.has(1); });
  CHECK(f.recorder->replies[0] == "+OK\r\n");
  CHECK(server.connections == 2);
  c->stop();
}

TEST_CASE("a connection past its max age is replaced without losing requests") {
  Fixture f;
  ScriptedServer server(f.io, [](int connection, int request) -> std::string {
    return ":" + std::to_string(connection * 1000 + request) + "\r\n";
  });
  backend::ConnectionOptions options;
  options.max_connection_age = 30ms;
  auto c = f.connect(server.port(), options);
  std::uint64_t tag = 0;
  const auto until = std::chrono::steady_clock::now() + 200ms;
  while (std::chrono::steady_clock::now() < until) {
    f.send(*c, "PING", tag++);
    f.io.run_for(2ms);
    f.io.restart();
  }
  run_until(f.io, [&] { return f.has(tag); });
  REQUIRE(f.recorder->replies.size() == tag);
  for (const auto& [t, reply] : f.recorder->replies) CHECK(reply.rfind(":", 0) == 0);
  CHECK(server.connections >= 3);
  c->stop();
}

TEST_CASE("a RESP3 connection sends HELLO 3 on every connect and drops its reply") {
  Fixture f;
  ScriptedServer server(f.io, [](int connection, int request) -> std::string {
    if (connection == 0 && request == 1) return "CLOSE";
    // An unsolicited push before the reply is dropped, not taken for the reply.
    return ">2\r\n+x\r\n+y\r\n%1\r\n+c\r\n:" + std::to_string(connection) + "\r\n";
  });
  backend::ConnectionOptions options;
  options.resp3 = true;
  options.drop_pushes = true;
  auto c = f.connect(server.port(), options);
  REQUIRE(c->state() == backend::Connection::State::kConnected);
  CHECK(server.hellos == 1);
  f.send(*c, "GET", 0);
  run_until(f.io, [&] { return f.has(1); });
  CHECK(f.recorder->replies[0] == "%1\r\n+c\r\n:0\r\n");  // the request's reply, not HELLO's
  f.send(*c, "GET", 1, /*read=*/true);  // the server closes: retried on a new connection
  run_until(f.io, [&] { return f.has(2); });
  CHECK(f.recorder->replies[1] == "%1\r\n+c\r\n:1\r\n");
  CHECK(server.hellos == 2);
  c->stop();
}

TEST_CASE("a node refusing HELLO 3 fails the connect, not the requests' replies") {
  Fixture f;
  ScriptedServer server(f.io, [](int, int) -> std::string { return "+OK\r\n"; });
  server.hello_reply = "-ERR unknown command 'HELLO'\r\n";
  backend::ConnectionOptions options;
  options.resp3 = true;
  auto c = std::make_shared<backend::Connection>(
      f.io, backend::NodeAddress{"n", "127.0.0.1", server.port()}, options, f.stats);
  c->start();
  f.send(*c, "GET", 0);  // queued while connecting
  run_until(f.io, [&] { return f.has(1); });
  CHECK(f.recorder->replies[0] ==
        "-ERR backend 'n' is unavailable (HELLO 3 refused: ERR unknown command 'HELLO')\r\n");
  CHECK(f.stats->connect_failures.get() >= 1);
  c->stop();
}

TEST_CASE("on_readonly hears -READONLY replies and nothing else") {
  Fixture f;
  ScriptedServer server(f.io, [](int, int request) -> std::string {
    if (request == 1) return "-READONLY You can't write against a read only replica.\r\n";
    if (request == 2) return "-ERR other\r\n";
    return "+OK\r\n";
  });
  int readonly = 0;
  backend::ConnectionOptions options;
  options.on_readonly = [&] { ++readonly; };
  auto c = f.connect(server.port(), options);
  for (std::uint64_t i = 0; i < 4; ++i) f.send(*c, "SET", i);
  run_until(f.io, [&] { return f.has(4); });
  REQUIRE(f.recorder->replies.size() == 4);
  CHECK(f.recorder->replies[1].starts_with("-READONLY"));  // still delivered to the client
  CHECK(readonly == 1);
  c->stop();
}
