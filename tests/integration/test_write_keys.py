"""Write modes at every key position, inside MULTI and in scripts, and the json mapping's
writes, against a real redis-server and a real SQLite file: MSET is one SET per key (policy keys
through their write mode); other multi-key writes (MSETNX, RENAME, COPY, ...) that change a
write-policy key answer an error and change nothing; a write to a
write-policy key queued inside MULTI answers an error at queue time and EXEC answers EXECABORT;
EVAL on a write-policy key is refused, EVAL_RO passes; SET of a JSON object on a json policy
writes the row's columns (through, invalidate, behind; coalesced partial objects merge)."""
import json
import os
import re
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = """
CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, email TEXT);
CREATE TABLE docs (id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '', pages INTEGER,
                   draft TEXT);
INSERT INTO items VALUES ('1', 'one'), ('2', 'two');
INSERT INTO docs VALUES ('1', 'First', 10, 'false');
"""

POLICIES = """    - {match: "item:*", table: items, key_column: id, value_column: v, ttl: 60s,
       write: through}
    - {match: "gone:*", table: items, key_column: id, value_column: v, write: through,
       delete_row_on_del: true}
    - {match: "user:*", table: users, key_column: id, mapping: hash, columns: [name, email],
       write: behind}
    - {match: "doc:*", table: docs, key_column: id, mapping: json,
       columns: [title, pages, draft], ttl: 60s, write: through}
    - {match: "jinv:*", table: docs, key_column: id, mapping: json, write: invalidate}
    - {match: "jb:*", table: docs, key_column: id, mapping: json, columns: [title, pages, draft],
       ttl: 60s, write: behind}
    - {match: "ro:*", table: items, key_column: id, value_column: v}
"""


class WriteKeysTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dbpath = os.path.join(cls.tmp.name, "app.db")
        db = sqlite3.connect(cls.dbpath)
        db.executescript(SCHEMA)
        db.commit()
        db.close()
        cls.redis = harness.RedisServer(cls.tmp.name, extra=["--appendonly", "yes"])
        cls.r = cls.redis.client(decode_responses=True)
        cls.http = harness.free_port()
        database = "    type: sqlite\n    path: %s\n    query_timeout: 1s" % cls.dbpath
        cls.sc = harness.Sidecache(cls.tmp.name, [("a", cls.redis.port, 1)], workers=2,
                                   top_extra=harness.cache_yaml(
                                       cls.http, database, POLICIES,
                                       "  write_behind: {flush_interval: 20ms}\n"))
        m = re.search(r"queue (\S+) \(pending (\S+)", cls.sc.process.output())
        assert m, cls.sc.process.tail()
        cls.stream, cls.pending = m.group(1), m.group(2)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sc.stop_checked()
        finally:
            cls.redis.stop()
            cls.tmp.cleanup()

    def setUp(self):
        self.c = self.sc.client(decode_responses=True)
        self.conns = []

    def tearDown(self):
        for conn in self.conns:
            conn.close()
        self.c.close()

    def raw(self):
        conn = self.sc.raw(timeout=5)
        self.conns.append(conn)
        return conn

    def query(self, sql, *params):
        db = sqlite3.connect(self.dbpath, timeout=5)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def drained(self):
        harness.wait_until(lambda: self.r.xlen(self.stream) == 0 and self.r.hlen(self.pending) == 0,
                           timeout=20, what="write-behind queue drained")

    def error_of(self, *args):
        reply = self.raw().command(*args)
        self.assertIsInstance(reply, harness.RespError, "%r answered %r" % (args, reply))
        return str(reply)

    # Multi-key writes and scripts.

    def test_mset_with_policy_key_in_second_position(self):
        # One SET per key: the write-policy key goes through its write mode.
        self.assertTrue(self.c.mset({"mk:plain": "1", "item:3": "drei", "ro:7": "3"}))
        self.assertEqual(self.query("SELECT v FROM items WHERE id = '3'"), [("drei",)])
        self.assertEqual(self.r.get("item:3"), "drei")  # through: cached with the policy TTL
        self.assertGreater(self.r.pttl("item:3"), 0)
        self.assertEqual(self.r.mget("mk:plain", "ro:7"), ["1", "3"])
        self.assertTrue(self.c.mset({"mk:j": "x", "doc:5": '{"title": "Five", "pages": 5}',
                                     "jb:6": '{"title": "Six"}'}))
        self.assertEqual(self.query("SELECT title, pages FROM docs WHERE id = '5'"),
                         [("Five", 5)])
        self.drained()
        self.assertEqual(self.query("SELECT title FROM docs WHERE id = '6'"), [("Six",)])
        # A pair that cannot be written refuses the whole MSET before anything is written.
        err = self.error_of("MSET", "mk:none", "1", "user:5", "x")
        self.assertIn("MSET cannot write key 'user:5' of hash policy", err)
        err = self.error_of("MSET", "mk:none", "1", "doc:5", "{bad")
        self.assertIn("invalid JSON at byte 1", err)
        self.assertIn("nothing was written", err)
        self.assertEqual(self.r.exists("mk:none"), 0)
        # Not atomic: a database rejection answers the error, the other keys are written.
        err = self.error_of("MSET", "mk:partial", "1", "doc:5", '{"title": null}')
        self.assertIn("database rejected the write", err)
        self.assertEqual(self.r.get("mk:partial"), "1")
        self.assertEqual(self.query("SELECT title FROM docs WHERE id = '5'"), [("Five",)])
        # MSETNX cannot be split: refused, naming the key.
        self.assertIn("MSETNX changes key 'item:5'", self.error_of("MSETNX", "mk:a", "1",
                                                                   "item:5", "x"))
        self.assertEqual(self.r.exists("mk:a"), 0)
        # Plain keys (and keys of a policy without write mode) keep working as before.
        self.assertTrue(self.c.mset({"mk:a": "1", "mk:b": "2", "ro:7": "4"}))
        self.assertEqual(self.c.mget("mk:a", "mk:b", "ro:7"), ["1", "2", "4"])
        self.assertGreater(harness.metric(self.http, "sidecache_write_refused_total"), 0)

    def test_rename_copy_and_moves(self):
        self.c.set("mk:src", "v")
        err = self.error_of("RENAME", "mk:src", "item:8")
        self.assertIn("RENAME changes key 'item:8' of write policy", err)
        self.assertEqual(self.r.get("mk:src"), "v")
        self.assertEqual(self.r.exists("item:8"), 0)
        self.assertIn("key 'item:1'", self.error_of("RENAMENX", "item:1", "mk:dst"))
        self.assertIn("key 'item:9'", self.error_of("COPY", "mk:src", "item:9"))
        self.c.rpush("mk:list", "a")
        self.assertIn("key 'item:9'", self.error_of("LMOVE", "mk:list", "item:9", "LEFT",
                                                    "LEFT"))
        self.assertEqual(self.r.llen("mk:list"), 1)
        # A write-policy key that is only read (the source of COPY) passes.
        self.assertEqual(self.c.get("item:1"), "one")
        self.assertEqual(self.c.copy("item:1", "mk:copy", replace=True), True)
        self.assertEqual(self.r.get("mk:copy"), "one")
        self.assertTrue(self.c.rename("mk:src", "mk:renamed"))

    def test_scripts_on_policy_keys(self):
        err = self.error_of("EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "item:1")
        self.assertIn("EVAL on key 'item:1' of write policy", err)
        self.assertIn("EVAL_RO", err)
        self.assertNotEqual(self.r.get("item:1"), "x")
        self.c.get("item:2")  # cached by a read
        self.assertEqual(self.c.eval_ro("return redis.call('GET', KEYS[1])", 1, "item:2"), "two")
        self.assertEqual(self.c.eval("return redis.call('SET', KEYS[1], 'y')", 1, "mk:s"), "OK")
        self.assertEqual(self.r.get("mk:s"), "y")

    # MULTI.

    def test_multi_refuses_policy_writes_at_queue_time(self):
        conn = self.raw()
        self.assertEqual(conn.command("MULTI"), "OK")
        self.assertEqual(conn.command("SET", "mk:tx", "1"), "QUEUED")
        err = conn.command("SET", "item:1", "x")
        self.assertIsInstance(err, harness.RespError)
        self.assertIn("SET on key 'item:1' of write policy", err)
        self.assertIn("not allowed inside MULTI", err)
        self.assertEqual(conn.command("GET", "item:1"), "QUEUED")
        err = conn.command("EXEC")
        self.assertIsInstance(err, harness.RespError)
        self.assertTrue(err.startswith("EXECABORT"), err)
        self.assertEqual(self.r.exists("mk:tx"), 0)
        self.assertEqual(self.query("SELECT v FROM items WHERE id = '1'"), [("one",)])
        # HSET, DEL with delete_row_on_del, multi-key writes and scripts are refused too
        self.assertEqual(conn.command("MULTI"), "OK")
        # (a DEL of a write-behind key too: one with queued writes must keep its value).
        for args in (("HSET", "user:1", "name", "x"), ("DEL", "mk:a", "gone:1"), ("DEL", "jb:1"),
                     ("MSET", "mk:a", "1", "doc:1", "{}"),
                     ("EVAL", "return 1", "1", "item:1")):
            self.assertIsInstance(conn.command(*args), harness.RespError, args)
        self.assertTrue(conn.command("EXEC").startswith("EXECABORT"))

    def test_multi_reads_and_plain_writes_still_work(self):
        self.assertEqual(self.c.get("item:2"), "two")
        conn = self.raw()
        self.assertEqual(conn.command("MULTI"), "OK")
        self.assertEqual(conn.command("GET", "item:2"), "QUEUED")
        self.assertEqual(conn.command("SET", "mk:ok", "1"), "QUEUED")
        self.assertEqual(conn.command("EXPIRE", "item:2", "100"), "QUEUED")  # TTL: not a write
        self.assertEqual(conn.command("DEL", "mk:none"), "QUEUED")
        self.assertEqual(conn.command("EXEC"), [b"two", "OK", 1, 0])
        self.assertEqual(self.r.get("mk:ok"), "1")

    # json mapping.

    def test_json_through(self):
        value = {"title": "Second", "pages": 12, "draft": True}
        self.assertTrue(self.c.set("doc:2", json.dumps(value)))
        self.assertEqual(self.query("SELECT title, pages, draft FROM docs WHERE id = '2'"),
                         [("Second", 12, "true")])
        # The cached copy is dropped: the next read loads the row as the database has it.
        self.assertEqual(self.r.exists("doc:2"), 0)
        loaded = json.loads(self.c.get("doc:2"))
        self.assertEqual(loaded["title"], "Second")
        self.assertEqual(loaded["pages"], 12)
        # A partial object updates the columns it names; a read value written back works
        # (the key column, when present, must name this row).
        loaded["title"] = "Second, revised"
        self.assertTrue(self.c.set("doc:2", json.dumps(loaded)))
        self.assertTrue(self.c.set("doc:2", '{"draft": null}'))
        self.assertEqual(self.query("SELECT title, pages, draft FROM docs WHERE id = '2'"),
                         [("Second, revised", 12, None)])

    def test_json_errors(self):
        err = self.error_of("SET", "doc:1", '{"title": "x",}')
        self.assertTrue(err.startswith("ERR SET on key of json policy '"), err)
        self.assertTrue(err.endswith("invalid JSON at byte 14: expected a member name in double "
                                     "quotes"), err)
        self.assertIn("expected a value", self.error_of("SET", "doc:1", '{"title": {"a": }}'))
        self.assertIn("expected ',' or ']' in an array",
                      self.error_of("SET", "doc:1", '{"title": [1}'))
        self.assertIn("JSON member 'author' is not a column",
                      self.error_of("SET", "doc:1", '{"author": "me"}'))
        self.assertIn("key column", self.error_of("SET", "doc:1", '{"id": "2", "title": "x"}'))
        self.assertIn("invalid JSON at byte 0", self.error_of("SET", "doc:1", "not json"))
        self.assertIn("use SET with a JSON object", self.error_of("HSET", "doc:1", "title", "x"))
        # Nothing was written.
        self.assertEqual(self.query("SELECT title, pages FROM docs WHERE id = '1'"),
                         [("First", 10)])

    def test_json_invalidate(self):
        self.assertEqual(json.loads(self.c.get("jinv:1"))["title"], "First")
        self.assertTrue(self.c.set("jinv:1", '{"pages": 11}'))
        self.assertEqual(self.r.exists("jinv:1"), 0)
        self.assertEqual(json.loads(self.c.get("jinv:1"))["pages"], 11)

    def test_json_behind(self):
        first = '{"title": "Third", "pages": 3}'
        self.assertTrue(self.c.set("jb:3", first))
        self.assertEqual(self.c.get("jb:3"), first)  # read-your-writes: the value as written
        self.assertTrue(self.c.set("jb:4", '{"title": "Four"}'))
        self.assertTrue(self.c.set("jb:4", '{"pages": 4, "draft": false}'))
        self.drained()
        self.assertEqual(self.query("SELECT id, title, pages, draft FROM docs WHERE id IN "
                                    "('3', '4') ORDER BY id"),
                         [("3", "Third", 3, None), ("4", "Four", 4, "false")])
        self.assertGreater(self.r.pttl("jb:3"), 0)  # flushed: the TTL is back


if __name__ == "__main__":
    unittest.main(verbosity=2)
