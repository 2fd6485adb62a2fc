"""A sidecache in front of N redis-servers (some optionally behind fault proxies), keys that
route to each node, and the base class of the session-mode tests."""
import shutil
import tempfile
import unittest

from . import env
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
        (self.proxies[i]), for faults between sidecache and that node."""
        self.tmp = tempfile.mkdtemp(prefix="sidecache-test-")
        self.redis = []
        self.proxies = {}
        self.sidecache = None
        try:
            for i in range(n):
                self.redis.append(RedisServer(self.tmp, start=i not in down))
            for i in proxied:
                self.proxies[i] = FaultProxy(self.tmp, self.redis[i].port)
            weights = weights or [1] * n
            self.nodes = [("node%d" % i, self.proxies[i].port if i in self.proxies else r.port,
                           weights[i]) for i, r in enumerate(self.redis)]
            self.sidecache = Sidecache(self.tmp, self.nodes, **sidecache_kw)
        except BaseException:
            self.close(check=False)
            raise

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

    def probe(self, keys, tag="{}"):
        """Node indexes route_probe predicts for `keys` on this cluster's ring (fnv1a_64)."""
        names = route_probe(keys, [(name, w) for name, _, w in self.nodes], tag=tag)
        index = {name: i for i, (name, _, _) in enumerate(self.nodes)}
        return [index[n] for n in names]

    def node_of(self, key):
        """Index of the backend that holds `key` (checked directly on the backends)."""
        holders = [i for i, r in enumerate(self.redis) if r.client().exists(key)]
        if len(holders) != 1:
            raise AssertionError("key %r held by nodes %r" % (key, holders))
        return holders[0]


def keys_on_nodes(cluster, per_node, prefix="k", tag="{}"):
    """`per_node` keys for each node of the cluster: a list (indexed by node) of key lists."""
    found = [[] for _ in cluster.redis]
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
