"""Write modes against a real redis-server (appendonly yes) and a real SQLite file:
write-through and invalidate (row first, then the cache), unmappable commands, write-behind
(value + queue entry in one script, flushed in batches), durability across kill -9 of
sidecache (20,000 acknowledged SETs over 1,000 keys), per-key order with coalescing off,
dead letters on a constraint violation, back-pressure at the queue bound."""
import os
import re
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = """
CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE counters (id TEXT PRIMARY KEY, v INTEGER);
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, email TEXT);
CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE seq (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE seq_log (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, v TEXT);
CREATE TRIGGER seq_ins AFTER INSERT ON seq BEGIN INSERT INTO seq_log (id, v) VALUES (NEW.id, NEW.v); END;
CREATE TRIGGER seq_upd AFTER UPDATE ON seq BEGIN INSERT INTO seq_log (id, v) VALUES (NEW.id, NEW.v); END;
CREATE TABLE strict (id TEXT PRIMARY KEY, v TEXT CHECK (v NOT LIKE 'bad%'));
CREATE TABLE stats (id TEXT PRIMARY KEY, views INTEGER, likes INTEGER);
INSERT INTO items VALUES ('1', 'one'), ('2', 'two');
"""

# cache.write_behind: queue-wide options (one queue per node for every behind policy).
QUEUE = "  write_behind: {flush_interval: 20ms, claim_idle: 1s, backoff_min: 20ms, backoff_max: 200ms}\n"

POLICIES = """    - {match: "item:*", table: items, key_column: id, value_column: v, ttl: 60s,
       write: through, delete_row_on_del: true}
    - {match: "inv:*", table: items, key_column: id, value_column: v, write: invalidate}
    - match: "cnt:*"
      table: counters
      key_column: id
      value_column: v
      write: behind
    - {match: "user:*", table: users, key_column: id, mapping: hash, columns: [name, email],
       write: behind}
    - {match: "kv:*", table: kv, key_column: id, value_column: v, ttl: 60s, write: behind}
    - match: "seq:*"
      table: seq
      key_column: id
      value_column: v
      write: behind
      write_behind: {coalesce: false}
    - match: "strict:*"
      table: strict
      key_column: id
      value_column: v
      write: behind
      write_behind: {max_retries: 1}
    - {match: "plain:*", table: items, key_column: id, value_column: v}
    - {match: "gone:*", table: kv, key_column: id, value_column: v, ttl: 60s, write: behind,
       delete_row_on_del: true}
    - {match: "uth:*", table: users, key_column: id, mapping: hash, columns: [name, email],
       write: through}
    - {match: "tcnt:*", table: counters, key_column: id, value_column: v, write: through}
    - {match: "icnt:*", table: counters, key_column: id, value_column: v, write: invalidate}
    - {match: "st:*", table: stats, key_column: id, mapping: hash, columns: [views, likes],
       write: through}
"""


def queue_names(sc):
    m = re.search(r"queue (\S+) \(pending (\S+), dead letters (\S+)\)", sc.process.output())
    assert m, "no queue names in the log:\n" + sc.process.tail()
    return m.group(1), m.group(2), m.group(3)


