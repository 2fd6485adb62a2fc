"""Read-through cache against real redis-server and PostgreSQL processes. Database
reads are counted by PostgreSQL itself: every policy's query calls log_read(id), which inserts
a row into `reads` in the load's transaction.
  - miss then hit: one query for two GETs;
  - 500 concurrent clients missing one key: exactly one query (single flight across workers);
  - three sidecache processes with a lease, hit by the same miss storm: one query;
  - a slow query (pg_sleep) does not block other keys;
  - XFetch: a hot key under steady load is refreshed before it expires, clients never miss;
  - the database stopped: stale-if-error answers the stale value, errors after its max age,
    and recovery when the database is back."""
import os
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = """
CREATE TABLE products (id int PRIMARY KEY, name text, price text);
INSERT INTO products SELECT g, 'item-' || g, (g * 10)::text FROM generate_series(1, 100) g;
CREATE TABLE reads (k text, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION log_read(k text) RETURNS int LANGUAGE sql VOLATILE AS
  $$ INSERT INTO reads(k) VALUES (k) RETURNING 1 $$;
"""


def query(sleep_s=0.0, sleep_only_id=None):
    """A policy query that logs its read (and sleeps first, for all ids or one)."""
    cond = "true" if sleep_only_id is None else "$1 = '%s'" % sleep_only_id
    return ("SELECT p.name FROM log_read($1) AS l(x), "
            "(SELECT CASE WHEN %s THEN pg_sleep(%g) END) AS s(z), products p "
            "WHERE p.id::text = $1" % (cond, sleep_s))


def policy(name, match, q, extra=""):
    return ("    - name: %s\n      match: \"%s\"\n      query: \"%s\"\n      mapping: column\n      value_column: name\n"
            "      ttl: 60s\n%s" % (name, match, q, extra))


def db_yaml(pg, extra=""):
    return ("    type: postgres\n    conninfo: \"%s\"\n    pool_size: 4\n    query_timeout: 5s\n"
            "    connect_timeout: 1s\n%s" % (pg.conninfo(), extra))


def reads(pg, prefix_id):
    return int(pg.psql("SELECT count(*) FROM reads WHERE k = '%s'" % prefix_id)[0][0])


def pg_sleeping(pg):
    """True while some other session runs a query in pg_sleep (a slow load)."""
    rows = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                   "query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()")
    return int(rows[0][0]) > 0


def storm(port, key, n, timeout=15.0):
    """n connections, each sending GET key at (nearly) the same time; their replies."""
    conns = [harness.RespConnection(port, timeout=timeout) for _ in range(n)]
    try:
        request = harness.RespConnection.encode("GET", key)
        for c in conns:
            c.send_raw(request)
        return [c.read_reply() for c in conns]
    finally:
        for c in conns:
            c.close()


class CachePostgresTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.pg = harness.Postgres()
        cls.pg.psql(SCHEMA)
        cls.redis = harness.RedisServer(cls.tmp.name)
        cls.sides = []

    @classmethod
    def tearDownClass(cls):
        try:
            for s in cls.sides:
                s.stop_checked()
        finally:
            cls.redis.stop()
            cls.pg.close()
            cls.tmp.cleanup()

    def start(self, policies, workers=2, http=None):
        http = http or harness.free_port()
        side = harness.Sidecache(self.tmp.name, [("r1", self.redis.port, 1)], workers=workers,
                                 top_extra=harness.cache_yaml(http, db_yaml(self.pg), policies))
        side.http = http
        self.sides.append(side)
        return side

    def test_miss_then_hit_counted_by_postgres(self):
        side = self.start(policy("mh", "mh:*", query()))
        c = side.client(decode_responses=True)
        self.assertEqual(c.get("mh:1"), "item-1")
        self.assertEqual(c.get("mh:1"), "item-1")
        self.assertEqual(c.get("mh:1"), "item-1")
        self.assertEqual(reads(self.pg, "1"), 1)
        self.assertEqual(c.mget("mh:2", "mh:3", "mh:1"), ["item-2", "item-3", "item-1"])
        self.assertEqual(reads(self.pg, "2"), 1)
        self.assertEqual(harness.metric(side.http, "sidecache_cache_loads_total", policy="mh"), 2)
        self.assertEqual(harness.metric(side.http, "sidecache_cache_hits_total", policy="mh"), 3)

    def test_500_concurrent_misses_make_one_query(self):
        side = self.start(policy("sf", "sf:*", query(0.3)))
        self.pg.psql("DELETE FROM reads")
        replies = storm(side.port, "sf:7", 500)
        self.assertEqual(replies, [b"item-7"] * 500)
        self.assertEqual(reads(self.pg, "7"), 1)
        waits = harness.metric(side.http, "sidecache_cache_single_flight_waits_total", policy="sf")
        self.assertGreater(waits, 0)

    def test_three_sidecaches_with_lease_make_one_query(self):
        p = policy("lease", "lease:*", query(0.5),
                   "      lease: true\n      lease_ttl: 5s\n      lease_wait: 4s\n      load_timeout: 8s\n")
        sides = [self.start(p) for _ in range(3)]
        self.pg.psql("DELETE FROM reads")
        results = [None] * 3

        def run(i):
            results[i] = storm(sides[i].port, "lease:11", 50)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        for r in results:
            self.assertEqual(r, [b"item-11"] * 50)
        self.assertEqual(reads(self.pg, "11"), 1)
        waits = sum(harness.metric(s.http, "sidecache_cache_lease_waits_total", policy="lease")
                    for s in sides)
        self.assertGreaterEqual(waits, 2)
        # The lease was the key itself holding a lease marker: the row replaced it.
        self.assertEqual(self.redis.client().get("lease:11"), b"item-11")
        self.assertEqual(self.redis.client().keys("sidecache:lease:*"), [])

    def test_json_mapping_is_typed(self):
        self.pg.psql(r"""
CREATE TABLE typed (id int PRIMARY KEY, big numeric, price numeric(10,2), ratio float8,
  ok boolean, doc jsonb, raw json, tags text[], nums int[], grid int[][], blob bytea,
  at timestamptz, day date, name text, nan float8);
INSERT INTO typed VALUES (1, 123456789012345678901234567890.123456789, 59.46, 0.1,
  true, '{"a": [1, {"b": null}]}', '[1,2]', '{"x y","q\"d",NULL}', '{1,2,3}', '{{1,2},{3,4}}',
  '\x00ff41', '2024-05-01 10:00:00.5+02', '2024-05-01', 'Über', 'NaN');
INSERT INTO typed (id) VALUES (2);
""")
        p = ("    - {name: typed, match: \"typed:*\", table: typed, key_column: id, mapping: json}\n"
             "    - {name: typed_text, match: \"tt:*\", table: typed, key_column: id, mapping: json,"
             " json_types: text, columns: [ok, price]}\n")
        side = self.start(p)
        c = side.client(decode_responses=True)
        text = c.get("typed:1")
        # Exact digits, never through a double.
        self.assertIn('"big":123456789012345678901234567890.123456789', text)
        self.assertIn('"price":59.46', text)
        import json
        row = json.loads(text)
        self.assertEqual(row["id"], 1)
        self.assertEqual(row["ratio"], 0.1)
        self.assertIs(row["ok"], True)
        self.assertEqual(row["doc"], {"a": [1, {"b": None}]})
        self.assertEqual(row["raw"], [1, 2])
        self.assertEqual(row["tags"], ["x y", 'q"d', None])
        self.assertEqual(row["nums"], [1, 2, 3])
        self.assertEqual(row["grid"], [[1, 2], [3, 4]])
        self.assertEqual(row["blob"], "AP9B")  # base64 of 00 ff 41
        # ISO-8601 in the server's time zone: the same instant, whatever the zone.
        import datetime
        self.assertRegex(row["at"], r"^2024-05-01T\d\d:00:00\.5[+-]\d\d:\d\d$")
        self.assertEqual(datetime.datetime.fromisoformat(row["at"]),
                         datetime.datetime(2024, 5, 1, 8, 0, 0, 500000, datetime.timezone.utc))
        self.assertEqual(row["day"], "2024-05-01")
        self.assertEqual(row["name"], "Über")
        self.assertEqual(row["nan"], "NaN")  # JSON has no NaN: a string
        self.assertEqual(json.loads(c.get("typed:2")),
                         {k: (2 if k == "id" else None) for k in row})
        # The text form keeps every value a string.
        self.assertEqual(json.loads(c.get("tt:1")), {"ok": "t", "price": "59.46"})

    def test_slow_query_does_not_block_other_keys(self):
        side = self.start(policy("slow", "slow:*", query(2.0, sleep_only_id="1"),
                                 "      load_timeout: 5s\n"))
        slow_reply = []
        t = threading.Thread(target=lambda: slow_reply.append(
            side.client(decode_responses=True, socket_timeout=10).get("slow:1")))
        t.start()
        harness.wait_until(lambda: pg_sleeping(self.pg), timeout=10,
                           what="the slow load running in PostgreSQL")
        c = side.client(decode_responses=True, socket_timeout=2)
        started = time.monotonic()
        self.assertEqual(c.get("slow:2"), "item-2")
        self.assertEqual(c.set("plain", "v"), True)
        self.assertEqual(c.get("plain"), "v")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertTrue(t.is_alive())  # the slow one is still loading
        t.join(timeout=10)
        self.assertEqual(slow_reply, ["item-1"])

    def test_xfetch_refreshes_a_hot_key_before_it_expires(self):
        side = self.start(policy("hot", "hot:*", query(0.2),
                                 "      ttl: 2s\n      ttl_jitter: 0\n      xfetch_beta: 1\n")
                          .replace("      ttl: 60s\n", ""))
        c = side.client(decode_responses=True, socket_timeout=5)
        self.assertEqual(c.get("hot:5"), "item-5")  # the one miss
        slowest = 0.0
        end = time.monotonic() + 5.0  # two and a half TTLs
        while time.monotonic() < end:
            started = time.monotonic()
            self.assertEqual(c.get("hot:5"), "item-5")
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.01)  # a steady reader: a GET every 10 ms for five seconds
        self.assertEqual(harness.metric(side.http, "sidecache_cache_misses_total", policy="hot"), 1)
        self.assertGreaterEqual(
            harness.metric(side.http, "sidecache_cache_early_refreshes_total", policy="hot"), 2)
        self.assertGreaterEqual(reads(self.pg, "5"), 3)
        self.assertLess(slowest, 0.19)  # no reader waited for a 200 ms load (pg_sleep)


