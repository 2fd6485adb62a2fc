# unit_app: the CPU limit read from a fake cgroup tree (v2 cpu.max, v1 CFS quota) that sizes
# `workers: 0`.
sidecache_unit_test(app LIBS sidecache_app)