class WriteFixture(unittest.TestCase):
    """redis-server (appendonly), an SQLite file and sidecache with the write policies."""
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dbpath = os.path.join(self.tmp.name, "app.db")
        db = sqlite3.connect(self.dbpath)
        db.executescript(SCHEMA)
        db.commit()
        db.close()
        self.redis = harness.RedisServer(self.tmp.name,
                                         extra=["--appendonly", "yes", "--appendfsync", "always"])
        self.r = self.redis.client(decode_responses=True)
        self.sc = None
        self.start()

    query_timeout = "300ms"  # also SQLite's busy timeout: how long a write waits for the lock

    def start(self, port=None, extra_policy_yaml=POLICIES, queue_opts=QUEUE):
        self.http = harness.free_port()
        database = "    type: sqlite\n    path: %s\n    query_timeout: %s" % (self.dbpath,
                                                                      self.query_timeout)
        self.sc = harness.Sidecache(self.tmp.name, [("a", self.redis.port, 1)], workers=2,
                                    port=port,
                                    top_extra=harness.cache_yaml(self.http, database,
                                                                 extra_policy_yaml, queue_opts))
        self.c = self.sc.client(decode_responses=True)
        self.stream, self.pending, self.dead = queue_names(self.sc)

    def tearDown(self):
        try:
            if self.sc and self.sc.process.alive():
                self.sc.stop_checked()
        finally:
            self.redis.stop()
            self.tmp.cleanup()

    def rows(self, table):
        db = sqlite3.connect(self.dbpath, timeout=5)
        try:
            return dict(db.execute("SELECT id, v FROM %s" % table).fetchall())
        finally:
            db.close()

    def wait_drained(self, timeout=30):
        harness.wait_until(lambda: self.r.xlen(self.stream) == 0 and self.r.hlen(self.pending) == 0,
                           timeout=timeout, what="write-behind queue drained")

    def writes_blocked(self):
        """A RESERVED lock: the database can be read but not written, so write-behind entries
        stay queued while read-through loads still see the old rows."""
        lock = sqlite3.connect(self.dbpath, timeout=5, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        return lock


class WriteSqliteTest(WriteFixture):
    def test_through_writes_row_then_cache(self):
        self.assertEqual(self.c.get("item:1"), "one")
        self.assertTrue(self.c.set("item:1", "uno"))
        self.assertEqual(self.rows("items")["1"], "uno")
        self.assertEqual(self.r.get("item:1"), "uno")
        ttl = self.r.pttl("item:1")
        self.assertTrue(0 < ttl <= 66000, ttl)
        # A new row, and a negative marker does not hide it.
        self.assertIsNone(self.c.get("item:9"))
        self.c.set("item:9", "nine")
        self.assertEqual(self.c.get("item:9"), "nine")
        self.assertEqual(self.rows("items")["9"], "nine")
        # DEL with delete_row_on_del deletes the row and the key.
        self.assertEqual(self.c.delete("item:9", "plain-key"), 1)
        self.assertNotIn("9", self.rows("items"))
        self.assertEqual(self.r.exists("item:9"), 0)

    def test_through_database_error_leaves_cache(self):
        self.assertEqual(self.c.get("item:2"), "two")
        lock = sqlite3.connect(self.dbpath, timeout=5, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            with self.assertRaises(Exception) as e:
                self.c.set("item:2", "dos")
            self.assertIn("database", str(e.exception))
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.assertEqual(self.r.get("item:2"), "two")
        self.assertEqual(self.rows("items")["2"], "two")

    def test_invalidate_writes_row_and_deletes_key(self):
        self.assertEqual(self.c.get("inv:1"), "one")
        self.assertTrue(self.c.set("inv:1", "eins"))
        self.assertEqual(self.r.exists("inv:1"), 0)
        self.assertEqual(self.rows("items")["1"], "eins")
        self.assertEqual(self.c.get("inv:1"), "eins")  # read through again

    def test_unmappable_commands_answer_errors(self):
        with self.assertRaises(Exception) as e:
            self.c.lpush("item:1", "x")
        self.assertIn("LPUSH cannot be written to the database", str(e.exception))
        with self.assertRaises(Exception) as e:
            self.c.set("item:1", "x", ex=5)
        self.assertIn("SET options", str(e.exception))
        with self.assertRaises(Exception) as e:
            self.c.incr("item:1")  # "one": the database refuses, nothing changes
        self.assertIn("not an integer", str(e.exception))
        self.assertEqual(self.rows("items")["1"], "one")
        with self.assertRaises(Exception) as e:
            self.c.set("user:1", "x")
        self.assertIn("use HSET", str(e.exception))
        # Keys of no write policy are untouched by all this.
        self.assertTrue(self.c.set("other", "x"))
        self.assertEqual(self.c.lpush("list", "a"), 1)

    def test_behind_counter_and_hash(self):
        db = sqlite3.connect(self.dbpath)
        db.execute("INSERT INTO counters VALUES ('z', 41)")
        db.execute("INSERT INTO users VALUES ('1', 'ann', 'ann@x')")
        db.commit()
        db.close()
        self.assertEqual(self.c.incr("cnt:z"), 42)  # starts from the row
        self.assertEqual(self.c.incrby("cnt:new", 5), 5)
        self.assertEqual(self.c.hset("user:1", "email", "ann@y"), 0)
        self.assertEqual(self.c.hgetall("user:1"), {"name": "ann", "email": "ann@y"})
        self.wait_drained()
        self.assertEqual(self.rows("counters"), {"z": 42, "new": 5})
        db = sqlite3.connect(self.dbpath)
        self.assertEqual(db.execute("SELECT name, email FROM users").fetchall(), [("ann", "ann@y")])
        db.close()
        # Flushed: the key has its TTL back.
        self.assertGreater(self.r.pttl("cnt:z"), 0)
        self.assertGreater(harness.metric(self.http, "sidecache_write_behind_flushed_total"), 0)

    def test_behind_survives_kill9(self):
        keys = ["kv:%d" % i for i in range(1000)]
        total = 20000
        threads_n = 4
        lock = threading.Lock()
        state = {"acked": 0, "restarted": False}
        last_ack = {}
        uncertain = {}
        port = self.sc.port

        def worker(t):
            import random
            import redis
            rnd = random.Random(t)
            mine = keys[t::threads_n]
            client = None
            n = 0
            while True:
                with lock:
                    if state["acked"] >= total:
                        return
                k = rnd.choice(mine)
                v = "t%d-%d" % (t, n)
                n += 1
                try:
                    if client is None:
                        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5,
                                             decode_responses=True)
                    client.set(k, v)
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    uncertain.setdefault(k, []).append(v)
                    client = None
                    time.sleep(0.05)  # back off while sidecache restarts
                    continue
                with lock:
                    last_ack[k] = v
                    uncertain.pop(k, None)
                    state["acked"] += 1

        ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
        for t in ts:
            t.start()
        harness.wait_until(lambda: state["acked"] >= total // 3, timeout=120, what="a third acked")
        self.sc.process.signal(9)
        self.sc.process.proc.wait(timeout=10)
        self.sc.process.stopped = True
        self.sc.process.log.close()
        harness.wait_until(lambda: not harness.ping(port), timeout=5,
                           what="the killed sidecache's port closed")
        self.start(port=port)
        for t in ts:
            t.join(timeout=240)
            self.assertFalse(t.is_alive())
        self.assertGreaterEqual(state["acked"], total)
        self.wait_drained(timeout=120)
        rows = self.rows("kv")
        wrong = []
        for k, v in last_ack.items():
            got = rows.get(k.split(":", 1)[1])
            if got != v and got not in uncertain.get(k, []):
                wrong.append((k, v, got))
        self.assertEqual(wrong, [])
        self.assertEqual(len(rows), len(last_ack))
        # Every cached value agrees with the database.
        for k, v in list(last_ack.items())[:200]:
            self.assertEqual(self.r.get(k), rows[k.split(":", 1)[1]])

    def test_order_without_coalescing(self):
        p = self.c.pipeline(transaction=False)
        for i in range(300):
            for k in ("a", "b", "c"):
                p.set("seq:" + k, "%s%03d" % (k, i))
        p.execute()
        self.wait_drained()
        db = sqlite3.connect(self.dbpath)
        for k in ("a", "b", "c"):
            got = [v for (v,) in db.execute("SELECT v FROM seq_log WHERE id = ? ORDER BY n", (k,))]
            self.assertEqual(got, ["%s%03d" % (k, i) for i in range(300)])
        db.close()
        self.assertEqual(harness.metric(self.http, "sidecache_write_behind_coalesced_total"), 0)

    def test_coalescing_writes_last_value(self):
        lock = sqlite3.connect(self.dbpath, timeout=5, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # entries pile up while the database is busy
        try:
            p = self.c.pipeline(transaction=False)
            for i in range(200):
                p.set("kv:hot", str(i))
            p.execute()
            # Every write is queued now; the flusher has met the lock at least once.
            harness.wait_until(
                lambda: harness.metric(self.http, "sidecache_write_behind_retries_total") > 0,
                timeout=10, what="a flush retried against the locked database")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.wait_drained()
        self.assertEqual(self.rows("kv")["hot"], "199")
        self.assertGreater(harness.metric(self.http, "sidecache_write_behind_coalesced_total"), 0)
        self.assertGreater(harness.metric(self.http, "sidecache_write_behind_retries_total"), 0)

    def test_dead_letter_on_constraint_violation(self):
        self.c.set("strict:1", "good")
        self.c.set("strict:2", "bad value")
        self.c.set("strict:3", "fine")
        self.wait_drained()
        self.assertEqual(self.rows("strict"), {"1": "good", "3": "fine"})
        dead = self.r.xrange(self.dead)
        self.assertEqual(len(dead), 1)
        self.assertEqual(dead[0][1]["k"], "strict:2")
        self.assertEqual(dead[0][1]["v"], "bad value")
        self.assertEqual(harness.metric(self.http, "sidecache_write_behind_dead_letters_total"), 1)
        self.assertIn("dead letter: key strict:2", self.sc.process.output())
        # The cache still holds what the client wrote.
        self.assertEqual(self.c.get("strict:2"), "bad value")


    def test_plain_del_keeps_a_value_with_queued_writes(self):
        db = sqlite3.connect(self.dbpath)
        db.execute("INSERT INTO kv VALUES ('d', 'old'), ('e', 'old')")
        db.commit()
        db.close()
        self.assertEqual(self.c.get("kv:e"), "old")  # cached, nothing queued
        lock = self.writes_blocked()
        try:
            self.assertTrue(self.c.set("kv:d", "new"))
            # DEL drops the cached copy, but this one is newer than the row: reading the row
            # in its place would go back in time.
            self.assertEqual(self.c.delete("kv:d", "kv:e", "kv:none"), 2)
            self.assertEqual(self.c.get("kv:d"), "new")
            self.assertTrue(self.r.hexists(self.pending, "kv:d"))  # queued writes
            self.assertEqual(self.r.exists("kv:e"), 0)  # nothing queued: really deleted
            self.assertEqual(self.c.get("kv:e"), "old")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.wait_drained()
        self.assertEqual(self.rows("kv")["d"], "new")
        self.assertEqual(self.c.get("kv:d"), "new")
        self.assertGreater(self.r.pttl("kv:d"), 0)  # flushed: the TTL is back

    def test_queued_delete_is_not_undone_by_a_read(self):
        db = sqlite3.connect(self.dbpath)
        db.execute("INSERT INTO kv VALUES ('g', 'old')")
        db.commit()
        db.close()
        self.assertEqual(self.c.get("gone:g"), "old")
        lock = self.writes_blocked()
        try:
            self.assertEqual(self.c.delete("gone:g"), 1)
            # The row is still in the database, its delete queued: a read must not load it.
            self.assertIsNone(self.c.get("gone:g"))
            self.assertEqual(self.r.exists("gone:g"), 0)
            self.assertEqual(self.rows("kv")["g"], "old")
            # A write after the delete is read back too.
            self.assertTrue(self.c.set("gone:h", "h1"))
            self.assertEqual(self.c.delete("gone:h"), 1)
            self.assertTrue(self.c.set("gone:h", "h2"))
            self.assertEqual(self.c.get("gone:h"), "h2")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.wait_drained()
        self.assertNotIn("g", self.rows("kv"))
        self.assertEqual(self.rows("kv")["h"], "h2")
        self.assertIsNone(self.c.get("gone:g"))
        self.assertEqual(self.c.get("gone:h"), "h2")

    def test_through_hset_counts_new_fields_like_redis(self):
        db = sqlite3.connect(self.dbpath)
        db.execute("INSERT INTO users VALUES ('5', 'bo', NULL)")
        db.commit()
        db.close()
        self.assertEqual(self.c.hset("uth:5", "name", "bob"), 0)  # the field existed
        self.assertEqual(self.c.hset("uth:5", "email", "b@x"), 1)  # NULL: no field before
        self.assertEqual(self.c.hset("uth:5", mapping={"name": "b", "email": "c"}), 0)
        self.assertEqual(self.c.hset("uth:6", mapping={"name": "n", "email": "e"}), 2)  # new row
        self.assertEqual(self.c.hgetall("uth:5"), {"name": "b", "email": "c"})


    def test_increments_through_and_invalidate(self):
        self.assertEqual(self.c.incr("tcnt:a"), 1)  # no row: inserted
        self.assertEqual(self.c.incrby("tcnt:a", 41), 42)
        self.assertEqual(self.c.decr("tcnt:a"), 41)
        self.assertEqual(self.rows("counters")["a"], 41)
        self.assertEqual(self.r.get("tcnt:a"), "41")  # through: cached with the policy's TTL
        self.assertGreater(self.r.pttl("tcnt:a"), 0)
        self.assertEqual(self.c.incrby("icnt:z", 5), 5)
        self.assertEqual(self.r.exists("icnt:z"), 0)  # invalidate: the next read loads it
        self.assertEqual(self.c.get("icnt:z"), "5")
        self.assertEqual(self.c.hincrby("st:1", "views", 3), 3)
        self.assertEqual(self.c.hincrby("st:1", "views", 2), 5)
        self.assertEqual(self.c.hgetall("st:1"), {"views": "5"})
        self.assertEqual(self.c.hincrby("st:1", "likes", 1), 1)
        self.assertEqual(self.c.hgetall("st:1"), {"views": "5", "likes": "1"})
        db = sqlite3.connect(self.dbpath)
        self.assertEqual(db.execute("SELECT views, likes FROM stats").fetchall(), [(5, 1)])
        db.close()

    def test_concurrent_increments_through_all_count(self):
        threads_n, each = 4, 50
        got = []
        lock = threading.Lock()

        def worker():
            client = self.sc.client(decode_responses=True)
            mine = [client.incr("tcnt:b") for _ in range(each)]
            with lock:
                got.extend(mine)
            client.close()

        ts = [threading.Thread(target=worker) for _ in range(threads_n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=60)
            self.assertFalse(t.is_alive())
        # Every increment counted once, and each client saw a distinct sum, as with Redis.
        self.assertEqual(sorted(got), list(range(1, threads_n * each + 1)))
        self.assertEqual(self.rows("counters")["b"], threads_n * each)
        self.assertEqual(self.c.incr("tcnt:b"), threads_n * each + 1)
        self.assertEqual(self.c.get("tcnt:b"), str(threads_n * each + 1))


class BackPressureTest(WriteFixture):
    """The same fixture with a queue bound of 20."""
    def start(self, port=None, extra_policy_yaml=None, queue_opts=""):
        policies = """    - match: "bp:*"
      table: kv
      key_column: id
      value_column: v
      write: behind
      write_behind: {queue_max: 20}
    - match: "slow:*"
      table: kv
      key_column: id
      value_column: v
      write: behind
      write_behind: {queue_max: 20, on_full: slow, slow_wait: 3s}
"""
        super().start(port, policies,
                      "  write_behind: {flush_interval: 100ms, backoff_min: 20ms, "
                      "backoff_max: 100ms}\n")

    def test_back_pressure(self):
        lock = sqlite3.connect(self.dbpath, timeout=5, isolation_level=None,
                               check_same_thread=False)
        lock.execute("BEGIN EXCLUSIVE")
        errors = 0
        release = None  # the timer that gives the database back
        try:
            for i in range(30):
                try:
                    self.c.set("bp:%d" % i, str(i))
                except Exception as e:
                    self.assertIn("queue", str(e))
                    errors += 1
            self.assertEqual(errors, 10)
            self.assertGreaterEqual(harness.metric(self.http, "sidecache_write_backpressure_total"),
                                    10)
            # on_full slow: the write waits for room; the database comes back meanwhile.
            # The database comes back after 0.5 s: the write must have waited for it.
            release = threading.Timer(0.5, lambda: (lock.execute("ROLLBACK"), lock.close()))
            release.start()
            t0 = time.monotonic()
            self.assertTrue(self.c.set("slow:s1", "x"))
            self.assertGreater(time.monotonic() - t0, 0.3)
        finally:
            if release is None:
                lock.execute("ROLLBACK")
                lock.close()
            else:
                release.join(timeout=10)
        self.wait_drained()
        self.assertEqual(len(self.rows("kv")), 21)
        harness.wait_until(lambda: harness.metric(
            self.http, "sidecache_write_behind_queue_depth") == 0, timeout=5, what="depth 0")


class MultiNodeTest(unittest.TestCase):
    """Two Redis nodes: each node has its own queue, on that node, with its own flusher."""

    def test_queue_per_node(self):
        with tempfile.TemporaryDirectory() as tmp:
            dbpath = os.path.join(tmp, "app.db")
            db = sqlite3.connect(dbpath)
            db.executescript(SCHEMA)
            db.close()
            nodes = [harness.RedisServer(tmp), harness.RedisServer(tmp)]
            http = harness.free_port()
            database = "    type: sqlite\n    path: %s" % dbpath
            # murmur: fnv1a_64 happens to put every "kv:<n>" on one of two nodes.
            sc = harness.Sidecache(tmp, [("a", nodes[0].port, 1), ("b", nodes[1].port, 1)],
                                   pool_extra="  hash: murmur",
                                   top_extra=harness.cache_yaml(http, database, POLICIES))
            try:
                names = re.findall(r"node (\w): queue (\S+) \(pending (\S+)", sc.process.output())
                self.assertEqual(len(names), 2)
                c = sc.client(decode_responses=True)
                for i in range(200):
                    c.set("kv:%d" % i, "v%d" % i)
                direct = [n.client(decode_responses=True) for n in nodes]
                # Each key is on one node; each node's stream is on that node.
                on_node = [sum(1 for i in range(200) if d.exists("kv:%d" % i)) for d in direct]
                self.assertEqual(sum(on_node), 200)
                self.assertTrue(all(n > 0 for n in on_node), on_node)
                for (node, stream, pending), d in zip(sorted(names), direct):
                    harness.wait_until(lambda: d.exists(stream) == 1 and d.xlen(stream) == 0 and
                                       d.hlen(pending) == 0, timeout=20, what="node drained")
                db = sqlite3.connect(dbpath)
                rows = dict(db.execute("SELECT id, v FROM kv").fetchall())
                db.close()
                self.assertEqual(rows, {str(i): "v%d" % i for i in range(200)})
            finally:
                sc.stop_checked()
                for n in nodes:
                    n.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
