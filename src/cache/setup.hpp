// Control-plane helpers for the read-through cache: the database threads as the engine's
// DbRunner, and the validation of policies against the database at startup and reload.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "cache/runtime.hpp"
#include "config/config.hpp"

namespace sidecache::db {
class Executor;
}

namespace sidecache::cache {

std::shared_ptr<DbRunner> make_db_runner(std::shared_ptr<db::Executor> executor);

// Checks every policy: its pattern (one '*' at most) and, on the database threads, its table,
// key column, columns or query (Database::validate). Returns "where: cache policy 'name':
// problem" for the first problem, or an empty string. Waits at most `timeout` per policy.
std::string validate_policies(DbRunner& db, const config::CacheConfig& cache,
                              std::chrono::milliseconds timeout);

}  // namespace sidecache::cache
