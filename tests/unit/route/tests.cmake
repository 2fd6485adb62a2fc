# Route module: Catch2 unit tests (unit_route) and route_probe, a small tool that prints the node
# chosen for each key (used by tests/integration/test_twemproxy_compat.py against nutcracker).
sidecache_unit_test(route LIBS sidecache_route OpenSSL::Crypto)

add_executable(route_probe ${CMAKE_CURRENT_LIST_DIR}/tools/route_probe.cpp)
target_link_libraries(route_probe PRIVATE sidecache_options sidecache_route)
