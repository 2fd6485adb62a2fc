#!/usr/bin/env python3
"""Read-through and the write modes end to end against a real MariaDB server and redis-server
(appendonly yes), through sidecache with `cache.database.type: mysql`:
  - GET loads a row (one query per key, counted by the server's Com_stmt_execute), then hits;
  - mapping json is typed from MySQL's result metadata (numbers, booleans, JSON, base64 bytes,
    ISO-8601 times);
  - SET through writes the row (UPDATE/INSERT ... ON DUPLICATE KEY UPDATE), json through too;
  - INCR through increments under a row lock, concurrently from many clients;
  - SET behind is queued and flushed into the table;
  - a policy query sleeping past query_timeout is stopped with KILL QUERY: a timeout error at
    ~query_timeout, nothing left sleeping on the server, the timeout counted in
    sidecache_db_queries_total{result="timeout"}, and the next GET served at once;
  - the password comes from password_file."""
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
CREATE TABLE items (id VARCHAR(64) PRIMARY KEY, v TEXT);
INSERT INTO items VALUES ('1', 'one'), ('2', 'two');
CREATE TABLE things (id VARCHAR(64) PRIMARY KEY, v TEXT);
CREATE TABLE kv (id VARCHAR(64) PRIMARY KEY, v TEXT);
CREATE TABLE counters (id VARCHAR(64) PRIMARY KEY, n BIGINT NOT NULL DEFAULT 0);
CREATE TABLE docs (id INT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', pages INT,
                   price DECIMAL(10, 2), draft BOOLEAN, meta JSON);
CREATE TABLE typed (id INT PRIMARY KEY, price DECIMAL(30, 10), ratio DOUBLE, ok BOOLEAN,
                    doc JSON, raw VARBINARY(8), at DATETIME(3), name VARCHAR(20));
INSERT INTO typed VALUES (1, 12345678901234567890.5, 0.25, TRUE, '{"a": [1, {"b": null}]}',
                          X'00FF41', '2024-05-01 10:00:00.500', 'Über'), (2, NULL, NULL, NULL,
                          NULL, NULL, NULL, NULL);
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 's3cret pass';
GRANT SELECT, INSERT, UPDATE, DELETE ON sidecache_test.* TO 'app'@'127.0.0.1';
"""

POLICIES = """    - {match: "item:*", table: items, key_column: id, value_column: v, ttl: 60s}
    - {match: "thing:*", table: things, key_column: id, value_column: v, ttl: 60s,
       write: through, delete_row_on_del: true}
    - {match: "cnt:*", table: counters, key_column: id, value_column: n, write: through}
    - {match: "kv:*", table: kv, key_column: id, value_column: v, write: behind}
    - {match: "doc:*", table: docs, key_column: id, mapping: json,
       columns: [title, pages, price, draft, meta], ttl: 60s, write: through}
    - {match: "typed:*", table: typed, key_column: id, mapping: json, ttl: 60s}
    - {match: "slow:*", query: "SELECT v FROM items WHERE id = ? AND SLEEP(3) = 0",
       value_column: v, ttl: 60s, load_timeout: 5s}
