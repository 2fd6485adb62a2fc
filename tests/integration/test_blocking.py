#!/usr/bin/env python3
"""Blocking commands through sidecache over 3 nodes: each one runs on a dedicated connection to
the node of its keys and is woken by another client; timeouts are Redis's own; XREAD and
XREADGROUP with BLOCK; a command pipelined after a blocking one waits for it; the client leaving
closes the node connection (CLIENT LIST on the node); pool.max_dedicated_connections gives a
clear error; the tutorial's work queue (producers RPUSH, consumers BLPOP with timeouts) consumes
every task exactly once.
"""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402


def blocked_clients(r):
    return int(r.info("clients")["blocked_clients"])


class Blocking(harness.ClusterSessionTest):
    KEY_PREFIX = "bl"
    RAW_TIMEOUT = 10

    def wait_blocked(self, node, n=1):
        direct = self.cluster.direct(node)
        harness.wait_until(lambda: blocked_clients(direct) >= n, timeout=5,
                           what="%d blocked client(s) on node %d" % (n, node))
        direct.close()

    def wake(self, node, args, wake_args, expected):
        """Sends `args` through sidecache, waits until the node has it blocked, runs
        `wake_args` from another client (through sidecache) and checks the reply."""
        c = self.raw()
        c.send_raw(c.encode(*args))
        self.wait_blocked(node)
        other = self.raw()
        other.command(*wake_args)
        self.assertEqual(c.read_reply(), expected, args)
        # the connection goes on normally
        self.assertEqual(c.command("PING"), "PONG")

    def test_each_blocking_command_is_woken(self):
        node = 1
        a, b = "{q1}a", "{q1}b"  # one node for both keys
        node = self.cluster.probe([a])[0]
        self.wake(node, ("BLPOP", a, "0"), ("RPUSH", a, "x"), [a.encode(), b"x"])
        self.wake(node, ("BRPOP", a, b, "0"), ("RPUSH", b, "1", "2"), [b.encode(), b"2"])
        self.wake(node, ("BLMOVE", a, b, "LEFT", "RIGHT", "0"), ("RPUSH", a, "m"), b"m")
        self.wake(node, ("BRPOPLPUSH", a, b, "0"), ("RPUSH", a, "n"), b"n")
        self.wake(node, ("BZPOPMIN", "{q1}z", "0"), ("ZADD", "{q1}z", "1", "one"),
                  [b"{q1}z", b"one", b"1"])
        self.wake(node, ("BZPOPMAX", "{q1}z", "0"), ("ZADD", "{q1}z", "2", "two"),
                  [b"{q1}z", b"two", b"2"])
        self.wake(node, ("BLMPOP", "0", "2", a, "{q1}c", "LEFT"), ("RPUSH", "{q1}c", "p"),
                  [b"{q1}c", [b"p"]])
        self.wake(node, ("BZMPOP", "0", "1", "{q1}z", "MIN"), ("ZADD", "{q1}z", "3", "three"),
                  [b"{q1}z", [[b"three", b"3"]]])

    def test_streams_with_block(self):
        s = self.keys[2][0]
        c = self.raw()
        c.send_raw(c.encode("XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", s, "$"))
        self.wait_blocked(2)
        r = self.cluster.client()
        entry_id = r.xadd(s, {"f": "v"})
        self.assertEqual(c.read_reply(), [[s.encode(), [[entry_id, [b"f", b"v"]]]]])
        r.xgroup_create(s, "g", id="$")
        c.send_raw(c.encode("XREADGROUP", "GROUP", "g", "c1", "BLOCK", "0", "STREAMS", s, ">"))
        self.wait_blocked(2)
        entry_id = r.xadd(s, {"f": "w"})
        self.assertEqual(c.read_reply(), [[s.encode(), [[entry_id, [b"f", b"w"]]]]])
        # redis-py, with a timeout: nothing new -> empty after ~200 ms
        start = time.monotonic()
        self.assertEqual(r.xread({s: "$"}, block=200), [])
        self.assertGreaterEqual(time.monotonic() - start, 0.15)
        r.close()

    def test_timeout_answers_nil_on_time(self):
        c = self.raw()
        for args in (("BLPOP", self.keys[0][0], "0.3"), ("BZPOPMIN", self.keys[1][0], "0.3"),
                     ("XREAD", "BLOCK", "300", "STREAMS", self.keys[2][0], "$")):
            start = time.monotonic()
            self.assertIsNone(c.command(*args))
            elapsed = time.monotonic() - start
            self.assertGreaterEqual(elapsed, 0.25, args)
            self.assertLess(elapsed, 2.0, args)

    def test_pipelined_command_waits_for_the_blocking_one(self):
        q = self.keys[0][1]
        c = self.raw(timeout=0.5)
        c.send_raw(c.encode("BLPOP", q, "0") + c.encode("GET", q) + c.encode("PING"))
        self.wait_blocked(0)
        with self.assertRaises(OSError):  # nothing may overtake the blocked command
            c.read_reply()
        c.sock.settimeout(5)
        self.cluster.client().rpush(q, "job")
        self.assertEqual(c.read_reply(), [q.encode(), b"job"])
        self.assertIsNone(c.read_reply())
        self.assertEqual(c.read_reply(), "PONG")

    def test_connections_are_reused(self):
        """Blocking commands in a loop (a consumer polling with a timeout) reuse one idle
        dedicated connection instead of connecting each time."""
        q = self.keys[2][2]
        direct = self.cluster.direct(2)
        before = int(direct.info("stats")["total_connections_received"])
        c = self.raw()
        for _ in range(20):
            self.assertIsNone(c.command("BLPOP", q, "0.01"))
        after = int(direct.info("stats")["total_connections_received"])
        self.assertLessEqual(after - before, 1)
        direct.close()

    def test_keys_on_two_nodes_refused(self):
        c = self.raw()
        reply = c.command("BLPOP", self.keys[0][0], self.keys[1][0], "0")
        self.assertIsInstance(reply, harness.RespError)
        self.assertTrue(reply.startswith("CROSSSLOT"), reply)
        reply = c.command("BLPOP", self.keys[0][0], "notanumber")
        self.assertEqual(reply, "ERR timeout is not a float or out of range")

    def test_client_leaving_releases_the_node_connection(self):
        q = self.keys[1][2]
        direct = self.cluster.direct(1)
        c = self.raw()
        c.send_raw(c.encode("BLPOP", q, "0"))
        self.wait_blocked(1)
        self.assertEqual(sum(1 for cl in direct.client_list() if cl["cmd"] == "blpop"), 1)
        c.close()
        self.conns.remove(c)
        harness.wait_until(lambda: blocked_clients(direct) == 0, timeout=5,
                           what="the node to unblock")
        harness.wait_until(
            lambda: not any(cl["cmd"] == "blpop" for cl in direct.client_list()), timeout=5,
            what="the dedicated connection to close")
        # nothing was consumed by a ghost
        # A client blocked on q would be served before RPUSH's reply is sent: no wait needed.
        direct.rpush(q, "kept")
        self.assertEqual(direct.lrange(q, 0, -1), [b"kept"])
        direct.close()

    def test_work_queue(self):
        """The tutorial's work queue: producers RPUSH, consumers BLPOP with a timeout."""
        queue = "tasks"
        producers, per_producer, consumers = 3, 150, 4
        consumed = []
        lock = threading.Lock()
        errors = []
        done_producing = threading.Event()

        def produce(p):
            try:
                r = self.cluster.client()
                for i in range(per_producer):
                    r.rpush(queue, "task-%d-%d" % (p, i))
                r.close()
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        def consume():
            try:
                r = self.cluster.client()
                while True:
                    item = r.blpop(queue, timeout=0.5)
                    if item is None:
                        if done_producing.is_set():
                            break
                        continue
                    with lock:
                        consumed.append(item[1])
                r.close()
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        cthreads = [threading.Thread(target=consume) for _ in range(consumers)]
        pthreads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
        for t in cthreads + pthreads:
            t.start()
        for t in pthreads:
            t.join(timeout=60)
        done_producing.set()
        for t in cthreads:
            t.join(timeout=60)
        self.assertFalse(any(t.is_alive() for t in cthreads + pthreads))
        self.assertEqual(errors, [])
        expected = sorted(("task-%d-%d" % (p, i)).encode()
                          for p in range(producers) for i in range(per_producer))
        self.assertEqual(sorted(consumed), expected)  # each task exactly once
        self.assertEqual(self.cluster.client().llen(queue), 0)


