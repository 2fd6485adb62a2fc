"""Racing writes leave no stale value (docs/write-modes.md, "Racing writes"), against a real
PostgreSQL and redis-server with two sidecaches sharing them:

- two `through` writes of one key whose commits and cache writes come in opposite orders (a
  row lock held by the test orders the commits, a stalled link to Redis delays one cache
  write): the key ends deleted or holding the row, never the older value;
- a refresh of a `behind` key that read the row before a queued write of that key was
  flushed, and stores after the flush: the flushed value stays; the same with a `through`
  write committed and cached during the refresh;
- a randomized run of concurrent writers and readers through both sidecaches (one of them
  behind a slow link; `through` strings and hashes, `behind` strings), in rounds: once quiet
  after each round, every cached value equals its row."""
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = """
CREATE TABLE tt (id text PRIMARY KEY, v text);
CREATE TABLE bt (id text PRIMARY KEY, v text);
CREATE TABLE st (id text PRIMARY KEY, v text);
CREATE TABLE sb (id text PRIMARY KEY, v text);
CREATE TABLE tr (id text PRIMARY KEY, v text);
CREATE TABLE sh (id text PRIMARY KEY, a text, b text);
"""

POLICIES = """    - {match: "t:*", table: tt, key_column: id, value_column: v, ttl: 60s,
       xfetch_beta: 0, write: through}
    - {match: "b:*", table: bt, key_column: id, value_column: v, ttl: 1s, ttl_jitter: 0,
       stale_while_revalidate: 60s, xfetch_beta: 0, write: behind}
    - {match: "tr:*", table: tr, key_column: id, value_column: v, ttl: 1s, ttl_jitter: 0,
       stale_while_revalidate: 60s, xfetch_beta: 0, write: through}
    - {match: "st:*", table: st, key_column: id, value_column: v, ttl: 1s,
       stale_while_revalidate: 30s, write: through}
    - {match: "sh:*", table: sh, key_column: id, mapping: hash, columns: [a, b], ttl: 1s,
       stale_while_revalidate: 30s, write: through}
    - {match: "sb:*", table: sb, key_column: id, value_column: v, ttl: 1s,
       stale_while_revalidate: 30s, write: behind}
"""

STRESS_KEYS = 4
STRESS_SECONDS = 15
STRESS_WRITERS = 6
STRESS_READERS = 3


