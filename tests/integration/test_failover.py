#!/usr/bin/env python3
"""Health checks and ejection end to end, 3 real redis-server nodes, health probes
every 200 ms (timeout 200 ms, down after 3 failures, up after 2 successes, backoff <= 1 s):

(a) fail_fast: kill -9 a node during a bounded GET/SET loop over keys of every node: the
    surviving nodes' keys see no error; each of the dead node's requests fails in < 100 ms
    (request_timeout is 2 s), then `-ERR node node1 is down`; "is down" is logged exactly once;
    restarted on the same port the node is readmitted ("is up again") and its keys work.
(b) remap: after the kill the dead node's keys are served by the next nodes on the ring of the
    remaining nodes (errors only in a short window before ejection); once readmitted, a key is
    served by its original node again.
(c) SIGSTOP (a hung node, request_timeout 300 ms): its keys answer `timed out` and then `is down`
    within the timeout plus a margin; the other nodes keep answering fast (p99 < 50 ms); after
    SIGCONT it is readmitted and every reply matches its own request (late replies dropped).
(d) sidecache started while a node is down serves the others, ejects it, and serves its keys
    once it comes up.
"""
import os
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

POOL = """  down_policy: %s
  request_timeout: %s
  connect_timeout: 500ms
  health: {interval: 200ms, timeout: 200ms, max_interval: 1s}
"""
FAST_S = 0.1        # an error for a dead (or ejected) node arrives in well under this
RECOVER_S = 8.0     # restart -> readmitted: 2 probes, each at most max_interval (1 s) apart
PER_NODE = 5


def timed(conn, *args):
    start = time.monotonic()
    reply = conn.command(*args)
    return reply, time.monotonic() - start


def log_count(cluster, pattern):
    return len(re.findall(pattern, cluster.sidecache.process.output()))


def wait_log(cluster, pattern, timeout=RECOVER_S):
    harness.wait_until(lambda: log_count(cluster, pattern) > 0, timeout=timeout, interval=0.05,
                       what="log line %r" % pattern)


def down_line(node):
    return r"node node%d is down after \d+ consecutive failures: \S" % node


def up_line(node):
    return r"node node%d is up again" % node


