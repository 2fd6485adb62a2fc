#!/usr/bin/env python3
"""Hash reads from the near cache (L1) against a real redis-server: HGET, HMGET, HGETALL,
HEXISTS and HLEN replies byte-identical to Redis in RESP2 and RESP3, on a miss and on a hit, hits absent from
Redis' commandstats; WRONGTYPE as Redis says it (a string entry never answers a hash read, a
hash entry never a GET); a direct HSET seen through the tracking invalidation; writes through
sidecache (HSET, HDEL, HINCRBY, DEL, EXPIRE) seen by the next read; an entry never outlives its
Redis TTL. `l1: true` read-through policies (SQLite): hits served from the L1 (no Redis
request, no read-through hit counted), a database row changed then the key invalidated (a
write through sidecache, a direct DEL seen by tracking) read anew, missing rows not stored,
policy keys without `l1` never served from the L1, a reload turning `l1` on, and the config
error without the near cache. Every wait is bounded.
"""
import os
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WAIT_S = 10


def near_yaml(http_port):
    return ("http:\n  listen: 127.0.0.1:%d\nnear_cache:\n  enabled: true\n"
            "  patterns: [\"h:*\", \"s:*\"]\n  max_memory: 8mb\n  max_ttl: 30s\n  shards: 4\n"
            % http_port)




