#!/usr/bin/env python3
"""tests/tools/fault_proxy.py in front of a real redis-server, driven the way tests drive it:
pass-through; delay per direction, accurate for small messages (0.5 ms each way adds about
1 ms to a PING round trip); bandwidth limit; stall (held, then delivered in order); drop
(blackhole: nothing comes back, the connection stays open); reset (RST) and close (FIN) of open
connections; accept off; a target that is down; bad control commands. Then through sidecache:
a node whose replies are dropped by the proxy times out for its keys only and is readmitted
once the proxy forwards again.
"""
import os
import socket
import statistics
import sys
import tempfile
import shutil
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SHORT_S = 0.3  # a reply that has not come within this is held back


def rtts(conn, n=200):
    """Round-trip times in seconds of `n` PINGs on `conn`, one at a time."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        assert conn.command("PING") == "PONG"
        out.append(time.perf_counter() - start)
    return out


def no_reply_within(conn, seconds):
    """True when nothing arrives on `conn` for `seconds` (the connection still open)."""
    conn.sock.settimeout(seconds)
    try:
        data = conn.sock.recv(1)
    except socket.timeout:
        return True
    finally:
        conn.sock.settimeout(5)
    raise AssertionError("got %r, expected nothing" % data)


def turned_away(port):
    """True when a connection to `port` is reset or closed before any reply to a PING (the
    reset may even arrive while connecting)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except ConnectionResetError:
        return True
    try:
        s.sendall(b"PING\r\n")
        return s.recv(16) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        s.close()


class FaultProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sidecache-proxy-")
        cls.redis = harness.RedisServer(cls.tmp, secure=False)  # a plain TCP peer to proxy
        cls.proxy = harness.FaultProxy(cls.tmp, cls.redis.port)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.redis.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.proxy.clear()
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.proxy.clear()

    def connect(self):
        c = harness.RespConnection(self.proxy.port, timeout=5)
        self.conns.append(c)
        return c

    def test_pass_through_and_stats(self):
        c = self.connect()
        before = self.proxy.stats()
        self.assertEqual(c.command("SET", "k", "v" * 1000), "OK")
        self.assertEqual(c.command("GET", "k"), b"v" * 1000)
        # The proxy counts a chunk once sent, which the client may see first: wait for it.
        harness.wait_until(
            lambda: self.proxy.stats()["down_bytes"] - before["down_bytes"] > 1000, timeout=5,
            what="the reply counted")
        after = self.proxy.stats()
        self.assertGreaterEqual(after["links"], 1)
        self.assertGreater(after["up_bytes"] - before["up_bytes"], 1000)

    def test_delay_is_accurate_for_small_messages(self):
        c = self.connect()
        rtts(c, 50)  # warm up
        base = statistics.median(rtts(c))
        self.proxy.delay(0.5)  # each way
        delayed = statistics.median(rtts(c))
        added = delayed - base
        self.assertGreaterEqual(added, 0.00095, "added %.3f ms" % (added * 1e3))
        self.assertLess(added, 0.0025, "added %.3f ms, want about 1 ms" % (added * 1e3))
        # One direction only, and a longer delay.
        self.proxy.delay(0, "up")
        self.proxy.delay(20, "down")
        start = time.perf_counter()
        self.assertEqual(c.command("PING"), "PONG")
        took = time.perf_counter() - start
        self.assertGreaterEqual(took, 0.020)
        self.assertLess(took, 0.2)

    def test_bandwidth_limit(self):
        c = self.connect()
        value = "x" * 200_000
        self.assertEqual(c.command("SET", "big", value), "OK")
        self.proxy.bandwidth(1_000_000, "down")
        start = time.monotonic()
        self.assertEqual(c.command("GET", "big"), value.encode())
        took = time.monotonic() - start
        self.assertGreaterEqual(took, 0.18)
        self.assertLess(took, 2.0)
        self.proxy.bandwidth(0, "down")
        start = time.monotonic()
        self.assertEqual(c.command("GET", "big"), value.encode())
        self.assertLess(time.monotonic() - start, 0.15)

    def test_stall_holds_then_delivers_in_order(self):
        c = self.connect()
        self.proxy.stall()
        c.send_raw(c.encode("SET", "s", "1") + c.encode("INCR", "s") + c.encode("GET", "s"))
        self.assertTrue(no_reply_within(c, SHORT_S))
        # The node never saw the commands (as with a stopped process).
        self.assertIsNone(self.redis.client().get("s"))
        self.proxy.resume()
        self.assertEqual([c.read_reply() for _ in range(3)], ["OK", 2, b"2"])

    def test_stall_one_direction(self):
        c = self.connect()
        self.proxy.stall("down")
        c.send_raw(c.encode("SET", "d", "1"))
        self.assertTrue(no_reply_within(c, SHORT_S))
        harness.wait_until(lambda: self.redis.client().get("d") == b"1", timeout=5,
                           what="the node ran the SET")
        self.proxy.resume("down")
        self.assertEqual(c.read_reply(), "OK")

    def test_drop_is_a_blackhole(self):
        c = self.connect()
        self.proxy.drop("down")
        c.send_raw(c.encode("PING"))
        self.assertTrue(no_reply_within(c, SHORT_S))
        # New connections are blackholed too.
        d = self.connect()
        d.send_raw(d.encode("PING"))
        self.assertTrue(no_reply_within(d, SHORT_S))
        self.proxy.resume("down")
        # The streams lost a reply: both are reset; a new connection works.
        for conn in (c, d):
            with self.assertRaises(ConnectionResetError):
                conn.command("PING")
                conn.command("PING")
        self.assertEqual(self.connect().command("ECHO", "after"), b"after")

    def test_reset_and_close(self):
        c = self.connect()
        self.assertEqual(c.command("PING"), "PONG")
        self.proxy.reset()
        with self.assertRaises(ConnectionResetError):
            c.command("PING")
            c.command("PING")  # in case the first write raced the reset
        d = self.connect()
        self.assertEqual(d.command("PING"), "PONG")
        self.proxy.close_links()
        d.sock.settimeout(5)
        self.assertEqual(d.sock.recv(16), b"")
        harness.wait_until(lambda: self.proxy.stats()["links"] == 0, timeout=5,
                           what="links closed")

    def test_accept_off_and_target_down(self):
        self.proxy.accept(False)
        self.assertTrue(turned_away(self.proxy.port))
        self.proxy.accept(True)
        self.assertEqual(self.connect().command("PING"), "PONG")
        # A target that is down: the client's connection is reset, as the node's would be.
        tmp = tempfile.mkdtemp(prefix="sidecache-proxy-")
        try:
            orphan = harness.FaultProxy(tmp, harness.free_port())
            try:
                self.assertTrue(turned_away(orphan.port))
            finally:
                orphan.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_bad_commands(self):
        for words in (("nope",), ("delay", "sideways", "1"), ("delay", "up", "-1"),
                      ("bandwidth", "up", "fast"), ("accept", "maybe"), ("stall",)):
            with self.assertRaises(RuntimeError, msg=str(words)):
                self.proxy.command(*words)
        self.assertEqual(self.proxy.command("ping"), "pong")


