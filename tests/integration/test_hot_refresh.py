#!/usr/bin/env python3
"""Background refresh of hot read-through keys (hotkeys.refresh_top, docs/near-cache.md): a key
among a worker's hottest is reloaded from the database when a hit finds at most refresh_ahead of
its TTL left, so it never misses while it stays hot; a key outside the top expires and misses as
before. XFetch is off here, so every early reload is the hot-key refresh. Real redis-server and
SQLite; one worker, so one sketch sees every read."""
import os
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TTL_S = 1.5
POLICIES = """    - {name: hot, match: "hot:*", table: products, key_column: id, value_column: name,
       ttl: 1500ms, ttl_jitter: 0, xfetch_beta: 0, lease: false}
    - {name: cold, match: "cold:*", table: products, key_column: id, value_column: name,
       ttl: 1500ms, ttl_jitter: 0, xfetch_beta: 0, lease: false}
"""
HOTKEYS = "hotkeys: {enabled: true, sample: 1, capacity: 64, refresh_top: 1, refresh_ahead: 0.5}\n"


class HotRefreshTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dbpath = os.path.join(self.tmp.name, "app.db")
        db = sqlite3.connect(self.dbpath)
        db.executescript("CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT);"
                         "INSERT INTO products VALUES (1, 'lamp'), (2, 'desk');")
        db.commit()
        db.close()
        self.redis = harness.RedisServer(self.tmp.name)
        self.http = harness.free_port()
        self.sc = harness.Sidecache(
            self.tmp.name, [("r1", self.redis.port, 1)], workers=1,
            top_extra=harness.cache_yaml(self.http, "    type: sqlite\n    path: %s" % self.dbpath,
                                         POLICIES) + HOTKEYS)
        self.c = self.sc.client(decode_responses=True, socket_timeout=5)

    def tearDown(self):
        try:
            self.sc.stop_checked()
        finally:
            self.redis.stop()
            self.tmp.cleanup()

    def counter(self, name, policy):
        return harness.metric(self.http, name, policy=policy)

    def test_hot_key_never_misses_cold_key_does(self):
        # hot:1 is read twice as often as cold:2, so it alone is the worker's top key. Both are
        # read about every 20 ms for 3 TTLs.
        end = time.monotonic() + 3 * TTL_S + 0.5
        while time.monotonic() < end:
            self.assertEqual(self.c.get("hot:1"), "lamp")
            self.assertEqual(self.c.get("hot:1"), "lamp")
            self.assertEqual(self.c.get("cold:2"), "desk")
            time.sleep(0.02)
        hot_misses = self.counter("sidecache_cache_misses_total", "hot")
        cold_misses = self.counter("sidecache_cache_misses_total", "cold")
        refreshes = self.counter("sidecache_cache_hot_refreshes_total", "hot")
        loads = self.counter("sidecache_cache_loads_total", "hot")
        # Only the first read of hot:1 missed; each TTL after that it was reloaded ahead.
        self.assertEqual(hot_misses, 1, (hot_misses, refreshes, loads))
        self.assertGreaterEqual(refreshes, 2)
        self.assertEqual(loads, 1 + refreshes)
        # cold:2 expired and missed again after each TTL; it was never refreshed.
        self.assertGreaterEqual(cold_misses, 3)
        self.assertEqual(self.counter("sidecache_cache_hot_refreshes_total", "cold"), 0)

    def test_refresh_picks_up_a_changed_row(self):
        self.assertEqual(self.c.get("hot:1"), "lamp")
        db = sqlite3.connect(self.dbpath)
        db.execute("UPDATE products SET name = 'lamp v2' WHERE id = 1")
        db.commit()
        db.close()
        # Read it hot until the refresh brings the new row, within one TTL and a bit.
        deadline = time.monotonic() + TTL_S + 1.0
        got = None
        while time.monotonic() < deadline:
            got = self.c.get("hot:1")
            if got == "lamp v2":
                break
            time.sleep(0.02)
        self.assertEqual(got, "lamp v2")
        self.assertEqual(self.counter("sidecache_cache_misses_total", "hot"), 1)

    def test_config_errors(self):
        bad = [("hotkeys: {refresh_top: 4}\n", "refresh_top needs hot-key detection"),
               ("hotkeys: {enabled: true, capacity: 8, refresh_top: 9}\n",
                "refresh_top (9) must not exceed capacity (8)"),
               ("hotkeys: {enabled: true, refresh_top: 1, refresh_ahead: 2}\n", "refresh_ahead")]
        for yaml, want in bad:
            code, name, out = harness.check_config(harness.config_yaml(
                harness.free_port(), [("r1", self.redis.port, 1)]) + yaml)
            self.assertNotEqual(code, 0, yaml)
            self.assertIn(want, out, yaml)
            self.assertIn(os.path.basename(name) + ":", out, yaml)


if __name__ == "__main__":
    unittest.main(verbosity=2)