class Base(unittest.TestCase):
    """A 3-node cluster with values set on keys of every node (no tests of its own)."""
    policy = "fail_fast"
    request_timeout = "2s"

    def setUp(self):
        self.cluster = harness.Cluster(3, pool_extra=POOL % (self.policy, self.request_timeout))
        self.addCleanup(self.cluster.close)
        self.keys = harness.keys_on_nodes(self.cluster, PER_NODE, prefix="fo")
        self.conn = self.cluster.sidecache.raw(timeout=10)
        self.addCleanup(self.conn.close)
        self.expected = {}   # key -> value it must read back (absent: unknown)
        for keys in self.keys:
            for k in keys:
                self.assertEqual(self.conn.command("SET", k, "v0:" + k), "OK")
                self.expected[k] = ("v0:" + k).encode()

    def step(self, i, conn=None):
        """One request of the loop: GET or SET (alternating) on a key of node i % 3.
        Returns (node, key, command, reply, seconds). SET values are unique."""
        conn = conn or self.conn
        node = i % 3
        k = self.keys[node][(i // 3) % PER_NODE]
        if i % 2:
            value = "v%d:%s" % (i, k)
            reply, took = timed(conn, "SET", k, value)
            if reply == "OK":
                self.expected[k] = value.encode()
            return node, k, ("SET", value), reply, took
        reply, took = timed(conn, "GET", k)
        return node, k, ("GET",), reply, took

    def check_reply(self, k, cmd, reply):
        """None when `reply` is right for a node that must work, else a description."""
        if cmd[0] == "SET":
            return None if reply == "OK" else (k, cmd, reply)
        if k in self.expected and reply != self.expected[k]:
            return (k, cmd, reply, "want", self.expected[k])
        if isinstance(reply, harness.RespError):
            return (k, cmd, reply)
        return None

    def live_loop(self, seconds, skip_node, bad):
        """Runs the loop for `seconds` on every node but `skip_node`, appending failures."""
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline:
            if i % 3 != skip_node:
                node, k, cmd, reply, _ = self.step(i)
                problem = self.check_reply(k, cmd, reply)
                if problem:
                    bad.append(problem)
            i += 1


class FailFast(Base):
    def test_a_kill9_fail_fast_then_restart(self):
        dead = 1
        live_bad, dead_replies = [], []
        start = time.monotonic()
        killed_at = None
        i = 0
        while time.monotonic() - start < 3.0:
            if killed_at is None and time.monotonic() - start >= 1.0:
                self.cluster.redis[dead].kill9()
                killed_at = time.monotonic()
            node, k, cmd, reply, took = self.step(i)
            i += 1
            if node == dead and killed_at is not None:
                dead_replies.append((reply, took))
                self.expected.pop(k, None)
            else:
                problem = self.check_reply(k, cmd, reply)
                if problem:
                    live_bad.append(problem)
        self.assertEqual(live_bad, [], "errors or wrong values on surviving nodes")
        self.assertGreater(len(dead_replies), 20)
        pattern = re.compile(r"^ERR (backend 'node1' |node node1 is down$)")
        for reply, took in dead_replies:
            self.assertIsInstance(reply, harness.RespError, "want an error, got %r" % (reply,))
            self.assertRegex(reply, pattern)
            self.assertLess(took, FAST_S, "error for a dead node took %.3fs: %s" % (took, reply))
        self.assertIn("ERR node node1 is down", {r for r, _ in dead_replies})
        self.assertEqual(log_count(self.cluster, down_line(dead)), 1,
                         self.cluster.sidecache.process.tail())
        self.assertEqual(log_count(self.cluster, r"node node[02] is down"), 0)

        # Restart on the same port: readmitted after 2 probes; the others never fail meanwhile.
        self.cluster.redis[dead].start()
        k = self.keys[dead][0]
        deadline = time.monotonic() + RECOVER_S
        while self.conn.command("SET", k, "back") != "OK":
            self.assertLess(time.monotonic(), deadline, "node1 not readmitted in time")
            self.live_loop(0.05, dead, live_bad)
        self.assertEqual(live_bad, [])
        self.assertEqual(log_count(self.cluster, up_line(dead)), 1)
        self.assertEqual(log_count(self.cluster, down_line(dead)), 1)
        self.assertEqual(self.cluster.direct(dead).get(k), b"back")
        for k in self.keys[dead][1:]:
            self.assertIsNone(self.conn.command("GET", k))  # the restarted node is empty
            self.assertEqual(self.conn.command("SET", k, "again"), "OK")
            self.assertEqual(self.cluster.direct(dead).get(k), b"again")
        self.cluster.sidecache.check()


class Remap(Base):
    policy = "remap"

    def test_b_kill9_remap_then_readmit(self):
        dead = 1
        live_bad, dead_replies = [], []
        start = time.monotonic()
        killed_at = None
        i = 0
        while time.monotonic() - start < 3.0:
            if killed_at is None and time.monotonic() - start >= 1.0:
                self.cluster.redis[dead].kill9()
                killed_at = time.monotonic()
                for k in self.keys[dead]:
                    self.expected.pop(k)  # they move to nodes that do not hold them
            node, k, cmd, reply, took = self.step(i)
            i += 1
            if node == dead and killed_at is not None:
                dead_replies.append((time.monotonic() - killed_at, k, cmd, reply,
                                     self.check_reply(k, cmd, reply)))
            else:
                problem = self.check_reply(k, cmd, reply)
                if problem:
                    live_bad.append(problem)
        self.assertEqual(live_bad, [], "errors or wrong values on surviving nodes")
        first_ok = next((n for n, d in enumerate(dead_replies)
                         if not isinstance(d[3], harness.RespError)), None)
        self.assertIsNotNone(first_ok, "the dead node's keys never worked again: %r" %
                             dead_replies[-3:])
        window = dead_replies[first_ok][0]
        self.assertLess(window, 1.5, "ejection took %.3fs" % window)
        for t, k, cmd, reply, _ in dead_replies[:first_ok]:
            self.assertRegex(reply, r"^ERR (backend 'node1' |node node1 is down$)")
        after = [d for d in dead_replies[first_ok:] if d[4]]
        self.assertEqual(after, [], "errors or wrong values for remapped keys after ejection")
        self.assertEqual(log_count(self.cluster, down_line(dead)), 1)

        # Where the dead node's keys went: the ring of the remaining nodes, as route_probe says.
        remaining = [(name, w) for n, (name, _, w) in enumerate(self.cluster.nodes) if n != dead]
        placed = harness.route_probe(self.keys[dead], remaining)
        for k, name in zip(self.keys[dead], placed):
            node = int(name[len("node"):])
            self.assertEqual(self.cluster.direct(node).get(k), self.expected[k], (k, name))
            self.assertEqual(self.conn.command("GET", k), self.expected[k])

        # Restart: readmitted, the keys come back to node1 (write fresh values there).
        self.cluster.redis[dead].start()
        deadline = time.monotonic() + RECOVER_S
        while log_count(self.cluster, up_line(dead)) == 0:
            self.assertLess(time.monotonic(), deadline, "node1 not readmitted in time")
            self.live_loop(0.05, dead, live_bad)
        self.assertEqual(live_bad, [])
        direct = self.cluster.direct(dead)
        k0 = self.keys[dead][0]
        harness.wait_until(lambda: self.conn.command("SET", k0, "fresh:" + k0) == "OK" and
                           direct.get(k0) == ("fresh:" + k0).encode(),
                           timeout=2, interval=0.02, what="key back on node1")
        for k in self.keys[dead]:
            self.assertEqual(self.conn.command("SET", k, "fresh:" + k), "OK")
            self.assertEqual(direct.get(k), ("fresh:" + k).encode(), k)
            self.assertEqual(self.conn.command("GET", k), ("fresh:" + k).encode())
        for node in (0, 2):  # the live nodes' keys never moved
            for k in self.keys[node]:
                self.assertEqual(self.cluster.direct(node).get(k), self.expected[k], k)
        self.assertEqual(log_count(self.cluster, up_line(dead)), 1)
        self.cluster.sidecache.check()


class HungNode(Base):
    request_timeout = "300ms"

    def test_c_sigstop_then_sigcont(self):
        stopped = 2
        timeout_s = 0.3
        self.cluster.redis[stopped].process.signal(signal.SIGSTOP)
        self.addCleanup(self.cluster.redis[stopped].process.signal, signal.SIGCONT)
        results = []
        failure = []

        def hit_stopped_node():
            c = self.cluster.sidecache.raw(timeout=10)
            try:
                end = time.monotonic() + 1.5
                n = 0
                while time.monotonic() < end and n < 2000:
                    k = self.keys[stopped][n % PER_NODE]
                    results.append(timed(c, "GET", k))
                    n += 1
            except Exception as e:  # reported by the main thread
                failure.append(e)
            finally:
                c.close()

        t = threading.Thread(target=hit_stopped_node, daemon=True)
        t.start()
        live_bad, latencies = [], []
        i = 0
        while t.is_alive() and i < 200000:
            if i % 3 != stopped:
                node, k, cmd, reply, took = self.step(i)
                latencies.append(took)
                problem = self.check_reply(k, cmd, reply)
                if problem:
                    live_bad.append(problem)
            i += 1
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(failure, [])
        self.assertEqual(live_bad, [], "errors or wrong values on the other nodes")
        self.assertGreater(len(latencies), 100)
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99)]
        self.assertLess(p99, 0.05, "p99 %.3fs on live nodes while one is stopped" % p99)
        texts = set()
        for reply, took in results:
            self.assertIsInstance(reply, harness.RespError, "want an error, got %r" % (reply,))
            self.assertRegex(reply, r"^ERR (backend 'node2' timed out after 300 ms|"
                                    r"node node2 is down)$")
            self.assertLess(took, timeout_s + 0.25, reply)
            texts.add(reply)
        self.assertIn("ERR backend 'node2' timed out after 300 ms", texts)
        self.assertIn("ERR node node2 is down", texts)
        self.assertEqual(log_count(self.cluster, down_line(stopped)), 1)

        # SIGCONT: the node answers the stale GETs; those replies must be dropped.
        self.cluster.redis[stopped].process.signal(signal.SIGCONT)
        k = self.keys[stopped][0]
        harness.wait_until(lambda: self.conn.command("GET", k) == self.expected[k],
                           timeout=RECOVER_S, interval=0.05, what="node2 readmitted")
        self.assertEqual(log_count(self.cluster, up_line(stopped)), 1)
        every = [k for keys in self.keys for k in keys]
        for rnd in range(4):
            cmds, want = [], []
            for n, k in enumerate(every * 3):
                if (n + rnd) % 4 == 0:
                    value = "r%d:%d:%s" % (rnd, n, k)
                    cmds.append(self.conn.encode("SET", k, value))
                    want.append("OK")
                    self.expected[k] = value.encode()
                else:
                    cmds.append(self.conn.encode("GET", k))
                    want.append(self.expected[k])
            self.conn.send_raw(b"".join(cmds))
            got = [self.conn.read_reply() for _ in cmds]
            self.assertEqual(got, want)
        self.cluster.sidecache.check()


