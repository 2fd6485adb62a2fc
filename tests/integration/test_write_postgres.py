"""Write modes against a real PostgreSQL and redis-server (appendonly yes):
write-through with the database stopped (error, cache unchanged) and back; write-behind while
PostgreSQL is stopped for 10 s under load (nothing lost, the queue drains, the depth metric
returns to 0); LISTEN/NOTIFY invalidation (an UPDATE in psql makes the next GET load the new
row), with the trigger from docs/write-modes.md; json mapping writes (through and behind)
into typed columns (integer, numeric, boolean, NULL)."""
import json
import os
import re
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = """
CREATE TABLE items (id text PRIMARY KEY, v text);
CREATE TABLE kv (id text PRIMARY KEY, v text);
CREATE TABLE things (id text PRIMARY KEY, v text);
CREATE TABLE counters (id text PRIMARY KEY, n bigint NOT NULL DEFAULT 0, note text);
INSERT INTO items VALUES ('1', 'one'), ('2', 'two');
INSERT INTO things VALUES ('2', 'two');
CREATE TABLE docs (id integer PRIMARY KEY, title text NOT NULL DEFAULT '', pages integer,
                   price numeric, draft boolean);
"""


def trigger_sql():
    """The trigger SQL shipped in docs/write-modes.md (between the markers), so the test
    checks what the docs say."""
    path = os.path.join(harness.SOURCE_DIR, "docs", "write-modes.md")
    with open(path) as f:
        text = f.read()
    m = re.search(r"<!-- trigger-sql -->\s*```sql\n(.*?)```", text, re.S)
    assert m, "no trigger SQL in docs/write-modes.md"
    return m.group(1)


POLICIES = """    - {match: "thing:*", table: things, key_column: id, value_column: v, ttl: 60s,
       write: through}
    - {match: "item:*", table: items, key_column: id, value_column: v, ttl: 60s}
    - {match: "cnt:*", table: counters, key_column: id, value_column: n, write: through}
    - match: "kv:*"
      table: kv
      key_column: id
      value_column: v
      write: behind
    - {match: "doc:*", table: docs, key_column: id, mapping: json,
       columns: [title, pages, price, draft], ttl: 60s, write: through}
    - {match: "jb:*", table: docs, key_column: id, mapping: json, ttl: 60s, write: behind,
       write_behind: {max_retries: 1}}
"""


class WritePostgresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.pg.psql(SCHEMA)
        cls.pg.psql(trigger_sql().replace("TABLE_NAME", "items").replace("KEY_PREFIX", "item:"))

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def setUp(self):
        if self.pg.pid() is None:
            self.pg.start()
        self.tmp = tempfile.TemporaryDirectory()
        self.redis = harness.RedisServer(self.tmp.name, extra=["--appendonly", "yes"])
        self.r = self.redis.client(decode_responses=True)
        self.http = harness.free_port()
        database = ("    type: postgres\n    conninfo: \"%s\"\n    pool_size: 2\n"
                    "    query_timeout: 2s\n    connect_timeout: 500ms" % self.pg.conninfo())
        top = harness.cache_yaml(self.http, database, POLICIES,
                                 "  invalidation_channel: sidecache_invalidate\n"
                                 "  write_behind: {batch_size: 200, flush_interval: 20ms, "
                                 "backoff_min: 50ms, backoff_max: 500ms}\n")
        self.sc = harness.Sidecache(self.tmp.name, [("a", self.redis.port, 1)], workers=2,
                                    top_extra=top)
        self.c = self.sc.client(decode_responses=True)
        m = re.search(r"queue (\S+) \(pending (\S+)", self.sc.process.output())
        self.stream, self.pending = m.group(1), m.group(2)

    def tearDown(self):
        try:
            self.sc.stop_checked()
        finally:
            self.redis.stop()
            self.tmp.cleanup()

    def test_through_with_database_down(self):
        self.assertEqual(self.c.get("thing:2"), "two")
        self.assertTrue(self.c.set("thing:2", "dos"))
        self.assertEqual(self.pg.psql("SELECT v FROM things WHERE id = '2'"), [["dos"]])
        self.pg.stop()
        try:
            with self.assertRaises(Exception) as e:
                self.c.set("thing:2", "deux")
            self.assertIn("database", str(e.exception))
            self.assertEqual(self.r.get("thing:2"), "dos")  # cache unchanged
        finally:
            self.pg.start()
        harness.wait_until(lambda: self._try_set("thing:2", "zwei"), timeout=20,
                           what="write-through after the database is back")
        self.assertEqual(self.pg.psql("SELECT v FROM things WHERE id = '2'"), [["zwei"]])
        self.assertEqual(self.r.get("thing:2"), "zwei")

    def test_concurrent_increments_through(self):
        # Two sidecache workers and four clients racing on one new row: PostgreSQL locks the
        # row (or retries the insert that lost), so every increment counts once.
        got = []
        lock = threading.Lock()

        def worker():
            client = self.sc.client(decode_responses=True)
            mine = [client.incrby("cnt:hot", 2) for _ in range(40)]
            with lock:
                got.extend(mine)
            client.close()

        ts = [threading.Thread(target=worker) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
            self.assertFalse(t.is_alive())
        self.assertEqual(sorted(got), list(range(2, 2 * 160 + 1, 2)))
        self.assertEqual(self.pg.psql("SELECT n FROM counters WHERE id = 'hot'"), [["320"]])
        self.assertEqual(self.c.decr("cnt:hot"), 319)
        self.assertEqual(self.r.get("cnt:hot"), "319")
        with self.assertRaises(Exception) as e:
            self.c.incrby("cnt:hot", 2 ** 63 - 1)
        self.assertIn("overflow", str(e.exception))

    def _try_set(self, key, value):
        try:
            return self.c.set(key, value)
        except Exception:
            time.sleep(0.1)  # back off before the caller's wait_until tries again
            return False

    def test_behind_with_database_stopped(self):
        last = {}
        stop = threading.Event()
        errors = []
        sent = [0]  # writes acknowledged so far

        def load():
            import redis
            client = redis.Redis(host="127.0.0.1", port=self.sc.port, socket_timeout=5,
                                 decode_responses=True)
            n = 0
            while not stop.is_set():
                k = "kv:%d" % (n % 300)
                v = "v%d" % n
                try:
                    client.set(k, v)
                    last[k] = v
                    sent[0] = n
                except Exception as e:  # noqa: BLE001
                    errors.append(str(e))
                n += 1
                time.sleep(0.001)  # a steady writer, about a thousand writes a second at most

        def flushed_up_to():
            """The highest write number the database holds (values are "v<n>")."""
            rows = self.pg.psql("SELECT coalesce(max(substr(v, 2)::int), -1) FROM kv "
                                "WHERE v ~ '^v[0-9]+$'")
            return int(rows[0][0])

        def metric(name):
            return harness.metric(self.http, name)

        t = threading.Thread(target=load)
        t.start()
        try:
            harness.wait_until(lambda: flushed_up_to() >= 100, timeout=20,
                               what="the first writes flushed to PostgreSQL")
            self.pg.stop()
            # The outage lasts until writes have piled up behind several failed flushes while
            # every client write is still acknowledged: more writes than keys (300), so every
            # key is written again while the database is away.
            stopped_at, retries = sent[0], metric("sidecache_write_behind_retries_total")
            harness.wait_until(
                lambda: sent[0] - stopped_at >= 600 and
                metric("sidecache_write_behind_retries_total") >= retries + 3,
                timeout=30, interval=0.1, what="writes acknowledged across failed flushes")
            self.assertGreater(metric("sidecache_write_behind_queue_depth"), 0)
            self.pg.start()
            restarted_at = sent[0]
            harness.wait_until(lambda: flushed_up_to() >= restarted_at, timeout=30,
                               interval=0.1, what="writes after the restart flushed")
        finally:
            stop.set()
            t.join(timeout=30)
        self.assertEqual(errors, [])
        harness.wait_until(lambda: self.r.xlen(self.stream) == 0 and self.r.hlen(self.pending) == 0,
                           timeout=60, what="queue drained")
        rows = dict((k, v) for k, v in self.pg.psql("SELECT id, v FROM kv"))
        wrong = [(k, v, rows.get(k[3:])) for k, v in last.items() if rows.get(k[3:]) != v]
        self.assertEqual(wrong, [])
        harness.wait_until(
            lambda: harness.metric(self.http, "sidecache_write_behind_queue_depth") == 0,
            timeout=5, what="depth metric 0")
        self.assertGreater(harness.metric(self.http, "sidecache_write_behind_retries_total"), 0)

    def test_json_through(self):
        doc = r'{"title": "\u00dcber \"PG\"", "pages": 12, "price": -1.5e2, "draft": true}'
        self.assertTrue(self.c.set("doc:1", doc))
        self.assertEqual(self.pg.psql("SELECT title, pages, price, draft FROM docs WHERE id = 1"),
                         [['Über "PG"', "12", "-150", "t"]])
        self.assertEqual(self.r.exists("doc:1"), 0)  # the next read loads the row
        loaded = json.loads(self.c.get("doc:1"))
        self.assertEqual(loaded["pages"], 12)
        self.assertTrue(self.c.set("doc:1", '{"draft": false, "price": null}'))
        self.assertEqual(self.pg.psql("SELECT pages, price, draft FROM docs WHERE id = 1"),
                         [["12", "", "f"]])
        # A value the column type rejects: the database's error, nothing written.
        with self.assertRaises(Exception) as e:
            self.c.set("doc:1", '{"pages": "many"}')
        self.assertIn("database rejected the write", str(e.exception))
        with self.assertRaises(Exception) as e:
            self.c.set("doc:1", '{"pages": 1,}')
        self.assertIn("invalid JSON at byte 12", str(e.exception))
        self.assertEqual(self.pg.psql("SELECT pages FROM docs WHERE id = 1"), [["12"]])

    def test_json_behind(self):
        self.assertTrue(self.c.set("jb:7", '{"title": "seven", "pages": 7}'))
        self.assertTrue(self.c.set("jb:7", '{"draft": true}'))
        self.assertEqual(self.c.get("jb:7"), '{"draft": true}')  # the value as last written
        self.assertTrue(self.c.set("jb:8", '{"title": "eight", "price": 8.25}'))
        harness.wait_until(lambda: self.r.xlen(self.stream) == 0 and self.r.hlen(self.pending) == 0,
                           timeout=20, what="queue drained")
        self.assertEqual(
            self.pg.psql("SELECT id, title, pages, price, draft FROM docs WHERE id IN (7, 8) "
                         "ORDER BY id"),
            [["7", "seven", "7", "", "t"], ["8", "eight", "", "8.25", ""]])

    def test_listen_notify_invalidation(self):
        self.assertEqual(self.c.get("item:1"), "one")
        self.pg.psql("UPDATE items SET v = 'uno' WHERE id = '1'")
        harness.wait_until(lambda: self.c.get("item:1") == "uno", timeout=10,
                           what="the new row after NOTIFY")
        self.assertGreaterEqual(harness.metric(self.http, "sidecache_invalidations_total"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