class NearCacheHashTest(harness.NearCacheFixture):
    PREFIX = "sidecache-nearh-"

    @classmethod
    def near_yaml(cls, http_port):
        return near_yaml(http_port)

    def conn(self, port, protocol):
        conn = harness.RespConnection(port)
        self.addCleanup(conn.close)
        if protocol == 3:
            conn.command("HELLO", "3")
        return conn

    def ensure_cached(self, conn, *read):
        """Reads until a read of `read` is an L1 hit (a fill is stored when its PTTL reply,
        which the client does not wait for, is in; an invalidation of an earlier write may
        still drop one)."""
        def hit():
            hits = self.metric("sidecache_l1_hits_total")
            conn.command(*read)
            return self.metric("sidecache_l1_hits_total") > hits
        harness.wait_until(hit, timeout=WAIT_S, what="an L1 hit of %r" % (read,))

    def test_replies_byte_identical_hit_and_miss(self):
        fields = {b"f1": b"v\x00\r\n\xff" * 20, b"f2": b"", b"n": b"42"}
        reads = [("HGET", "h:a", "f1"), ("HGET", "h:a", "f2"), ("HGET", "h:a", "nope"),
                 ("HMGET", "h:a", "nope", "f1", "n", "nope"), ("HGETALL", "h:a"),
                 ("HEXISTS", "h:a", "f2"), ("HEXISTS", "h:a", "nope"), ("HLEN", "h:a"),
                 ("HGET", "h:none", "f"), ("HMGET", "h:none", "a", "b"), ("HGETALL", "h:none"),
                 ("HGET", "s:str", "f"), ("HGETALL", "s:str"), ("HMGET", "s:str", "f")]
        for protocol in (2, 3):
            self.direct.delete("h:a")
            self.direct.hset("h:a", mapping=fields)
            self.direct.set("s:str", "x")
            sc = self.conn(self.sc.port, protocol)
            ref = self.conn(self.redis.port, protocol)
            want = [ref.command_raw(*r) for r in reads]
            # A miss (it fills), then hits.
            self.assertEqual(sc.command_raw(*reads[0]), want[0], protocol)
            self.ensure_cached(sc, *reads[0])
            self.direct.config_resetstat()
            hits = self.metric("sidecache_l1_hits_total")
            for _ in range(3):
                self.assertEqual([sc.command_raw(*r) for r in reads], want, protocol)
            # Only the reads of keys not cached reached Redis: h:none's 3 and s:str's 3 (the
            # string is not a hash entry; a missing hash is never stored), 3 times each, every
            # one an HGETALL for its fill too (HGETALL itself once).
            self.assertEqual(harness.commandstat(self.direct, "hget") +
                             harness.commandstat(self.direct, "hmget"), 3 * 4, protocol)
            self.assertEqual(harness.commandstat(self.direct, "hgetall"), 3 * 6, protocol)
            self.assertEqual(harness.commandstat(self.direct, "hexists") + harness.commandstat(self.direct, "hlen"),
                             0, protocol)
            self.assertGreaterEqual(self.metric("sidecache_l1_hits_total") - hits, 3 * 8)

    def test_get_of_a_cached_hash_and_hash_read_of_a_cached_string(self):
        self.direct.hset("h:t", "f", "1")
        self.direct.set("s:t", "v")
        for protocol in (2, 3):
            sc = self.conn(self.sc.port, protocol)
            ref = self.conn(self.redis.port, protocol)
            self.ensure_cached(sc, "HGETALL", "h:t")
            self.ensure_cached(sc, "GET", "s:t")
            for cmd in (("GET", "h:t"), ("MGET", "h:t", "s:t"), ("HGET", "s:t", "f"),
                        ("HGETALL", "s:t"), ("HMGET", "s:t", "f"), ("GET", "s:t"),
                        ("HGET", "h:t", "f")):
                self.assertEqual(sc.command_raw(*cmd), ref.command_raw(*cmd), (protocol, cmd))

    def test_direct_hset_invalidates(self):
        sc = self.conn(self.sc.port, 2)
        self.direct.hset("h:d", mapping={"a": "1", "b": "2"})
        for i in range(20):
            self.assertEqual(sc.command("HGET", "h:d", "a"), b"%d" % (i + 1))
            self.ensure_cached(sc, "HGET", "h:d", "a")
            self.direct.hset("h:d", "a", i + 2)
            deadline = time.monotonic() + WAIT_S
            while sc.command("HGET", "h:d", "a") != b"%d" % (i + 2):
                self.assertLess(time.monotonic(), deadline, "direct HSET never seen")
            self.assertEqual(sc.command("HGETALL", "h:d"), [b"a", b"%d" % (i + 2), b"b", b"2"])
        self.assertGreater(self.metric("sidecache_l1_invalidations_total", reason="tracking"), 0)

    def test_writes_through_sidecache_seen_at_once(self):
        sc = self.conn(self.sc.port, 2)
        sc.command("DEL", "h:w")
        sc.command("HSET", "h:w", "a", "1", "b", "2")
        writes = [(("HSET", "h:w", "c", "3"), ("HGET", "h:w", "c"), b"3"),
                  (("HDEL", "h:w", "a"), ("HGET", "h:w", "a"), None),
                  (("HINCRBY", "h:w", "b", "5"), ("HMGET", "h:w", "b"), [b"7"]),
                  (("HSETNX", "h:w", "d", "4"), ("HGETALL", "h:w"),
                   [b"b", b"7", b"c", b"3", b"d", b"4"]),
                  (("DEL", "h:w"), ("HGETALL", "h:w"), [])]
        for write, read, want in writes:
            self.ensure_cached(sc, "HGETALL", "h:w")
            sc.command(*write)
            self.assertEqual(sc.command(*read), want, write)
        # Pipelined: the read right behind the write sees it.
        enc = harness.RespConnection.encode
        for i in range(100):
            sc.send_raw(enc("HGET", "h:p", "f") + enc("HSET", "h:p", "f", "v%d" % i) +
                        enc("HGET", "h:p", "f") + enc("HGETALL", "h:p"))
            sc.read_reply()
            sc.read_reply()
            self.assertEqual(sc.read_reply(), b"v%d" % i)
            self.assertEqual(sc.read_reply(), [b"f", b"v%d" % i])
        # EXPIRE through sidecache drops the entry: the next read sees the key gone.
        self.ensure_cached(sc, "HGETALL", "h:p")
        sc.command("PEXPIRE", "h:p", "1")
        time.sleep(0.05)
        self.assertEqual(sc.command("HGETALL", "h:p"), [])

    def test_ttl_respected(self):
        sc = self.conn(self.sc.port, 2)
        self.direct.hset("h:ttl", "f", "v")
        self.direct.pexpire("h:ttl", 400)
        self.assertEqual(sc.command("HGET", "h:ttl", "f"), b"v")
        self.ensure_cached(sc, "HGET", "h:ttl", "f")
        # Gone when Redis expires it (the entry's own expiry is min(PTTL, max_ttl); the unit
        # test checks it without Redis' expiry invalidation).
        deadline = time.monotonic() + WAIT_S
        while sc.command("HGET", "h:ttl", "f") is not None:
            self.assertLess(time.monotonic(), deadline, "entry outlived its TTL")
            time.sleep(0.02)
        self.assertEqual(sc.command("HGETALL", "h:ttl"), [])