class CachePostgresDownTest(unittest.TestCase):
    """The database stopped and started again (its own PostgreSQL)."""

    def test_stale_if_error_then_error_then_recovery(self):
        with tempfile.TemporaryDirectory() as tmp:
            pg = harness.Postgres()
            redis = harness.RedisServer(tmp)
            side = None
            try:
                pg.psql(SCHEMA)
                http = harness.free_port()
                p = policy("sie", "sie:*", query(),
                           "      stale_if_error: 3s\n      load_timeout: 2s\n"
                           "      xfetch_beta: 0\n      ttl_jitter: 0\n").replace(
                               "ttl: 60s", "ttl: 1s")
                side = harness.Sidecache(tmp, [("r1", redis.port, 1)], top_extra=harness.cache_yaml(
                    http, db_yaml(pg).replace("query_timeout: 5s", "query_timeout: 500ms"), p))
                c = side.client(decode_responses=True)
                self.assertEqual(c.get("sie:3"), "item-3")
                loaded = time.monotonic()
                self.assertTrue(3500 <= redis.client().pttl("sie:3") <= 4000)  # ttl + grace
                pg.stop()
                # The TTL (1 s) expiring is the point: no event to wait for but time itself.
                time.sleep(max(0, loaded + 1.3 - time.monotonic()))
                self.assertEqual(c.get("sie:3"), "item-3")  # logically expired: stale
                self.assertEqual(harness.metric(http, "sidecache_cache_stale_total",
                                                policy="sie", reason="error"), 1)
                self.assertGreaterEqual(harness.metric(
                    http, "sidecache_cache_load_errors_total", policy="sie", reason="unavailable"),
                    1)
                time.sleep(max(0, loaded + 4.3 - time.monotonic()))  # stale_if_error over
                import redis as redislib
                with self.assertRaises(redislib.ResponseError) as e:
                    c.get("sie:3")
                self.assertIn("sidecache: cannot load sie:3", str(e.exception))
                self.assertIsNone(redis.client().get("sie:3"))  # gone after its max age
                pg.start()
                harness.wait_until(lambda: self._get(c, "sie:3") == "item-3", timeout=10,
                                   what="recovery once the database is back")
                side.stop_checked()
                side = None
            finally:
                if side is not None:
                    side.stop()
                redis.stop()
                pg.close()

    @staticmethod
    def _get(client, key):
        try:
            return client.get(key)
        except Exception:  # noqa: BLE001 - errors until the database answers again
            return None


if __name__ == "__main__":
    unittest.main()
