# unit_config: tests/unit/config/*.cpp; the sample files in config/ are found via the source dir.
sidecache_unit_test(config LIBS sidecache_config)
target_compile_definitions(unit_config PRIVATE SIDECACHE_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