class Cap(unittest.TestCase):
    def test_cap_on_dedicated_connections(self):
        cluster = harness.Cluster(3, pool_extra="  max_dedicated_connections: 2")
        conns = []
        try:
            keys = harness.keys_on_nodes(cluster, 3, prefix="cap")
            for i in range(2):
                c = cluster.sidecache.raw(timeout=5)
                conns.append(c)
                c.send_raw(c.encode("BLPOP", keys[0][i], "0"))
            direct = cluster.direct(0)
            harness.wait_until(lambda: blocked_clients(direct) == 2, timeout=5,
                               what="two blocked clients")
            c = cluster.sidecache.raw(timeout=5)
            conns.append(c)
            reply = c.command("BLPOP", keys[0][2], "0")
            self.assertEqual(reply, "ERR sidecache: too many dedicated connections to node %s "
                                    "(pool.max_dedicated_connections=2)"
                             % cluster.node_name(0))
            # other nodes have their own budget; transactions share it
            self.assertIsNone(c.command("BLPOP", keys[1][0], "0.1"))
            self.assertEqual(c.command("MULTI"), "OK")
            reply = c.command("SET", keys[0][2], "x")
            self.assertTrue(reply.startswith("ERR sidecache: too many dedicated"), reply)
            self.assertTrue(c.command("EXEC").startswith("EXECABORT"))
            # one blocked client leaves: its share comes back
            conns[0].close()
            harness.wait_until(lambda: blocked_clients(direct) == 1, timeout=5,
                               what="one blocked client")
            self.assertIsNone(c.command("BLPOP", keys[0][2], "0.1"))
            direct.close()
        finally:
            for c in conns:
                c.close()
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
