// PinnedRedirect: which replies of a pinned session's first command are followed, and that the
// client gets exactly one reply.
#include "server/pinned_redirect.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

using sidecache::ReplySink;
using sidecache::ReplyTarget;
using sidecache::route::Redirect;
using sidecache::server::PinnedRedirect;

namespace {

class Client final : public ReplySink {
 public:
  std::vector<std::string> replies;
  void on_reply(std::uint64_t, std::string_view reply) override { replies.emplace_back(reply); }
};

struct Fixture {
  std::shared_ptr<Client> client = std::make_shared<Client>();
  std::vector<std::string> followed;  // "kind slot target" per follow call
  PinnedRedirect::Followed outcome = PinnedRedirect::Followed::kYes;
  std::vector<std::function<void()>> waiting;  // what the fake wait holds
  std::vector<long> delays;
  std::shared_ptr<PinnedRedirect> sink;

  Fixture(std::uint32_t max_redirects, bool follow_ask) {
    sink = std::make_shared<PinnedRedirect>(
        ReplyTarget{client, 7, 1, 2}, max_redirects, follow_ask,
        [this](const Redirect& r) {
          followed.push_back(std::string(r.kind == Redirect::Kind::kAsk ? "ask " : "moved ") +
                             std::to_string(r.slot) + " " + std::string(r.target));
          return outcome;
        },
        [this](std::chrono::milliseconds delay, std::function<void()> then) {
          delays.push_back(static_cast<long>(delay.count()));
          waiting.push_back(std::move(then));
        },
        std::chrono::milliseconds(25));
  }
  void reply(std::string_view bytes) { sink->target().deliver(bytes); }
};

}  // namespace

TEST_CASE("pinned redirect: a MOVED is followed, the final reply reaches the client once") {
  Fixture f(5, false);
  f.reply("-MOVED 12 127.0.0.1:7002\r\n");
  CHECK(f.client->replies.empty());
  REQUIRE(f.followed == std::vector<std::string>{"moved 12 127.0.0.1:7002"});
  f.reply("+QUEUED\r\n");
  CHECK(f.client->replies == std::vector<std::string>{"+QUEUED\r\n"});
  f.reply("+late\r\n");  // nothing after the final reply
  CHECK(f.client->replies.size() == 1);
}

TEST_CASE("pinned redirect: ASK only when the session can use it; max_redirects bounds it") {
  Fixture no_ask(5, false);
  no_ask.reply("-ASK 3 h:1\r\n");
  CHECK(no_ask.followed.empty());
  CHECK(no_ask.client->replies == std::vector<std::string>{"-ASK 3 h:1\r\n"});

  Fixture ask(2, true);
  ask.reply("-ASK 3 h:1\r\n");
  ask.reply("-MOVED 3 h:2\r\n");
  ask.reply("-MOVED 3 h:3\r\n");  // the third: beyond max_redirects, the client's
  CHECK(ask.followed == std::vector<std::string>{"ask 3 h:1", "moved 3 h:2"});
  CHECK(ask.client->replies == std::vector<std::string>{"-MOVED 3 h:3\r\n"});
}

TEST_CASE("pinned redirect: a redirect the session cannot follow, other errors, cancel") {
  Fixture refused(5, true);
  refused.outcome = PinnedRedirect::Followed::kNo;
  refused.reply("-MOVED 1 h:9\r\n");
  CHECK(refused.client->replies == std::vector<std::string>{"-MOVED 1 h:9\r\n"});

  Fixture other(5, true);
  other.reply("-CROSSSLOT Keys in request don't hash to the same slot\r\n");
  CHECK(other.followed.empty());
  CHECK(other.client->replies.size() == 1);

  Fixture cancelled(5, true);
  cancelled.sink->cancel();
  cancelled.reply("-MOVED 1 h:9\r\n");
  CHECK(cancelled.followed.empty());
  CHECK(cancelled.client->replies == std::vector<std::string>{"-MOVED 1 h:9\r\n"});
}

TEST_CASE("pinned redirect: a node not in the pool yet is tried again after waits, bounded") {
  Fixture f(3, true);
  f.outcome = PinnedRedirect::Followed::kLater;
  f.reply("-MOVED 5 h:new\r\n");
  REQUIRE(f.waiting.size() == 1);
  CHECK(f.client->replies.empty());
  f.waiting.back()();  // still unknown: waits again, longer
  f.waiting.back()();
  CHECK(f.delays == std::vector<long>{25, 50, 100});
  f.waiting.back()();  // max_redirects (3) waits: the client gets the MOVED
  CHECK(f.followed.size() == 4);
  CHECK(f.client->replies == std::vector<std::string>{"-MOVED 5 h:new\r\n"});

  Fixture later(3, true);
  later.outcome = PinnedRedirect::Followed::kLater;
  later.reply("-MOVED 5 h:new\r\n");
  later.outcome = PinnedRedirect::Followed::kYes;  // the refresh brought the node in
  later.waiting.back()();
  CHECK(later.followed.size() == 2);
  later.reply(":1\r\n");
  CHECK(later.client->replies == std::vector<std::string>{":1\r\n"});

  Fixture cancelled(3, true);
  cancelled.outcome = PinnedRedirect::Followed::kLater;
  cancelled.reply("-MOVED 5 h:new\r\n");
  cancelled.sink->cancel();  // the session left
  cancelled.waiting.back()();
  CHECK(cancelled.followed.size() == 1);
  CHECK(cancelled.client->replies.empty());
}

TEST_CASE("pinned redirect: finish() answers the client itself") {
  Fixture f(5, true);
  f.sink->finish("-ERR node h:9 is down\r\n");
  f.reply("+OK\r\n");
  CHECK(f.client->replies == std::vector<std::string>{"-ERR node h:9 is down\r\n"});
}
