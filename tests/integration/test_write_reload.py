#!/usr/bin/env python3
"""Write modes and live reload (policies changed while writes are pending, invalid reloads,
one database pool for reads and writes), real redis-server and SQLite:

(a) none -> through by reload: the next SET writes the row; back to none: it does not.
(b) a reload adds the first behind policy: flushers start, its writes reach the database.
(c) behind -> none while entries are queued (the database locked): they are still written,
    to the table of the last behind version, and a SET after the reload is not queued.
(d) an invalid reload (a queue-wide key under a policy's write_behind) keeps the running
    config, and the error names file:line:col and where the key moved.
(e) reads and writes share one database pool: sidecache holds at most database.pool_size
    connections to the SQLite file (counted in /proc/<pid>/fd) under concurrent read misses
    and write-through writes while the database is locked.
(f) PostgreSQL: the same count in pg_stat_activity.
"""
import os
import re
import sqlite3
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = """
CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE kv2 (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT);
"""

QUEUE = "  write_behind: {flush_interval: 20ms, claim_idle: 1s, backoff_min: 20ms, backoff_max: 100ms}\n"
WATCH = "process: {watch_interval: 100ms}\n"
APPLIED = r"reload \(config file changed\): applied configuration"
FAILED = r"reload \(config file changed\) failed"


def policy(match, table, mode, extra=""):
    return ("    - {match: \"%s\", table: %s, key_column: id, value_column: v, ttl: 60s, "
            "write: %s%s}\n" % (match, table, mode, extra))


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)



