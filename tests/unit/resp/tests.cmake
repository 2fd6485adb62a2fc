# RESP codec tests; included from tests/CMakeLists.txt.
sidecache_unit_test(resp LIBS sidecache_resp PkgConfig::HIREDIS)

# The fuzz targets, compiled with a replay main() so the g++ (and Asan) build runs the corpus.
set(fuzz_dir ${PROJECT_SOURCE_DIR}/tests/fuzz)
add_executable(fuzz_replay ${fuzz_dir}/fuzz_request_parser.cpp ${fuzz_dir}/fuzz_reply_framer.cpp
                           ${fuzz_dir}/fuzz_json_row.cpp ${fuzz_dir}/fuzz_config.cpp
                           ${fuzz_dir}/fuzz_replay_main.cpp ${PROJECT_SOURCE_DIR}/src/write/json_row.cpp)
target_compile_definitions(fuzz_replay PRIVATE SIDECACHE_FUZZ_REPLAY=1)
target_link_libraries(fuzz_replay PRIVATE sidecache_options sidecache_resp sidecache_config)
add_test(NAME fuzz_replay_corpus
         COMMAND fuzz_replay request=${fuzz_dir}/corpus/request reply=${fuzz_dir}/corpus/reply
                 json=${fuzz_dir}/corpus/json config=${fuzz_dir}/corpus/config)
set_tests_properties(fuzz_replay_corpus PROPERTIES TIMEOUT 60 LABELS unit)
