// hiredis_client: a real hiredis (0.14) application against sidecache, for test_clients.py.
//
//   hiredis_client HOST PORT [PREFIX [session]]
//
// Connects with a timeout, runs SET/GET/MGET/MSET/INCR/HSET/HGETALL and a pipeline of 1000
// commands (redisAppendCommand, then redisGetReply for each), checks every reply, prints one
// line per failed check, and exits 0 only when every check passed (1 on a mismatch, 2 on a
// connection problem). Keys start with PREFIX (default "hc") so runs do not collide.
// With "session", it runs the session checks instead: MULTI/EXEC, BLPOP (data and timeout),
// and SUBSCRIBE on a second connection receiving a PUBLISH from the first.
#include <hiredis/hiredis.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

int g_failures = 0;

void fail(const std::string& what) {
  ++g_failures;
  std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

std::string describe(const redisReply* r) {
  if (r == nullptr) return "no reply";
  switch (r->type) {
    case REDIS_REPLY_STRING:
      return "string '" + std::string(r->str, r->len) + "'";
    case REDIS_REPLY_STATUS:
      return "status '" + std::string(r->str, r->len) + "'";
    case REDIS_REPLY_ERROR:
      return "error '" + std::string(r->str, r->len) + "'";
    case REDIS_REPLY_INTEGER:
      return "integer " + std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_ARRAY:
      return "array of " + std::to_string(r->elements);
    default:
      return "type " + std::to_string(r->type);
  }
}

// Runs one command given as an argument vector (binary safe).
Reply command(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
  if (r == nullptr) {
    std::fprintf(stderr, "connection error: %s\n", c->errstr);
    std::exit(2);
  }
  return Reply(r);
}

void expect_status(const redisReply* r, const std::string& status, const std::string& what) {
  if (r == nullptr || r->type != REDIS_REPLY_STATUS || std::string(r->str, r->len) != status) {
    fail(what + ": want status '" + status + "', got " + describe(r));
  }
}

void expect_string(const redisReply* r, const std::string& value, const std::string& what) {
  if (r == nullptr || r->type != REDIS_REPLY_STRING || std::string(r->str, r->len) != value) {
    fail(what + ": want string '" + value + "', got " + describe(r));
  }
}

void expect_nil(const redisReply* r, const std::string& what) {
  if (r == nullptr || r->type != REDIS_REPLY_NIL) fail(what + ": want nil, got " + describe(r));
}

void expect_integer(const redisReply* r, long long value, const std::string& what) {
  if (r == nullptr || r->type != REDIS_REPLY_INTEGER || r->integer != value) {
    fail(what + ": want integer " + std::to_string(value) + ", got " + describe(r));
  }
}

void run_checks(redisContext* c, const std::string& p) {
  static constexpr char kBinary[] = "bin\0\r\n\xff value";
  const std::string binary(kBinary, sizeof kBinary - 1);  // with the NUL inside
  expect_status(command(c, {"SET", p + ":a", "alpha"}).get(), "OK", "SET");
  expect_string(command(c, {"GET", p + ":a"}).get(), "alpha", "GET");
  expect_status(command(c, {"SET", p + ":bin", binary}).get(), "OK", "SET binary");
  expect_string(command(c, {"GET", p + ":bin"}).get(), binary, "GET binary");
  expect_nil(command(c, {"GET", p + ":missing"}).get(), "GET missing");

  // MSET/MGET over 30 keys, which spread over the nodes.
  std::vector<std::string> mset{"MSET"};
  std::vector<std::string> mget{"MGET"};
  for (int i = 0; i < 30; ++i) {
    const std::string key = p + ":m" + std::to_string(i * 7919);
    if (i % 3 != 0) {
      mset.push_back(key);
      mset.push_back("value" + std::to_string(i));
    }
    mget.push_back(key);
  }
  expect_status(command(c, mset).get(), "OK", "MSET");
  Reply got = command(c, mget);
  if (got->type != REDIS_REPLY_ARRAY || got->elements != 30) {
    fail("MGET: want array of 30, got " + describe(got.get()));
  } else {
    for (int i = 0; i < 30; ++i) {
      const std::string what = "MGET element " + std::to_string(i);
      if (i % 3 == 0) {
        expect_nil(got->element[i], what);
      } else {
        expect_string(got->element[i], "value" + std::to_string(i), what);
      }
    }
  }

  command(c, {"DEL", p + ":ctr", p + ":h"});
  for (int i = 1; i <= 5; ++i) expect_integer(command(c, {"INCR", p + ":ctr"}).get(), i, "INCR");
  expect_integer(command(c, {"INCRBY", p + ":ctr", "-10"}).get(), -5, "INCRBY");

  expect_integer(command(c, {"HSET", p + ":h", "f1", "v1", "f2", "v2"}).get(), 2, "HSET");
  got = command(c, {"HGETALL", p + ":h"});
  std::map<std::string, std::string> fields;
  if (got->type != REDIS_REPLY_ARRAY || got->elements != 4) {
    fail("HGETALL: want array of 4, got " + describe(got.get()));
  } else {
    for (size_t i = 0; i + 1 < got->elements; i += 2) {
      fields[std::string(got->element[i]->str, got->element[i]->len)] =
          std::string(got->element[i + 1]->str, got->element[i + 1]->len);
    }
    if (fields != std::map<std::string, std::string>{{"f1", "v1"}, {"f2", "v2"}}) {
      fail("HGETALL: wrong fields");
    }
  }
  got = command(c, {"NOSUCHCOMMAND"});
  if (got->type != REDIS_REPLY_ERROR)
    fail("unknown command: want an error, got " + describe(got.get()));

  // Pipeline: 1000 appended commands (SET, GET, INCR by turns), then every reply in order.
  constexpr int kPipeline = 1000;
  for (int i = 0; i < kPipeline; ++i) {
    const std::string key = p + ":pipe" + std::to_string(i % 50);
    const std::string value = "v" + std::to_string(i);
    switch (i % 3) {
      case 0:
        redisAppendCommand(c, "SET %b %b", key.data(), key.size(), value.data(), value.size());
        break;
      case 1:
        redisAppendCommand(c, "GET %b", key.data(), key.size());
        break;
      default:
        redisAppendCommand(c, "INCR %s", (p + ":pipectr").c_str());
        break;
    }
  }
  std::map<std::string, std::string> model;
  long long counter = 0;
  for (int i = 0; i < kPipeline; ++i) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) {
      std::fprintf(stderr, "pipeline reply %d: connection error: %s\n", i, c->errstr);
      std::exit(2);
    }
    Reply r(static_cast<redisReply*>(raw));
    const std::string key = p + ":pipe" + std::to_string(i % 50);
    const std::string what = "pipeline reply " + std::to_string(i);
    switch (i % 3) {
      case 0:
        model[key] = "v" + std::to_string(i);
        expect_status(r.get(), "OK", what);
        break;
      case 1:
        if (model.count(key) != 0) {
          expect_string(r.get(), model[key], what);
        } else {
          expect_nil(r.get(), what);
        }
        break;
      default:
        expect_integer(r.get(), ++counter, what);
        break;
    }
  }
}

