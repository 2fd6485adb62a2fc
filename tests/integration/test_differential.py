#!/usr/bin/env python3
"""Differential tests: the same command sequences sent straight to ONE redis-server and through
sidecache over THREE nodes must give the same replies, byte for byte.

Each family (strings, bitmaps, hashes, lists, sets, sorted sets, HyperLogLog, geo, streams,
keys and expiry, split multi-key commands, multi-key commands with hash tags, transactions,
blocking commands that find data, scripts and functions, SCAN, error replies) runs twice: in
RESP2, and in RESP3 after HELLO 3 on both connections. Only what is inherently
non-deterministic is normalised before comparing, and only for the commands that need it:
stream IDs made of the server time, TTLs (any positive value is equal), the order of set-like
replies (compared as multisets), random picks (compared by shape), SCAN cursors (the full
iteration is compared as a set) and RANDOMKEY (membership).

The keyspace class runs with `commands.allow_keys` / `allow_flush` enabled and compares KEYS,
DBSIZE, RANDOMKEY, SCAN over the whole keyspace, FLUSHDB and FLUSHALL.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from differential import (C, ScanAll, Side, compared, decode_reply, report,  # noqa: E402
                          run_steps, stream_ids, ttl, unordered)
from differential_families import FAMILIES  # noqa: E402


class Differential(unittest.TestCase):
    """One redis-server and a sidecache over three others; every family in RESP2 and RESP3."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)
        cls.direct = harness.RedisServer(cls.cluster.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.direct.stop()
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def check_family(self, family, protocol):
        prefix = "%s-%d" % (family, protocol)
        steps = FAMILIES[family](prefix, self.spread)
        mismatches = run_steps(self, steps, self.direct.port, self.cluster.sidecache.port,
                               protocol)
        if mismatches:
            self.fail(report(mismatches, protocol))

    def spread(self, per_node, prefix):
        """`per_node` keys on each node (by the ring), interleaved: node 0, 1, 2, 0, ..."""
        found = harness.keys_on_nodes(self.cluster, per_node, prefix=prefix)
        return [found[n][i] for i in range(per_node) for n in range(len(found))]

    def test_keys_spread_over_nodes(self):
        # The comparison means something only if the families' keys really span the nodes:
        # after the split family ran, its keys' values sit on all three nodes.
        keys = self.spread(4, "split_multikey-2:m")
        self.assertEqual(sorted(set(self.cluster.probe(keys))), [0, 1, 2])
        proxy = self.cluster.client()
        proxy.mset({k: "x" for k in keys})
        # Each key held by one node (node_of checks the backends), every node holding some.
        self.assertEqual(sorted(set(self.cluster.node_of(k) for k in keys)), [0, 1, 2])
        proxy.delete(*keys)
        proxy.close()

    def test_two_redis_servers_agree(self):
        # The normalisers leave no false differences: every family, in both protocols, gives
        # the same replies on two plain redis-servers (the sidecache side replaced by a second
        # redis-server). Keys are spread as for the real comparison.
        second = harness.RedisServer(self.cluster.tmp)
        try:
            for family in FAMILIES:
                for protocol in (2, 3):
                    steps = FAMILIES[family]("self-%s-%d" % (family, protocol), self.spread)
                    mismatches = run_steps(self, steps, self.direct.port, second.port, protocol)
                    self.assertEqual(mismatches, [], "%s: %s" % (family,
                                                                 report(mismatches, protocol)))
        finally:
            second.stop()

    def test_commands_after_a_session_command_in_one_write(self):
        # A command pipelined behind EXEC, DISCARD, UNWATCH or a blocking pop (in the same
        # write) runs once, and the connection keeps working: the next writes are answered.
        cases = [
            [("MULTI",), ("INCR", "{after}n"), ("EXEC",), ("INCR", "{after}n")],
            [("MULTI",), ("DISCARD",), ("INCR", "{after}n")],
            [("WATCH", "{after}n"), ("UNWATCH",), ("INCR", "{after}n")],
            [("BLPOP", "{after}list", "0.1"), ("INCR", "{after}n")],
            [("SUBSCRIBE", "{after}ch"), ("UNSUBSCRIBE",), ("INCR", "{after}n")],
        ]
        encode = harness.RespConnection.encode
        for case in cases:
            for side_port in (self.direct.port, self.cluster.sidecache.port):
                conn = harness.RespConnection(side_port, timeout=3)
                try:
                    before = int(conn.command("GET", "{after}n") or 0)
                    conn.send_raw(b"".join(encode(*c) for c in case))
                    replies = [conn.read_raw() for _ in case]
                    self.assertEqual(replies[-1], b":%d\r\n" % (before + 1 + (
                        1 if case[0][0] == "MULTI" and case[2][0] == "EXEC" else 0)),
                        "%r on port %d" % (case, side_port))
                    try:
                        pong = conn.command("PING")
                        echo = conn.command("ECHO", "x")
                        after = int(conn.command("GET", "{after}n"))
                    except (OSError, ConnectionError) as e:
                        self.fail("after %r in one write (port %d), the next command got no "
                                  "reply: %r" % (case, side_port, e))
                    self.assertEqual((pong, echo), ("PONG", b"x"), "after %r" % (case,))
                    self.assertEqual(after, int(replies[-1][1:-2]),
                                     "%r ran a command twice (port %d)" % (case, side_port))
                finally:
                    conn.close()

    def test_normalisers_can_fail(self):
        # A wrong reply is caught: the comparison of a family against a deliberately different
        # sequence fails.
        steps = [C("SET", "diff-self-check", "a")]
        other = [C("SET", "diff-self-check", "a", "GET")]
        direct = harness.RespConnection(self.direct.port)
        proxy = harness.RespConnection(self.cluster.sidecache.port)
        try:
            a = direct.command_raw(*steps[0].args)
            b = proxy.command_raw(*other[0].args)
        finally:
            direct.close()
            proxy.close()
        self.assertNotEqual(compared(steps[0], a), compared(other[0], b))
        self.assertEqual(ttl((":", b"5")), ttl((":", b"7")))
        self.assertNotEqual(ttl((":", b"-1")), ttl((":", b"-2")))
        self.assertEqual(stream_ids(b"1700000000000-0 x 1700000000001-3"),
                         stream_ids(b"1800000000000-0 x 1800000000009-3"))
        self.assertNotEqual(stream_ids(b"1700000000000-0 x 1700000000000-0"),
                            stream_ids(b"1800000000000-0 x 1800000000009-3"))


def _add_family_tests():
    for family in FAMILIES:
        for protocol in (2, 3):
            def test(self, family=family, protocol=protocol):
                self.check_family(family, protocol)
            test.__name__ = "test_%s_resp%d" % (family, protocol)
            test.__doc__ = "%s through sidecache (3 nodes) vs one redis-server, RESP%d" % (
                family, protocol)
            setattr(Differential, test.__name__, test)


_add_family_tests()


class DifferentialKeyspace(unittest.TestCase):
    """Whole-keyspace commands with KEYS and FLUSH* enabled: both sides hold exactly the same
    keys (each is flushed first), so KEYS, DBSIZE, RANDOMKEY and SCAN compare over everything."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(
            3, top_extra="commands:\n  allow_keys: true\n  allow_flush: true")
        cls.direct = harness.RedisServer(cls.cluster.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.direct.stop()
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def steps(self):
        found = harness.keys_on_nodes(self.cluster, 20, prefix="ks")
        keys = [k for per_node in found for k in per_node] + ["{ks}:tagged:%d" % i for i in range(5)]
        steps = [C("FLUSHALL"), C("DBSIZE"), C("RANDOMKEY"), C("KEYS", "*")]
        steps += [C("SET", k, "v") for k in keys]
        steps += [C("HSET", "ks:hash", "f", "v"), C("DBSIZE"),
                  C("KEYS", "*", norm=unordered), C("KEYS", "ks:1*", norm=unordered),
                  C("KEYS", "ks:?:1*", norm=unordered),
                  C("KEYS", "{ks}*", norm=unordered), C("KEYS", "nomatch*"),
                  ScanAll(), ScanAll("COUNT", 3), ScanAll("MATCH", "ks:2*"),
                  ScanAll("TYPE", "hash"), ScanAll("TYPE", "string", "COUNT", 1000),
                  C("EXISTS", *keys), C("FLUSHDB"), C("DBSIZE"), C("KEYS", "*"),
                  ScanAll(), C("RANDOMKEY"), C("SET", "ks:after", "v"), C("DBSIZE"),
                  C("FLUSHALL", "ASYNC"), C("DBSIZE"), C("FLUSHDB", "SYNC"),
                  C("FLUSHALL", "BAD"), C("KEYS")]
        return steps

    def check(self, protocol):
        mismatches = run_steps(self, self.steps(), self.direct.port, self.cluster.sidecache.port,
                               protocol)
        if mismatches:
            self.fail(report(mismatches, protocol))

    def check_randomkey(self, protocol):
        found = harness.keys_on_nodes(self.cluster, 10, prefix="rk")
        keys = {k.encode() for per_node in found for k in per_node}
        proxy = Side("sidecache", self.cluster.sidecache.port, protocol)
        try:
            proxy.main.command_raw("FLUSHALL")
            for k in keys:
                proxy.main.command_raw("SET", k, "v")
            seen = set()
            for _ in range(60):
                node = decode_reply(proxy.main.command_raw("RANDOMKEY"))
                self.assertEqual(node[0], "$", node)
                self.assertIn(node[1], keys)
                seen.add(node[1])
            self.assertGreater(len(seen), 3, "RANDOMKEY keeps answering the same few keys")
            nodes = {self.cluster.probe([k.decode()])[0] for k in seen}
            self.assertGreater(len(nodes), 1, "RANDOMKEY picked keys of one node only")
        finally:
            proxy.close()

    def test_two_redis_servers_agree(self):
        second = harness.RedisServer(self.cluster.tmp)
        try:
            for protocol in (2, 3):
                mismatches = run_steps(self, self.steps(), self.direct.port, second.port, protocol)
                self.assertEqual(mismatches, [], report(mismatches, protocol))
        finally:
            second.stop()

    def test_keyspace_resp2(self):
        self.check(2)

    def test_keyspace_resp3(self):
        self.check(3)

    def test_randomkey_membership_resp2(self):
        self.check_randomkey(2)

    def test_randomkey_membership_resp3(self):
        self.check_randomkey(3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
