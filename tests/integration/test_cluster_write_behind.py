#!/usr/bin/env python3
"""write: behind on a cluster pool: one real 3-primary Redis Cluster, a SQLite file, sidecache
seeded with one node. The database is held locked (a RESERVED lock: writes wait) whenever the
queue must stay filled.

(a) writes of keys over many slots are acknowledged, each queued in its slot's queue
    (sidecache:wb:{<slot tag>}, its pending hash and counter) on the slot's owner, readable
    through sidecache before the flush (read-your-writes: no TTL while queued); once the
    database is free, every write reaches SQLite, the queues drain, the TTLs come back; an
    empty queue is deleted, and made again by the next write.
(b) a slot with queued writes (some already read by the flusher, waiting for the database)
    is resharded to another primary with real commands before the flush: every acknowledged
    write still reaches SQLite, and the queue is drained on its new owner.
(c) a sidecache killed (kill -9) with writes queued: a new one, on another port (another
    consumer; it finds the queues by SCAN), drains them.
(d) two sidecaches share the slot queues: every key written four times, alternately through
    each, while the database is locked; once it is free, both flushers drain the same queues
    (one slot lease at a time) and each row holds the key's last acknowledged value.
(e) a primary killed with writes queued (and replicated): every one reaches SQLite from the
    promoted replica (a cluster of its own, with replicas).
"""
import os
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402
from harness import key_slot, slot_tag  # noqa: E402

POLICIES = """    - {name: kv, match: "kv:*", table: kv, key_column: id, value_column: v, ttl: 60s,
       write: behind}
"""
QUEUE = ("  write_behind: {flush_interval: 20ms, claim_idle: 1s, backoff_min: 20ms,"
         " backoff_max: 100ms}\n")

CLUSTER = None  # one cluster for the file (setUpModule)


def setUpModule():
    global CLUSTER
    CLUSTER = harness.RedisCluster(tempfile.mkdtemp(prefix="sidecache-clbehind-"))


def tearDownModule():
    if CLUSTER is not None:
        CLUSTER.stop()


def role(server):
    return server.client().execute_command("ROLE")[0].decode()


