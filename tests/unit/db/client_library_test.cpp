// The client libraries loaded on demand (db/client_library.hpp): the error that names what to
// install, a missing function, and the one-time loads of libpq and Connector/C (installed here).
#include "db/client_library.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <vector>

#include "db/mariadb_api.hpp"
#include "db/pq_api.hpp"

using namespace sidecache::db;

TEST_CASE("a missing client library is an error naming the package to install",
          "[client_library]") {
  constexpr ClientLibrary missing{"Example", "libsidecache-absent.so.7", "libsidecache-absent7"};
  std::string error;
  CHECK(open_library(missing, error) == nullptr);
  CHECK(error.rfind("Example client library libsidecache-absent.so.7 not found: install "
                    "libsidecache-absent7 (",
                    0) == 0);
  CHECK(error.find("libsidecache-absent.so.7: cannot open shared object file") !=
        std::string::npos);
}

TEST_CASE("a function the library lacks is an error, and the first one is kept",
          "[client_library]") {
  std::string error;
  void* handle = open_library(kPostgresLibrary, error);
  REQUIRE(handle != nullptr);
  REQUIRE(error.empty());
  decltype(&::PQstatus) status = nullptr;
  resolve(handle, kPostgresLibrary, "PQstatus", status, error);
  CHECK(status != nullptr);
  CHECK(error.empty());
  decltype(&::PQstatus) absent = nullptr;
  resolve(handle, kPostgresLibrary, "PQnoSuchFunction", absent, error);
  CHECK(absent == nullptr);
  CHECK(error.rfind("PostgreSQL client library libpq.so.5 has no PQnoSuchFunction: install a "
                    "newer libpq5",
                    0) == 0);
  const std::string first = error;
  resolve(handle, kPostgresLibrary, "PQanotherMissingOne", absent, error);
  CHECK(error == first);
}

TEST_CASE("libpq and Connector/C load once, from any number of threads", "[client_library]") {
  std::vector<std::future<std::pair<Status, Status>>> loads;
  for (int i = 0; i < 4; ++i) {
    loads.push_back(
        std::async(std::launch::async, [] { return std::make_pair(load_pq(), load_mariadb()); }));
  }
  for (auto& f : loads) {
    const auto [pq_status, mariadb_status] = f.get();
    CHECK(pq_status.ok());
    CHECK(pq_status.message.empty());
    CHECK(mariadb_status.ok());
  }
  CHECK(pq().PQstatus != nullptr);
  CHECK(pq().PQsendQueryParams != nullptr);
  CHECK(mariadb().mysql_real_connect != nullptr);
  CHECK(mariadb().mariadb_field_attr != nullptr);
  // A table entry calls into the loaded library: a null connection is CONNECTION_BAD.
  CHECK(pq().PQstatus(nullptr) == CONNECTION_BAD);
}
