// Fakes for the read-through engine: a manual event loop and clock, an in-memory Redis that
// understands the commands the engine sends (with expiry on the manual clock), and a database
// whose calls are counted.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/runtime.hpp"
#include "cache/value.hpp"
#include "db/database.hpp"
#include "resp/parser.hpp"
#include "resp/writer.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::cache::test {

using Clock = std::chrono::steady_clock;

class ManualRuntime final : public Runtime {
 public:
  void post(std::function<void()> fn) override {
    const std::lock_guard lock(mutex_);
    queue_.push_back(std::move(fn));
  }
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    timers_.emplace(now_ + delay, std::move(fn));
  }
  Clock::time_point now() const override { return now_; }

  // Drops pending work and timers (they hold the engine, which holds this runtime).
  void clear() {
    std::deque<std::function<void()>> queue;
    std::multimap<Clock::time_point, std::function<void()>> timers;
    {
      const std::lock_guard lock(mutex_);
      queue.swap(queue_);
    }
    timers.swap(timers_);
  }
  // Runs posted work until none is left.
  void run() {
    for (;;) {
      std::function<void()> fn;
      {
        const std::lock_guard lock(mutex_);
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }
  // Moves the clock, firing due timers (and running what they post).
  void advance(std::chrono::milliseconds d) {
    const auto end = now_ + d;
    run();
    while (!timers_.empty() && timers_.begin()->first <= end) {
      auto it = timers_.begin();
      now_ = it->first;
      auto fn = std::move(it->second);
      timers_.erase(it);
      fn();
      run();
    }
    now_ = end;
    run();
  }

 private:
  std::mutex mutex_;
  std::deque<std::function<void()>> queue_;
  std::multimap<Clock::time_point, std::function<void()>> timers_;
  Clock::time_point now_{};
};

// A one-node Redis of strings and hashes with millisecond expiry on the runtime's clock.
// Replies are delivered through the runtime's queue (never inline), like a real connection.
class FakeRedis final : public NodeSender {
 public:
  explicit FakeRedis(ManualRuntime& runtime) : runtime_(runtime) {}
  struct Entry {
    std::optional<std::string> text;
    std::vector<std::pair<std::string, std::string>> fields;
    std::optional<Clock::time_point> expires;
  };
  std::map<std::string, Entry, std::less<>> data;
  std::vector<std::string> log;  // every command, space-joined
  bool down = false;
  // Not empty: the reply to SET .. GET (a Redis before 7.0, or one refusing writes).
  std::string set_get_error;

  // A Redis Cluster pool (by_slot): MULTI is refused (each request may be redirected on its
  // own) and so is an EVAL whose keys do not share a slot.
  bool slotted = false;
  // Every reply comes as a cluster pool's after a MOVED: the sink is told it was redirected.
  bool redirect = false;
  std::size_t refused = 0;  // requests refused so (a test expects none)

  bool by_slot() const override { return slotted; }
  std::uint32_t node_count() const override { return 1; }
  std::uint32_t node_for_key(std::string_view) const override { return 0; }
  const std::string& node_name(std::uint32_t) const override { return name_; }
  void send(std::uint32_t, std::string_view request, ReplyTarget target) override {
    resp::RequestParser parser;
    resp::Command command;
    std::size_t consumed = 0;
    std::string reply;
    if (parser.parse(request, command, consumed) != resp::ParseStatus::kCommand) {
      reply = "-ERR fake: bad request\r\n";
    } else {
      std::vector<std::string> args(command.args.begin(), command.args.end());
      std::string line;
      for (const auto& a : args) line += (line.empty() ? "" : " ") + a;
      log.push_back(line);
      if (slotted) reply = refusal_by_slot(args);
      refused += reply.empty() ? 0 : 1;
      if (reply.empty()) reply = down ? "-ERR node fake is down\r\n" : execute(args);
    }
    auto deliver = [target = std::move(target), reply, moved = redirect] {
      if (moved) target.sink->redirected();
      target.deliver(reply);
    };
    if (hold) {
      held.push_back(std::move(deliver));
    } else {
      runtime_.post(std::move(deliver));
    }
  }
  // With `hold`, replies wait in `held` until answer_held(): one call answers one round trip,
  // every request sent since the last one.
  bool hold = false;
  std::vector<std::function<void()>> held;
  void answer_held() {
    auto replies = std::move(held);
    held.clear();
    for (auto& r : replies) runtime_.post(std::move(r));
  }

  Entry* find(const std::string& key) {
    auto it = data.find(key);
    if (it == data.end()) return nullptr;
    if (it->second.expires && *it->second.expires <= runtime_.now()) {
      data.erase(it);
      return nullptr;
    }
    return &it->second;
  }
  std::int64_t pttl(const std::string& key) {
    Entry* e = find(key);
    if (e == nullptr) return -2;
    if (!e->expires) return -1;
    return std::chrono::duration_cast<std::chrono::milliseconds>(*e->expires - runtime_.now())
        .count();
  }
  std::size_t count(std::string_view prefix) const {
    std::size_t n = 0;
    for (const auto& l : log) n += l.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }

 private:
  std::string execute(const std::vector<std::string>& a);
  std::string refusal_by_slot(const std::vector<std::string>& a) const;

  ManualRuntime& runtime_;
  std::string name_ = "fake";
  bool multi_ = false;
  std::vector<std::string> queued_;
};

// A database of rows by id; counts calls. Runs jobs inline (the engine posts results back).
class FakeDb final : public db::Database, public DbRunner {
 public:
  std::map<std::string, db::Row> rows;
  std::size_t fetches = 0;
  std::vector<std::vector<std::string>> fetched;  // ids per call
  std::optional<db::Status> fail;
  bool full = false;  // submit() refuses
  bool hold = false;  // jobs wait in `held` until release()
  std::vector<std::function<void(db::Database*)>> held;

  bool submit(std::function<void(db::Database*)> job) override {
    if (full) return false;
    if (hold) {
      held.push_back(std::move(job));
      return true;
    }
    job(this);
    return true;
  }
  void release() {
    auto jobs = std::move(held);
    held.clear();
    for (auto& j : jobs) j(this);
  }
  db::FetchResult fetch(const db::Source&, std::span<const std::string> ids) override {
    ++fetches;
    fetched.emplace_back(ids.begin(), ids.end());
    db::FetchResult r;
    if (fail) {
      r.status = *fail;
      return r;
    }
    for (const auto& id : ids) {
      auto it = rows.find(id);
      if (it == rows.end()) {
        r.rows.emplace_back(std::nullopt);
      } else {
        r.rows.emplace_back(it->second);
      }
    }
    return r;
  }
  db::IdsResult fetch_ids(std::string_view) override {
    db::IdsResult r;
    for (const auto& [id, row] : rows) r.ids.push_back(id);
    return r;
  }
  db::Status validate(const db::Source&) override { return {}; }
  db::Status write(const std::string&, const std::string&, std::span<const db::Upsert>,
                   std::span<const std::string>) override {
    return {};
  }
  db::IncrementResult increment(const std::string&, const std::string&, const std::string&,
                                const std::string&, std::int64_t) override {
    return {{db::ErrorKind::kRejected, "not in this fake"}, 0};
  }
};

inline db::Row row(std::vector<std::pair<std::string, std::optional<std::string>>> cols) {
  db::Row r;
  for (auto& [c, v] : cols) {
    r.columns.push_back(c);
    r.values.push_back(v);
  }
  return r;
}

// The replies a test's requests got, by tag.
class Replies final : public ReplySink {
 public:
  std::map<std::uint64_t, std::string> got;
  void on_reply(std::uint64_t tag, std::string_view reply) override {
    got[tag] = std::string(reply);
  }
};

}  // namespace sidecache::cache::test