def reads_and_writes(sc, per_kind):
    """`per_kind` read misses (item:<i>) and write-through writes (kv:<i>) at once, each on a
    client of its own; the errors of each kind."""
    read_errors, write_errors = [], []

    def run(i, call, errors):
        try:
            call(sc.client(socket_timeout=10), i)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, lambda c, i: c.get("item:%d" % i),
                                                   read_errors)) for i in range(per_kind)]
    threads += [threading.Thread(target=run, args=(i, lambda c, i: c.set("kv:%d" % i, "x"),
                                                    write_errors)) for i in range(per_kind)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return read_errors, write_errors

class WriteReloadTest(unittest.TestCase):
    POOL_SIZE = 2

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dbpath = os.path.join(self.tmp.name, "app.db")
        db = sqlite3.connect(self.dbpath)
        db.executescript(SCHEMA)
        db.commit()
        db.close()
        self.redis = harness.RedisServer(self.tmp.name)
        self.addCleanup(self.redis.stop)
        self.r = self.redis.client(decode_responses=True)
        self.http = harness.free_port()
        self.sc = None

    def tearDown(self):
        if self.sc and self.sc.process.alive():
            self.sc.stop_checked()

    def database_yaml(self):
        return "    type: sqlite\n    path: %s\n    query_timeout: 300ms\n    pool_size: %d" % (
            self.dbpath, self.POOL_SIZE)

    def top(self, policies, queue=QUEUE):
        return WATCH + harness.cache_yaml(self.http, self.database_yaml(), policies, queue)

    def start(self, policies, queue=QUEUE):
        self.sc = harness.Sidecache(self.tmp.name, [("a", self.redis.port, 1)], workers=2,
                                    top_extra=self.top(policies, queue))
        self.c = self.sc.client(decode_responses=True)

    def log_count(self, pattern):
        return len(re.findall(pattern, self.sc.process.output()))

    def reload(self, policies, queue=QUEUE, pattern=APPLIED):
        before = self.log_count(pattern)
        write_atomic(self.sc.config_path, harness.config_yaml(
            self.sc.port, [("a", self.redis.port, 1)], 2, top_extra=self.top(policies, queue)))
        harness.wait_until(lambda: self.log_count(pattern) > before, timeout=10,
                           what="reload: " + pattern)

    def rows(self, table):
        db = sqlite3.connect(self.dbpath, timeout=5)
        try:
            return dict(db.execute("SELECT id, v FROM %s" % table).fetchall())
        finally:
            db.close()

    def queue_names(self):
        m = re.search(r"queue (\S+) \(pending (\S+), dead letters (\S+)\)",
                      self.sc.process.output())
        return (m.group(1), m.group(2)) if m else None

    def test_a_none_to_through_and_back(self):
        self.start(policy("kv:*", "kv", "none"))
        self.assertEqual(harness.metric(self.http, "sidecache_write_policies", mode="none"), 1)
        self.assertTrue(self.c.set("kv:1", "redis-only"))
        self.assertEqual(self.rows("kv"), {})
        self.reload(policy("kv:*", "kv", "through"))
        self.assertEqual(harness.metric(self.http, "sidecache_write_policies", mode="through"), 1)
        self.assertEqual(harness.metric(self.http, "sidecache_write_policies", mode="none"), 0)
        self.assertTrue(self.c.set("kv:1", "through"))
        self.assertEqual(self.rows("kv"), {"1": "through"})
        self.assertEqual(self.r.get("kv:1"), "through")
        self.assertGreater(self.r.pttl("kv:1"), 0)  # the policy's TTL: written by the writer
        self.reload(policy("kv:*", "kv", "none"))
        self.assertTrue(self.c.set("kv:1", "redis-only-again"))
        self.assertEqual(self.rows("kv"), {"1": "through"})
        self.assertIsNone(self.queue_names(), "no behind policy: no flusher")

    def test_b_reload_adds_the_first_behind_policy(self):
        self.start(policy("kv:*", "kv", "through"))
        self.assertIsNone(self.queue_names())
        self.reload(policy("kv:*", "kv", "through") + policy("wb:*", "kv2", "behind"))
        harness.wait_until(lambda: self.queue_names() is not None, timeout=5,
                           what="flushers started")
        stream, pending = self.queue_names()
        for i in range(20):
            self.assertTrue(self.c.set("wb:%d" % i, "v%d" % i))
        harness.wait_until(lambda: len(self.rows("kv2")) == 20, timeout=15,
                           what="20 rows written behind")
        self.assertEqual(self.rows("kv2"), {str(i): "v%d" % i for i in range(20)})
        harness.wait_until(lambda: self.r.xlen(stream) == 0 and self.r.hlen(pending) == 0,
                           timeout=10, what="queue drained")
        self.assertEqual(harness.metric(self.http, "sidecache_write_policies", mode="behind"), 1)

    def test_c_behind_to_none_still_flushes_what_is_queued(self):
        # Batches of 5: the flusher holds one batch while the database is locked; the other
        # entries are read, and their policy looked up, after the reload.
        queue = "  write_behind: {batch_size: 5, flush_interval: 20ms, backoff_min: 20ms, " \
                "backoff_max: 100ms}\n"
        self.start(policy("wb:*", "kv", "behind"), queue)
        stream, pending = self.queue_names()
        # BEGIN IMMEDIATE blocks writers but not readers: the reload's policy check still runs.
        lock = sqlite3.connect(self.dbpath, timeout=5, isolation_level=None,
                               check_same_thread=False)
        lock.execute("BEGIN IMMEDIATE")
        try:
            for i in range(50):
                self.assertTrue(self.c.set("wb:%d" % i, "q%d" % i))
            self.assertGreater(self.r.xlen(stream), 0)
            # Not behind any more, and pointed at another table.
            self.reload(policy("wb:*", "kv2", "none"), queue)
            self.assertIn("policy 'wb:*' no longer writes behind", self.sc.process.output())
            queued = self.r.xlen(stream)
            self.assertGreater(queued, 0, "the queue drained while the database was locked")
            self.assertTrue(self.c.set("wb:new", "not-queued"))
            self.assertEqual(self.r.xlen(stream), queued)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        harness.wait_until(lambda: self.r.xlen(stream) == 0 and self.r.hlen(pending) == 0,
                           timeout=20, what="queued entries flushed after the reload")
        self.assertEqual(self.rows("kv"), {str(i): "q%d" % i for i in range(50)})
        self.assertEqual(self.rows("kv2"), {})
        self.assertEqual(harness.metric(self.http, "sidecache_write_behind_dead_letters_total"), 0)
        self.assertEqual(self.r.get("wb:new"), "not-queued")
        # The keys got their TTL back once flushed.
        self.assertGreater(self.r.pttl("wb:1"), 0)

    def test_d_invalid_reload_keeps_the_running_write_modes(self):
        self.start(policy("kv:*", "kv", "through"))
        bad = policy("kv:*", "kv", "behind", ", write_behind: {batch_size: 10}")
        self.reload(bad, pattern=FAILED)
        out = self.sc.process.output()
        self.assertRegex(out, r"sidecache-\d+\.yaml:\d+:\d+: cache\.policies\[0\]\.write_behind"
                              r"\.batch_size: is queue-wide .*set it in cache\.write_behind")
        self.assertTrue(self.c.set("kv:7", "still-through"))
        self.assertEqual(self.rows("kv"), {"7": "still-through"})
        self.assertIsNone(self.queue_names())
        # Fixed: the queue-wide key in cache.write_behind applies.
        self.reload(policy("kv:*", "kv", "behind"),
                    "  write_behind: {batch_size: 10, flush_interval: 20ms}\n")
        self.assertTrue(self.c.set("kv:8", "behind"))
        harness.wait_until(lambda: self.rows("kv").get("8") == "behind", timeout=15,
                           what="row written behind")

    def batches(self, le):
        return harness.metric(self.http, "sidecache_write_behind_batch_size_bucket", le=le)

    def queue_while_locked(self, prefix, n):
        """`n` behind writes while the database refuses writes, then unlocked: one drain."""
        lock = sqlite3.connect(self.dbpath, timeout=5, isolation_level=None,
                               check_same_thread=False)
        lock.execute("BEGIN IMMEDIATE")
        try:
            for i in range(n):
                self.assertTrue(self.c.set("%s:%d" % (prefix, i), "v%d" % i))
        finally:
            lock.execute("ROLLBACK")
            lock.close()

    def test_g_queue_options_apply_on_reload(self):
        self.start(policy("wb:*", "kv", "behind"),
                   "  write_behind: {batch_size: 500, flush_interval: 20ms}\n")
        stream, pending = self.queue_names()
        self.queue_while_locked("wb", 40)
        harness.wait_until(lambda: len(self.rows("kv")) == 40, timeout=15, what="40 rows")
        small_before, all_before = self.batches("10"), self.batches("+Inf")
        self.assertGreater(all_before, 0)
        # batch_size 5: the same 40 writes now take at least 8 batches of at most 5 entries.
        self.reload(policy("wb:*", "kv", "behind"),
                    "  write_behind: {batch_size: 5, flush_interval: 20ms}\n")
        # The flusher reads the options once per round: once a write made after the reload is
        # in the database, that round is over and every later one has the new options.
        self.assertTrue(self.c.set("wb:probe", "p"))
        harness.wait_until(lambda: self.rows("kv").get("probe") == "p", timeout=10,
                           what="a write made after the reload flushed")
        small_before, all_before = self.batches("10"), self.batches("+Inf")
        self.queue_while_locked("wb", 40)
        harness.wait_until(lambda: self.r.xlen(stream) == 0 and self.r.hlen(pending) == 0,
                           timeout=15, what="queue drained")
        small, total = self.batches("10") - small_before, self.batches("+Inf") - all_before
        self.assertGreaterEqual(total, 8)
        self.assertEqual(small, total, "a batch above batch_size 5 after the reload")

    def db_connections(self):
        fd_dir = "/proc/%d/fd" % self.sc.process.pid
        n = 0
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)) == self.dbpath:
                    n += 1
            except OSError:
                pass
        return n

    def busy_reads_and_writes(self, per_kind=6):
        """Read misses and write-through writes at once, while the database refuses writes
        (each write waits for its busy timeout): every database thread gets a job."""
        lock = sqlite3.connect(self.dbpath, timeout=5, isolation_level=None,
                               check_same_thread=False)
        lock.execute("BEGIN IMMEDIATE")
        try:
            # The locked database answers the writes an error: only the reads must succeed.
            read_errors, _ = reads_and_writes(self.sc, per_kind)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.assertEqual(read_errors, [])

    def test_e_one_pool_for_reads_and_writes(self):
        self.start(policy("kv:*", "kv", "through") +
                   "    - {match: \"item:*\", table: items, key_column: id, value_column: v}\n")
        self.busy_reads_and_writes()
        # A reload that changes write modes opens no pool of its own either.
        self.reload(policy("kv:*", "kv", "invalidate") +
                    "    - {match: \"item:*\", table: items, key_column: id, value_column: v}\n")
        self.busy_reads_and_writes()
        self.assertEqual(self.db_connections(), self.POOL_SIZE)
        self.assertEqual(harness.metric(self.http, "sidecache_write_policies",
                                        mode="invalidate"), 1)


