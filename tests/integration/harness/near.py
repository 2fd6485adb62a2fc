"""The near cache's test fixture: one redis-server and one sidecache (two workers, the near cache
on, /metrics) per test class, up once sidecache's tracking connection is registered."""
import tempfile
import unittest

from .processes import free_port, wait_until
from .redis import RedisServer
from .sidecache import Sidecache, metric

TRACKING_NAME = "sidecache-l1-tracking"
WAIT_S = 10


def commandstat(redis_client, name):
    """How many times the node ran command `name` (INFO commandstats)."""
    info = redis_client.info("commandstats")
    return info.get("cmdstat_%s" % name, {}).get("calls", 0)


def tracking_ids(redis_client):
    """The client ids of the node's sidecache tracking connections."""
    return [c["id"] for c in redis_client.client_list() if c.get("name") == TRACKING_NAME]


def wait_served_from_l1(conn, key, direct, value, timeout=WAIT_S):
    """Reads `key` through sidecache (`conn`) until a read answers `value` without a GET
    reaching the node (`direct`, a client of it). The push of a write made just before may
    land during a read (the fill guard then keeps its value out) or just after it (dropping
    the entry): either way a later read fills the L1 again."""
    def served():
        gets = commandstat(direct, "get")
        return conn.command("GET", key) == value and commandstat(direct, "get") == gets
    wait_until(served, timeout=timeout, what="%s served from the L1" % key)


class NearCacheFixture(unittest.TestCase):
    """Subclasses say what the config adds (`near_yaml(http_port)`: the http and near_cache
    sections, and whatever else the tests need)."""
    PREFIX = "sidecache-near-"

    @classmethod
    def near_yaml(cls, http_port):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix=cls.PREFIX)
        cls.redis = RedisServer(cls.tmp.name)
        cls.direct = cls.redis.client()
        cls.http_port = free_port()
        cls.sc = Sidecache(cls.tmp.name, [("r1", cls.redis.port, 1)], workers=2,
                           top_extra=cls.near_yaml(cls.http_port))
        wait_until(lambda: len(tracking_ids(cls.direct)) == 1, timeout=WAIT_S,
                   what="tracking connection")
        wait_until(lambda: cls.metric("sidecache_l1_tracking_connected") == 1,
                   timeout=WAIT_S, what="tracking connected")

    @classmethod
    def tearDownClass(cls):
        problems = cls.sc.problems()
        cls.sc.stop()
        cls.redis.stop()
        cls.tmp.cleanup()
        assert problems is None, problems

    @classmethod
    def metric(cls, name, **labels):
        return metric(cls.http_port, name, **labels)
