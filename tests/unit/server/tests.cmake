# unit_server: the session's reply queue (order, pushes, deferred requests, held bytes, write
# slices, limits), a header-only, Asio-free template, and the Pub/Sub frame reader.
sidecache_unit_test(server LIBS sidecache_server)
