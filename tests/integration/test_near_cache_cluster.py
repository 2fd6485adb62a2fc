#!/usr/bin/env python3
"""The near cache (L1) on a cluster pool: a real 3-primary Redis Cluster (one replica each),
sidecache seeded with one node, `near_cache.patterns: ["user:*"]`, every primary tracked.

(a) every primary gets a tracking connection; reads are served from the L1: the owner's
    INFO commandstats does not grow for L1 hits (keys on all three primaries);
(b) a write by another client on the owner invalidates: the next read sees it;
(c) MGET of keys on several slots and nodes: misses read per slot (no CROSSSLOT), then hits;
    hash reads from the L1 (HGETALL, HMGET) and a field write seen; an `l1: true` read-through
    policy (SQLite) loaded, then served from the L1, then a direct write seen; a hot key
    matching no pattern promoted (acknowledged by every primary), served, invalidated;
(d) a slot migrated (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE) while its key is in the
    L1, then written on its new owner: once the write is acknowledged no read returns the old
    value; the key is then served from the L1 again, tracked on the new owner;
(e) a read answered through ASK (the slot half-moved) is not stored: every read of it reaches
    the importing node;
(f) the invalidation-lag probe works per primary (its marker hashes to the node's own slot);
(z) a graceful failover (CLUSTER FAILOVER) of a cached key's primary, then a write on the
    promoted replica: no old value once it is acknowledged; the L1 follows the new primary;
    kill -9 of a cached key's primary: its entries dropped with its tracking connection, the old
    value never served again, the promoted replica's value cached;
(g) config: read_from other than primary is refused at its key.
"""
import os
import sqlite3
import sys
import tempfile
import time
import unittest

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import raw  # noqa: E402
from harness.near import commandstat, tracking_ids  # noqa: E402

WAIT_S = 10


def served_from_l1(conn, key, node, value):
    """True when a read of `key` through sidecache answers `value` with no GET reaching
    `node` (a client of the key's owner)."""
    gets = commandstat(node, "get")
    return conn.get(key) == value and commandstat(node, "get") == gets


class NearCacheClusterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sidecache-near-cluster-")
        cls.cluster = harness.RedisCluster(cls.tmp, primaries=3, replicas=1)
        cls.http = harness.free_port()
        seed = cls.cluster.nodes[1].port

        dbpath = os.path.join(cls.tmp, "app.db")
        db = sqlite3.connect(dbpath)
        db.executescript("CREATE TABLE prod (id TEXT PRIMARY KEY, name TEXT);"
                         "INSERT INTO prod VALUES ('1', 'name-1');")
        db.commit()
        db.close()
        cache = harness.cache_yaml(
            cls.http, "    type: sqlite\n    path: %s" % dbpath,
            "    - {name: prod, match: \"prod:*\", table: prod, key_column: id,\n"
            "       value_column: name, ttl: 60s, l1: true}")

        def config(port):
            return ("listen: 127.0.0.1:%d\nworkers: 2\n"
                    "pool:\n  type: cluster\n  nodes: [127.0.0.1:%d]\n"
                    "  cluster: {refresh_interval: 60s, refresh_min_interval: 50ms}\n"
                    "near_cache:\n  enabled: true\n  patterns: [\"user:*\"]\n"
                    "  lag_probe_interval: 200ms\n"
                    "  promote_hot: {enabled: true, min_rate: 50, max_keys: 16}\n"
                    "hotkeys: {enabled: true, sample: 1}\n%s" % (port, seed, cache))
        cls.sc = harness.Sidecache(cls.tmp, [], config_text=config)
        cls.client = cls.sc.client()
        try:
            harness.wait_until(
                lambda: cls.metric("sidecache_l1_tracking_connected") == 3,
                timeout=WAIT_S, what="three tracking connections")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sc.stop_checked()
        finally:
            cls.cluster.stop()

    @classmethod
    def metric(cls, name, **labels):
        return harness.metric(cls.http, name, **labels)

    def owner_client(self, key):
        return self.cluster.owner(self.cluster.keyslot(key)).client()

    def wait_l1(self, key, node, value):
        harness.wait_until(lambda: served_from_l1(self.client, key, node, value),
                           timeout=WAIT_S, what="%s served from the L1" % key)

    def test_a_reads_served_from_the_l1(self):
        for r in self.cluster.primaries():
            self.assertEqual(len(tracking_ids(r.client())), 1, r.port)
        keys = ["user:a%d" % i for i in range(30)]
        owners = {self.cluster.owner(self.cluster.keyslot(k)).port for k in keys}
        self.assertEqual(len(owners), 3)  # keys on every primary
        for k in keys:
            self.owner_client(k).set(k, "v-" + k)
        for k in keys:
            self.wait_l1(k, self.owner_client(k), ("v-" + k).encode())
        calls = {r.port: commandstat(r.client(), "get") for r in self.cluster.nodes}
        hits = self.metric("sidecache_l1_hits_total")
        for _ in range(5):
            for k in keys:
                self.assertEqual(self.client.get(k), ("v-" + k).encode())
        self.assertEqual({r.port: commandstat(r.client(), "get") for r in self.cluster.nodes},
                         calls)
        self.assertGreaterEqual(self.metric("sidecache_l1_hits_total"), hits + 150)

    def test_b_write_on_the_owner_invalidates(self):
        key = "user:b"
        owner = self.owner_client(key)
        owner.set(key, "one")
        self.wait_l1(key, owner, b"one")
        owner.set(key, "two")  # acknowledged: its push is on its way
        harness.wait_until(lambda: self.client.get(key) == b"two", timeout=1,
                           what="the write seen through sidecache")
        self.wait_l1(key, owner, b"two")
        owner.delete(key)
        harness.wait_until(lambda: self.client.get(key) is None, timeout=1,
                           what="the delete seen through sidecache")

    def test_c_mget_across_slots(self):
        keys = ["user:c%d" % i for i in range(12)]
        slots = {self.cluster.keyslot(k) for k in keys}
        self.assertGreater(len(slots), 3)
        for k in keys:
            self.owner_client(k).set(k, k)
        want = [k.encode() for k in keys] + [None]
        self.assertEqual(self.client.mget(keys + ["user:cmissing"]), want)
        harness.wait_until(lambda: self.metric("sidecache_l1_entries") >= len(keys),
                           timeout=WAIT_S, what="MGET's values stored")
        calls = {r.port: commandstat(r.client(), "mget") for r in self.cluster.nodes}
        self.assertEqual(self.client.mget(keys), want[:-1])
        self.assertEqual({r.port: commandstat(r.client(), "mget") for r in self.cluster.nodes},
                         calls)

    def test_c2_hash_reads(self):
        key = "user:h"
        owner = self.owner_client(key)
        owner.hset(key, mapping={"name": "ann", "plan": "pro"})
        self.assertEqual(self.client.hget(key, "name"), b"ann")

        def hash_from_l1():
            calls = commandstat(owner, "hgetall") + commandstat(owner, "hget")
            ok = self.client.hgetall(key) == {b"name": b"ann", b"plan": b"pro"}
            return ok and commandstat(owner, "hgetall") + commandstat(owner, "hget") == calls
        harness.wait_until(hash_from_l1, timeout=WAIT_S, what="the hash served from the L1")
        self.assertEqual(self.client.hmget(key, ["plan", "nope"]), [b"pro", None])
        owner.hset(key, "plan", "free")
        harness.wait_until(lambda: self.client.hget(key, "plan") == b"free", timeout=1,
                           what="the field write seen")

    def test_c3_l1_read_through_policy(self):
        key = "prod:1"
        self.assertEqual(self.client.get(key), b"name-1")  # loaded from the database
        owner = self.owner_client(key)
        self.wait_l1(key, owner, b"name-1")
        owner.set(key, "changed")  # a write by another client on the owner
        harness.wait_until(lambda: self.client.get(key) == b"changed", timeout=1,
                           what="the write seen through the l1 policy")

    def test_c4_hot_key_promoted(self):
        key = "hotp:1"  # matches no pattern
        owner = self.owner_client(key)
        owner.set(key, "v1")

        def read_hot():
            for _ in range(50):
                self.assertEqual(self.client.get(key), b"v1")
            return self.metric("sidecache_l1_promoted_keys") >= 1
        harness.wait_until(read_hot, timeout=WAIT_S, what="%s promoted on every primary" % key)
        self.wait_l1(key, owner, b"v1")
        owner.set(key, "v2")
        harness.wait_until(lambda: self.client.get(key) == b"v2", timeout=1,
                           what="the promoted key's write seen")

    def migrate(self, slot, keys):
        """Moves `slot` (and `keys`) from its owner to another primary; returns (source,
        target)."""
        source = self.cluster.owner(slot)
        target = next(r for r in self.cluster.primaries() if r is not source)
        self.migrate_prepare(slot, source, target)
        source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                                        "KEYS", *keys)
        self.migrate_rest(slot, source, target)
        self.migrate_finish(slot, target)
        return source, target

    def migrate_rest(self, slot, source, target):
        """Other tests' keys that share the slot go too (SETSLOT NODE needs the slot empty)."""
        rest = source.client().execute_command("CLUSTER GETKEYSINSLOT", slot, 1000)
        if rest:
            source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                                            "KEYS", *rest)

    def migrate_prepare(self, slot, source, target):
        target.client().execute_command("CLUSTER SETSLOT", slot, "IMPORTING",
                                        self.cluster.ids[source.port])
        source.client().execute_command("CLUSTER SETSLOT", slot, "MIGRATING",
                                        self.cluster.ids[target.port])

    def migrate_finish(self, slot, target):
        for r in [target] + [r for r in self.cluster.primaries() if r is not target]:
            r.client().execute_command("CLUSTER SETSLOT", slot, "NODE",
                                       self.cluster.ids[target.port])

    def test_d_slot_moved_then_written_on_its_new_owner(self):
        key = "user:{moved}:1"
        slot = self.cluster.keyslot(key)
        source = self.cluster.owner(slot)
        source.client().set(key, "old")
        self.wait_l1(key, source.client(), b"old")
        epoch = self.metric("sidecache_cluster_slot_map_epoch")
        _, target = self.migrate(slot, [key])
        target.client().set(key, "new")  # acknowledged by the new owner
        # No read after the acknowledgement returns the old value (beyond the push's trip).
        started = time.monotonic()
        while self.client.get(key) != b"new":
            self.assertLess(time.monotonic() - started, 0.25, "the old value after the write")
        for _ in range(200):
            self.assertEqual(self.client.get(key), b"new")
        # The map follows (MOVED), and the key is cached again, tracked on its new owner.
        harness.wait_until(lambda: self.metric("sidecache_cluster_slot_map_epoch") > epoch,
                           timeout=WAIT_S, what="the slot map refreshed")
        self.wait_l1(key, target.client(), b"new")
        target.client().set(key, "newer")
        harness.wait_until(lambda: self.client.get(key) == b"newer", timeout=1,
                           what="a write on the new owner seen")

    def test_e_a_read_through_ask_is_not_stored(self):
        key = "user:{asked}:1"
        slot = self.cluster.keyslot(key)
        source = self.cluster.owner(slot)
        target = next(r for r in self.cluster.primaries() if r is not source)
        source.client().set(key, "here")
        self.migrate_prepare(slot, source, target)
        try:
            source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                                            "KEYS", key)
            gets = commandstat(target.client(), "get")
            for _ in range(5):
                self.assertEqual(self.client.get(key), b"here")  # ASK, answered by the target
            self.assertEqual(commandstat(target.client(), "get"), gets + 5)
        finally:
            self.migrate_rest(slot, source, target)
            self.migrate_finish(slot, target)
        self.assertEqual(self.client.get(key), b"here")

    def test_f_lag_probed_on_every_primary(self):
        for r in self.cluster.primaries():
            node = "127.0.0.1:%d" % r.port
            harness.wait_until(
                lambda: self.metric("sidecache_l1_invalidation_lag_seconds_count",
                                    node=node) >= 2,
                timeout=WAIT_S, what="lag probes of %s" % node)
        self.sc.check()

    def test_z_graceful_failover(self):
        key = "user:{failover}:1"
        old = self.cluster.owner(self.cluster.keyslot(key))
        heir = self.cluster.replicas_of(old)[0]
        old.client().set(key, "before")
        old.client().execute_command("WAIT", 1, 5000)
        self.wait_l1(key, old.client(), b"before")
        raw(heir).execute_command("CLUSTER FAILOVER")
        harness.wait_until(lambda: role(heir) == "master" and role(old) == "slave" and
                           self.cluster.ok(), timeout=30, interval=0.01,
                           what="the manual failover")
        heir.client().set(key, "after")  # acknowledged by the new primary
        started = time.monotonic()
        while self.client.get(key) != b"after":
            self.assertLess(time.monotonic() - started, 0.25, "the old value after the write")
        for _ in range(200):
            self.assertEqual(self.client.get(key), b"after")
        # sidecache follows: the promoted replica tracked, the key cached from it again.
        heir_name = "127.0.0.1:%d" % heir.port
        harness.wait_until(
            lambda: self.metric("sidecache_l1_tracking_connected", node=heir_name) == 1,
            timeout=WAIT_S, what="the new primary tracked")
        self.wait_l1(key, heir.client(), b"after")
        heir.client().set(key, "again")
        harness.wait_until(lambda: self.client.get(key) == b"again", timeout=1,
                           what="a write on the new primary seen")

    def test_z2_primary_killed(self):
        # A primary with its replica in sync (not the pair the graceful failover swapped).
        for i in range(100):
            key = "user:{killed%d}:1" % i
            victim = self.cluster.owner(self.cluster.keyslot(key))
            if self.cluster.replicas_of(victim):
                break
        heir = self.cluster.replicas_of(victim)[0]
        victim.client().set(key, "before")
        victim.client().execute_command("WAIT", 1, 5000)
        self.wait_l1(key, victim.client(), b"before")
        lost = self.metric("sidecache_l1_invalidations_total", reason="node_lost")
        victim.kill9()
        # The tracking connection's loss drops the node's entries: no read serves the old value.
        harness.wait_until(
            lambda: self.metric("sidecache_l1_invalidations_total", reason="node_lost") > lost,
            timeout=WAIT_S, interval=0.01, what="the killed primary's entries dropped")
        harness.wait_until(lambda: role(heir) == "master" and self.cluster.ok(), timeout=30,
                           what="the replica promoted")
        heir.client().set(key, "after")
        started = time.monotonic()
        while True:
            try:
                value = self.client.get(key)
            except redis.ResponseError:  # until sidecache follows the new primary
                value = None
            self.assertNotEqual(value, b"before")
            if value == b"after":
                break
            self.assertLess(time.monotonic() - started, WAIT_S, "the new primary's value")
        self.wait_l1(key, heir.client(), b"after")


def role(server):
    info = raw(server).execute_command("INFO", "replication").decode()
    return "master" if "role:master" in info else "slave"


class NearCacheClusterConfigTest(unittest.TestCase):
    def test_read_from_replicas_refused(self):
        harness.assert_config_error(
            self, "pool:\n  type: cluster\n  nodes: [127.0.0.1:7000]\n"
                  "  cluster: {read_from: replica}\n"
                  "near_cache:\n  enabled: true\n  patterns: [\"user:*\"]\n",
            "pool.cluster.read_from: the near cache on a cluster pool needs read_from: primary",
            line=4)


if __name__ == "__main__":
    unittest.main()
