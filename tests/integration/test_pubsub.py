#!/usr/bin/env python3
"""Pub/Sub through sidecache over 3 nodes: one subscriber with channels on every node gets every
message on its one connection; patterns are subscribed on every node and a message still
arrives once; confirmation counts are the client's totals (compared byte for byte with a direct
redis-server); PING and the command restrictions of RESP2 subscribed mode; UNSUBSCRIBE of
everything; PUBLISH's receiver count; PUBSUB CHANNELS/NUMSUB/NUMPAT across nodes; SSUBSCRIBE and
SPUBLISH; python3-redis's PubSub object; the dedicated connections close with the subscriber;
RESP3 push frames (when HELLO 3 is available).
"""
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402


Push = harness.Push


class Conn(harness.RespConnection):
    """RespConnection that can tell when nothing more arrives."""

    def nothing_more(self, wait=0.3):
        """True when nothing arrives within `wait` seconds."""
        self.sock.settimeout(wait)
        try:
            self._fill()
            return False
        except (socket.timeout, TimeoutError):
            return True
        finally:
            self.sock.settimeout(5)


class PubSub(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)
        # channel names that map to node 0, 1 and 2 (channels use the keys' ring)
        cls.channels = [names[0] for names in harness.keys_on_nodes(cls.cluster, 1, "ch")]

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.cluster.sidecache.check()

    def raw(self, port=None):
        c = Conn(port or self.cluster.sidecache.port, timeout=5)
        self.conns.append(c)
        return c

    def subscribers_on(self, node):
        clients = self.cluster.direct(node).client_list()
        return sum(1 for cl in clients if int(cl.get("sub", 0)) + int(cl.get("psub", 0)) > 0)

    def test_channels_on_every_node_from_one_subscriber(self):
        sub = self.raw()
        pub = self.raw()
        sub.send_raw(sub.encode("SUBSCRIBE", *self.channels))
        for i, ch in enumerate(self.channels):
            self.assertEqual(sub.read_reply(), [b"subscribe", ch.encode(), i + 1])
        for node in range(3):
            self.assertEqual(self.subscribers_on(node), 1, "node %d" % node)
        for ch in self.channels:
            self.assertEqual(pub.command("PUBLISH", ch, "hello " + ch), 1)
        # Each channel's message comes over its own node's connection: across nodes sidecache
        # may read them in either order (Redis Cluster does not order them either).
        got = [sub.read_reply() for _ in self.channels]
        self.assertCountEqual(got, [[b"message", ch.encode(), ("hello " + ch).encode()]
                                    for ch in self.channels])
        self.assertEqual(pub.command("PUBLISH", "nobody-listens", "x"), 0)
        self.assertTrue(sub.nothing_more())
        # the subscriber leaves: its node connections close
        sub.close()
        self.conns.remove(sub)
        for node in range(3):
            harness.wait_until(lambda: self.subscribers_on(node) == 0, timeout=5,
                               what="node %d's subscriber connection to close" % node)

    def test_patterns_deliver_once(self):
        sub = self.raw()
        pub = self.raw()
        self.assertEqual(sub.command("PSUBSCRIBE", "ch*"), [b"psubscribe", b"ch*", 1])
        for node in range(3):
            self.assertEqual(self.subscribers_on(node), 1)
        for ch in self.channels:
            self.assertEqual(pub.command("PUBLISH", ch, "p"), 1)
            self.assertEqual(sub.read_reply(), [b"pmessage", b"ch*", ch.encode(), b"p"])
        self.assertTrue(sub.nothing_more())  # once, not once per node
        # a channel subscription and a pattern that both match: two messages, as Redis
        ch = self.channels[1]
        self.assertEqual(sub.command("SUBSCRIBE", ch), [b"subscribe", ch.encode(), 2])
        self.assertEqual(pub.command("PUBLISH", ch, "both"), 2)
        got = [sub.read_reply(), sub.read_reply()]
        self.assertIn([b"message", ch.encode(), b"both"], got)
        self.assertIn([b"pmessage", b"ch*", ch.encode(), b"both"], got)

    def test_confirmations_match_redis(self):
        """The same subscribe/unsubscribe sequence, straight to redis-server and through
        sidecache (channels on several nodes), gives the same frames and counts."""
        a, b, c = self.channels
        seq = [("SUBSCRIBE", a, b), ("SUBSCRIBE", a), ("PSUBSCRIBE", "x*", "y*"),
               ("UNSUBSCRIBE", a, "never"), ("PING",), ("PING", "hi"), ("GET", "k"),
               ("PUNSUBSCRIBE", "x*"), ("SUBSCRIBE", c), ("UNSUBSCRIBE", c),
               ("PUNSUBSCRIBE",), ("UNSUBSCRIBE",), ("UNSUBSCRIBE",), ("PUNSUBSCRIBE",),
               ("PING",)]
        direct = self.raw(self.cluster.reference().port)
        proxied = self.raw()
        frames = {"SUBSCRIBE": None, "PSUBSCRIBE": None}
        for cmd in seq:
            name = cmd[0]
            if name in ("SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE") and len(cmd) > 1:
                n = len(cmd) - 1
            else:
                n = 1
            for conn in (direct, proxied):
                conn.send_raw(conn.encode(*cmd))
            want = [direct.read_reply() for _ in range(n)]
            got = [proxied.read_reply() for _ in range(n)]
            self.assertEqual(got, want, cmd)
        del frames
        self.assertEqual(proxied.command("GET", "k"), None)  # out of subscribed mode

    def test_ping_and_restrictions_in_subscribed_mode(self):
        sub = self.raw()
        sub.command("SUBSCRIBE", self.channels[0])
        self.assertEqual(sub.command("PING"), [b"pong", b""])
        self.assertEqual(sub.command("PING", "x"), [b"pong", b"x"])
        reply = sub.command("SET", "k", "v")
        self.assertEqual(reply, "ERR Can't execute 'set': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE"
                                " / PING / QUIT / RESET are allowed in this context")
        self.assertEqual(sub.command("RESET"), "RESET")  # leaves subscribed mode
        self.assertEqual(sub.command("PING"), "PONG")
        harness.wait_until(lambda: self.subscribers_on(self.cluster.probe(
            [self.channels[0]])[0]) == 0, timeout=5, what="the subscription to end")

    def test_publisher_counts_receivers(self):
        ch = self.channels[2]
        subs = [self.raw() for _ in range(3)]
        for s in subs:
            s.command("SUBSCRIBE", ch)
        direct = self.cluster.direct(2)
        direct_sub = direct.pubsub()
        direct_sub.subscribe(ch)  # a subscriber straight on the node counts too
        harness.wait_until(lambda: direct.pubsub_numsub(ch)[0][1] == 4, timeout=5,
                           what="4 subscribers")
        self.assertEqual(self.cluster.client().publish(ch, "m"), 4)
        for s in subs:
            self.assertEqual(s.read_reply(), [b"message", ch.encode(), b"m"])
        direct_sub.close()
        direct.close()

    def test_pubsub_introspection_across_nodes(self):
        sub = self.raw()
        sub.send_raw(sub.encode("SUBSCRIBE", *self.channels))
        for _ in self.channels:
            sub.read_reply()
        sub.command("PSUBSCRIBE", "zz*")
        r = self.cluster.client()
        self.assertEqual(sorted(r.pubsub_channels()), sorted(c.encode() for c in self.channels))
        self.assertEqual(sorted(r.pubsub_channels("ch:*")),
                         sorted(c.encode() for c in self.channels))
        self.assertEqual(r.pubsub_channels("nomatch*"), [])
        self.assertEqual(r.pubsub_numsub(*self.channels, "none"),
                         [(c.encode(), 1) for c in self.channels] + [(b"none", 0)])
        self.assertEqual(r.pubsub_numpat(), 1)
        r.close()

    def test_shard_channels(self):
        sub = self.raw()
        pub = self.raw()
        ch = self.channels[1]
        self.assertEqual(sub.command("SSUBSCRIBE", ch), [b"ssubscribe", ch.encode(), 1])
        self.assertEqual(pub.command("SPUBLISH", ch, "s"), 1)
        self.assertEqual(sub.read_reply(), [b"smessage", ch.encode(), b"s"])
        self.assertEqual(pub.command("PUBSUB", "SHARDCHANNELS"), [ch.encode()])
        self.assertEqual(pub.command("PUBSUB", "SHARDNUMSUB", ch), [ch.encode(), 1])
        self.assertEqual(sub.command("SUNSUBSCRIBE"), [b"sunsubscribe", ch.encode(), 0])

    def test_python_redis_pubsub_object(self):
        r = self.cluster.client()
        p = r.pubsub()
        p.subscribe(*self.channels)
        p.psubscribe("pat.*")
        # A subscription is in force once confirmed (as with Redis): wait for the 4 confirmations.
        confirmations = []
        deadline = time.monotonic() + 5
        while len(confirmations) < 4 and time.monotonic() < deadline:
            m = p.get_message(timeout=0.2)
            if m:
                confirmations.append((m["type"], m["data"]))
        self.assertEqual(confirmations, [("subscribe", 1), ("subscribe", 2), ("subscribe", 3),
                                         ("psubscribe", 4)])
        for ch in self.channels:
            r.publish(ch, "v-" + ch)
        r.publish("pat.x", "pv")
        got = []
        deadline = time.monotonic() + 5
        while len(got) < 4 and time.monotonic() < deadline:
            m = p.get_message(timeout=0.2)
            if m:
                got.append((m["type"], m["channel"], m["data"]))
        expected = [("message", ch.encode(), ("v-" + ch).encode()) for ch in self.channels]
        expected.append(("pmessage", b"pat.x", b"pv"))
        self.assertEqual(sorted(got), sorted(expected))
        p.unsubscribe()
        p.punsubscribe()
        p.close()
        r.close()

    def test_resp3_push_frames(self):
        sub = self.raw()
        hello = sub.command("HELLO", "3")
        if isinstance(hello, harness.RespError):
            self.skipTest("HELLO 3 is not available yet: " + hello)
        ch = self.channels[0]
        reply = sub.command("SUBSCRIBE", ch)
        self.assertIsInstance(reply, Push)
        self.assertEqual(reply, [b"subscribe", ch.encode(), 1])
        self.assertEqual(sub.command("GET", "resp3-key"), None)  # allowed in RESP3
        self.assertEqual(self.cluster.client().publish(ch, "hi"), 1)
        msg = sub.read_reply()
        self.assertIsInstance(msg, Push)
        self.assertEqual(msg, [b"message", ch.encode(), b"hi"])
        reply = sub.command("UNSUBSCRIBE")
        self.assertEqual(reply, [b"unsubscribe", ch.encode(), 0])
        reply = sub.command("UNSUBSCRIBE")
        self.assertEqual(reply, [b"unsubscribe", None, 0])


