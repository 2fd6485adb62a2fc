#!/usr/bin/env python3
"""RESP3 through sidecache over 3 nodes: a raw HELLO 3 session gets maps, doubles, sets, nulls
and verbatim strings from real commands on every node; redis-cli -3 reads them; a RESP2 client
on the same proxy at the same time never sees a RESP3 type; HELLO 2 and RESET switch back. The
nodes serve RESP3 clients on connections of their own (CLIENT LIST shows resp=3)."""
import http.client
import os
import re
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RESP2_TYPES = {"+", "-", ":", "$", "*"}


class Resp3(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http_port = harness.free_port()
        cls.cluster = harness.Cluster(3, pool_extra="  connections_per_node: 2",
                                      top_extra="http:\n  listen: 127.0.0.1:%d\n" % cls.http_port)
        # "{k}:h", "{k}:z", ... hash like k, which keys_on_nodes put on node i (on a Redis
        # Cluster k carries its node's hash tag already).
        cls.keys = [[k[0] if "{" in k[0] else "{%s}" % k[0]]
                    for k in harness.keys_on_nodes(cls.cluster, 1, prefix="r3")]
        setup = cls.cluster.client()
        for node, (key,) in enumerate(cls.keys):
            setup.hset(key + ":h", mapping={"f1": "v1", "f2": "v2"})
            setup.zadd(key + ":z", {"m": 1.5})
            setup.sadd(key + ":s", "a", "b")
            setup.set(key + ":str", "x%d" % node)
            assert cls.cluster.node_of(key + ":str") == node

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def resp3_gauge(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        return float(re.search(r"^sidecache_client_resp3_connections (\S+)$", text, re.M).group(1))

    def test_resp3_clients_gauge(self):
        # Clients of earlier tests are gone once their sessions have ended.
        harness.wait_until(lambda: self.resp3_gauge() == 0, timeout=5, what="no RESP3 client")
        a, b = self.hello3(), self.hello3()
        self.assertEqual(self.resp3_gauge(), 2)
        b.command("HELLO", "2")
        self.assertEqual(self.resp3_gauge(), 1)
        a.close()
        harness.wait_until(lambda: self.resp3_gauge() == 0, timeout=5, what="gauge back to 0")
        b.close()

    def hello3(self):
        c = self.cluster.sidecache.raw()
        reply = c.command("HELLO", "3")
        self.assertIsInstance(reply, dict)
        self.assertEqual(reply[b"proto"], 3)
        self.assertEqual(reply[b"server"], b"redis")
        self.assertEqual(c.types_seen, {"%", "$", ":", "*"})
        return c

    def check_resp3_replies(self, c):
        """Every node's keys, through a RESP3 session."""
        for key, in self.keys:
            self.assertEqual(c.command("HGETALL", key + ":h"), {b"f1": b"v1", b"f2": b"v2"})
            self.assertEqual(c.command("ZSCORE", key + ":z", "m"), 1.5)
            score = c.command("ZRANGE", key + ":z", "0", "-1", "WITHSCORES")
            self.assertEqual(score, [[b"m", 1.5]])
            members = c.command("SMEMBERS", key + ":s")
            self.assertIsInstance(members, harness.RespSet)
            self.assertEqual(sorted(members), [b"a", b"b"])
            c.reset_types()
            self.assertIsNone(c.command("GET", key + ":missing"))
            self.assertEqual(c.types_seen, {"_"})
            self.assertEqual(c.command("SISMEMBER", key + ":s", "a"), 1)
        # Merged replies: MGET across nodes with RESP3 nulls, DBSIZE summed.
        keys = [k + ":str" for k, in self.keys]
        c.reset_types()
        self.assertEqual(c.command("MGET", keys[0], "nope", keys[1], keys[2]),
                         [b"x0", None, b"x1", b"x2"])
        self.assertIn("_", c.types_seen)
        self.assertGreaterEqual(c.command("DBSIZE"), 12)

    def test_raw_hello3_session(self):
        c = self.hello3()
        self.check_resp3_replies(c)
        # Local replies in RESP3.
        self.assertEqual(c.command("CONFIG", "GET", "save"), {})
        c.reset_types()
        self.assertIsNone(c.command("CLIENT", "GETNAME"))
        self.assertEqual(c.types_seen, {"_"})
        info = c.command("INFO", "server")
        self.assertIsInstance(info, harness.Verbatim)
        self.assertEqual(info.format, "txt")
        self.assertIn(b"redis_version:", info)
        # HELLO 2: back to RESP2, on the same connection.
        hello = c.command("HELLO", "2")
        self.assertIsInstance(hello, list)
        self.assertEqual(hello[hello.index(b"proto") + 1], 2)
        c.reset_types()
        key = self.keys[0][0]
        self.assertEqual(c.command("HGETALL", key + ":h"), [b"f1", b"v1", b"f2", b"v2"])
        self.assertEqual(c.command("ZSCORE", key + ":z", "m"), b"1.5")
        self.assertIsNone(c.command("GET", "nothing-here"))
        self.assertTrue(c.types_seen <= RESP2_TYPES, c.types_seen)
        # HELLO 3 with AUTH and SETNAME, then RESET returns to RESP2.
        reply = c.command("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "r3client")
        self.assertEqual(reply[b"proto"], 3)
        self.assertEqual(c.command("CLIENT", "GETNAME"), b"r3client")
        self.assertEqual(c.command("ZSCORE", key + ":z", "m"), 1.5)
        self.assertEqual(c.command("RESET"), "RESET")
        self.assertEqual(c.command("ZSCORE", key + ":z", "m"), b"1.5")
        self.assertTrue(c.command("HELLO", "4").startswith("NOPROTO"))
        c.close()

    def test_resp2_and_resp3_clients_at_once(self):
        """Both kinds of client pipeline the same commands concurrently; each only sees its
        own protocol (the nodes serve them on separate connections)."""
        errors = []

        def run(protocol):
            try:
                c = self.cluster.sidecache.raw(timeout=10)
                if protocol == 3:
                    c.command("HELLO", "3")
                c.reset_types()
                for _ in range(50):
                    batch = []
                    for key, in self.keys:
                        batch += [("HGETALL", key + ":h"), ("ZSCORE", key + ":z", "m"),
                                  ("SMEMBERS", key + ":s"), ("GET", key + ":missing")]
                    c.send_raw(b"".join(c.encode(*cmd) for cmd in batch))
                    replies = [c.read_reply() for _ in batch]
                    for i in range(0, len(replies), 4):
                        h, z, s, g = replies[i:i + 4]
                        want_h = {b"f1": b"v1", b"f2": b"v2"} if protocol == 3 else \
                            [b"f1", b"v1", b"f2", b"v2"]
                        if h != want_h or z != (1.5 if protocol == 3 else b"1.5") or \
                                sorted(s) != [b"a", b"b"] or g is not None:
                            raise AssertionError("RESP%d got %r" % (protocol, replies[i:i + 4]))
                if protocol == 2 and not c.types_seen <= RESP2_TYPES:
                    raise AssertionError("RESP2 client saw %r" % c.types_seen)
                if protocol == 3 and not {"%", ",", "~", "_"} <= c.types_seen:
                    raise AssertionError("RESP3 client saw only %r" % c.types_seen)
                c.close()
            except Exception as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=run, args=(p,)) for p in (2, 3, 2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(any(t.is_alive() for t in threads), "clients hung")
        self.assertEqual(errors, [])
        # redis-py (RESP2 only) keeps working beside them.
        self.assertEqual(self.cluster.client().zscore(self.keys[1][0] + ":z", "m"), 1.5)
        # Every node has RESP3 connections from sidecache as well as RESP2 ones.
        for i in range(3):
            clients = self.cluster.direct(i).execute_command("CLIENT", "LIST")
            text = clients.decode() if isinstance(clients, bytes) else clients
            self.assertIn("resp=3", text)
            self.assertIn("resp=2", text)

    def test_same_replies_as_the_node(self):
        """Reads sent to a node directly and through sidecache, both in RESP3 and in RESP2,
        decode to the same values of the same types (sidecache splices the node's bytes)."""
        setup = self.cluster.client()
        for key, in self.keys:
            setup.rpush(key + ":l", "a", "b", "a")
            setup.xadd(key + ":x", {"f": "v"}, id="1-1")
            setup.zadd(key + ":z2", {"p": 1, "q": 2.25})
        for protocol in ("3", "2"):
            via = self.cluster.sidecache.raw()
            via.command("HELLO", protocol)
            for node, (key,) in enumerate(self.keys):
                direct = harness.RespConnection(self.cluster.redis[node].port)
                direct.command("HELLO", protocol)
                for cmd in (["HGETALL", key + ":h"], ["HMGET", key + ":h", "f1", "nope"],
                            ["ZRANGE", key + ":z2", "0", "-1", "WITHSCORES"],
                            ["ZMSCORE", key + ":z2", "p", "nope"], ["ZSCORE", key + ":z", "m"],
                            ["ZRANK", key + ":z2", "q"], ["SMEMBERS", key + ":s"],
                            ["GET", key + ":missing"], ["TYPE", key + ":x"],
                            ["LPOS", key + ":l", "a", "COUNT", "0"],
                            ["XRANGE", key + ":x", "-", "+"], ["XINFO", "STREAM", key + ":x"],
                            ["OBJECT", "ENCODING", key + ":s"], ["EXISTS", key + ":h"],
                            ["HSTRLEN", key + ":h", "f1"], ["SISMEMBER", key + ":s", "zz"]):
                    direct.reset_types()
                    via.reset_types()
                    want, got = direct.command(*cmd), via.command(*cmd)
                    self.assertEqual(got, want, (protocol, cmd))
                    self.assertEqual(type(got), type(want), (protocol, cmd))
                    self.assertEqual(via.types_seen, direct.types_seen, (protocol, cmd))
                direct.close()
            via.close()

    def test_redis_cli_3(self):
        key = self.keys[2][0]
        port = str(self.cluster.sidecache.port)

        def cli(*args):
            out = subprocess.run(["redis-cli", "-3", "--no-raw", "-p", port] + list(args),
                                 capture_output=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            return out.stdout.decode()

        self.assertIn('1# "f1" => "v1"', cli("HGETALL", key + ":h"))
        self.assertIn("(double) 1.5", cli("ZSCORE", key + ":z", "m"))
        self.assertIn("(nil)", cli("GET", key + ":missing"))
        self.assertIn('"a"', cli("SMEMBERS", key + ":s"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