void expect_array(const redisReply* r, std::size_t n, const std::string& what) {
  if (r == nullptr || r->type != REDIS_REPLY_ARRAY || r->elements != n) {
    fail(what + ": want array of " + std::to_string(n) + ", got " + describe(r));
  }
}

redisContext* connect(const char* host, int port) {
  const timeval connect_timeout{2, 0};
  redisContext* c = redisConnectWithTimeout(host, port, connect_timeout);
  if (c == nullptr || c->err != 0) {
    std::fprintf(stderr, "cannot connect: %s\n", c != nullptr ? c->errstr : "out of memory");
    std::exit(2);
  }
  const timeval io_timeout{10, 0};
  if (redisSetTimeout(c, io_timeout) != REDIS_OK) {
    std::fprintf(stderr, "redisSetTimeout failed: %s\n", c->errstr);
    std::exit(2);
  }
  return c;
}

// Transactions, blocking pops and Pub/Sub: the commands that need a session of their own.
void run_session_checks(redisContext* c, redisContext* sub, const std::string& p) {
  const std::string a = "{" + p + "}:a";
  const std::string list = "{" + p + "}:list";
  command(c, {"DEL", a, list});
  expect_status(command(c, {"MULTI"}).get(), "OK", "MULTI");
  expect_status(command(c, {"SET", a, "1"}).get(), "QUEUED", "SET in MULTI");
  expect_status(command(c, {"INCR", a}).get(), "QUEUED", "INCR in MULTI");
  Reply exec = command(c, {"EXEC"});
  expect_array(exec.get(), 2, "EXEC");
  if (exec->type == REDIS_REPLY_ARRAY && exec->elements == 2) {
    expect_status(exec->element[0], "OK", "EXEC[0]");
    expect_integer(exec->element[1], 2, "EXEC[1]");
  }
  expect_nil(command(c, {"BLPOP", list, "0.1"}).get(), "BLPOP timeout");
  expect_integer(command(c, {"RPUSH", list, "job"}).get(), 1, "RPUSH");
  Reply popped = command(c, {"BLPOP", list, "1"});
  expect_array(popped.get(), 2, "BLPOP");
  if (popped->type == REDIS_REPLY_ARRAY && popped->elements == 2) {
    expect_string(popped->element[1], "job", "BLPOP value");
  }
  const std::string channel = p + ":chan";
  Reply subscribed = command(sub, {"SUBSCRIBE", channel});
  expect_array(subscribed.get(), 3, "SUBSCRIBE");
  expect_integer(command(c, {"PUBLISH", channel, "hello"}).get(), 1, "PUBLISH");
  void* raw = nullptr;
  if (redisGetReply(sub, &raw) != REDIS_OK) {
    fail(std::string("message: connection error: ") + sub->errstr);
    return;
  }
  Reply message(static_cast<redisReply*>(raw));
  expect_array(message.get(), 3, "message");
  if (message->type == REDIS_REPLY_ARRAY && message->elements == 3) {
    expect_string(message->element[0], "message", "message kind");
    expect_string(message->element[1], channel, "message channel");
    expect_string(message->element[2], "hello", "message payload");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: hiredis_client HOST PORT [PREFIX]\n");
    return 2;
  }
  const std::string prefix = argc > 3 ? argv[3] : "hc";
  const bool session = argc > 4 && std::string(argv[4]) == "session";
  redisContext* c = connect(argv[1], std::atoi(argv[2]));
  if (session) {
    redisContext* sub = connect(argv[1], std::atoi(argv[2]));
    run_session_checks(c, sub, prefix);
    redisFree(sub);
  } else {
    // Keys from an earlier run would change the counters.
    command(c, {"DEL", prefix + ":pipectr"});
    for (int i = 0; i < 50; ++i) command(c, {"DEL", prefix + ":pipe" + std::to_string(i)});
    run_checks(c, prefix);
  }
  redisFree(c);
  if (g_failures != 0) {
    std::fprintf(stderr, "%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("hiredis_client: all checks passed\n");
  return 0;
}
