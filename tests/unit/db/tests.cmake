# unit_db: the SQL text, the SQLite adapter against temp files, the executor. The PostgreSQL
# cases are hidden ([.postgres]): tests/integration/test_db_postgres.py starts a server and runs
# them with SIDECACHE_TEST_PG set to its conninfo; the MySQL ones ([.mysql]) likewise
# tests/integration/test_db_mysql.py against a MariaDB server.
find_package(SQLite3 REQUIRED)
sidecache_unit_test(db LIBS sidecache_db SQLite::SQLite3)
target_compile_definitions(unit_db PRIVATE
  SIDECACHE_DB_SCHEMA="${CMAKE_CURRENT_SOURCE_DIR}/unit/db/schema.sql")
# The typed JSON mapping is checked against a reference JSON library (tests only).
find_package(nlohmann_json 3 REQUIRED CONFIG)
target_link_libraries(unit_db PRIVATE nlohmann_json::nlohmann_json)
# The libpq and Connector/C headers, for the function tables (db/pq_api.hpp, db/mariadb_api.hpp):
# the libraries themselves are loaded on demand, not linked.
find_package(PostgreSQL REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(MARIADB REQUIRED libmariadb)
target_include_directories(unit_db PRIVATE ${PostgreSQL_INCLUDE_DIRS} ${MARIADB_INCLUDE_DIRS})
