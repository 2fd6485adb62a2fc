"""Test harness: real redis-server, PostgreSQL and MariaDB processes and the real sidecache
binary on reserved loopback ports, each stopped by PID. Every wait is bounded; nothing here can
hang a test run.

Run with Debian's /usr/bin/python3 (it has python3-redis). ctest sets SIDECACHE_BIN,
SIDECACHE_BUILD_DIR and SIDECACHE_SOURCE_DIR. Tests and scripts `import harness` (the directory
holding this package is on sys.path) and use the names below; the modules:

  env          binaries and backend mode from the environment
  processes    bounded waits, port reservation, processes stopped by PID
  resp         RESP client and reply codec
  tls          certificates and the auth_tls backend mode
  redis        RedisServer
  sidecache    Sidecache, its config text, sanitizer checks, HTTP endpoint reads
  cluster      Cluster (sidecache over N nodes), keys per node, ClusterSessionTest
  cluster_backend  the cluster backend mode (SIDECACHE_TEST_BACKEND=cluster): one Redis
               Cluster per test process under every Cluster fixture
  sentinel     SentinelGroup (a primary, a replica and Sentinels watching them), SentinelGroups
  redis_cluster  RedisCluster (a real Redis Cluster, optionally with replicas), Load
  fault_proxy  FaultProxy (tests/tools/fault_proxy.py)
  postgres     Postgres
  mysql        MariaDB
  tools        find_tool, route_probe
"""
from .env import BACKEND_MODE, BIN, BUILD_DIR, SOURCE_DIR, build_option, jemalloc_build
from .processes import (AddressInUse, PORT_LOCK_DIR, PORT_RANGE, Process, free_port,
                        release_port, reserved_ports, start_on_free_port, stop_pid, wait_until)
from .resp import (Push, RespConnection, RespError, RespSet, Verbatim, decode_reply,
                   encode_reply, ping, reply_end)
from .tls import (SECURE_PASSWORD, SECURE_USER, make_certs, openssl, secure_certs,
                  secure_pool_yaml, secure_redis_args)
from .redis import RedisServer, redis_client_for
from .sidecache import (SANITIZER_MARKERS, Sidecache, assert_config_error, cache_yaml, check_config, config_yaml,
                        http_status,
                        make_sample_db, metric, metrics_text, node_yaml, sample_config_yaml,
                        sanitized_build, sanitizer_report)
from .fault_proxy import FAULT_PROXY, FaultProxy
from .tools import find_tool, route_probe
from .cluster import Cluster, ClusterSessionTest, keys_on_nodes
from .sentinel import Sentinel, SentinelGroup, SentinelGroups, SentinelSidecacheTest, WriteLoad
from .redis_cluster import Load, RedisCluster, cluster_node, cluster_sidecache, raw
from .slots import crc16, key_slot, slot_tag
from .postgres import Postgres
from .mysql import MariaDB
from .near import NearCacheFixture, commandstat, tracking_ids, wait_served_from_l1

__all__ = ["BACKEND_MODE", "BIN", "BUILD_DIR", "SOURCE_DIR", "AddressInUse", "PORT_LOCK_DIR",
           "PORT_RANGE", "Process", "free_port", "release_port", "reserved_ports",
           "start_on_free_port", "stop_pid", "wait_until", "Push", "RespConnection", "RespError",
           "RespSet", "Verbatim", "decode_reply", "encode_reply", "ping", "reply_end",
           "SECURE_PASSWORD", "SECURE_USER", "make_certs", "openssl", "secure_certs",
           "secure_pool_yaml", "secure_redis_args", "RedisServer", "redis_client_for",
           "SANITIZER_MARKERS", "Sidecache", "assert_config_error", "cache_yaml", "check_config", "config_yaml", "http_status",
           "make_sample_db", "metric", "metrics_text", "node_yaml", "sample_config_yaml",
           "sanitized_build", "sanitizer_report", "FAULT_PROXY",
           "FaultProxy", "find_tool", "route_probe", "Cluster", "ClusterSessionTest",
           "keys_on_nodes", "Sentinel", "SentinelGroup", "SentinelGroups", "Load", "RedisCluster", "cluster_node",
           "cluster_sidecache", "crc16", "key_slot", "slot_tag", "raw", "Postgres", "MariaDB", "NearCacheFixture", "commandstat",
           "tracking_ids", "wait_served_from_l1"]
