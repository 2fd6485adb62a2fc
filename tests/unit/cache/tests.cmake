sidecache_unit_test(cache LIBS sidecache_cache)