class WriteBehindFixture(unittest.TestCase):
    """One SQLite file and one sidecache per case over cluster_under_test()."""

    def cluster_under_test(self):
        return CLUSTER

    def setUp(self):
        self.cluster = self.cluster_under_test()
        for node in self.cluster.primaries():
            node.client().flushall()
        self.tmp = tempfile.mkdtemp(prefix="sidecache-clbehind-")
        self.dbpath = os.path.join(self.tmp, "app.db")
        db = sqlite3.connect(self.dbpath)
        db.executescript("CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT);")
        db.commit()
        db.close()
        self.sc = None
        self.others = []
        self.start()

    def tearDown(self):
        for sc in self.others:
            sc.stop_checked()
        if self.sc is not None and self.sc.process.alive():
            self.sc.stop_checked()

    def start(self):
        self.sc = self.sidecache()
        self.client = self.sc.client(decode_responses=True)

    def sidecache(self):
        self.http = harness.free_port()
        seed, http, dbpath = self.cluster.nodes[1].port, self.http, self.dbpath

        def config(port):
            return ("listen: 127.0.0.1:%d\nworkers: 2\n"
                    "pool:\n  type: cluster\n  nodes: [127.0.0.1:%d]\n"
                    "  request_timeout: 5s\n"
                    "  cluster: {refresh_interval: 60s, refresh_min_interval: 50ms}\n%s"
                    % (port, seed, harness.cache_yaml(
                        http, "    type: sqlite\n    path: %s\n    query_timeout: 300ms"
                        % dbpath, POLICIES, QUEUE)))
        return harness.Sidecache(self.tmp, [], config_text=config)

    def writes_blocked(self):
        """A RESERVED lock: the flusher's writes wait (and are retried), the queue stays."""
        lock = sqlite3.connect(self.dbpath, timeout=5, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        return lock

    def rows(self):
        db = sqlite3.connect(self.dbpath, timeout=5)
        try:
            return dict(db.execute("SELECT id, v FROM kv").fetchall())
        finally:
            db.close()

    def owner(self, key):
        return self.cluster.owner(key_slot(key)).client(decode_responses=True)

    def queue(self, slot):
        tag = "{%s}" % slot_tag(slot)
        return "sidecache:wb:" + tag, "sidecache:wbp:" + tag, "sidecache:wbn:" + tag

    @staticmethod
    def read_entries(node, stream):
        """Entries of `stream` read by a flusher and not acknowledged (0: no group yet)."""
        import redis
        try:
            return node.client().xpending(stream, "sidecache")["pending"]
        except redis.ResponseError:
            return 0

    def write(self, values):
        p = self.client.pipeline(transaction=False)
        for k, v in values.items():
            p.set(k, v)
        self.assertEqual(p.execute(), [True] * len(values))

    def wait_flushed(self, values, timeout=30):
        want = {k.split(":", 1)[1]: v for k, v in values.items()}

        def flushed():
            rows = self.rows()
            return all(rows.get(i) == v for i, v in want.items())
        harness.wait_until(flushed, timeout=timeout, what="every write in SQLite")

    def assert_drained(self, keys):
        for k in keys:
            stream, pending, count = self.queue(key_slot(k))
            harness.wait_until(lambda: self.owner(k).hexists(pending, k) == 0, timeout=10,
                               what="%s out of the pending hash" % k)
            self.assertGreater(self.owner(k).pttl(k), 0, k)  # the policy TTL back
            self.assertIn(self.owner(k).get(count), (None, "0"))


class ClusterWriteBehindTest(WriteBehindFixture):
    def test_a_writes_queue_in_their_slot_then_flush(self):
        values = {"kv:%d" % i: "v%d" % i for i in range(150)}
        values.update({"kv:{t}%d" % i: "t%d" % i for i in range(10)})  # one slot, many keys
        values["kv:}x"] = "brace"
        slots = {key_slot(k) for k in values}
        self.assertGreater(len(slots), 100)
        lock = self.writes_blocked()
        try:
            self.write(values)
            for k, v in values.items():
                self.assertEqual(self.client.get(k), v)  # read-your-writes
                owner = self.owner(k)
                stream, pending, count = self.queue(key_slot(k))
                self.assertEqual(owner.pttl(k), -1, k)  # no TTL while queued
                self.assertTrue(owner.hexists(pending, k), k)  # in its slot, on the owner
                self.assertGreater(owner.xlen(stream), 0)
                self.assertEqual(self.cluster.keyslot(stream), key_slot(k))
            queued = sum(int(self.owner(k).get(self.queue(s)[2]) or 0)
                         for s, k in {key_slot(k): k for k in values}.items())
            self.assertEqual(queued, len(values))
            harness.wait_until(lambda: harness.metric(
                self.http, "sidecache_write_behind_queue_depth", node="cluster") > 0,
                timeout=10, what="the depth gauge")
            self.assertEqual(self.rows(), {})
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.wait_flushed(values)
        self.assert_drained(values)
        harness.wait_until(lambda: harness.metric(
            self.http, "sidecache_write_behind_queue_depth", node="cluster") == 0,
            timeout=10, what="the depth gauge at 0")
        # An empty queue is deleted after a while; the next write makes it again (its consumer
        # group made anew from the first entry) and is flushed.
        stream = self.queue(key_slot("kv:{t}0"))[0]
        harness.wait_until(lambda: self.owner("kv:{t}0").exists(stream) == 0, timeout=10,
                           what="the empty queue deleted")
        self.write({"kv:{t}0": "again"})
        self.wait_flushed({"kv:{t}0": "again"})

    def test_b_slot_resharded_with_queued_writes(self):
        moving = {"kv:{mv}%d" % i: "m%d" % i for i in range(40)}
        others = {"kv:o%d" % i: "o%d" % i for i in range(20)}
        slot = key_slot("kv:{mv}0")
        source = self.cluster.owner(slot)
        target = next(r for r in self.cluster.primaries() if r is not source)
        stream = self.queue(slot)[0]
        lock = self.writes_blocked()
        try:
            self.write(moving)
            # The flusher has read the slot's entries (they wait for the database).
            harness.wait_until(lambda: self.read_entries(source, stream) > 0, timeout=10,
                               what="entries read by the flusher")
            self.write(others)
            self.write({k: v + "-2" for k, v in moving.items()})  # newer, still unread
            moving = {k: v + "-2" for k, v in moving.items()}
            target.client().execute_command("CLUSTER SETSLOT", slot, "IMPORTING",
                                            self.cluster.ids[source.port])
            source.client().execute_command("CLUSTER SETSLOT", slot, "MIGRATING",
                                            self.cluster.ids[target.port])
            for _ in range(100):
                batch = source.client().execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
                if not batch:
                    break
                source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0,
                                                5000, "KEYS", *batch)
            for r in [target] + [r for r in self.cluster.nodes if r is not target]:
                r.client().execute_command("CLUSTER SETSLOT", slot, "NODE",
                                           self.cluster.ids[target.port])
            self.assertEqual(self.cluster.owner(slot).port, target.port)
            self.assertGreater(target.client().xlen(stream), 0)  # the queue moved along
            for k, v in moving.items():
                self.assertEqual(self.client.get(k), v)  # read-your-writes after the move
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.wait_flushed(dict(moving, **others))
        self.assert_drained(list(moving) + list(others))
        self.assertEqual(source.client().execute_command("CLUSTER COUNTKEYSINSLOT", slot), 0)
        self.assertEqual(harness.metric(self.http, "sidecache_write_behind_dead_letters_total"),
                         0)

    def test_c_restarted_sidecache_drains_queued_writes(self):
        values = {"kv:r%d" % i: "r%d" % i for i in range(100)}
        lock = self.writes_blocked()
        try:
            self.write(values)
            self.sc.process.signal(9)
            self.sc.process.proc.wait(timeout=10)
            self.sc.process.stopped = True
            self.sc.process.log.close()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.assertEqual(self.rows(), {})
        self.start()  # another port: another consumer; it knows no slot but by SCAN
        self.wait_flushed(values, timeout=30)
        self.assert_drained(values)

    def test_d_two_sidecaches_share_the_slot_queues(self):
        other = self.sidecache()
        self.others.append(other)
        clients = [self.client, other.client(decode_responses=True)]
        keys = ["kv:s%d" % i for i in range(60)] + ["kv:{s}%d" % i for i in range(10)]
        lock = self.writes_blocked()
        try:
            for rnd in range(4):
                for i, k in enumerate(keys):
                    self.assertTrue(clients[(i + rnd) % 2].set(k, "%s.%d" % (k, rnd)))
            for k in keys:  # read-your-writes through either
                self.assertEqual(clients[0].get(k), "%s.3" % k)
                self.assertEqual(clients[1].get(k), "%s.3" % k)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        last = {k: "%s.3" % k for k in keys}
        self.wait_flushed(last, timeout=30)
        self.assert_drained(keys)
        self.assertEqual(self.rows(), {k.split(":", 1)[1]: v for k, v in last.items()})



