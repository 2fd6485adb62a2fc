// The database client libraries sidecache loads on demand: libpq for PostgreSQL and MariaDB
// Connector/C for MySQL / MariaDB are not linked into the daemon (their dependency chains,
// gnutls, krb5, ldap, ..., cost megabytes of resident memory), but dlopen()ed by SONAME the
// first time a database of that kind is opened (db/pq_api.hpp, db/mariadb_api.hpp). Their
// headers stay, for the types and the function signatures. Asio-free.
#pragma once

#include <string>
#include <string_view>

namespace sidecache::db {

// A library loaded on demand: what it is for, its SONAME, and the Debian package that ships it
// (tests/integration/test_deploy_docker.py reads these lines: the image must install them).
struct ClientLibrary {
  std::string_view what;
  std::string_view soname;
  std::string_view package;
};
inline constexpr ClientLibrary kPostgresLibrary{"PostgreSQL", "libpq.so.5", "libpq5"};
inline constexpr ClientLibrary kMysqlLibrary{"MySQL/MariaDB", "libmariadb.so.3", "libmariadb3"};

// Opens `library` (never closed: its threads and exit handlers must outlive every use). nullptr
// and `error` set to "<what> client library <soname> not found: install <package> (<dlerror>)"
// when it cannot be loaded.
void* open_library(const ClientLibrary& library, std::string& error);

// The address of function `name` in `handle`, or nullptr and `error` set.
void* find_function(void* handle, const ClientLibrary& library, const char* name,
                    std::string& error);

// Resolves `name` into `slot`, typed from the library's own header; keeps the first error.
template <typename F>
void resolve(void* handle, const ClientLibrary& library, const char* name, F& slot,
             std::string& error) {
  if (!error.empty()) return;
  slot = reinterpret_cast<F>(find_function(handle, library, name, error));
}

}  // namespace sidecache::db
