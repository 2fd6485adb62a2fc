#!/usr/bin/env python3
"""Backend failures through sidecache over 3 nodes with request_timeout 500ms (see
docs/failure-handling.md; health probes every 100 ms, backing off to at most 200 ms while a node
is down, so that readmission is quick; down_policy fail_fast, the default):

(a) kill -9 a node while a client loops over GET/SET on keys of every node: the live nodes see
    no error; the dead node's keys get `-ERR backend 'nodeX' ...` (or, once the health checker
    ejected it, `-ERR node nodeX is down`) fast, not after the request timeout; restarted on the
    same port, its keys work again within a few seconds.
(b) a hung node (a fault proxy between sidecache and node2 stops forwarding, as SIGSTOP of the
    node would, but without stopping a process the test must remember to continue): its keys
    get a `timed out` error after about request_timeout (then `is down` at once when ejected),
    other nodes keep answering fast meanwhile; once forwarding resumes, the node's late replies
    are dropped, never delivered to a later request (every key reads back its own value).
(c) MGET spanning a dead node answers an error; MGET over live nodes works.
(d) sidecache started while a node is down serves the others and connects to it when it is up.
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

POOL = "  request_timeout: 500ms\n  connect_timeout: 500ms\n" \
       "  reconnect_backoff: {min: 8ms, max: 512ms}\n" \
       "  health: {interval: 100ms, timeout: 300ms, max_interval: 200ms}\n"
TIMEOUT_S = 0.5
FAST_S = 0.25          # an error for a known-dead node must come well before the request timeout
LIVE_MAX_S = 0.25      # the slowest reply from a live node while another node is stopped
RECOVER_S = 5.0        # backoff max 512 ms: a restarted node is used again well within this


def timed(conn, *args):
    start = time.monotonic()
    reply = conn.command(*args)
    return reply, time.monotonic() - start


class BackendFailure(unittest.TestCase):
    def setUp(self):
        self.cluster = harness.Cluster(3, pool_extra=POOL, proxied=[2])
        self.keys = harness.keys_on_nodes(self.cluster, 5, prefix="bf")
        self.conn = self.cluster.sidecache.raw(timeout=10)
        for node, keys in enumerate(self.keys):
            for k in keys:
                self.assertEqual(self.conn.command("SET", k, "v:" + k), "OK")

    def tearDown(self):
        self.conn.close()
        self.cluster.close()

    def assert_backend_error(self, reply, node):
        """An error naming the node: from its connection, or from the health checker."""
        self.assertIsInstance(reply, harness.RespError, "want an error, got %r" % (reply,))
        self.assertTrue(reply.startswith("ERR backend 'node%d' " % node) or
                        reply == "ERR node node%d is down" % node, reply)

    def assert_node_works(self, node):
        for k in self.keys[node]:
            self.assertEqual(self.conn.command("GET", k), ("v:" + k).encode(), k)

    def wait_node_works(self, node, key):
        start = time.monotonic()
        harness.wait_until(lambda: self.conn.command("SET", key, "v:" + key) == "OK",
                           timeout=RECOVER_S, interval=0.05, what="node%d to work again" % node)
        return time.monotonic() - start

    def test_a_kill9_and_restart(self):
        dead = 1
        live_errors, dead_replies = [], []
        start = time.monotonic()
        killed_at = None
        i = 0
        while time.monotonic() - start < 3.0:
            if killed_at is None and time.monotonic() - start > 0.5:
                self.cluster.redis[dead].kill9()
                killed_at = time.monotonic()
            node = i % 3
            k = self.keys[node][i % 5]
            cmd = ("SET", k, "v:" + k) if i % 2 else ("GET", k)
            reply, took = timed(self.conn, *cmd)
            i += 1
            ok = reply == "OK" or reply == ("v:" + k).encode()
            if node != dead or killed_at is None:
                if not ok:
                    live_errors.append((cmd, reply))
            else:
                dead_replies.append((reply, took))
        self.assertEqual(live_errors, [])
        self.assertGreater(len(dead_replies), 20)
        for reply, took in dead_replies:
            self.assert_backend_error(reply, dead)
            self.assertLess(took, FAST_S, "error for a dead node took %.3fs: %s" % (took, reply))
        texts = {r for r, _ in dead_replies}
        self.assertIn("ERR node node%d is down" % dead, texts)  # ejected within the 2.5 s

        # (c) MGET spanning the dead node: an error naming it; over live nodes only: values.
        spanning = [self.keys[0][0], self.keys[dead][0], self.keys[2][0]]
        self.assert_backend_error(self.conn.command("MGET", *spanning), dead)
        live = self.keys[0] + self.keys[2]
        self.assertEqual(self.conn.command("MGET", *live), [("v:" + k).encode() for k in live])
        # DEL spanning it: an error for the request, though the live nodes' parts ran.
        self.assert_backend_error(self.conn.command("DEL", *spanning), dead)
        self.assertEqual(self.conn.command("EXISTS", *live), len(live) - 2)
        for k in (spanning[0], spanning[2]):
            self.assertEqual(self.conn.command("SET", k, "v:" + k), "OK")

        # Restart on the same port: the node's keys work again (its data is gone).
        self.cluster.redis[dead].start()
        took = self.wait_node_works(dead, self.keys[dead][0])
        self.assertLess(took, RECOVER_S)
        self.assertIsNone(self.conn.command("GET", self.keys[dead][1]))
        self.assertEqual(self.conn.command("MGET", *spanning), [("v:" + k).encode()
                                                               for k in spanning])
        self.cluster.sidecache.check()

    def test_b_stall_timeout_then_resume(self):
        stopped = 2
        others = [k for n in (0, 1) for k in self.keys[n]]
        self.cluster.proxies[stopped].stall()
        results = {}

        def hit_stopped_node():
            c = self.cluster.sidecache.raw(timeout=10)
            try:
                results["stopped"] = [timed(c, "GET", k) for k in self.keys[stopped][:3]]
            except Exception as e:  # reported by the main thread
                results["stopped"] = e
            finally:
                c.close()

        t = threading.Thread(target=hit_stopped_node, daemon=True)
        t.start()
        live = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline or (t.is_alive() and len(live) < 10000):
            k = others[len(live) % len(others)]
            reply, took = timed(self.conn, "GET", k)
            live.append((k, reply, took))
            if not t.is_alive() and time.monotonic() >= deadline:
                break
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertNotIsInstance(results["stopped"], Exception, repr(results["stopped"]))
        first_reply, first_took = results["stopped"][0]
        self.assertIn("timed out after 500 ms", first_reply)
        self.assertGreater(first_took, TIMEOUT_S * 0.8, first_reply)
        for reply, took in results["stopped"]:
            self.assert_backend_error(reply, stopped)
            self.assertLess(took, TIMEOUT_S + 0.5, reply)
            if "is down" in reply:
                self.assertLess(took, FAST_S, reply)
        wrong = [(k, r) for k, r, _ in live if r != ("v:" + k).encode()]
        self.assertEqual(wrong, [])
        slowest = max(took for _, _, took in live)
        self.assertLess(slowest, LIVE_MAX_S, "a live node answered in %.3fs" % slowest)
        self.assertGreater(len(live), 50)

        # A pipeline on one connection while stopped: replies stay in order, each its own.
        self.conn.send_raw(b"".join(self.conn.encode("GET", k) for k in
                                    [self.keys[0][0], self.keys[stopped][3], self.keys[1][0]]))
        self.assertEqual(self.conn.read_reply(), ("v:" + self.keys[0][0]).encode())
        self.assert_backend_error(self.conn.read_reply(), stopped)
        self.assertEqual(self.conn.read_reply(), ("v:" + self.keys[1][0]).encode())

        # Resumed: the node answers the stale GETs; sidecache must drop those replies.
        self.cluster.proxies[stopped].resume()
        harness.wait_until(lambda: self.conn.command("PING", "x") == b"x" and
                           self.conn.command("GET", self.keys[stopped][4]) ==
                           ("v:" + self.keys[stopped][4]).encode(),
                           timeout=RECOVER_S, what="node%d answering again" % stopped)
        for _ in range(3):
            for node in range(3):
                self.assert_node_works(node)
        pipelined = [k for keys in self.keys for k in keys] * 4
        self.conn.send_raw(b"".join(self.conn.encode("GET", k) for k in pipelined))
        got = [self.conn.read_reply() for _ in pipelined]
        self.assertEqual(got, [("v:" + k).encode() for k in pipelined])
        self.cluster.sidecache.check()


class StartWithNodeDown(unittest.TestCase):
    def test_d_node_down_at_start_then_up(self):
        cluster = harness.Cluster(3, down=[2], pool_extra=POOL)
        try:
            keys = harness.keys_on_nodes(cluster, 3, prefix="down")
            conn = cluster.sidecache.raw(timeout=10)
            for node in (0, 1):
                for k in keys[node]:
                    self.assertEqual(conn.command("SET", k, "x"), "OK")
                    self.assertEqual(conn.command("GET", k), b"x")
            reply, took = timed(conn, "GET", keys[2][0])
            self.assertIsInstance(reply, harness.RespError)
            self.assertTrue(reply.startswith("ERR backend 'node2' ") or
                            reply == "ERR node node2 is down", reply)
            self.assertLess(took, FAST_S)
            cluster.redis[2].start()
            harness.wait_until(lambda: conn.command("SET", keys[2][0], "y") == "OK",
                               timeout=RECOVER_S, interval=0.05, what="node2 in use")
            self.assertEqual(conn.command("GET", keys[2][0]), b"y")
            self.assertEqual(cluster.direct(2).get(keys[2][0]), b"y")
            self.assertEqual(conn.command("MGET", *[k for ks in keys for k in ks])[-3:],
                             [b"y", None, None])
            conn.close()
            cluster.sidecache.check()
        finally:
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
