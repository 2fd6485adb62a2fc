sidecache_unit_test(command_table LIBS sidecache_resp)

# Prints key_indexes() for requests read from stdin; driven by
# tests/integration/test_command_getkeys.py against redis-server's COMMAND GETKEYS.
add_executable(command_keys_probe ${CMAKE_CURRENT_LIST_DIR}/tools/command_keys_probe.cpp)
target_link_libraries(command_keys_probe PRIVATE sidecache_options sidecache_resp)
