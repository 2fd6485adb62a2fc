#include "cache/setup.hpp"

#include <algorithm>
#include <future>

#include "cache/policy.hpp"
#include "db/executor.hpp"

namespace sidecache::cache {
namespace {

class ExecutorRunner final : public DbRunner {
 public:
  explicit ExecutorRunner(std::shared_ptr<db::Executor> executor)
      : executor_(std::move(executor)) {}
  bool submit(std::function<void(db::Database*)> job) override {
    return executor_->submit(std::move(job));
  }

 private:
  std::shared_ptr<db::Executor> executor_;
};

std::string problem(const config::CachePolicy& p, const std::string& text) {
  const std::string name = p.name.empty() ? p.match : p.name;
  return (p.where.empty() ? std::string() : p.where + ": ") + "cache policy '" + name +
         "': " + text;
}

}  // namespace

std::shared_ptr<DbRunner> make_db_runner(std::shared_ptr<db::Executor> executor) {
  return std::make_shared<ExecutorRunner>(std::move(executor));
}

std::string validate_policies(DbRunner& db, const config::CacheConfig& cache,
                              std::chrono::milliseconds timeout) {
  for (const auto& p : cache.policies) {
    if (std::count(p.match.begin(), p.match.end(), '*') > 1) {
      return problem(p, "match '" + p.match + "' has more than one '*'");
    }
    if (p.mapping == config::ValueMapping::kColumn && !p.value_column.empty() &&
        !p.columns.empty() &&
        std::find(p.columns.begin(), p.columns.end(), p.value_column) == p.columns.end()) {
      return problem(p, "value_column '" + p.value_column + "' is not among columns");
    }
    auto promise = std::make_shared<std::promise<db::Status>>();
    auto future = promise->get_future();
    const db::Source source = source_of(p);
    const bool queued = db.submit([promise, source](db::Database* database) {
      if (database == nullptr) {
        promise->set_value({db::ErrorKind::kUnavailable, "shutting down"});
      } else {
        promise->set_value(database->validate(source));
      }
    });
    if (!queued) return problem(p, "cannot validate: database queue full");
    if (future.wait_for(timeout) != std::future_status::ready) {
      return problem(p, "cannot validate: the database did not answer within " +
                            std::to_string(timeout.count()) + " ms");
    }
    const db::Status status = future.get();
    if (!status.ok()) return problem(p, status.message);
  }
  return {};
}

}  // namespace sidecache::cache
