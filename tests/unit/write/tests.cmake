sidecache_unit_test(write LIBS sidecache_write)
