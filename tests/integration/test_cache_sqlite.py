"""Read-through cache against a real redis-server and a real SQLite file:
miss then hit (the row changed in SQLite after the first GET is not seen: the second GET did
not query), MGET with mixed hits, misses and plain keys (one batched load), hash read-through,
negative caching, JSON mapping, what a plain Redis client sees, warming with /readyz, policy
validation at startup and reload."""
import os
import signal
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

POLICIES = """    - name: products
      match: "product:*"
      table: products
      key_column: id
      value_column: name
      mapping: column
      ttl: 60s
      ttl_jitter: 0.1
      negative_ttl: 1500ms
    - name: productjson
      match: "pj:*"
      table: products
      key_column: id
      mapping: json
      ttl: 60s
    - {name: kinds, match: "kind:*", table: kinds, key_column: id, mapping: json}
    - {name: batched, match: "pb:*", table: products, key_column: id, value_column: name,
       load_batch_window: 100ms, load_batch_max: 50}
    - name: users
      match: "user:*"
      table: users
      key_column: id
      columns: [name, email, plan]
      mapping: hash
"""


def make_db(path):
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT, price TEXT);
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, plan TEXT);
        CREATE TABLE kinds (id INTEGER PRIMARY KEY, r REAL, b BLOB, t TEXT, bad TEXT);
        INSERT INTO kinds VALUES (1, 0.30000000000000004, X'00ff41', 'x"yé',
                                  CAST(X'41ff42' AS TEXT));
        INSERT INTO products VALUES (1, 'lamp', '10'), (2, 'desk', '99'), (3, 'sofa', NULL);
        INSERT INTO users VALUES (1, 'ann', 'ann@example.com', 'pro'),
                                 (2, 'bob', 'bob@example.com', NULL);
    """)
    db.commit()
    return db


class CacheSqliteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dbpath = os.path.join(cls.tmp.name, "app.db")
        cls.db = make_db(cls.dbpath)
        cls.redis = harness.RedisServer(cls.tmp.name)
        cls.http = harness.free_port()
        cls.side = harness.Sidecache(
            cls.tmp.name, [("r1", cls.redis.port, 1)], workers=2,
            top_extra=harness.cache_yaml(cls.http, "    type: sqlite\n    path: %s" % cls.dbpath,
                                         POLICIES))
        cls.c = cls.side.client(decode_responses=True)
        cls.r = cls.redis.client(decode_responses=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.side.stop_checked()
        finally:
            cls.redis.stop()
            cls.db.close()
            cls.tmp.cleanup()

    def m(self, name, **labels):
        return harness.metric(self.http, name, **labels)

    def test_miss_then_hit(self):
        loads = self.m("sidecache_cache_loads_total", policy="products")
        self.assertEqual(self.c.get("product:1"), "lamp")
        self.assertEqual(self.m("sidecache_cache_loads_total", policy="products"), loads + 1)
        # A plain Redis client sees the value itself, with the policy's TTL (+-10%).
        self.assertEqual(self.r.get("product:1"), "lamp")
        self.assertTrue(54000 <= self.r.pttl("product:1") <= 66000, self.r.pttl("product:1"))
        # The database changes; the cached value is what the next GET answers: no query.
        self.db.execute("UPDATE products SET name = 'LAMP' WHERE id = 1")
        self.db.commit()
        hits = self.m("sidecache_cache_hits_total", policy="products")
        self.assertEqual(self.c.get("product:1"), "lamp")
        self.assertEqual(self.m("sidecache_cache_loads_total", policy="products"), loads + 1)
        self.assertEqual(self.m("sidecache_cache_hits_total", policy="products"), hits + 1)
        # Deleting the key (a plain write, passed through) makes the next GET load again.
        self.assertEqual(self.c.delete("product:1"), 1)
        self.assertEqual(self.c.get("product:1"), "LAMP")
        self.assertEqual(self.m("sidecache_cache_loads_total", policy="products"), loads + 2)

    def test_mget_mixed(self):
        self.r.set("plain:a", "A")
        self.c.delete("product:2", "product:3")
        self.assertEqual(self.c.get("product:2"), "desk")  # cached
        self.c.delete("product:3")
        loads = self.m("sidecache_cache_loads_total", policy="products")
        keys = self.m("sidecache_cache_keys_loaded_total", policy="products")
        got = self.c.mget("product:2", "plain:a", "product:3", "product:77", "plain:none")
        self.assertEqual(got, ["desk", "A", "sofa", None, None])
        self.assertEqual(self.m("sidecache_cache_loads_total", policy="products"), loads + 1)
        self.assertEqual(self.m("sidecache_cache_keys_loaded_total", policy="products"), keys + 2)

    def test_hash_read_through(self):
        self.assertEqual(self.c.hgetall("user:1"),
                         {"name": "ann", "email": "ann@example.com", "plan": "pro"})
        self.assertEqual(self.r.type("user:1"), "hash")
        self.assertEqual(self.r.hgetall("user:1"),
                         {"name": "ann", "email": "ann@example.com", "plan": "pro"})
        self.assertGreater(self.r.pttl("user:1"), 0)
        self.assertEqual(self.c.hget("user:2", "email"), "bob@example.com")
        self.assertEqual(self.c.hmget("user:2", "name", "plan", "nope"), ["bob", None, None])
        self.assertEqual(self.c.hlen("user:2"), 2)  # NULL columns are no fields
        self.assertTrue(self.c.hexists("user:1", "plan"))
        self.assertEqual(self.c.hgetall("user:999"), {})
        self.assertEqual(self.c.hlen("user:999"), 0)
        self.assertFalse(self.c.hexists("user:999", "name"))

    def test_resp3_clients(self):
        conn = self.side.raw()
        try:
            conn.command("HELLO", "3")
            conn.reset_types()
            expected = {b"name": b"ann", b"email": b"ann@example.com", b"plan": b"pro"}
            self.c.delete("user:1")
            self.assertEqual(conn.command("HGETALL", "user:1"), expected)  # loaded
            self.assertEqual(conn.command("HGETALL", "user:1"), expected)  # from Redis
            self.assertEqual(conn.types_seen, {"%", "$"})
            conn.reset_types()
            self.assertIsNone(conn.command("HGET", "user:1", "nope"))
            self.assertIsNone(conn.command("GET", "product:4040"))  # absent row
            self.assertIsNone(conn.command("GET", "product:4040"))  # negative marker
            self.assertEqual(conn.types_seen, {"_"})  # RESP3 nulls, never $-1
        finally:
            conn.close()

    def test_negative_caching(self):
        before = self.m("sidecache_cache_loads_total", policy="products")
        self.assertIsNone(self.c.get("product:404"))
        # The negative marker is the key itself holding a reserved NUL-prefixed text.
        self.assertEqual(self.r.get("product:404"), "\x00sidecache:neg")
        self.assertEqual(self.r.exists("sidecache:neg:product:404"), 0)
        self.db.execute("INSERT INTO products VALUES (404, 'found', '1')")
        self.db.commit()
        neg = self.m("sidecache_cache_negative_hits_total", policy="products")
        self.assertIsNone(self.c.get("product:404"))  # remembered: no query
        self.assertEqual(self.m("sidecache_cache_negative_hits_total", policy="products"), neg + 1)
        self.assertEqual(self.m("sidecache_cache_loads_total", policy="products"), before + 1)
        harness.wait_until(lambda: self.r.exists("product:404") == 0, timeout=5,
                           what="the negative marker to expire")
        self.assertEqual(self.c.get("product:404"), "found")

    def test_json_mapping(self):
        import json
        self.assertEqual(json.loads(self.c.get("pj:2")), {"id": 2, "name": "desk", "price": "99"})
        self.assertEqual(json.loads(self.c.get("pj:3"))["price"], None)
        self.assertEqual(self.r.get("pj:3"), self.c.get("pj:3"))

    def test_misses_within_the_batch_window_share_a_query(self):
        ids = [str(i) for i in range(1, 21)]
        replies = {}
        conns = [harness.RespConnection(self.side.port, timeout=10) for _ in ids]
        try:
            for conn, i in zip(conns, ids):  # 20 clients, one miss each, at (nearly) once
                conn.send_raw(harness.RespConnection.encode("GET", "pb:" + i))
            for conn, i in zip(conns, ids):
                replies[i] = conn.read_reply()
        finally:
            for conn in conns:
                conn.close()
        self.assertIsNotNone(replies["1"])  # other tests rename it
        self.assertEqual([replies[i] for i in ("2", "3")], [b"desk", b"sofa"])
        self.assertTrue(all(replies[i] is None for i in ids[3:]), replies)
        # One query per worker's window (2 workers), not one per key.
        loads = self.m("sidecache_cache_loads_total", policy="batched")
        self.assertEqual(self.m("sidecache_cache_keys_loaded_total", policy="batched"), 20)
        self.assertLessEqual(loads, 4)

    def test_json_mapping_types_by_storage_class(self):
        import json
        raw = self.c.get("kind:1")
        # Invalid UTF-8 in the database never makes invalid JSON: the bad byte becomes U+FFFD.
        self.assertEqual(json.loads(raw), {"id": 1, "r": 0.30000000000000004, "b": "AP9B",
                                           "t": 'x"y\u00e9', "bad": "A\ufffdB"})

    def test_metrics_pass_promtool(self):
        import shutil
        import subprocess
        self.c.get("product:2")
        text = harness.metrics_text(self.http)
        for family in ("hits", "misses", "negative_hits", "loads", "single_flight_waits",
                       "lease_waits", "early_refreshes", "keys_warmed", "stale",
                       "load_errors"):
            self.assertTrue("sidecache_cache_%s_total{" % family in text, family)
        self.assertTrue('sidecache_cache_load_duration_seconds_bucket{policy="products",le="0.001"}'
                        in text)
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool not installed")
        out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def test_plain_keys_and_writes_pass_through(self):
        self.assertTrue(self.c.set("other:1", "x"))
        self.assertEqual(self.c.get("other:1"), "x")
        self.assertTrue(self.c.set("product:50", "written"))  # writes are not the engine's
        self.assertEqual(self.c.get("product:50"), "written")
        self.assertEqual(self.c.get("product:"), None)  # no id: not a policy key


class CacheSqliteStartupTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dbpath = os.path.join(self.tmp.name, "app.db")
        make_db(self.dbpath).close()
        self.redis = harness.RedisServer(self.tmp.name)
        self.http = harness.free_port()

    def tearDown(self):
        self.redis.stop()
        self.tmp.cleanup()

    def yaml(self, policies, extra=""):
        return harness.cache_yaml(self.http, "    type: sqlite\n    path: %s" % self.dbpath,
                                  policies, extra)

    def test_unknown_table_fails_startup_with_file_line(self):
        side = harness.Sidecache(self.tmp.name, [("r1", self.redis.port, 1)], wait=False,
                                 top_extra=self.yaml(POLICIES.replace("table: users",
                                                                      "table: nosuch")))
        code = side.process.proc.wait(timeout=20)
        self.assertNotEqual(code, 0)
        out = side.process.output()
        self.assertRegex(out, r"sidecache-\d+\.yaml:\d+(:\d+)?: cache policy 'users': .*nosuch")

    def test_warming_and_readyz_and_reload(self):
        warm = POLICIES.replace("      mapping: column\n",
                                "      mapping: column\n      warm: {ids: [1, 2, 3, 9]}\n")
        side = harness.Sidecache(self.tmp.name, [("r1", self.redis.port, 1)],
                                 top_extra=self.yaml(warm, "  ready_waits_for_warming: true\n"))
        try:
            harness.wait_until(lambda: harness.http_status(self.http, "/readyz") == 200,
                               timeout=10, what="/readyz after warming")
            r = self.redis.client(decode_responses=True)
            self.assertEqual(r.get("product:1"), "lamp")
            self.assertEqual(r.get("product:2"), "desk")
            self.assertEqual(r.get("product:3"), "sofa")
            self.assertEqual(harness.metric(self.http, "sidecache_cache_keys_warmed_total",
                                            policy="products"), 3)
            self.assertIn("warming policy products done", side.process.output())
            # Reload with an invalid policy: refused, the running policies stay.
            with open(side.config_path, "w") as f:
                f.write(harness.config_yaml(side.port, [("r1", self.redis.port, 1)], 1, "",
                                            self.yaml(warm.replace("table: users",
                                                                   "table: nosuch"))))
            side.process.signal(signal.SIGHUP)
            harness.wait_until(lambda: harness.metric(self.http, "sidecache_config_reloads_total",
                                                      result="failed") == 1, timeout=10,
                               what="the failed reload")
            c = side.client(decode_responses=True)
            self.assertEqual(c.hget("user:1", "name"), "ann")
            # A valid reload changes the policies: item:* now reads products.
            changed = warm.replace('match: "pj:*"', 'match: "item:*"')
            with open(side.config_path, "w") as f:
                f.write(harness.config_yaml(side.port, [("r1", self.redis.port, 1)], 1, "",
                                            self.yaml(changed)))
            side.process.signal(signal.SIGHUP)
            harness.wait_until(lambda: harness.metric(self.http, "sidecache_config_reloads_total",
                                                      result="ok") == 1, timeout=10,
                               what="the reload")
            self.assertIn('"name":"lamp"', c.get("item:1"))
            self.assertIsNone(c.get("pj:1"))  # no policy any more: a plain miss
            # The products policy did not change: it was not warmed again.
            self.assertEqual(harness.metric(self.http, "sidecache_cache_keys_warmed_total",
                                            policy="products"), 3)
        finally:
            side.stop_checked()


if __name__ == "__main__":
    unittest.main()