POLICIES = """    - {name: products, match: "product:*", table: products, key_column: id,
       value_column: name, ttl: 60s, l1: true}
    - {name: plainp, match: "pp:*", table: products, key_column: id, value_column: name,
       ttl: 60s}
    - {name: users, match: "user:*", table: users, key_column: id,
       columns: [name, email, plan], mapping: hash, ttl: 60s, stale_while_revalidate: 5s,
       l1: true}
"""


class NearCacheReadThroughTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="sidecache-nearrt-")
        cls.dbpath = os.path.join(cls.tmp.name, "app.db")
        cls.db = sqlite3.connect(cls.dbpath)
        cls.db.executescript("""
            CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, plan TEXT);
            INSERT INTO products VALUES (1, 'lamp'), (2, 'desk');
            INSERT INTO users VALUES (1, 'ann', 'ann@example.com', 'pro'),
                                     (2, 'bob', 'bob@example.com', NULL);
        """)
        cls.db.commit()
        cls.redis = harness.RedisServer(cls.tmp.name)
        cls.direct = cls.redis.client()
        cls.http = harness.free_port()
        # No patterns of its own: the L1 serves the `l1: true` policies' keys.
        near = "near_cache:\n  enabled: true\n  max_memory: 8mb\n  max_ttl: 30s\n  shards: 4\n"
        cls.sc = harness.Sidecache(
            cls.tmp.name, [("r1", cls.redis.port, 1)], workers=2,
            top_extra=harness.cache_yaml(cls.http, "    type: sqlite\n    path: %s" % cls.dbpath,
                                         POLICIES, near))
        harness.wait_until(lambda: cls.metric("sidecache_l1_tracking_connected") == 1,
                           timeout=WAIT_S, what="tracking connected")

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sc.stop_checked()
        finally:
            cls.redis.stop()
            cls.db.close()
            cls.tmp.cleanup()

    @classmethod
    def metric(cls, name, **labels):
        return harness.metric(cls.http, name, **labels)

    def conn(self, port, protocol=2):
        conn = harness.RespConnection(port)
        self.addCleanup(conn.close)
        if protocol == 3:
            conn.command("HELLO", "3")
        return conn

    def ensure_cached(self, conn, *read):
        def hit():
            hits = self.metric("sidecache_l1_hits_total")
            conn.command(*read)
            return self.metric("sidecache_l1_hits_total") > hits
        harness.wait_until(hit, timeout=WAIT_S, what="an L1 hit of %r" % (read,))

    def settle(self, conn, reads, commands):
        """Reads until every read of `reads` is an L1 hit (no `commands` reach Redis). A value
        read-through loaded from the database is stored in Redis by read-through itself, and
        that write's tracking push may drop the fill made from its reply: the next read fills
        again."""
        for _ in range(50):
            self.ensure_cached(conn, *reads[0])
            self.direct.config_resetstat()
            for r in reads:
                conn.command_raw(*r)
            if sum(harness.commandstat(self.direct, c) for c in commands) == 0:
                return
            time.sleep(0.02)
        self.fail("reads of %r never all L1 hits" % (reads,))

    def update(self, sql):
        self.db.execute(sql)
        self.db.commit()

    def test_string_policy_served_from_l1(self):
        sc = self.conn(self.sc.port)
        loads = self.metric("sidecache_cache_loads_total", policy="products")
        self.assertEqual(sc.command("GET", "product:1"), b"lamp")  # a database load
        self.assertEqual(self.metric("sidecache_cache_loads_total", policy="products"), loads + 1)
        self.settle(sc, [("GET", "product:1")], ["get"])
        self.direct.config_resetstat()
        rt_hits = self.metric("sidecache_cache_hits_total", policy="products")
        for protocol in (2, 3):
            c = self.conn(self.sc.port, protocol)
            ref = self.conn(self.redis.port, protocol)
            want = ref.command_raw("GET", "product:1")
            gets = harness.commandstat(self.direct, "get")
            self.assertEqual([c.command_raw("GET", "product:1") for _ in range(5)], [want] * 5)
            self.assertEqual(harness.commandstat(self.direct, "get"), gets)
        self.assertEqual(self.metric("sidecache_cache_hits_total", policy="products"), rt_hits)
        # The row changes: the L1 keeps the old value until the key is invalidated. A write
        # through sidecache drops it; read-through loads the new row.
        self.update("UPDATE products SET name = 'lamp2' WHERE id = 1")
        self.assertEqual(sc.command("GET", "product:1"), b"lamp")
        sc.command("DEL", "product:1")
        self.assertEqual(sc.command("GET", "product:1"), b"lamp2")
        self.ensure_cached(sc, "GET", "product:1")
        # A direct DEL in Redis reaches the L1 through tracking.
        self.update("UPDATE products SET name = 'lamp3' WHERE id = 1")
        self.direct.delete("product:1")
        deadline = time.monotonic() + WAIT_S
        while sc.command("GET", "product:1") != b"lamp3":
            self.assertLess(time.monotonic(), deadline, "invalidation never seen")
        # A missing row (negative-cached in Redis) is never stored in the L1.
        entries = self.metric("sidecache_l1_entries")
        misses = self.metric("sidecache_l1_misses_total")
        for _ in range(3):
            self.assertIsNone(sc.command("GET", "product:999"))
        self.assertEqual(self.metric("sidecache_l1_misses_total"), misses + 3)
        self.assertLessEqual(self.metric("sidecache_l1_entries"), entries)

    def test_policy_without_l1_not_served(self):
        sc = self.conn(self.sc.port)
        self.assertEqual(sc.command("GET", "pp:2"), b"desk")
        lookups = (self.metric("sidecache_l1_hits_total") +
                   self.metric("sidecache_l1_misses_total"))
        rt_hits = self.metric("sidecache_cache_hits_total", policy="plainp")
        for _ in range(3):
            self.assertEqual(sc.command("GET", "pp:2"), b"desk")
        self.assertEqual(self.metric("sidecache_l1_hits_total") +
                         self.metric("sidecache_l1_misses_total"), lookups)
        self.assertEqual(self.metric("sidecache_cache_hits_total", policy="plainp"), rt_hits + 3)

    def test_hash_policy_served_from_l1(self):
        sc = self.conn(self.sc.port)
        # HGET first: read-through answers it (a load), an HGETALL after it fills.
        self.assertEqual(sc.command("HGET", "user:2", "email"), b"bob@example.com")
        reads = [("HGET", "user:2", "name"), ("HGET", "user:2", "plan"),
                 ("HMGET", "user:2", "plan", "email", "name"), ("HGETALL", "user:2"),
                 ("HEXISTS", "user:2", "plan"), ("HLEN", "user:2")]
        self.settle(sc, reads, ["hget", "hmget", "hgetall", "hexists", "hlen"])
        self.direct.config_resetstat()
        rt_hits = self.metric("sidecache_cache_hits_total", policy="users")
        for protocol in (2, 3):
            c = self.conn(self.sc.port, protocol)
            got = [c.command_raw(*r) for r in reads]
            self.assertEqual(sum(harness.commandstat(self.direct, c)
                                 for c in ("hget", "hmget", "hgetall", "hexists", "hlen")), 0,
                             protocol)
            ref = self.conn(self.redis.port, protocol)
            self.assertEqual(got, [ref.command_raw(*r) for r in reads], protocol)
            self.direct.config_resetstat()
        self.assertEqual(self.metric("sidecache_cache_hits_total", policy="users"), rt_hits)
        # A GET of the hash policy's key: WRONGTYPE from Redis, as without the L1.
        self.assertEqual(sc.command_raw("GET", "user:2"),
                         self.conn(self.redis.port).command_raw("GET", "user:2"))
        # The row changes, a write through sidecache (HSET) drops the entry; a direct DEL the
        # next one, through tracking, and read-through loads the new row.
        self.update("UPDATE users SET plan = 'free' WHERE id = 2")
        sc.command("HSET", "user:2", "name", "bobby")
        self.assertEqual(sc.command("HGET", "user:2", "name"), b"bobby")
        self.ensure_cached(sc, "HGETALL", "user:2")
        self.direct.delete("user:2")
        deadline = time.monotonic() + WAIT_S
        while sc.command("HGET", "user:2", "plan") != b"free":
            self.assertLess(time.monotonic(), deadline, "invalidation never seen")
        self.assertEqual(sc.command("HGET", "user:2", "name"), b"bob")
        # HGETALL fills from its own reply; a missing row is not stored.
        self.assertEqual(sc.command("HGETALL", "user:1"),
                         [b"name", b"ann", b"email", b"ann@example.com", b"plan", b"pro"])
        self.ensure_cached(sc, "HGETALL", "user:1")
        misses = self.metric("sidecache_l1_misses_total")
        for _ in range(3):
            self.assertEqual(sc.command("HGETALL", "user:999"), [])
        self.assertEqual(self.metric("sidecache_l1_misses_total"), misses + 3)

    def test_z_reload_turns_l1_on(self):
        # Last (it changes the configuration): a reload giving `plainp` `l1: true` adds its
        # keys to the L1 and to the tracking prefixes.
        import signal
        with open(self.sc.config_path) as f:
            text = f.read()
        old = 'value_column: name,\n       ttl: 60s}'
        self.assertIn(old, text)
        with open(self.sc.config_path, "w") as f:
            f.write(text.replace(old, 'value_column: name,\n       ttl: 60s, l1: true}'))
        reloads = self.metric("sidecache_config_reloads_total", result="ok")
        self.sc.process.signal(signal.SIGHUP)
        harness.wait_until(
            lambda: self.metric("sidecache_config_reloads_total", result="ok") > reloads,
            timeout=WAIT_S, what="reload applied")
        harness.wait_until(lambda: self.metric("sidecache_l1_tracking_connected") == 1,
                           timeout=WAIT_S, what="tracking re-registered")
        sc = self.conn(self.sc.port)
        self.assertEqual(sc.command("GET", "pp:2"), b"desk")
        self.settle(sc, [("GET", "pp:2")], ["get"])
        # A direct write reaches the L1 through the new tracking prefix.
        self.update("UPDATE products SET name = 'desk2' WHERE id = 2")
        self.direct.delete("pp:2")
        deadline = time.monotonic() + WAIT_S
        while sc.command("GET", "pp:2") != b"desk2":
            self.assertLess(time.monotonic(), deadline, "invalidation never seen")

    def test_config_error_without_near_cache(self):
        text = ("listen: 127.0.0.1:6390\npool:\n  nodes: [127.0.0.1:7001:1]\n"
                "cache:\n  database: {type: sqlite, path: /tmp/x.db}\n  policies:\n"
                "    - name: p\n      match: \"p:*\"\n      table: t\n      key_column: id\n"
                "      value_column: v\n      l1: true\n")
        harness.assert_config_error(self, text, "l1: true needs the near cache", line=12)
        # Enabled with neither patterns nor an `l1: true` policy.
        no_l1 = text.replace("      l1: true\n", "") + "near_cache:\n  enabled: true\n"
        harness.assert_config_error(self, no_l1, "near_cache: enabled with no patterns", line=13)
        code, _, out = harness.check_config(text + "near_cache:\n  enabled: true\n")
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
