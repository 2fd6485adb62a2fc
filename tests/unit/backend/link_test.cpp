// backend::Link (a dedicated connection) against a scripted in-process server, and the
// process-wide LinkLimiter: requests queue until connected, replies match requests in order,
// quiet replies are dropped, frames nobody asked for and RESP3 pushes go to the frame handler,
// release() closes after the last reply, a refused connect fails the requests and reports.
#include "sidecache/util/asio.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backend/link.hpp"

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

// One connection at a time; `script(request)` gives the bytes to answer request N with
// (requests are single-argument commands "*1\r\n$n\r\nX\r\n").
class Server {
 public:
  using Script = std::function<std::string(int request)>;
  Server(asio::io_context& io, Script script)
      : io_(io),
        acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        script_(std::move(script)) {
    asio::co_spawn(io_, accept_loop(), asio::detached);
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  int connections = 0;
  int closed = 0;  // connections the client closed
  std::string received;

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket(io_);
      co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      ++connections;
      asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
    }
  }
  asio::awaitable<void> serve(tcp::socket socket) {
    std::string buffer;
    int request = 0;
    char chunk[4096];
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n = co_await socket.async_read_some(
          asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        ++closed;
        co_return;
      }
      buffer.append(chunk, n);
      received.append(chunk, n);
      std::size_t at = 0;
      while ((at = buffer.find("*")) != std::string::npos) {
        const auto count_end = buffer.find("\r\n", at);
        if (count_end == std::string::npos) break;
        const int args = std::stoi(buffer.substr(at + 1, count_end - at - 1));
        std::size_t end = count_end + 2;
        bool complete = true;
        for (int a = 0; a < args && complete; ++a) {
          const auto len_end = buffer.find("\r\n", end);
          if (len_end == std::string::npos) {
            complete = false;
            break;
          }
          const auto len = std::stoul(buffer.substr(end + 1, len_end - end - 1));
          end = len_end + 2 + len + 2;
          if (end > buffer.size()) complete = false;
        }
        if (!complete) break;
        buffer.erase(0, end);
        const std::string reply = script_(request++);
        if (!reply.empty()) {
          co_await asio::async_write(socket, asio::buffer(reply),
                                     asio::redirect_error(asio::use_awaitable, ec));
        }
      }
    }
  }
  asio::io_context& io_;
  tcp::acceptor acceptor_;
  Script script_;
};

void run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.run_for(5ms);
  }
}

std::string cmd(std::string_view word) {
  return "*1\r\n$" + std::to_string(word.size()) + "\r\n" + std::string(word) + "\r\n";
}

}  // namespace

TEST_CASE("LinkLimiter caps tickets per node, process-wide") {
  LinkLimiter limiter;
  auto a1 = limiter.acquire("a", 2);
  auto a2 = limiter.acquire("a", 2);
  auto a3 = limiter.acquire("a", 2);
  auto b1 = limiter.acquire("b", 2);
  CHECK(a1.held());
  CHECK(a2.held());
  CHECK_FALSE(a3.held());
  CHECK(b1.held());
  a1.release();
  CHECK(limiter.acquire("a", 2).held());  // taken and given back at once (temporary)
  {
    auto moved = std::move(a2);
    CHECK_FALSE(a2.held());
    CHECK(moved.held());
  }  // released by the destructor
  const auto used = limiter.snapshot();
  REQUIRE(used.size() == 2);
  CHECK(used[0] == std::pair<std::string, std::uint32_t>{"a", 0});
  CHECK(used[1] == std::pair<std::string, std::uint32_t>{"b", 1});
}

