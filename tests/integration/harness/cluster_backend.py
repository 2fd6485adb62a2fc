"""The cluster backend mode: SIDECACHE_TEST_BACKEND=cluster runs the client-level test families
against one real 3-primary Redis Cluster behind a `pool.type: cluster` sidecache.

One cluster per test process (made on first use, stopped at exit): every harness.Cluster then
starts only its own sidecache, seeded with the primaries, after wiping what the previous one
left (FLUSHALL, SCRIPT FLUSH, FUNCTION FLUSH on every primary), so each fixture starts on empty
nodes as a ring fixture's fresh redis-servers do. Node i of the fixture is the i-th primary by
port; the slot map is read once (the families never reshard).

What only a ring can do raises unittest.SkipTest with the reason (printed by the runners at
verbosity 2): nodes started later or behind fault proxies, ring-only pool keys (hash,
hash_tag, distribution, down_policy: remap, db), ketama placement with another hash tag.
"""
import atexit
import shutil
import tempfile
import unittest

from . import env
from .slots import key_slot  # noqa: F401  (re-exported)

PRIMARIES = 3

# Pool keys a cluster pool rejects (docs/cluster.md): a fixture asking for them tests ring
# behaviour.
RING_ONLY_POOL_KEYS = ("hash:", "hash_tag:", "distribution:", "down_policy: remap", "db:")

_shared = None


def enabled():
    return env.BACKEND_MODE == "cluster"


def skip(reason):
    """Skips the current test (or class, from setUpClass) on the cluster backend."""
    raise unittest.SkipTest("cluster backend: " + reason)


class SharedNode:
    """A primary of the shared cluster as a fixture's node: a RedisServer whose stop, kill9 and
    start skip the test (the next fixtures of the process need the cluster whole)."""

    def __init__(self, server):
        self._server = server

    def __getattr__(self, name):
        return getattr(self._server, name)

    @property
    def process(self):
        skip("signalling a node (SIGSTOP, SIGKILL) would break the cluster the other tests "
             "share")

    def stop(self, *_):
        skip("stopping a node would break the cluster the other tests share")

    def kill9(self):
        self.stop()

    def start(self):
        self.stop()


class SharedCluster:
    """The process's Redis Cluster: `primaries` (RedisServer, by port) and `owner_index[slot]`."""

    def __init__(self):
        from .redis_cluster import RedisCluster
        self.tmp = tempfile.mkdtemp(prefix="sidecache-rcluster-")
        self.cluster = RedisCluster(self.tmp, primaries=PRIMARIES)
        self.servers = sorted(self.cluster.primaries(), key=lambda r: r.port)
        self.primaries = [SharedNode(r) for r in self.servers]
        index = {r.port: i for i, r in enumerate(self.primaries)}
        self.owner_index = [None] * 16384
        for first, last, primary, *_ in self.cluster.slots():
            for slot in range(first, last + 1):
                self.owner_index[slot] = index[primary[1]]
        self.tags = [None] * PRIMARIES
        candidate = 0
        while None in self.tags:
            tag = "n%d" % candidate
            owner = self.owner_index[key_slot(tag)]
            if self.tags[owner] is None:
                self.tags[owner] = tag
            candidate += 1

    def reset(self):
        """Every primary empty, no scripts or functions (what a fresh redis-server has)."""
        for r in self.primaries:
            c = r.client()
            c.flushall()
            c.script_flush()
            c.execute_command("FUNCTION", "FLUSH")

    def stop(self):
        self.cluster.stop()
        if not env.keep_tmp():
            shutil.rmtree(self.tmp, ignore_errors=True)


def shared():
    global _shared
    if _shared is None:
        _shared = SharedCluster()
        atexit.register(_shared.stop)
    return _shared


def serves(nodes):
    """True when `nodes` ((name, port, weight) tuples) are the shared cluster's primaries: a
    config for them gets a cluster pool; one for standalone servers a test started itself stays
    a ring."""
    if not enabled() or _shared is None or not nodes:
        return False
    ports = {r.port for r in _shared.primaries}
    return all(port in ports for _, port, _ in nodes)


def pool_yaml(nodes, pool_extra):
    """The pool section of a cluster-mode config: the nodes' addresses as seeds."""
    for key in RING_ONLY_POOL_KEYS:
        if key in pool_extra:
            skip("pool key '%s' is for ring pools only" % key.rstrip(":"))
    seeds = ", ".join("127.0.0.1:%d" % port for _, port, _ in nodes)
    return "pool:\n  type: cluster\n  nodes: [%s]\n%s\n" % (seeds, pool_extra)
