#!/usr/bin/env python3
"""Pipelining through sidecache over 3 nodes: 10,000 mixed commands via redis-py's
pipeline(transaction=False) and as one raw write, every reply in order and correct; several
clients pipelining at once each get only their own replies, in order; a pipeline far longer than
limits.max_pipeline completes (reading pauses, nothing fails).
"""
import os
import random
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

THREAD_TIMEOUT_S = 60


def mixed_commands(rng, n, prefix):
    """n commands (SET/GET/INCR/MGET on keys spread over the nodes) and their expected replies."""
    keys = ["%s:%s:%d" % (prefix, "".join(rng.choice("qwertyuiop") for _ in range(5)), i)
            for i in range(64)]
    store, counters = {}, {}
    commands, expected = [], []
    for i in range(n):
        kind = rng.randrange(4)
        k = rng.choice(keys)
        if kind == 0 or (kind == 1 and not store):
            v = b"%s-%d" % (k.encode(), i)
            store[k] = v
            commands.append(("SET", k, v))
            expected.append("OK")
        elif kind == 1:
            commands.append(("GET", k))
            expected.append(store.get(k))
        elif kind == 2:
            c = "%s:ctr%d" % (prefix, rng.randrange(8))
            counters[c] = counters.get(c, 0) + 1
            commands.append(("INCR", c))
            expected.append(counters[c])
        else:
            ks = rng.sample(keys, rng.randint(1, 8))
            commands.append(tuple(["MGET"] + ks))
            expected.append([store.get(x) for x in ks])
    return commands, expected


def run_raw_pipeline(port, commands, timeout=30.0):
    """Sends every command in one sendall (from a thread) while reading all replies."""
    conn = harness.RespConnection(port, timeout=timeout)
    payload = b"".join(harness.RespConnection.encode(*c) for c in commands)
    errors = []

    def send():
        try:
            conn.send_raw(payload)
        except OSError as e:
            errors.append(e)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        replies = [conn.read_reply() for _ in commands]
    finally:
        sender.join(THREAD_TIMEOUT_S)
        conn.close()
    if errors:
        raise errors[0]
    return replies


def normalise_py(replies):
    """redis-py gives True for +OK in a pipeline; the raw client gives 'OK'."""
    return ["OK" if r is True else r for r in replies]


class Pipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def first_mismatch(self, got, want):
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                return "reply #%d: got %r, want %r" % (i, g, w)
        return None

    def test_redis_py_pipeline_10000(self):
        commands, expected = mixed_commands(random.Random(1), 10000, "pp")
        client = self.cluster.client()
        with client.pipeline(transaction=False) as p:
            for c in commands:
                p.execute_command(*c)
            got = normalise_py(p.execute(raise_on_error=False))
        self.assertEqual(len(got), 10000)
        self.assertIsNone(self.first_mismatch(got, expected))
        self.assertEqual(set(self.cluster.probe([c[1] for c in commands if c[0] == "SET"])),
                         {0, 1, 2})
        client.close()

    def test_raw_pipeline_10000_in_one_write(self):
        commands, expected = mixed_commands(random.Random(2), 10000, "raw")
        got = run_raw_pipeline(self.cluster.sidecache.port, commands)
        self.assertIsNone(self.first_mismatch(got, expected))

    def test_concurrent_pipelining_clients(self):
        n_clients, per_client = 6, 2000
        results = [None] * n_clients
        work = [mixed_commands(random.Random(100 + i), per_client, "cc%d" % i)
                for i in range(n_clients)]

        def client(i):
            try:
                results[i] = run_raw_pipeline(self.cluster.sidecache.port, work[i][0])
            except Exception as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=client, args=(i,), daemon=True)
                   for i in range(n_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(THREAD_TIMEOUT_S)
            self.assertFalse(t.is_alive(), "a pipelining client hung")
        for i in range(n_clients):
            self.assertNotIsInstance(results[i], Exception, repr(results[i]))
            self.assertIsNone(self.first_mismatch(results[i], work[i][1]), "client %d" % i)


class SmallMaxPipeline(unittest.TestCase):
    def test_pipeline_longer_than_max_pipeline_completes(self):
        cluster = harness.Cluster(3, top_extra="limits:\n  max_pipeline: 16\n")
        try:
            commands, expected = mixed_commands(random.Random(3), 5000, "bp")
            got = run_raw_pipeline(cluster.sidecache.port, commands)
            self.assertIsNone(self.first_mismatch(got, expected))
            client = cluster.client()
            with client.pipeline(transaction=False) as p:
                for c in commands[:2000]:
                    p.execute_command(*c)
                got = normalise_py(p.execute(raise_on_error=False))
            errors = [g for g in got if isinstance(g, Exception)]
            self.assertEqual(errors, [])
            client.close()
            cluster.sidecache.check()
        finally:
            cluster.close()

    def test_replies_larger_than_max_output_bytes(self):
        # Every reply is larger than max_output_bytes on its own: reading pauses after each,
        # and still every reply arrives, in order.
        cluster = harness.Cluster(3, top_extra="limits:\n  max_output_bytes: 64kb\n"
                                               "  max_pipeline: 64\n")
        try:
            rng = random.Random(4)
            values = {"big:%d:%d" % (i, rng.randrange(10**6)): bytes([65 + i]) * (100000 + i)
                      for i in range(12)}
            client = cluster.client()
            client.mset(values)
            keys = list(values) * 25
            rng.shuffle(keys)
            commands = [("GET", k) for k in keys]
            got = run_raw_pipeline(cluster.sidecache.port, commands)
            self.assertIsNone(self.first_mismatch(got, [values[k] for k in keys]))
            self.assertEqual(client.mget(keys[:50]), [values[k] for k in keys[:50]])
            client.close()
            cluster.sidecache.check()
        finally:
            cluster.close()

    first_mismatch = Pipeline.first_mismatch


class ConnectionsPerNode(unittest.TestCase):
    """With several connections per node, one client's pipeline must still run in order on
    the node: a GET after a SET of the same key sees it, INCR replies count up."""

    def test_pipeline_order_with_4_connections_per_node(self):
        cluster = harness.Cluster(3, pool_extra="  connections_per_node: 4\n")
        try:
            commands, expected = mixed_commands(random.Random(5), 4000, "cpn")
            got = run_raw_pipeline(cluster.sidecache.port, commands)
            wrong = sum(1 for g, w in zip(got, expected) if g != w)
            self.assertEqual(wrong, 0, "%d of %d replies differ from in-order execution; first: %s"
                             % (wrong, len(got), Pipeline.first_mismatch(self, got, expected)))
            cluster.sidecache.check()
        finally:
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