TEST_CASE("a link matches replies, drops quiet ones, hands other frames over, releases") {
  asio::io_context io;
  Server server(io, [](int request) -> std::string {
    switch (request) {
      case 0:
        return "+quiet\r\n";
      case 1:
        return ">2\r\n$4\r\npush\r\n$1\r\nx\r\n:1\r\n";  // a push before the reply
      case 2:
        return "$2\r\nhi\r\n";
      default:
        return "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n";  // unmatched: to the handler
    }
  });
  LinkLimiter limiter;
  auto link = std::make_shared<backend::Link>(
      io.get_executor(), backend::NodeAddress{"n", "127.0.0.1", server.port()},
      backend::LinkOptions{1000ms, false}, limiter.acquire("n", 1));
  std::vector<std::string> frames;
  bool closed = false;
  link->set_handlers([&](std::string_view f) { frames.emplace_back(f); },
                     [&](const std::string&) { closed = true; });
  auto recorder = std::make_shared<Recorder>();
  link->start();
  link->send_quiet(cmd("A"));                      // queued before the connect
  link->send(cmd("B"), ReplyTarget{recorder, 7});  // answered ":1" after a push
  link->send(cmd("C"), ReplyTarget{recorder, 8});  // "hi"
  run_until(io, [&] { return recorder->replies.size() == 2; });
  CHECK(recorder->replies[7] == ":1\r\n");
  CHECK(recorder->replies[8] == "$2\r\nhi\r\n");
  REQUIRE(frames.size() == 1);
  CHECK(frames[0] == ">2\r\n$4\r\npush\r\n$1\r\nx\r\n");
  link->send_unmatched(cmd("SUB"));
  run_until(io, [&] { return frames.size() == 2; });
  CHECK(frames[1] == "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n");
  CHECK(limiter.snapshot()[0].second == 1);
  link->send(cmd("D"), ReplyTarget{recorder, 9});
  link->release();  // after D's reply
  CHECK_FALSE(link->stopped());
  run_until(io, [&] { return server.closed == 1; });
  CHECK(link->stopped());
  CHECK(recorder->replies.count(9) == 1);
  CHECK(limiter.snapshot()[0].second == 0);  // the ticket came back
  CHECK_FALSE(closed);                       // a release is not a failure
  CHECK(server.connections == 1);
}

TEST_CASE("a link speaking RESP3 says HELLO 3 first and drops its reply") {
  asio::io_context io;
  Server server(io, [](int request) -> std::string {
    return request == 0 ? "%1\r\n$5\r\nproto\r\n:3\r\n" : "_\r\n";
  });
  LinkLimiter limiter;
  auto link = std::make_shared<backend::Link>(
      io.get_executor(), backend::NodeAddress{"n", "127.0.0.1", server.port()},
      backend::LinkOptions{1000ms, true}, limiter.acquire("n", 1));
  auto recorder = std::make_shared<Recorder>();
  link->start();
  link->send(cmd("GET"), ReplyTarget{recorder, 1});
  run_until(io, [&] { return recorder->replies.size() == 1; });
  CHECK(recorder->replies[1] == "_\r\n");
  CHECK(server.received.rfind("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n", 0) == 0);
  link->stop();
}

TEST_CASE("a link that cannot connect fails its requests and reports; stop() is silent") {
  asio::io_context io;
  std::uint16_t dead_port = 0;
  {
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    dead_port = probe.local_endpoint().port();
  }  // closed: connecting to it is refused
  LinkLimiter limiter;
  auto link = std::make_shared<backend::Link>(
      io.get_executor(), backend::NodeAddress{"dead", "127.0.0.1", dead_port},
      backend::LinkOptions{1000ms, false}, limiter.acquire("dead", 1));
  std::string reason;
  link->set_handlers({}, [&](const std::string& why) { reason = why; });
  auto recorder = std::make_shared<Recorder>();
  link->start();
  link->send(cmd("BLPOP"), ReplyTarget{recorder, 3});
  run_until(io, [&] { return !reason.empty(); });
  CHECK(reason.find("cannot connect") == 0);
  REQUIRE(recorder->replies.count(3) == 1);
  CHECK(recorder->replies[3].rfind("-ERR sidecache: dedicated connection to node 'dead' lost", 0) ==
        0);
  CHECK(limiter.snapshot()[0].second == 0);

  // stop(): no handler runs, no reply is delivered
  Server server(io, [](int) -> std::string { return "+late\r\n"; });
  auto quiet = std::make_shared<backend::Link>(
      io.get_executor(), backend::NodeAddress{"n", "127.0.0.1", server.port()},
      backend::LinkOptions{1000ms, false}, limiter.acquire("n", 1));
  bool called = false;
  quiet->set_handlers([&](std::string_view) { called = true; },
                      [&](const std::string&) { called = true; });
  quiet->start();
  quiet->send(cmd("X"), ReplyTarget{recorder, 4});
  quiet->stop();
  io.run_for(100ms);
  CHECK_FALSE(called);
  CHECK(recorder->replies.count(4) == 0);
}
