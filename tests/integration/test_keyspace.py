#!/usr/bin/env python3
"""Whole-keyspace commands through sidecache over 3 redis-server nodes: SCAN (one cursor that
walks every node; MATCH, COUNT, TYPE; invalid cursors), RANDOMKEY, DBSIZE, and KEYS /
FLUSHDB / FLUSHALL refused by default and allowed once `commands:` enables them (by reload)."""
import os
import re
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

NODE_SHIFT = 54


def scan_all(client, *args):
    """Every SCAN batch through sidecache until cursor 0; returns (keys, cursors)."""
    keys, cursors, cursor = [], [], 0
    for _ in range(10000):
        reply = client.execute_command("SCAN", cursor, *args)
        cursor = int(reply[0])
        cursors.append(cursor)
        keys += reply[1]
        if cursor == 0:
            return keys, cursors
    raise AssertionError("SCAN did not finish")


class Keyspace(unittest.TestCase):
    def setUp(self):
        self.cluster = harness.Cluster(3)
        self.client = self.cluster.client()

    def tearDown(self):
        self.cluster.close()

    def fill(self, n=300):
        pipe = self.client.pipeline(transaction=False)
        for i in range(n):
            pipe.set("str:%d" % i, i)
        for i in range(n // 10):
            pipe.hset("hash:%d" % i, "f", i)
        pipe.execute()
        return {b"str:%d" % i for i in range(n)}, {b"hash:%d" % i for i in range(n // 10)}

    def test_scan_returns_every_key_once(self):
        strings, hashes = self.fill()
        per_node = [self.cluster.direct(i).dbsize() for i in range(3)]
        self.assertTrue(all(n > 0 for n in per_node), per_node)  # the keys are spread
        self.assertEqual(self.client.dbsize(), sum(per_node))

        keys, cursors = scan_all(self.client, "COUNT", "10")
        self.assertEqual(len(keys), len(set(keys)), "a key came twice")
        self.assertEqual(set(keys), strings | hashes)
        # The cursor visited every node: node index in the high bits.
        self.assertTrue({1, 2} <= {c >> NODE_SHIFT for c in cursors}, cursors)
        self.assertTrue(all(c < 2 ** 63 for c in cursors))

        keys, _ = scan_all(self.client, "MATCH", "hash:*", "COUNT", "50")
        self.assertEqual(sorted(keys), sorted(hashes))
        keys, _ = scan_all(self.client, "TYPE", "hash", "COUNT", "1000")
        self.assertEqual(set(keys), hashes)
        keys, _ = scan_all(self.client, "MATCH", "str:1*", "TYPE", "string")
        self.assertEqual(set(keys), {k for k in strings if k.startswith(b"str:1")})
        # redis-py's own iterator over the combined cursor.
        self.assertEqual(set(self.client.scan_iter(match="str:*", count=7)), strings)

    def test_scan_errors(self):
        raw = self.cluster.sidecache.raw()
        for bad in ("abc", "-1", "1.5", str(3 << NODE_SHIFT), str(2 ** 64)):
            self.assertEqual(raw.command("SCAN", bad), "ERR invalid cursor", bad)
        self.assertTrue(raw.command("SCAN", "0", "COUNT", "x").startswith("ERR"))
        self.assertTrue(raw.command("SCAN", "0", "BOGUS").startswith("ERR syntax"))
        self.assertEqual(raw.command("SCAN", "0")[0], b"%d" % (1 << NODE_SHIFT))  # empty node 0
        raw.close()

    def test_randomkey(self):
        self.assertIsNone(self.client.randomkey())
        # One key on one node only: RANDOMKEY finds it whichever node it asks first.
        key = harness.keys_on_nodes(self.cluster, 1, prefix="rk")[2][0]
        self.client.set(key, "v")
        for _ in range(20):
            self.assertEqual(self.client.randomkey(), key.encode())
        strings, hashes = self.fill(60)
        seen = {self.client.randomkey() for _ in range(200)}
        self.assertTrue(seen <= strings | hashes | {key.encode()})
        nodes = {self.cluster.node_of(k.decode()) for k in seen}
        self.assertEqual(nodes, {0, 1, 2})

    def test_keys_and_flush_disabled_then_enabled(self):
        strings, hashes = self.fill(90)
        for cmd, name, setting in ((["KEYS", "*"], "keys", "commands.allow_keys"),
                                   (["FLUSHDB"], "flushdb", "commands.allow_flush"),
                                   (["FLUSHALL", "ASYNC"], "flushall", "commands.allow_flush")):
            with self.assertRaises(Exception) as err:
                self.client.execute_command(*cmd)
            self.assertIn("'%s' is not allowed through sidecache" % name, str(err.exception))
            self.assertIn(setting, str(err.exception))
        self.assertEqual(self.client.dbsize(), 99)  # nothing was flushed

        sc = self.cluster.sidecache
        with open(sc.config_path, "w") as f:
            f.write(harness.config_yaml(sc.port, self.cluster.nodes, top_extra=(
                "commands:\n  allow_keys: true\n  allow_flush: true\n")))
        sc.process.signal(signal.SIGHUP)
        harness.wait_until(lambda: re.search(r"applied configuration", sc.process.output()),
                           what="reload")
        self.assertEqual(set(self.client.keys("*")), strings | hashes)
        self.assertEqual(set(self.client.keys("hash:*")), hashes)
        self.assertEqual(self.client.keys("none:*"), [])
        self.assertTrue(self.client.flushdb())
        self.assertEqual([self.cluster.direct(i).dbsize() for i in range(3)], [0, 0, 0])
        self.fill(30)
        self.assertTrue(self.client.execute_command("FLUSHALL", "SYNC"))
        self.assertEqual(self.client.dbsize(), 0)
        self.assertIsNone(self.client.randomkey())
        # A node that cannot answer makes FLUSHALL fail, not half-succeed silently.
        self.cluster.redis[1].stop()  # returns once the process has exited
        with self.assertRaises(Exception):
            self.client.execute_command("FLUSHALL")


if __name__ == "__main__":
    unittest.main(verbosity=2)