class PubSubReload(unittest.TestCase):
    def test_subscriptions_survive_a_reload_that_reorders_the_nodes(self):
        """Node indexes change, names (and so the ring) do not: the subscriber's connections
        are its nodes' by name, before and after."""
        cluster = harness.Cluster(3)
        conns = []
        try:
            channels = [names[0] for names in harness.keys_on_nodes(cluster, 2, "rl")]
            sub = Conn(cluster.sidecache.port)
            pub = Conn(cluster.sidecache.port)
            conns += [sub, pub]
            sub.send_raw(sub.encode("SUBSCRIBE", *channels))
            for _ in channels:
                sub.read_reply()
            sc = cluster.sidecache
            with open(sc.config_path, "w") as f:
                f.write(harness.config_yaml(sc.port, list(reversed(cluster.nodes))))
            import signal
            sc.process.signal(signal.SIGHUP)
            harness.wait_until(lambda: "reload (SIGHUP): applied configuration" in
                               sc.process.output(), timeout=10, what="the reload")
            for ch in channels:
                self.assertEqual(pub.command("PUBLISH", ch, "after"), 1)
                self.assertEqual(sub.read_reply(), [b"message", ch.encode(), b"after"])
            extra = harness.keys_on_nodes(cluster, 2, "rl2")[0][0]
            self.assertEqual(sub.command("SUBSCRIBE", extra), [b"subscribe", extra.encode(), 4])
            self.assertEqual(pub.command("PUBLISH", extra, "x"), 1)
            self.assertEqual(sub.read_reply(), [b"message", extra.encode(), b"x"])
            sub.send_raw(sub.encode("UNSUBSCRIBE"))
            counts = sorted(sub.read_reply()[2] for _ in range(4))
            self.assertEqual(counts, [0, 1, 2, 3])
            for node in range(3):
                direct = cluster.direct(node)
                harness.wait_until(
                    lambda: not any(int(cl["sub"]) for cl in direct.client_list()), timeout=5,
                    what="node %d's subscriber connection to close" % node)
                direct.close()
        finally:
            for c in conns:
                c.close()
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