class ThroughSidecache(unittest.TestCase):
    """Replies from node1 dropped by its proxy: sidecache times its keys out (and ejects the
    node) while node0's keys keep working; forwarding again (the proxy resets the links that
    lost bytes), node1 is readmitted."""

    def test_blackholed_node(self):
        pool = ("  request_timeout: 300ms\n  connect_timeout: 300ms\n"
                "  health: {interval: 100ms, timeout: 200ms, max_interval: 200ms}\n")
        cluster = harness.Cluster(2, pool_extra=pool, proxied=[1])
        self.addCleanup(cluster.close)
        keys = harness.keys_on_nodes(cluster, 3, prefix="fp")
        conn = cluster.sidecache.raw(timeout=10)
        self.addCleanup(conn.close)
        for node_keys in keys:
            for k in node_keys:
                self.assertEqual(conn.command("SET", k, k), "OK")
        proxy = cluster.proxies[1]
        proxy.drop("down")
        reply = conn.command("GET", keys[1][0])
        self.assertIsInstance(reply, harness.RespError)
        self.assertRegex(reply, r"^ERR (backend 'node1' timed out after 300 ms|node node1 is down)")
        for k in keys[0]:
            self.assertEqual(conn.command("GET", k), k.encode())
        harness.wait_until(lambda: conn.command("GET", keys[1][1]) == "ERR node node1 is down",
                           timeout=5, what="node1 ejected")
        proxy.resume("down")
        harness.wait_until(lambda: conn.command("GET", keys[1][2]) == keys[1][2].encode(),
                           timeout=10, what="node1 readmitted")
        for node_keys in keys:
            for k in node_keys:
                self.assertEqual(conn.command("GET", k), k.encode())
        cluster.sidecache.check()


if __name__ == "__main__":
    unittest.main(verbosity=2)