class PsqlSession:
    """One psql process kept open, so that a transaction holds its locks between statements."""

    def __init__(self, pg):
        self.proc = subprocess.Popen(
            [os.path.join(pg.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d", "postgres"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def run(self, sql, timeout=10):
        """Sends `sql` and waits (bounded) until psql has executed it."""
        self.proc.stdin.write(sql + "\nSELECT 'done-marker';\n")
        self.proc.stdin.flush()
        seen = []

        def read():
            while True:
                line = self.proc.stdout.readline()
                if not line or line.strip() == "done-marker":
                    seen.append(line)
                    return
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if not seen or not seen[0]:
            raise RuntimeError("psql did not finish: %s" % sql)

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


class WriteRacesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = harness.Postgres()
        cls.pg.psql(SCHEMA)

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.redis = harness.RedisServer(self.tmp.name)
        self.r = self.redis.client(decode_responses=True)
        self.proxy = harness.FaultProxy(self.tmp.name, self.redis.port)
        self.sessions = []
        self.sidecaches = []

    def tearDown(self):
        try:
            for s in self.sessions:
                s.close()
            for sc in self.sidecaches:
                sc.stop_checked()
        finally:
            self.proxy.stop()
            self.redis.stop()
            self.tmp.cleanup()

    def start_sidecache(self, redis_port, workers=1):
        http = harness.free_port()
        database = ("    type: postgres\n    conninfo: \"%s\"\n    pool_size: 4\n"
                    "    query_timeout: 5s\n    connect_timeout: 1s" % self.pg.conninfo())
        top = harness.cache_yaml(http, database, POLICIES,
                                 "  write_behind: {batch_size: 100, flush_interval: 10ms}\n")
        sc = harness.Sidecache(self.tmp.name, [("a", redis_port, 1)], workers=workers,
                               top_extra=top,
                               pool_extra="  request_timeout: 10s\n")
        sc.http = http
        self.sidecaches.append(sc)
        return sc

    def row(self, table, id_):
        rows = self.pg.psql("SELECT v FROM %s WHERE id = '%s'" % (table, id_))
        return rows[0][0] if rows else None

    def lock_waiters(self):
        return int(self.pg.psql("SELECT count(*) FROM pg_stat_activity "
                                "WHERE wait_event_type = 'Lock'")[0][0])

    def busy_backends(self):
        """Client backends running a statement, other than the one asking."""
        return int(self.pg.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND state <> 'idle' AND pid <> pg_backend_pid()")[0][0])

    def test_through_writes_cached_in_the_opposite_order_of_their_commits(self):
        self.pg.psql("INSERT INTO tt VALUES ('1', 'v0') ON CONFLICT (id) DO UPDATE SET v = 'v0'")
        a = self.start_sidecache(self.proxy.port)  # its cache writes can be held
        b = self.start_sidecache(self.redis.port)
        ca, cb = a.client(decode_responses=True), b.client(decode_responses=True)
        self.assertEqual(ca.get("t:1"), "v0")

        # The test holds the row: A's write waits for it in the database.
        holder = PsqlSession(self.pg)
        self.sessions.append(holder)
        holder.run("BEGIN; SELECT v FROM tt WHERE id = '1' FOR UPDATE;")
        a_reply = []
        writer = threading.Thread(target=lambda: a_reply.append(ca.set("t:1", "from-a")))
        writer.start()
        harness.wait_until(lambda: self.lock_waiters() >= 1, timeout=10,
                           what="A's database write waiting for the row lock")
        # A's cache write will be held on its way to Redis; A commits first.
        self.proxy.stall("up")
        try:
            holder.run("COMMIT;")
            harness.wait_until(lambda: self.row("tt", "1") == "from-a", timeout=10,
                               what="A's commit")
            # B commits after A and caches first.
            self.assertTrue(cb.set("t:1", "from-b"))
            self.assertEqual(self.row("tt", "1"), "from-b")
        finally:
            self.proxy.resume("up")
        writer.join(20)
        self.assertEqual(a_reply, [True])
        # A's cache write came last: it must not have left its older value.
        self.assertIn(self.r.get("t:1"), (None, "from-b"))
        self.assertEqual(ca.get("t:1"), "from-b")
        self.assertEqual(cb.get("t:1"), "from-b")
        self.assertEqual(self.r.get("t:1"), "from-b")
        races = harness.metric(a.http, "sidecache_write_races_total", policy="t:*")
        self.assertGreaterEqual(races, 1)

    def test_refresh_racing_a_behind_write_and_its_flush(self):
        self.refresh_race("b", "bt", behind=True)

    def test_refresh_racing_a_through_write(self):
        self.refresh_race("tr", "tr", behind=False)

    def refresh_race(self, prefix, table, behind):
        """A refresh of KEY reads the row (v0), then a write of KEY commits (through) or is
        queued, flushed and acknowledged (behind) before the refresh stores: v1 stays."""
        key = prefix + ":1"
        self.pg.psql("INSERT INTO %s VALUES ('1', 'v0') ON CONFLICT (id) DO UPDATE SET v = 'v0'"
                     % table)
        # W writes (and flushes: its flusher takes the queue first); R refreshes through a
        # link the test can stall.
        w = self.start_sidecache(self.redis.port)
        harness.wait_until(lambda: "flushing as" in w.process.output(), timeout=10,
                           what="W's flusher")
        pending = re.search(r"\(pending (\S+)", w.process.output()).group(1).rstrip(",)")
        r = self.start_sidecache(self.proxy.port)
        cw, cr = w.client(decode_responses=True), r.client(decode_responses=True)
        self.assertEqual(cr.get(key), "v0")
        # Past its 1 s TTL (kept 60 s more for stale_while_revalidate), a read refreshes it.
        harness.wait_until(lambda: 0 < self.r.pttl(key) <= 59900, timeout=10,
                           what="%s logically expired" % key)

        # The refresh's database read waits for the table lock the test holds.
        holder = PsqlSession(self.pg)
        self.sessions.append(holder)
        holder.run("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;" % table)
        self.assertEqual(cr.get(key), "v0")  # stale, at once; the refresh starts
        harness.wait_until(lambda: self.lock_waiters() >= 1, timeout=10,
                           what="the refresh waiting for the table lock")
        self.proxy.stall("up")  # the refresh's store will be held
        try:
            holder.run("ROLLBACK;")
            harness.wait_until(lambda: self.lock_waiters() == 0 and self.busy_backends() == 0,
                               timeout=10, what="the refresh's read of the row (v0)")
            # Now a write of the key: committed and cached (through), or queued, flushed and
            # acknowledged by W (behind).
            self.assertTrue(cw.set(key, "v1"))
            harness.wait_until(lambda: self.row(table, "1") == "v1" and
                               not self.r.hexists(pending, key), timeout=10,
                               what="the write committed (and acknowledged)")
            self.assertEqual(self.r.get(key), "v1")
            self.assertGreater(self.r.pttl(key), 0)  # behind: its TTL is back
        finally:
            self.proxy.resume("up")
        # A request R sends after the store goes on the same connection, after it.
        self.assertIsNone(cr.get("plain:sync"))
        self.assertEqual(self.r.get(key), "v1")
        self.assertEqual(cr.get(key), "v1")
        superseded = harness.metric(r.http, "sidecache_cache_stores_superseded_total",
                                    policy=prefix + ":*")
        self.assertGreaterEqual(superseded, 1)

    def test_randomized_writers_and_readers_leave_every_row_cached_or_absent(self):
        ids = [str(i) for i in range(STRESS_KEYS)]
        for table in ("st", "sb"):
            self.pg.psql("DELETE FROM %s; " % table + " ".join(
                "INSERT INTO %s VALUES ('%s', 'init');" % (table, i) for i in ids))
        self.pg.psql("DELETE FROM sh; " + " ".join(
            "INSERT INTO sh VALUES ('%s', 'init', 'init');" % i for i in ids))
        # One sidecache reaches Redis over a slow link: its cache writes land late, the
        # interleavings the races need.
        self.proxy.delay(3, "up")
        a = self.start_sidecache(self.proxy.port, workers=2)
        b = self.start_sidecache(self.redis.port, workers=2)
        pending = re.search(r"\(pending (\S+)", a.process.output()).group(1).rstrip(",)")
        seed = int(os.environ.get("SIDECACHE_RACE_SEED", time.time_ns() % 1000000))
        print("randomized race test: seed %d" % seed)
        clients = [[a.client(decode_responses=True), b.client(decode_responses=True)]
                   for _ in range(STRESS_WRITERS + STRESS_READERS)]
        errors = []

        def writer(n, rng, deadline):
            try:
                while time.monotonic() < deadline:
                    c = rng.choice(clients[n])
                    prefix = rng.choice(("st", "sb", "sh"))
                    key = "%s:%s" % (prefix, rng.choice(ids))
                    if prefix == "sh":
                        c.hset(key, rng.choice("ab"), "w%d-%d" % (n, rng.randrange(1 << 30)))
                    elif rng.random() < 0.1:
                        c.delete(key)  # the cached copy only
                    else:
                        c.set(key, "w%d-%d" % (n, rng.randrange(1 << 30)))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        def reader(n, rng, deadline):
            try:
                while time.monotonic() < deadline:
                    c = rng.choice(clients[n])
                    prefix = rng.choice(("st", "sb", "sh"))
                    key = "%s:%s" % (prefix, rng.choice(ids))
                    c.hgetall(key) if prefix == "sh" else c.get(key)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        def loads():
            return sum(harness.metric(sc.http, "sidecache_cache_keys_loaded_total", policy=p)
                       for sc in (a, b) for p in ("st:*", "sb:*", "sh:*"))

        def quiet():
            """The write-behind queue drained and no load running in either sidecache."""
            harness.wait_until(lambda: self.r.hlen(pending) == 0, timeout=30,
                               what="the write-behind queue drained")
            seen = [loads()]

            def settled():
                now = loads()
                same = now == seen[0] and self.busy_backends() == 0
                seen[0] = now
                return same
            harness.wait_until(settled, timeout=30, what="no load running")

        def stale_keys():
            stale = []
            for table in ("st", "sb"):
                for i in ids:
                    key = "%s:%s" % (table, i)
                    row = self.row(table, i)
                    cached = self.r.get(key)
                    if cached is not None and not cached.startswith("\0") and cached != row:
                        stale.append("%s: cached %r, row %r" % (key, cached, row))
            for i in ids:
                key = "sh:" + i
                a_, b_ = self.pg.psql("SELECT a, b FROM sh WHERE id = '%s'" % i)[0]
                cached = self.r.hgetall(key)
                if cached and cached != {"a": a_, "b": b_}:
                    stale.append("%s: cached %r, row %r" % (key, cached, (a_, b_)))
            return stale

        # Rounds of concurrent writes and reads, each ending quiet with the invariant checked.
        rng = random.Random(seed)
        end = time.monotonic() + STRESS_SECONDS
        rounds = 0
        while time.monotonic() < end:
            rounds += 1
            deadline = time.monotonic() + rng.uniform(0.5, 1.5)
            threads = [threading.Thread(target=writer,
                                        args=(i, random.Random(rng.random()), deadline))
                       for i in range(STRESS_WRITERS)]
            threads += [threading.Thread(target=reader,
                                         args=(STRESS_WRITERS + i, random.Random(rng.random()),
                                               deadline))
                        for i in range(STRESS_READERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            self.assertEqual(errors, [])
            quiet()
            self.assertEqual(stale_keys(), [], "seed %d, round %d" % (seed, rounds))
        # Read through both sidecaches too: each answers the row.
        for table in ("st", "sb"):
            for i in ids:
                key = "%s:%s" % (table, i)
                for sc in (a, b):
                    self.assertEqual(sc.client(decode_responses=True).get(key),
                                     self.row(table, i), key)
        for i in ids:
            a_, b_ = self.pg.psql("SELECT a, b FROM sh WHERE id = '%s'" % i)[0]
            for sc in (a, b):
                self.assertEqual(sc.client(decode_responses=True).hgetall("sh:" + i),
                                 {"a": a_, "b": b_})
        races = sum(harness.metric(sc.http, "sidecache_write_races_total", policy=p)
                    for sc in (a, b) for p in ("st:*", "sh:*"))
        print("%d rounds; through writes that raced: %d" % (rounds, races))


if __name__ == "__main__":
    unittest.main(verbosity=2)
