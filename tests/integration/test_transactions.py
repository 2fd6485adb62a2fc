#!/usr/bin/env python3
"""Transactions through sidecache over 3 nodes: MULTI/EXEC on a dedicated connection to the node
of the transaction's keys, queued replies and EXEC's array passed through, CROSSSLOT + EXECABORT
for a key on another node, WATCH aborted by another client, DISCARD, pipelined transactions,
Redis's own error texts (compared with a direct redis-server), and transactions next to other
clients' traffic.
"""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402


class Transactions(harness.ClusterSessionTest):
    KEY_PREFIX = "tx"

    def test_multi_exec_passes_replies_through(self):
        c = self.raw()
        a, b = self.keys[1][0], self.keys[1][1]
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", a, "v1"), "QUEUED")
        self.assertEqual(c.command("INCR", b), "QUEUED")
        self.assertEqual(c.command("GET", a), "QUEUED")
        self.assertEqual(c.command("EXEC"), ["OK", 1, b"v1"])
        self.assertEqual(self.cluster.direct(1).get(a), b"v1")
        # The connection is usable as before.
        self.assertEqual(c.command("GET", a), b"v1")

    def test_keyless_transaction(self):
        c = self.raw()
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("PING"), "QUEUED")
        self.assertEqual(c.command("ECHO", "hi"), "QUEUED")
        self.assertEqual(c.command("EXEC"), ["PONG", b"hi"])
        # keyless commands first, then a key: all run on the key's node
        k = self.keys[2][0]
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("PING"), "QUEUED")
        self.assertEqual(c.command("SET", k, "x"), "QUEUED")
        self.assertEqual(c.command("EXEC"), ["PONG", "OK"])
        self.assertEqual(self.cluster.direct(2).get(k), b"x")

    def test_empty_transaction(self):
        c = self.raw()
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("EXEC"), [])

    def test_cross_node_key_aborts(self):
        c = self.raw()
        a, b = self.keys[0][0], self.keys[1][0]
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", a, "1"), "QUEUED")
        reply = c.command("SET", b, "2")
        self.assertIsInstance(reply, harness.RespError)
        self.assertTrue(reply.startswith("CROSSSLOT"), reply)
        self.assertEqual(c.command("SET", a, "3"), "QUEUED")
        reply = c.command("EXEC")
        self.assertEqual(reply, "EXECABORT Transaction discarded because of previous errors.")
        self.assertIsNone(self.cluster.direct(0).get(a))
        self.assertIsNone(self.cluster.direct(1).get(b))
        self.assertEqual(c.command("SET", a, "4"), "OK")  # back to normal

    def test_unknown_command_aborts_like_redis(self):
        c = self.raw()
        a = self.keys[0][0]
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", a, "1"), "QUEUED")
        self.assertTrue(c.command("NOSUCH", "x").startswith("ERR unknown command"))
        self.assertTrue(c.command("GET").startswith("ERR wrong number of arguments"))
        self.assertTrue(c.command("EXEC").startswith("EXECABORT"))
        self.assertIsNone(self.cluster.direct(0).get(a))

    def test_error_texts_match_redis(self):
        """The same sequence straight to one redis-server and through sidecache."""
        seq = [("EXEC",), ("DISCARD",), ("MULTI",), ("MULTI",), ("WATCH", "x"),
               ("SET", "{t}x", "1"), ("INCR", "{t}x"), ("LPUSH", "{t}x", "a"), ("EXEC",),
               ("UNWATCH",), ("MULTI",), ("DISCARD",), ("EXEC",)]
        direct = harness.RespConnection(self.cluster.reference().port)
        self.conns.append(direct)
        c = self.raw()
        for cmd in seq:
            self.assertEqual(c.command(*cmd), direct.command(*cmd), cmd)

    def test_watch_aborted_by_another_client(self):
        c = self.raw()
        other = self.cluster.client()
        k = self.keys[2][1]
        other.set(k, "0")
        self.assertEqual(c.command("WATCH", k), "OK")
        self.assertEqual(c.command("GET", k), b"0")
        other.set(k, "changed")
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", k, "mine"), "QUEUED")
        self.assertIsNone(c.command("EXEC"))
        self.assertEqual(other.get(k), b"changed")
        # unchanged this time: EXEC runs
        self.assertEqual(c.command("WATCH", k), "OK")
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", k, "mine"), "QUEUED")
        self.assertEqual(c.command("EXEC"), ["OK"])
        self.assertEqual(other.get(k), b"mine")
        # WATCH then UNWATCH: the next transaction is not guarded
        self.assertEqual(c.command("WATCH", k), "OK")
        other.set(k, "again")
        self.assertEqual(c.command("UNWATCH"), "OK")
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", k, "last"), "QUEUED")
        self.assertEqual(c.command("EXEC"), ["OK"])
        other.close()

    def test_watch_keys_on_two_nodes_refused(self):
        c = self.raw()
        reply = c.command("WATCH", self.keys[0][0], self.keys[1][0])
        self.assertTrue(reply.startswith("CROSSSLOT"), reply)
        self.assertEqual(c.command("WATCH", self.keys[0][0]), "OK")
        reply = c.command("WATCH", self.keys[1][0])
        self.assertTrue(reply.startswith("CROSSSLOT"), reply)
        self.assertEqual(c.command("MULTI"), "OK")
        reply = c.command("SET", self.keys[1][0], "x")  # another node than the WATCH
        self.assertTrue(reply.startswith("CROSSSLOT"), reply)
        self.assertTrue(c.command("EXEC").startswith("EXECABORT"))

    def test_discard(self):
        c = self.raw()
        k = self.keys[0][2]
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", k, "x"), "QUEUED")
        self.assertEqual(c.command("DISCARD"), "OK")
        self.assertIsNone(self.cluster.direct(0).get(k))
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("DISCARD"), "OK")  # nothing sent to a node yet
        self.assertEqual(c.command("GET", k), None)

    def test_pipelined_transactions(self):
        """Everything in one write: transactions, plain commands between them, order kept."""
        c = self.raw()
        k = self.keys[1][2]
        e = harness.RespConnection.encode
        batch = (e("SET", k, "1") + e("MULTI") + e("INCR", k) + e("INCR", k) + e("EXEC") +
                 e("GET", k) + e("MULTI") + e("INCRBY", k, "10") + e("EXEC") + e("GET", k))
        c.send_raw(batch)
        replies = [c.read_reply() for _ in range(10)]
        self.assertEqual(replies, ["OK", "OK", "QUEUED", "QUEUED", [2, 3], b"3", "OK", "QUEUED",
                                   [13], b"13"])
        # redis-py's transactional pipeline
        r = self.cluster.client()
        tag = "{pipe}"
        with r.pipeline(transaction=True) as p:
            p.set(tag + "a", 1).incr(tag + "a").lpush(tag + "l", "x", "y").lrange(tag + "l", 0, -1)
            self.assertEqual(p.execute(), [True, 2, 2, [b"y", b"x"]])
        r.close()

    def test_half_closed_client_gets_every_reply(self):
        """A client that sends a pipeline with a transaction and half-closes (nc -q) gets the
        replies of everything it sent, including what waited behind EXEC."""
        import socket
        k = self.keys[2][2]
        e = harness.RespConnection.encode
        c = self.raw()
        n = 2000  # a long transaction: its EXEC is answered well after the FIN is read
        c.send_raw(e("MULTI") + e("SET", k, "v") * n + e("EXEC") + e("GET", k) + e("PING"))
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual([c.read_reply() for _ in range(n + 1)], ["OK"] + ["QUEUED"] * n)
        self.assertEqual(c.read_reply(), ["OK"] * n)
        self.assertEqual([c.read_reply(), c.read_reply()], [b"v", "PONG"])
        self.assertTrue(c.is_closed(timeout=5))

    def test_optimistic_increments_from_many_clients(self):
        """WATCH/MULTI/EXEC retry loops (redis-py's transaction helper) from several threads
        next to plain traffic: no increment is lost."""
        k = self.keys[0][3]
        self.cluster.client().set(k, 0)
        errors = []

        def worker():
            try:
                r = self.cluster.client()

                def incr(pipe):
                    value = int(pipe.get(k))
                    pipe.multi()
                    pipe.set(k, value + 1)

                for _ in range(20):
                    r.transaction(incr, k)
                r.close()
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        def noise():
            try:
                r = self.cluster.client()
                for i in range(200):
                    r.set("noise:%d" % i, i)
                    self.assertEqual(r.get("noise:%d" % i), str(i).encode())
                r.close()
            except Exception as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        threads += [threading.Thread(target=noise) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertFalse(any(t.is_alive() for t in threads))
        self.assertEqual(errors, [])
        self.assertEqual(int(self.cluster.client().get(k)), 80)

    def test_connections_are_reused_without_watch_state(self):
        """Transactions reuse the worker's idle dedicated connections; one that may still hold
        a WATCH is never handed to another client."""
        k = self.keys[1][3]
        direct = self.cluster.direct(1)
        before = int(direct.info("stats")["total_connections_received"])
        c = self.raw()
        for i in range(10):
            self.assertEqual(c.command("MULTI"), "OK")
            self.assertEqual(c.command("SET", k, str(i)), "QUEUED")
            self.assertEqual(c.command("EXEC"), ["OK"])
        after = int(direct.info("stats")["total_connections_received"])
        self.assertLessEqual(after - before, 1, "one connection for 10 transactions")
        other = self.cluster.client()
        for ending in ("DISCARD", "UNWATCH"):
            # A WATCHes k, k changes, A ends without EXEC; then B runs a transaction on k.
            a = self.raw()
            self.assertEqual(a.command("WATCH", k), "OK")
            other.set(k, "changed")
            if ending == "DISCARD":
                self.assertEqual(a.command("MULTI"), "OK")
            self.assertEqual(a.command(ending), "OK")
            b = self.raw()
            self.assertEqual(b.command("MULTI"), "OK")
            self.assertEqual(b.command("SET", k, "b"), "QUEUED")
            self.assertEqual(b.command("EXEC"), ["OK"], ending)  # not guarded by A's WATCH
        other.close()
        direct.close()

    def test_resp3_client_gets_resp3_from_its_connections(self):
        """A RESP3 client's dedicated connections speak RESP3 (HELLO 3 sent first, its reply
        dropped); a RESP2 client's do not. Skipped until sidecache answers HELLO 3."""
        c = self.raw()
        hello = c.command("HELLO", "3")
        if isinstance(hello, harness.RespError):
            self.skipTest("HELLO 3 is not available yet: " + hello)
        c.buf = b""
        h = self.keys[0][3] + "h"
        e = harness.RespConnection.encode
        c.send_raw(e("MULTI") + e("HSET", h, "f", "v") + e("HGETALL", h) + e("EXEC") +
                   e("BLPOP", h + "q", "0.01"))
        want = (b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
                b"_\r\n")
        while len(c.buf) < len(want):
            c._fill()
        self.assertEqual(c.buf, want)
        plain = self.raw()  # RESP2 next to it: never a RESP3 reply
        plain.send_raw(e("MULTI") + e("HGETALL", h) + e("EXEC") + e("BLPOP", h + "q", "0.01"))
        want = b"+OK\r\n+QUEUED\r\n*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*-1\r\n"
        while len(plain.buf) < len(want):
            plain._fill()
        self.assertEqual(plain.buf, want)

    def test_client_leaving_mid_transaction(self):
        c = self.raw()
        k = self.keys[2][3]
        self.assertEqual(c.command("MULTI"), "OK")
        self.assertEqual(c.command("SET", k, "x"), "QUEUED")
        direct = self.cluster.direct(2)
        # the node holds one client in a MULTI context (flag x): sidecache's dedicated one
        self.assertEqual(self.in_multi(direct), 1)
        c.close()
        self.conns.remove(c)
        harness.wait_until(lambda: self.in_multi(direct) == 0, timeout=5,
                           what="the dedicated connection to close")
        self.assertIsNone(direct.get(k))
        direct.close()

    @staticmethod
    def in_multi(direct):
        return sum(1 for cl in direct.client_list() if "x" in cl["flags"])


def scrape(port):
    """The sidecache_* samples of /metrics as {"name{labels}": value}."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
    finally:
        conn.close()
    samples = {}
    for line in body.splitlines():
        if line.startswith("sidecache_"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


class SessionMetrics(unittest.TestCase):
    """Metrics of the session modes: transactions by result, blocking commands in progress,
    subscribed clients, messages delivered, dedicated connections per node."""

    def test_metrics(self):
        http_port = harness.free_port()
        cluster = harness.Cluster(3, workers=2, top_extra="http:\n  listen: 127.0.0.1:%d" %
                                  http_port)
        conns = []

        def dedicated(samples, node):
            return samples['sidecache_node_dedicated_connections{node="%s"}'
                           % cluster.node_name(node)]
        try:
            keys = harness.keys_on_nodes(cluster, 2, prefix="m")
            c = cluster.sidecache.raw()
            conns.append(c)
            for ending in ("EXEC", "DISCARD"):
                c.command("MULTI")
                c.command("SET", keys[0][0], "1")
                c.command(ending)
            c.command("MULTI")
            c.command("SET", keys[0][0], "1")
            c.command("SET", keys[1][0], "1")  # CROSSSLOT
            c.command("EXEC")
            blocked = cluster.sidecache.raw()
            conns.append(blocked)
            blocked.send_raw(blocked.encode("BLPOP", keys[2][0], "0"))
            sub = cluster.sidecache.raw()
            conns.append(sub)
            sub.command("SUBSCRIBE", keys[1][1])
            c.command("PUBLISH", keys[1][1], "m")
            sub.read_reply()
            direct = cluster.direct(2)
            harness.wait_until(lambda: int(direct.info("clients")["blocked_clients"]) == 1,
                               timeout=5, what="a blocked client")
            m = scrape(http_port)
            self.assertEqual(m['sidecache_transactions_total{result="exec"}'], 1)
            self.assertEqual(m['sidecache_transactions_total{result="discard"}'], 1)
            self.assertEqual(m['sidecache_transactions_total{result="aborted"}'], 1)
            self.assertEqual(m["sidecache_blocking_commands"], 1)
            self.assertEqual(m["sidecache_pubsub_clients"], 1)
            self.assertEqual(m["sidecache_pubsub_messages_total"], 1)
            self.assertEqual(dedicated(m, 2), 1)
            self.assertEqual(dedicated(m, 1), 1)
            # node0: the transactions' connection, idle in the worker's cache for the next one
            self.assertEqual(dedicated(m, 0), 1)
            for x in conns:
                x.close()
            conns = []
            harness.wait_until(
                lambda: scrape(http_port)["sidecache_blocking_commands"] == 0 and
                scrape(http_port)["sidecache_pubsub_clients"] == 0 and
                dedicated(scrape(http_port), 2) == 0,
                timeout=5, what="the gauges to drop")
            direct.close()
        finally:
            for x in conns:
                x.close()
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
