#include "db/executor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "config/config.hpp"

namespace sidecache::db {
namespace {

using Clock = std::chrono::steady_clock;

// Counts every call of the Database it wraps (result kind, latency) in its thread's stats.
class CountingDatabase final : public Database {
 public:
  CountingDatabase(std::unique_ptr<Database> inner, ThreadStats& stats)
      : inner_(std::move(inner)), stats_(stats) {}

 private:
  static const Status& status_of(const Status& s) { return s; }
  static const Status& status_of(const FetchResult& r) { return r.status; }
  static const Status& status_of(const IdsResult& r) { return r.status; }
  static const Status& status_of(const IncrementResult& r) { return r.status; }

  template <typename F>
  auto count(F&& call) {
    const auto start = Clock::now();
    auto result = call();
    stats_.latency.observe(Clock::now() - start);
    stats_.calls[static_cast<std::size_t>(status_of(result).kind)].add();
    return result;
  }

 public:
  FetchResult fetch(const Source& source, std::span<const std::string> ids) override {
    return count([&] { return inner_->fetch(source, ids); });
  }
  IdsResult fetch_ids(std::string_view query) override {
    return count([&] { return inner_->fetch_ids(query); });
  }
  Status validate(const Source& source) override {
    return count([&] { return inner_->validate(source); });
  }
  Status write(const std::string& table, const std::string& key_column,
               std::span<const Upsert> upserts, std::span<const std::string> deletes) override {
    return count([&] { return inner_->write(table, key_column, upserts, deletes); });
  }
  IncrementResult increment(const std::string& table, const std::string& key_column,
                            const std::string& key, const std::string& column,
                            std::int64_t delta) override {
    return count([&] { return inner_->increment(table, key_column, key, column, delta); });
  }

 private:
  std::unique_ptr<Database> inner_;
  ThreadStats& stats_;
};

}  // namespace

std::uint64_t ExecutorStats::calls(ErrorKind kind) const {
  std::uint64_t sum = 0;
  for (const auto& t : per_thread) sum += t->calls[static_cast<std::size_t>(kind)].get();
  return sum;
}

std::uint64_t ExecutorStats::connects() const {
  std::uint64_t sum = 0;
  for (const auto& t : per_thread) sum += t->connects.get();
  return sum;
}

std::uint64_t ExecutorStats::reconnects() const {
  std::uint64_t sum = 0;
  for (const auto& t : per_thread) sum += t->reconnects.get();
  return sum;
}

std::vector<std::uint64_t> ExecutorStats::latency_buckets() const {
  std::vector<std::uint64_t> out(Histogram::kBounds.size() + 1, 0);
  for (const auto& t : per_thread) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += t->latency.bucket(i);
  }
  return out;
}

double ExecutorStats::latency_sum_seconds() const {
  double sum = 0;
  for (const auto& t : per_thread) sum += t->latency.sum_seconds();
  return sum;
}

Executor::Executor(const config::DatabaseConfig& config)
    : Executor(config.pool_size, config.max_queue,
               [config](ThreadStats* stats) { return make_database(config, stats); }) {}

Executor::Executor(std::size_t threads, std::size_t max_queue, Factory factory)
    : max_queue_(std::max<std::size_t>(max_queue, 1)),
      stats_(std::make_shared<ExecutorStats>(std::max<std::size_t>(threads, 1))) {
  threads = std::max<std::size_t>(threads, 1);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i, factory] { run(i, factory); });
  }
}

Executor::~Executor() { stop(); }

bool Executor::submit(Job job) {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= max_queue_) {
      stats_->rejected.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(job));
    stats_->queue_depth.fetch_add(1, std::memory_order_relaxed);
  }
  wake_.notify_one();
  return true;
}

void Executor::run(std::size_t index, const Factory& factory) {
  ThreadStats& stats = *stats_->per_thread[index];
  std::unique_ptr<Database> inner = factory(&stats);
  std::unique_ptr<Database> db =
      inner ? std::make_unique<CountingDatabase>(std::move(inner), stats) : nullptr;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;  // stop() runs what is left with nullptr
      job = std::move(queue_.front());
      queue_.pop_front();
      stats_->queue_depth.fetch_sub(1, std::memory_order_relaxed);
    }
    stats_->busy.fetch_add(1, std::memory_order_relaxed);
    stats_->jobs.fetch_add(1, std::memory_order_relaxed);
    try {
      job(db.get());
    } catch (const std::exception& e) {
      spdlog::error("database job failed: {}", e.what());
    } catch (...) {
      spdlog::error("database job failed with an unknown exception");
    }
    stats_->busy.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Executor::stop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  std::deque<Job> left;
  {
    const std::lock_guard lock(mutex_);
    left.swap(queue_);
    stats_->queue_depth.store(0, std::memory_order_relaxed);
  }
  for (auto& job : left) job(nullptr);
}

}  // namespace sidecache::db