PG_SCHEMA = """
CREATE TABLE kv (id text PRIMARY KEY, v text);
CREATE TABLE items (id text PRIMARY KEY, v text);
"""


class PostgresPoolTest(unittest.TestCase):
    """pg_stat_activity: reads and writes through one pool of pool_size connections."""
    POOL_SIZE = 3

    def setUp(self):
        self.pg = harness.Postgres()
        self.addCleanup(self.pg.close)
        self.pg.psql(PG_SCHEMA)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.redis = harness.RedisServer(self.tmp.name)
        self.addCleanup(self.redis.stop)
        self.http = harness.free_port()
        database = ("    type: postgres\n    conninfo: \"%s\"\n    pool_size: %d\n"
                    "    query_timeout: 2s" % (self.pg.conninfo(), self.POOL_SIZE))
        policies = (policy("kv:*", "kv", "through") +
                    "    - {match: \"item:*\", table: items, key_column: id, value_column: v}\n")
        self.sc = harness.Sidecache(self.tmp.name, [("a", self.redis.port, 1)], workers=2,
                                    top_extra=harness.cache_yaml(self.http, database, policies))
        self.addCleanup(self.sc.stop_checked)

    def connections(self):
        rows = self.pg.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                            "'client backend' AND pid <> pg_backend_pid()")
        return int(rows[0][0])

    def test_f_pool_size_connections(self):
        # 16 concurrent reads and writes: every database thread gets work.
        read_errors, write_errors = reads_and_writes(self.sc, 8)
        self.assertEqual(read_errors + write_errors, [])
        self.assertEqual(len(self.pg.psql("SELECT id FROM kv")), 8)
        n = self.connections()
        self.assertGreaterEqual(n, 1)
        self.assertLessEqual(n, self.POOL_SIZE)


if __name__ == "__main__":
    unittest.main(verbosity=2)
