#include "db/pq_api.hpp"

#include <cassert>
#include <mutex>
#include <string>

#include "db/client_library.hpp"

namespace sidecache::db {
namespace {

PqApi table;
std::string load_error;
std::once_flag loaded;

void load() {
  void* handle = open_library(kPostgresLibrary, load_error);
  if (handle == nullptr) return;
#define SIDECACHE_PQ_RESOLVE(name) resolve(handle, kPostgresLibrary, #name, table.name, load_error);
  SIDECACHE_PQ_FUNCTIONS(SIDECACHE_PQ_RESOLVE)
#undef SIDECACHE_PQ_RESOLVE
}

}  // namespace

Status load_pq() {
  std::call_once(loaded, load);
  if (!load_error.empty()) return {ErrorKind::kUnavailable, load_error};
  return {};
}

const PqApi& pq() {
  assert(table.PQstatus != nullptr && load_error.empty());
  return table;
}

}  // namespace sidecache::db
