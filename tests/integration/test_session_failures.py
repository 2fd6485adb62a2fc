#!/usr/bin/env python3
"""Dedicated node connections failing under a transaction, a blocking command and a subscriber:
the request waiting gets an error, the mode is left cleanly, the client connection keeps working
(or, for Pub/Sub, is closed so the client subscribes again); and a drain with a subscriber and a
blocked client.
"""
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class SessionFailures(unittest.TestCase):
    def setUp(self):
        self.cluster = harness.Cluster(3)
        self.keys = harness.keys_on_nodes(self.cluster, 2, prefix="f")
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.cluster.close()

    def raw(self):
        c = self.cluster.sidecache.raw(timeout=5)
        self.conns.append(c)
        return c

    def wait_blocked(self, node):
        direct = self.cluster.direct(node)
        harness.wait_until(lambda: int(direct.info("clients")["blocked_clients"]) >= 1,
                           timeout=5, what="a blocked client on node %d" % node)
        direct.close()

    def test_node_dies_under_a_blocking_command(self):
        c = self.raw()
        c.send_raw(c.encode("BLPOP", self.keys[1][0], "0"))
        self.wait_blocked(1)
        self.cluster.redis[1].kill9()
        reply = c.read_reply()
        self.assertIsInstance(reply, harness.RespError)
        self.assertIn("dedicated connection to node 'node1' lost", reply)
        # the client goes on: other nodes work, the dead one answers errors at once
        self.assertEqual(c.command("SET", self.keys[0][0], "x"), "OK")
        self.assertIsInstance(c.command("BLPOP", self.keys[1][0], "0"), harness.RespError)
        self.assertIsNone(c.command("BLPOP", self.keys[2][0], "0.1"))

    def test_node_dies_inside_a_transaction(self):
        c = self.raw()
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", self.keys[2][0], "1"), "QUEUED")
        self.cluster.redis[2].kill9()  # returns once the node's process is gone
        reply = c.command("SET", self.keys[2][1], "2")
        # the connection's loss is noticed now or at EXEC: either way the transaction aborts
        self.assertTrue(reply == "QUEUED" or isinstance(reply, harness.RespError), reply)
        reply = c.command("EXEC")
        self.assertIsInstance(reply, harness.RespError)
        self.assertEqual(c.command("SET", self.keys[0][0], "x"), "OK")
        self.assertEqual(c.command("MULTI"), "OK")  # a new transaction on a live node
        self.assertEqual(c.command("INCR", self.keys[0][1]), "QUEUED")
        self.assertEqual(c.command("EXEC"), [1])

    def test_node_dies_under_a_subscriber(self):
        c = self.raw()
        ch = self.keys[0][0]
        self.assertEqual(c.command("SUBSCRIBE", ch, self.keys[1][0]),
                         [b"subscribe", ch.encode(), 1])
        c.read_reply()
        self.cluster.redis[0].kill9()
        # its subscriptions on node0 are gone: the client is closed so that it subscribes again
        self.assertTrue(c.is_closed(timeout=5))

    def test_drain_with_a_subscriber_and_a_blocked_client(self):
        sub = self.raw()
        sub.command("SUBSCRIBE", self.keys[0][0])
        blocked = self.raw()
        blocked.send_raw(blocked.encode("BLPOP", self.keys[1][0], "1"))
        self.wait_blocked(1)
        self.cluster.sidecache.process.stopped = True  # an exit is expected now
        self.cluster.sidecache.process.signal(signal.SIGTERM)
        self.assertTrue(sub.is_closed(timeout=5))  # nothing owed: closed at once
        self.assertIsNone(blocked.read_reply())  # the blocked command is answered first
        self.assertTrue(blocked.is_closed(timeout=5))
        self.cluster.sidecache.process.proc.wait(timeout=10)
        self.assertEqual(self.cluster.sidecache.process.proc.returncode, 0)
        self.assertIsNone(harness.sanitizer_report(self.cluster.sidecache.process.output()))



class DrainTimeout(unittest.TestCase):
    def test_drain_timeout_with_open_modes(self):
        """A blocked client (no timeout), a subscriber and an open transaction when the drain
        timeout ends: sidecache stops cleanly (no crash, no leak in sanitizer builds)."""
        cluster = harness.Cluster(3, top_extra="process:\n  drain_timeout: 300ms")
        conns = []
        try:
            keys = harness.keys_on_nodes(cluster, 1, prefix="d")
            blocked = cluster.sidecache.raw()
            sub = cluster.sidecache.raw()
            tx = cluster.sidecache.raw()
            conns += [blocked, sub, tx]
            blocked.send_raw(blocked.encode("BLPOP", keys[0][0], "0"))
            sub.command("PSUBSCRIBE", "*")
            tx.command("WATCH", keys[1][0])
            tx.command("MULTI")
            tx.command("SET", keys[1][0], "x")
            direct = cluster.direct(0)
            harness.wait_until(lambda: int(direct.info("clients")["blocked_clients"]) == 1,
                               timeout=5, what="a blocked client")
            direct.close()
            cluster.sidecache.process.stopped = True
            cluster.sidecache.process.signal(signal.SIGTERM)
            cluster.sidecache.process.proc.wait(timeout=10)
            self.assertEqual(cluster.sidecache.process.proc.returncode, 0)
            self.assertIsNone(harness.sanitizer_report(cluster.sidecache.process.output()))
            self.assertIn("drain timeout reached", cluster.sidecache.process.output())
            # the node saw its clients go: nothing blocked, nothing in MULTI
            for node in range(3):
                d = cluster.direct(node)
                harness.wait_until(lambda: int(d.info("clients")["blocked_clients"]) == 0 and
                                   not any("x" in cl["flags"] for cl in d.client_list()),
                                   timeout=5, what="node %d's clients to go" % node)
                d.close()
        finally:
            for c in conns:
                c.close()
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
