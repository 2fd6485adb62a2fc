#include "db/mariadb_api.hpp"

#include <cassert>
#include <mutex>
#include <string>

#include "db/client_library.hpp"

namespace sidecache::db {
namespace {

MariadbApi table;
std::string load_error;
std::once_flag loaded;

void load() {
  void* handle = open_library(kMysqlLibrary, load_error);
  if (handle == nullptr) return;
#define SIDECACHE_MARIADB_RESOLVE(name) \
  resolve(handle, kMysqlLibrary, #name, table.name, load_error);
  SIDECACHE_MARIADB_FUNCTIONS(SIDECACHE_MARIADB_RESOLVE)
#undef SIDECACHE_MARIADB_RESOLVE
}

}  // namespace

Status load_mariadb() {
  std::call_once(loaded, load);
  if (!load_error.empty()) return {ErrorKind::kUnavailable, load_error};
  return {};
}

const MariadbApi& mariadb() {
  assert(table.mysql_init != nullptr && load_error.empty());
  return table;
}

}  // namespace sidecache::db
