"""A sidecache in front of N redis-servers (some optionally behind fault proxies), keys that
route to each node, and the base class of the session-mode tests."""
import shutil
import tempfile
import unittest

from . import cluster_backend, env
from .fault_proxy import FaultProxy
from .redis import RedisServer
from .sidecache import Sidecache
from .tools import route_probe


class Cluster:
    """N redis-server nodes and one sidecache in front of them, in a temp dir.

    `down` lists node indexes whose redis-server is not started (start it later with
    cluster.redis[i].start()). close() stops everything and then raises AssertionError when
    sidecache crashed, did not stop cleanly on SIGTERM, or logged a sanitizer report."""

    def __init__(self, n=3, weights=None, down=(), proxied=(), **sidecache_kw):
        """`proxied` lists node indexes sidecache reaches through a FaultProxy
        (self.proxies[i]), for faults between sidecache and that node.

        SIDECACHE_TEST_BACKEND=cluster: the nodes are the primaries of the process's Redis
        Cluster (cluster_backend; `n` and `weights` are not used, there are always 3), emptied
        first, and sidecache has a cluster pool; `down` and `proxied` skip the test."""
        self.tmp = tempfile.mkdtemp(prefix="sidecache-test-")
        self.redis = []
        self.proxies = {}
        self.sidecache = None
        self._reference = None
        self.on_cluster = cluster_backend.enabled()
        try:
            if self.on_cluster:
                self._start_on_cluster(down, proxied)
            else:
                self._start_nodes(n, weights, down, proxied)
            self.sidecache = Sidecache(self.tmp, self.nodes, **sidecache_kw)
        except BaseException:
            self.close(check=False)
            raise

    def _start_nodes(self, n, weights, down, proxied):
        for i in range(n):
            self.redis.append(RedisServer(self.tmp, start=i not in down))
        for i in proxied:
            self.proxies[i] = FaultProxy(self.tmp, self.redis[i].port)
        weights = weights or [1] * n
        self.nodes = [("node%d" % i, self.proxies[i].port if i in self.proxies else r.port,
                       weights[i]) for i, r in enumerate(self.redis)]

    def _start_on_cluster(self, down, proxied):
        if down:
            cluster_backend.skip("nodes started later (down=%r) need a ring" % (tuple(down),))
        if proxied:
            cluster_backend.skip("fault proxies in front of nodes need a ring (a cluster's "
                                 "MOVED and CLUSTER SLOTS name the nodes themselves)")
        shared = cluster_backend.shared()
        shared.reset()
        self.redis = list(shared.primaries)
        self.nodes = [(self.node_name(i), r.port, 1) for i, r in enumerate(self.redis)]

    def close(self, check=True):
        failure = None
        if self.sidecache:
            try:
                self.sidecache.stop_checked()
            except AssertionError as e:
                failure = e
            self.sidecache = None
        for proxy in self.proxies.values():
            proxy.stop()
        if self._reference is not None:
            self._reference.stop()
        if not self.on_cluster:  # the shared Redis Cluster stops at the process's exit
            for r in self.redis:
                r.stop()
        if not env.keep_tmp():
            shutil.rmtree(self.tmp, ignore_errors=True)
        if failure is not None and check:
            raise failure

    def direct(self, i, **kw):
        """A redis-py client connected straight to node i."""
        return self.redis[i].client(**kw)

    def client(self, **kw):
        return self.sidecache.client(**kw)

    def reference(self):
        """A standalone redis-server to compare replies with: node 0 on a ring; on a Redis
        Cluster a plain one of its own (a cluster node answers MOVED for other slots' keys)."""
        if not self.on_cluster:
            return self.redis[0]
        if self._reference is None:
            self._reference = RedisServer(self.tmp)
        return self._reference

    def node_name(self, i):
        """Node i's name in sidecache's metrics, INFO and logs: its ring name, or `host:port`
        on a cluster pool."""
        if self.on_cluster:
            return "127.0.0.1:%d" % self.redis[i].port
        return self.nodes[i][0]

    def probe(self, keys, tag="{}"):
        """Node indexes sidecache places `keys` on: route_probe on this cluster's ring
        (fnv1a_64), or the owner of each key's slot on a Redis Cluster."""
        if self.on_cluster:
            if tag != "{}":
                cluster_backend.skip("hash tag %r: a cluster always uses {}" % tag)
            owners = cluster_backend.shared().owner_index
            return [owners[cluster_backend.key_slot(k)] for k in keys]
        names = route_probe(keys, [(name, w) for name, _, w in self.nodes], tag=tag)
        index = {name: i for i, (name, _, _) in enumerate(self.nodes)}
        return [index[n] for n in names]

    def node_of(self, key):
        """Index of the backend that holds `key` (checked directly on the backends: on a Redis
        Cluster, on its slot's owner, the others would answer MOVED)."""
        if self.on_cluster:
            owner = self.probe([key])[0]
            if not self.redis[owner].client().exists(key):
                raise AssertionError("key %r not on its slot's owner, node %d" % (key, owner))
            return owner
        holders = [i for i, r in enumerate(self.redis) if r.client().exists(key)]
        if len(holders) != 1:
            raise AssertionError("key %r held by nodes %r" % (key, holders))
        return holders[0]


def keys_on_nodes(cluster, per_node, prefix="k", tag="{}"):
    """`per_node` keys for each node of the cluster: a list (indexed by node) of key lists.
    A node's keys can go in one multi-key command: on a Redis Cluster they carry the node's
    hash tag (`prefix:b:i{nI}`, all in one slot), as a cluster refuses keys of several slots."""
    found = [[] for _ in cluster.redis]
    if getattr(cluster, "on_cluster", False):
        if tag != "{}":
            cluster_backend.skip("hash tag %r: a cluster always uses {}" % tag)
        tags = cluster_backend.shared().tags
        for node, keys in enumerate(found):
            keys.extend("%s:0:%d{%s}" % (prefix, i, tags[node]) for i in range(per_node))
        return found
    batch = 0
    while min(len(f) for f in found) < per_node:
        if batch > 100:
            raise RuntimeError("could not find keys for every node")
        keys = ["%s:%d:%d" % (prefix, batch, i) for i in range(64 * per_node)]
        for key, node in zip(keys, cluster.probe(keys, tag=tag)):
            if len(found[node]) < per_node:
                found[node].append(key)
        batch += 1
    return found


class ClusterSessionTest(unittest.TestCase):
    """Base of the session-mode tests (transactions, blocking): one sidecache over three
    redis-servers for the class, `keys[node]` the KEYS_PER_NODE keys (prefix KEY_PREFIX) that
    route to each node, every node flushed before each test, raw connections closed and the
    sidecache checked alive after it."""
    KEY_PREFIX = "k"
    KEYS_PER_NODE = 4
    RAW_TIMEOUT = 5

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3)
        cls.keys = keys_on_nodes(cls.cluster, cls.KEYS_PER_NODE, prefix=cls.KEY_PREFIX)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def setUp(self):
        for i in range(3):
            self.cluster.direct(i).flushall()
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.cluster.sidecache.check()

    def raw(self, timeout=None):
        c = self.cluster.sidecache.raw(timeout=timeout or self.RAW_TIMEOUT)
        self.conns.append(c)
        return c