"""


class CacheMysqlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.my = harness.MariaDB()
        try:
            cls.my.sql(SCHEMA)
        except BaseException:
            cls.my.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.my.close()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        secret = os.path.join(self.tmp.name, "mysql-password")
        with open(secret, "w") as f:
            f.write("s3cret pass\n")
        self.redis = harness.RedisServer(self.tmp.name, extra=["--appendonly", "yes"])
        self.r = self.redis.client(decode_responses=True)
        self.http = harness.free_port()
        database = ("    type: mysql\n    host: 127.0.0.1\n    port: %d\n    user: app\n"
                    "    database: sidecache_test\n    password_file: %s\n    pool_size: 2\n"
                    "    query_timeout: 500ms\n    connect_timeout: 1s" % (self.my.port, secret))
        top = harness.cache_yaml(self.http, database, POLICIES,
                                 "  write_behind: {batch_size: 200, flush_interval: 20ms}\n")
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

    def executes(self):
        return int(self.my.sql("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'")[0][1])

    def active_sleeps(self):
        return int(self.my.sql(
            "SELECT COUNT(*) FROM information_schema.processlist "
            "WHERE info LIKE '%SLEEP(3)%' AND id <> CONNECTION_ID()")[0][0])

    def test_read_through_loads_once_then_hits(self):
        before = self.executes()
        self.assertEqual(self.c.get("item:1"), "one")
        self.assertEqual(self.c.get("item:1"), "one")
        self.assertIsNone(self.c.get("item:404"))
        self.assertEqual(self.executes() - before, 2)  # item:1 once, item:404 once
        self.assertEqual(self.r.get("item:1"), "one")
        self.assertEqual(harness.metric(self.http, "sidecache_db_queries_total", result="ok"),
                         harness.metric(self.http, "sidecache_db_queries_total"))
        self.assertGreaterEqual(harness.metric(self.http, "sidecache_db_connects_total"), 1)

    def test_json_mapping_is_typed(self):
        text = self.c.get("typed:1")
        self.assertIn('"price":12345678901234567890.5000000000', text)  # exact digits
        row = json.loads(text)
        self.assertEqual(row, {"id": 1, "price": 12345678901234567890.5, "ratio": 0.25,
                               "ok": True, "doc": {"a": [1, {"b": None}]}, "raw": "AP9B",
                               "at": "2024-05-01T10:00:00.500", "name": "Über"})
        self.assertEqual(json.loads(self.c.get("typed:2")),
                         {k: (2 if k == "id" else None) for k in row})

    def test_set_through_writes_the_row(self):
        self.assertTrue(self.c.set("thing:1", "first"))
        self.assertEqual(self.my.sql("SELECT v FROM things WHERE id = '1'"), [["first"]])
        self.assertTrue(self.c.set("thing:1", "second"))
        self.assertEqual(self.my.sql("SELECT v FROM things WHERE id = '1'"), [["second"]])
        self.assertEqual(self.c.get("thing:1"), "second")
        self.assertEqual(self.c.delete("thing:1"), 1)
        self.assertEqual(self.my.sql("SELECT COUNT(*) FROM things WHERE id = '1'"), [["0"]])

    def test_json_through_round_trips_typed_values(self):
        doc = ('{"title": "\\u00dcber \\"My\\"", "pages": 12, "price": -1.5e2, "draft": true, '
               '"meta": {"tags": ["a", "b"]}}')
        self.assertTrue(self.c.set("doc:1", doc))
        stored = self.my.sql("SELECT title, pages, price, draft, meta FROM docs WHERE id = 1")
        self.assertEqual(stored[0][:4], ['Über "My"', "12", "-150.00", "1"])  # true is 1
        self.assertEqual(json.loads(stored[0][4]), {"tags": ["a", "b"]})
        loaded = json.loads(self.c.get("doc:1"))
        self.assertEqual(loaded, {"title": 'Über "My"', "pages": 12, "price": -150.0,
                                  "draft": True, "meta": {"tags": ["a", "b"]}})
        # A value the column rejects (strict mode): the database's error, nothing written.
        with self.assertRaises(Exception) as e:
            self.c.set("doc:1", '{"pages": "many"}')
        self.assertIn("database rejected the write", str(e.exception))
        self.assertEqual(self.my.sql("SELECT pages FROM docs WHERE id = 1"), [["12"]])

    def test_concurrent_increments_through(self):
        errors = []

        def run():
            c = self.sc.client(decode_responses=True)
            try:
                for _ in range(25):
                    c.incr("cnt:hits")
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(self.my.sql("SELECT n FROM counters WHERE id = 'hits'"), [["100"]])

    def test_set_behind_is_flushed(self):
        for i in range(20):
            self.assertTrue(self.c.set("kv:%d" % i, "v%d" % i))
        self.assertEqual(self.c.get("kv:3"), "v3")
        harness.wait_until(lambda: self.r.xlen(self.stream) == 0 and self.r.hlen(self.pending) == 0,
                           timeout=20, what="queue drained")
        self.assertEqual(self.my.sql("SELECT COUNT(*) FROM kv"), [["20"]])
        self.assertEqual(self.my.sql("SELECT v FROM kv WHERE id = '7'"), [["v7"]])

    def test_slow_query_is_killed_at_query_timeout(self):
        started = time.monotonic()
        with self.assertRaises(Exception) as e:
            self.c.get("slow:1")
        took = time.monotonic() - started
        self.assertLess(took, 2.0)  # 500 ms and the KILL, not the 3 s sleep
        self.assertIn("timeout", str(e.exception).lower())
        harness.wait_until(lambda: self.active_sleeps() == 0, timeout=1,
                           what="no SLEEP(3) left on the server")
        self.assertGreaterEqual(
            harness.metric(self.http, "sidecache_db_queries_total", result="timeout"), 1)
        started = time.monotonic()
        self.assertEqual(self.c.get("item:2"), "two")
        self.assertLess(time.monotonic() - started, 0.5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
