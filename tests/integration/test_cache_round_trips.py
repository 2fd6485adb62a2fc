"""What a read-through key costs in Redis commands, counted on a real redis-server (INFO
commandstats) and seen in order (MONITOR): a hit is the command and PTTL only; a miss adds one
probe, the negative marker (EXISTS) and the lease attempt (SET NX) sent together, before the
database is asked and the value stored; a negative hit is the read and the probe, no load."""
import os
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

POLICIES = """    - name: products
      match: "product:*"
      table: products
      key_column: id
      value_column: name
      ttl: 60s
      ttl_jitter: 0
      negative_ttl: 30s
      lease: true
      xfetch_beta: 0
"""
COUNTED = ("get", "pttl", "exists", "set", "eval", "evalsha", "del")
COUNTED_QUOTED = tuple('"%s"' % name for name in COUNTED)


class CacheRoundTripsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        path = os.path.join(cls.tmp.name, "app.db")
        db = sqlite3.connect(path)
        db.executescript("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT);"
                         "INSERT INTO products VALUES (1, 'lamp'), (2, 'desk');")
        db.commit()
        db.close()
        cls.redis = harness.RedisServer(cls.tmp.name)
        cls.side = harness.Sidecache(
            cls.tmp.name, [("r1", cls.redis.port, 1)], workers=1,
            top_extra=harness.cache_yaml(harness.free_port(),
                                         "    type: sqlite\n    path: %s" % path, POLICIES))
        cls.c = cls.side.client(decode_responses=True)
        cls.r = cls.redis.client(decode_responses=True)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.side.stop_checked()
        finally:
            cls.redis.stop()
            cls.tmp.cleanup()

    def calls(self):
        stats = self.r.info("commandstats")
        return {name: stats.get("cmdstat_" + name, {}).get("calls", 0) for name in COUNTED}

    def counted(self, fn):
        """The commands sidecache sent while `fn` ran, by name (only those it sent)."""
        self.r.config_resetstat()
        fn()
        # The lease release and the store follow the reply: wait for the lease key to go.
        harness.wait_until(lambda: not self.r.keys("sidecache:lease:*"), timeout=5,
                           what="the lease released")
        stats = self.calls()
        return {k: v for k, v in stats.items() if v}

    def test_miss_then_hit(self):
        monitor = harness.RespConnection(self.redis.port)
        self.assertEqual(monitor.command("MONITOR"), "OK")
        miss = self.counted(lambda: self.assertEqual(self.c.get("product:1"), "lamp"))
        # GET + PTTL (the read), EXISTS + SET NX (the probe), SET PX (the store), EVAL (the
        # lease goes back; commandstats counts the GET and DEL it runs too).
        self.assertEqual(miss, {"get": 1 + 1, "pttl": 1, "exists": 1, "set": 2, "eval": 1,
                                "del": 1})
        order = []  # sidecache's commands on product:1's keys, as "name" "key"
        while '"set" "product:1"' not in order:
            line = monitor.read_reply()
            if " lua]" in line:  # what a script runs
                continue
            command = line.split("] ", 1)[1] if "] " in line else ""
            name_key = " ".join(command.split(" ", 2)[:2])
            if name_key.lower().startswith(COUNTED_QUOTED) and "product:1" in name_key:
                order.append(name_key.lower())
        monitor.close()
        self.assertEqual(order[:2], ['"get" "product:1"', '"pttl" "product:1"'])
        self.assertEqual(sorted(order[2:4]),
                         ['"exists" "sidecache:neg:product:1"', '"set" "sidecache:lease:product:1"'])
        self.assertEqual(order[4:], ['"set" "product:1"'])  # stored once the database answered

        hit = self.counted(lambda: self.assertEqual(self.c.get("product:1"), "lamp"))
        self.assertEqual(hit, {"get": 1, "pttl": 1})

    def test_negative_hit_is_the_read_and_the_probe(self):
        self.assertIsNone(self.c.get("product:404"))  # loads, stores the negative marker
        # The marker is stored first, then the lease goes back (an EVAL): both must be done
        # before counting starts, or the release lands in the count.
        harness.wait_until(lambda: self.r.exists("sidecache:neg:product:404")
                           and not self.r.keys("sidecache:lease:*"), timeout=5,
                           what="the negative marker stored and the lease released")
        negative = self.counted(lambda: self.assertIsNone(self.c.get("product:404")))
        # The probe took the lease before the marker was seen: it goes back at once.
        self.assertEqual(negative, {"get": 1 + 1, "pttl": 1, "exists": 1, "set": 1, "eval": 1,
                                    "del": 1})

    def test_mget_misses_share_one_probe(self):
        stats = self.counted(lambda: self.assertEqual(
            self.c.mget("product:2", "product:405"), ["desk", None]))
        self.assertEqual(stats["pttl"], 2)
        self.assertEqual(stats["exists"], 2)
        self.assertEqual(stats["set"], 2 + 1 + 1)  # two leases, the value, the negative marker
        self.assertEqual(stats["eval"], 2)


if __name__ == "__main__":
    unittest.main()
