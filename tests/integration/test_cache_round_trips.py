"""What a read-through key costs in Redis commands, counted on a real redis-server (INFO
commandstats) and seen in order (MONITOR). A string policy keeps its negative marker and lease in
the key itself. With `lease_in_read: true` (product:*): a hit is the read and PTTL (the read is
SET key <lease marker> NX GET, which writes nothing when the key exists); a miss is that same
round trip, which took the lease, then the database and the store (an EVAL that sets the value
only while the key holds our lease). With `false` (item:*): a hit is GET and PTTL, a miss adds
one round trip for the lease (SET key <lease marker> NX PX). With `auto` (good:*, row:*, the
default): the lease read until the key is known to hit, then GET and PTTL; a hash policy's
read pipelines its negative marker and lease (beside the key) with HGETALL. A negative hit is
the read alone, no load, every way."""
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
      lease_in_read: true
      xfetch_beta: 0
    - name: items
      match: "item:*"
      table: products
      key_column: id
      value_column: name
      ttl: 60s
      ttl_jitter: 0
      negative_ttl: 30s
      lease: true
      lease_in_read: false
      xfetch_beta: 0
    - name: goods
      match: "good:*"
      table: products
      key_column: id
      value_column: name
      ttl: 60s
      ttl_jitter: 0
      negative_ttl: 30s
      lease: true
      xfetch_beta: 0
    - name: rows
      match: "row:*"
      table: products
      key_column: id
      columns: [name]
      mapping: hash
      ttl: 60s
      ttl_jitter: 0
      negative_ttl: 30s
      lease: true
      xfetch_beta: 0
