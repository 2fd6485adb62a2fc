# unit_metrics: the collector's exact output, the probes' replies, and the HTTP endpoint on a
# loopback socket.
sidecache_unit_test(metrics LIBS sidecache_metrics)