class ClusterWriteBehindFailoverTest(WriteBehindFixture):
    """(e) a primary killed (kill -9) with writes queued and replicated: its replica is
    promoted, and every acknowledged write reaches SQLite from the new primary."""

    @classmethod
    def setUpClass(cls):
        cls.replicated = harness.RedisCluster(tempfile.mkdtemp(prefix="sidecache-clbehind-ha-"),
                                              primaries=3, replicas=1)

    @classmethod
    def tearDownClass(cls):
        cls.replicated.stop()

    def cluster_under_test(self):
        return self.replicated

    def test_e_primary_killed_with_queued_writes(self):
        values = {"kv:f%d" % i: "f%d" % i for i in range(60)}
        victim = self.cluster.owner(key_slot("kv:f0"))
        heir = self.cluster.replicas_of(victim)[0]
        lock = self.writes_blocked()
        try:
            self.write(values)
            for primary in self.cluster.primaries():  # acknowledged and on the replicas
                self.assertGreaterEqual(primary.client().execute_command("WAIT", 1, 5000), 1)
            victim.kill9()
            harness.wait_until(lambda: role(heir) == "master", timeout=30, interval=0.05,
                               what="the replica promoted")
            harness.wait_until(self.cluster.ok, timeout=30, what="cluster_state:ok")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.wait_flushed(values, timeout=30)

        def readable():  # once sidecache's slot map has the promoted replica (its own refresh)
            try:
                return all(self.client.get(k) == v for k, v in values.items())
            except redis.exceptions.ResponseError:
                return False
        harness.wait_until(readable, timeout=15, what="the killed primary's keys read again")


if __name__ == "__main__":
    unittest.main(verbosity=2)