"""
COUNTED = ("get", "pttl", "exists", "set", "eval", "evalsha", "del", "hgetall")
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

    def counted(self, fn, settled):
        """The commands sidecache sent while `fn` ran, by name (only those it sent), once
        `settled()` says the store that follows the reply is done."""
        self.r.config_resetstat()
        fn()
        harness.wait_until(settled, timeout=5, what="the store after the reply")
        stats = self.calls()
        return {k: v for k, v in stats.items() if v}

    def holds(self, key, value):
        # GETRANGE, not GET: the check must not count among the commands sidecache sent.
        return lambda: self.r.getrange(key, 0, -1) == value

    def test_miss_then_hit(self):
        monitor = harness.RespConnection(self.redis.port)
        self.assertEqual(monitor.command("MONITOR"), "OK")
        miss = self.counted(lambda: self.assertEqual(self.c.get("product:1"), "lamp"),
                            self.holds("product:1", "lamp"))
        # SET .. NX GET + PTTL (the read, which took the lease), EVAL (the store while the key
        # holds our lease; commandstats counts the GET and SET it runs too).
        self.assertEqual(miss, {"set": 1 + 1, "pttl": 1, "eval": 1, "get": 1})
        order = []  # sidecache's commands on product:1, as (name, command line)
        while not any(name == '"eval"' for name, _ in order):
            line = monitor.read_reply()
            if " lua]" in line or "product:1" not in line:  # what a script runs
                continue
            command = line.split("] ", 1)[1] if "] " in line else ""
            order.append((command.split(" ", 1)[0].lower(), command))
        monitor.close()
        self.assertEqual([name for name, _ in order], ['"set"', '"pttl"', '"eval"'])
        self.assertIn('"NX" "GET" "PX"', order[0][1])  # the lease attempt is the read

        hit = self.counted(lambda: self.assertEqual(self.c.get("product:1"), "lamp"),
                           self.holds("product:1", "lamp"))
        self.assertEqual(hit, {"set": 1, "pttl": 1})  # SET .. NX GET of an existing key
        self.assertEqual(self.r.ttl("product:1") > 50, True)  # the hit changed nothing

    def test_miss_then_hit_lease_after_the_read(self):
        miss = self.counted(lambda: self.assertEqual(self.c.get("item:1"), "lamp"),
                            self.holds("item:1", "lamp"))
        # GET + PTTL, SET key <lease marker> NX PX, EVAL (GET + SET inside).
        self.assertEqual(miss, {"get": 1 + 1, "pttl": 1, "set": 1 + 1, "eval": 1})
        hit = self.counted(lambda: self.assertEqual(self.c.get("item:1"), "lamp"),
                           self.holds("item:1", "lamp"))
        self.assertEqual(hit, {"get": 1, "pttl": 1})
        self.assertIsNone(self.c.get("item:404"))
        marker = "\x00sidecache:neg"
        harness.wait_until(self.holds("item:404", marker), timeout=5, what="the marker stored")
        negative = self.counted(lambda: self.assertIsNone(self.c.get("item:404")),
                                self.holds("item:404", marker))
        self.assertEqual(negative, {"get": 1, "pttl": 1})

    def sent_on(self, monitor, needles, until):
        """Sidecache's commands naming one of `needles`, as MONITOR shows them in order, up to
        and including the first whose name is `until`."""
        order = []
        while not order or order[-1] != until:
            line = monitor.read_reply()
            if " lua]" in line or not any(n in line for n in needles):
                continue
            command = line.split("] ", 1)[1] if "] " in line else ""
            order.append(command.split(" ", 1)[0].strip('"').lower())
        return order

    def test_auto_takes_the_lease_in_the_read_until_the_key_is_known_to_hit(self):
        miss = self.counted(lambda: self.assertEqual(self.c.get("good:1"), "lamp"),
                            self.holds("good:1", "lamp"))
        self.assertEqual(miss, {"set": 1 + 1, "pttl": 1, "eval": 1, "get": 1})  # one round trip
        first = self.counted(lambda: self.assertEqual(self.c.get("good:1"), "lamp"),
                             self.holds("good:1", "lamp"))
        self.assertEqual(first, {"set": 1, "pttl": 1})  # the lease read, writing nothing
        hit = self.counted(lambda: self.assertEqual(self.c.get("good:1"), "lamp"),
                           self.holds("good:1", "lamp"))
        self.assertEqual(hit, {"get": 1, "pttl": 1})  # known to hit: the cheapest read
        self.assertEqual(self.c.delete("good:1"), 1)  # a write through sidecache: forgotten
        after_del = self.counted(lambda: self.assertEqual(self.c.get("good:1"), "lamp"),
                                 self.holds("good:1", "lamp"))
        self.assertEqual(after_del, {"set": 1 + 1, "pttl": 1, "eval": 1, "get": 1})
        self.counted(lambda: self.assertEqual(self.c.get("good:1"), "lamp"),  # known again
                     self.holds("good:1", "lamp"))
        self.r.delete("good:1")  # behind sidecache's back: its guess is wrong once
        again = self.counted(lambda: self.assertEqual(self.c.get("good:1"), "lamp"),
                             self.holds("good:1", "lamp"))
        self.assertEqual(again, {"get": 1 + 1, "pttl": 1, "set": 1 + 1, "eval": 1})

    def test_hash_policy_asks_for_its_markers_with_the_read(self):
        monitor = harness.RespConnection(self.redis.port)
        self.assertEqual(monitor.command("MONITOR"), "OK")
        self.assertEqual(self.c.hgetall("row:1"), {"name": "lamp"})
        order = self.sent_on(monitor, ("row:1",), "hgetall")
        monitor.close()
        # The negative marker and the lease (beside the key) go out with the read, not after.
        self.assertEqual(order, ["exists", "set", "hgetall"])
        harness.wait_until(lambda: not self.r.exists("sidecache:lease:row:1"), timeout=5,
                           what="the lease released after the store")
        self.assertIsNone(self.c.hget("row:404", "name"))
        harness.wait_until(lambda: self.r.exists("sidecache:neg:row:404"), timeout=5,
                           what="the negative marker stored")
        # The load's lease goes back after the store (an EVAL): not to be counted below.
        harness.wait_until(lambda: not self.r.exists("sidecache:lease:row:404"), timeout=5,
                           what="the load's lease released")
        negative = self.counted(lambda: self.assertEqual(self.c.hgetall("row:404"), {}),
                                lambda: self.r.getrange("sidecache:lease:row:404", 0, -1) == "")
        # One round trip, no load; the lease the read took goes back (an EVAL: GET + DEL).
        self.assertEqual(negative, {"hgetall": 1, "pttl": 1, "exists": 1, "set": 1, "eval": 1,
                                    "get": 1, "del": 1})

    def test_negative_hit_is_the_read_alone(self):
        self.assertIsNone(self.c.get("product:404"))  # loads, stores the negative marker
        marker = "\x00sidecache:neg"
        harness.wait_until(self.holds("product:404", marker), timeout=5,
                           what="the negative marker stored")
        negative = self.counted(lambda: self.assertIsNone(self.c.get("product:404")),
                                self.holds("product:404", marker))
        self.assertEqual(negative, {"set": 1, "pttl": 1})
        self.assertEqual(self.r.keys("sidecache:*product:*"), [])  # no marker beside the key

    def test_mget_misses_share_one_round_trip(self):
        stats = self.counted(
            lambda: self.assertEqual(self.c.mget("product:2", "product:405"), ["desk", None]),
            lambda: (self.holds("product:2", "desk")()
                     and self.holds("product:405", "\x00sidecache:neg")()))
        # Two reads (SET .. NX GET + PTTL), two conditional stores (EVAL: GET + SET inside).
        self.assertEqual(stats, {"set": 2 + 2, "pttl": 2, "eval": 2, "get": 2})


if __name__ == "__main__":
    unittest.main()
