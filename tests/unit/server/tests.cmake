# unit_server: the session's reply queue (order, pushes, deferred requests, held bytes, write
# slices, limits). The queue is a header-only, Asio-free template: no library to link.
sidecache_unit_test(server)