class StartWithNodeDown(unittest.TestCase):
    def test_d_node_down_at_start(self):
        cluster = harness.Cluster(3, down=[2], pool_extra=POOL % ("fail_fast", "2s"))
        self.addCleanup(cluster.close)
        keys = harness.keys_on_nodes(cluster, 3, prefix="down")
        conn = cluster.sidecache.raw(timeout=10)
        self.addCleanup(conn.close)
        for node in (0, 1):
            for k in keys[node]:
                self.assertEqual(conn.command("SET", k, "x"), "OK")
                self.assertEqual(conn.command("GET", k), b"x")
        reply, took = timed(conn, "GET", keys[2][0])
        self.assertIsInstance(reply, harness.RespError)
        self.assertRegex(reply, r"^ERR (backend 'node2' |node node2 is down$)")
        self.assertLess(took, 0.6)
        wait_log(cluster, down_line(2), timeout=5)
        reply, took = timed(conn, "GET", keys[2][0])
        self.assertEqual(reply, "ERR node node2 is down")
        self.assertLess(took, FAST_S)

        cluster.redis[2].start()
        harness.wait_until(lambda: conn.command("SET", keys[2][0], "y") == "OK",
                           timeout=RECOVER_S, interval=0.05, what="node2 readmitted")
        self.assertEqual(log_count(cluster, up_line(2)), 1)
        self.assertEqual(conn.command("GET", keys[2][0]), b"y")
        self.assertEqual(cluster.direct(2).get(keys[2][0]), b"y")
        for node in (0, 1):
            for k in keys[node]:
                self.assertEqual(conn.command("GET", k), b"x")
        cluster.sidecache.check()


if __name__ == "__main__":
    unittest.main(verbosity=2)
