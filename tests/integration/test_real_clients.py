#!/usr/bin/env python3
"""Real clients using what needs a session of its own, through sidecache over 3 nodes:
Debian's python3-redis 4.3 (RESP2: pipeline, transactions with and without WATCH, Pub/Sub
across nodes, blocking pops woken by another client, scan_iter), redis-cli (RESP3 with -3,
MULTI on stdin, --scan, SUBSCRIBE, BLPOP) and the hiredis program in its session mode.
Simple commands, redis-benchmark and hiredis's basic mode are in test_clients.py.
Every client call has a socket timeout; every subprocess a timeout.
"""
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

import redis  # noqa: E402  (Debian's python3-redis, run by /usr/bin/python3)

TIMEOUT_S = 30


class PythonRedis(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def setUp(self):
        self.r = self.cluster.client(socket_timeout=10, decode_responses=True)

    def tearDown(self):
        self.r.close()
        self.cluster.sidecache.check()

    def per_node(self, n, prefix):
        """n keys on each node: a list of lists indexed by node."""
        return harness.keys_on_nodes(self.cluster, n, prefix=prefix)

    def test_pipeline_across_nodes(self):
        keys = [k for ks in self.per_node(5, "py:pipe") for k in ks]
        pipe = self.r.pipeline(transaction=False)
        for i, k in enumerate(keys):
            pipe.set(k, i)
            pipe.incr(k)
        pipe.mget(keys)
        pipe.get("py:pipe:missing")
        replies = pipe.execute()
        expected = []
        for i in range(len(keys)):
            expected += [True, i + 1]
        self.assertEqual(replies, expected + [[str(i + 1) for i in range(len(keys))], None])
        self.assertEqual(sorted(self.cluster.node_of(k) for k in keys),
                         sorted(self.cluster.probe(keys)))

    def test_transaction(self):
        a, b = "{py:tx}a", "{py:tx}b"
        pipe = self.r.pipeline(transaction=True)
        pipe.set(a, "1").incr(a).rpush(b, "x", "y").lrange(b, 0, -1)
        self.assertEqual(pipe.execute(), [True, 2, 2, ["x", "y"]])
        # A runtime error inside EXEC is reported for that command only (raise_on_error=False).
        pipe = self.r.pipeline(transaction=True)
        pipe.incr(b).get(a)
        replies = pipe.execute(raise_on_error=False)
        self.assertIsInstance(replies[0], redis.ResponseError)
        self.assertEqual(replies[1], "2")

    def test_transaction_keys_on_different_nodes_fail(self):
        nodes = self.per_node(1, "py:txx")
        pipe = self.r.pipeline(transaction=True)
        pipe.set(nodes[0][0], "1").set(nodes[1][0], "2")
        with self.assertRaises(redis.ResponseError):
            pipe.execute()
        self.assertEqual(self.r.exists(nodes[0][0], nodes[1][0]), 0)
        self.assertTrue(self.r.ping())  # the connection is usable afterwards

    def test_watch_optimistic_locking(self):
        # r.transaction(): WATCH, read, MULTI, write, EXEC, retried on a conflict. Concurrent
        # increments from several clients must not lose an update.
        key = "{py:watch}counter"
        self.r.set(key, 0)
        errors = []

        def increment(times):
            client = self.cluster.client(socket_timeout=10)
            try:
                def txn(pipe):
                    value = int(pipe.get(key))
                    pipe.multi()
                    pipe.set(key, value + 1)
                for _ in range(times):
                    client.transaction(txn, key)
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
            finally:
                client.close()
        threads = [threading.Thread(target=increment, args=(25,), daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT_S)
        self.assertEqual(errors, [])
        self.assertEqual(self.r.get(key), "100")
        # A watched key changed by another client aborts EXEC (WatchError).
        pipe = self.r.pipeline(transaction=True)
        pipe.watch(key)
        self.r.set(key, "changed")
        pipe.multi()
        pipe.set(key, "mine")
        with self.assertRaises(redis.WatchError):
            pipe.execute()
        self.assertEqual(self.r.get(key), "changed")

    def test_pubsub_across_nodes(self):
        channels = [ks[0] for ks in self.per_node(1, "py:chan")]
        pubsub = self.r.pubsub()
        try:
            pubsub.subscribe(*channels)
            pubsub.psubscribe("py:pattern:*")
            confirmations = [self.next_message(pubsub) for _ in range(len(channels) + 1)]
            self.assertEqual(sorted((m["type"], m["channel"]) for m in confirmations),
                             sorted([("subscribe", c) for c in channels] +
                                    [("psubscribe", "py:pattern:*")]))
            self.assertEqual(self.r.pubsub_numsub(*channels), [(c, 1) for c in channels])
            self.assertEqual(sorted(self.r.pubsub_channels("py:chan*")), sorted(channels))
            for i, c in enumerate(channels):
                self.assertEqual(self.r.publish(c, "m%d" % i), 1)
            self.assertEqual(self.r.publish("py:pattern:x", "pm"), 1)
            got = [self.next_message(pubsub) for _ in range(len(channels) + 1)]
            self.assertEqual(sorted((m["type"], m["channel"], m["data"]) for m in got),
                             sorted([("message", c, "m%d" % i) for i, c in enumerate(channels)] +
                                    [("pmessage", "py:pattern:x", "pm")]))
            pubsub.ping("still here")  # PING in subscribed mode
            pong = self.next_message(pubsub)
            self.assertEqual((pong["type"], pong["data"]), ("pong", "still here"))
            pubsub.unsubscribe(channels[0])
            self.assertEqual(self.next_message(pubsub)["type"], "unsubscribe")
            self.assertEqual(self.r.publish(channels[0], "nobody"), 0)
            self.assertEqual(self.r.publish(channels[1], "again"), 1)
            self.assertEqual(self.next_message(pubsub)["data"], "again")
        finally:
            pubsub.close()

    def next_message(self, pubsub, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = pubsub.get_message(timeout=0.2)
            if m is not None:
                return m
        self.fail("no Pub/Sub message within %.1f s" % timeout)

    def test_blocking_pop_woken_by_another_client(self):
        queue, dest = "{py:bq}queue", "{py:bq}dest"
        self.assertIsNone(self.r.blpop([queue], timeout=1))

        def blocked_on_nodes():
            return sum(int(self.cluster.direct(i).info("clients")["blocked_clients"])
                       for i in range(len(self.cluster.redis)))

        def push_later():
            # Each push waits until the test's client is blocked on a node: the value then
            # reaches a client that is waiting for it (the wake-up is what is tested).
            client = self.cluster.client(socket_timeout=10)
            for push in (lambda: client.rpush(queue, "a"), lambda: client.rpush(queue, "b"),
                         lambda: client.zadd("py:bz", {"m": 1})):
                harness.wait_until(lambda: blocked_on_nodes() >= 1, timeout=10,
                                   what="a client blocked")
                push()
            client.close()
        pusher = threading.Thread(target=push_later, daemon=True)
        pusher.start()
        self.assertEqual(self.r.blpop([queue], timeout=5), (queue, "a"))
        self.assertEqual(self.r.blmove(queue, dest, 5, "LEFT", "RIGHT"), "b")
        self.assertEqual(self.r.bzpopmin("py:bz", timeout=5), ("py:bz", "m", 1.0))
        pusher.join(TIMEOUT_S)
        self.assertEqual(self.r.lrange(dest, 0, -1), ["b"])
        self.assertEqual(self.r.brpoplpush(dest, queue, timeout=1), "b")

    def test_scan_iter(self):
        keys = {k for ks in self.per_node(10, "py:scan") for k in ks}
        for k in keys:
            self.r.set(k, "v")
        hashes = {k for ks in self.per_node(3, "py:scanh") for k in ks}
        for k in hashes:
            self.r.hset(k, "f", "v")
        self.assertEqual(set(self.r.scan_iter(match="py:scan:*", count=5)), keys)
        self.assertEqual(set(self.r.scan_iter(match="py:scan*", _type="hash")), hashes)
        self.assertEqual(self.r.dbsize(), sum(self.cluster.direct(i).dbsize() for i in range(3)))
        big = "py:bighash"
        self.r.hset(big, mapping={"f%d" % i: i for i in range(300)})
        self.assertEqual(dict(self.r.hscan_iter(big, count=50)),
                         {"f%d" % i: str(i) for i in range(300)})


class CommandLineClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)
        cls.port = str(cls.cluster.sidecache.port)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def cli(self, *args, stdin=None):
        out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", self.port] + list(args),
                             input=stdin, capture_output=True, timeout=TIMEOUT_S)
        return out.returncode, out.stdout.decode(errors="replace"), \
            out.stderr.decode(errors="replace")

    def test_redis_cli_resp3(self):
        self.assertEqual(self.cli("-3", "HSET", "cli3:h", "a", "1", "b", "2")[1], "2\n")
        self.assertEqual(self.cli("-3", "--no-raw", "HGETALL", "cli3:h")[1],
                         '1# "a" => "1"\n2# "b" => "2"\n')
        self.cli("-3", "ZADD", "cli3:z", "1.5", "m")
        self.assertEqual(self.cli("-3", "--no-raw", "ZSCORE", "cli3:z", "m")[1], "(double) 1.5\n")
        self.assertEqual(self.cli("-3", "--no-raw", "GET", "cli3:none")[1], "(nil)\n")
        self.assertEqual(self.cli("-3", "--no-raw", "SMEMBERS", "cli3:none")[1],
                         "(empty set)\n")
        code, out, err = self.cli("-3", "--no-raw", "HELLO", "3")
        self.assertIn('"proto" => (integer) 3', out, out + err)
        # RESP2 after RESP3 clients: no RESP3 type leaks to a RESP2 connection.
        self.assertEqual(self.cli("--no-raw", "HGETALL", "cli3:h")[1],
                         '1) "a"\n2) "1"\n3) "b"\n4) "2"\n')
        self.assertEqual(self.cli("--no-raw", "ZSCORE", "cli3:z", "m")[1], '"1.5"\n')

    def test_redis_cli_multi_on_stdin(self):
        script = b"MULTI\nSET {cli}a 1\nINCR {cli}a\nEXEC\nGET {cli}a\n"
        code, out, err = self.cli(stdin=script)
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines(), ["OK", "QUEUED", "QUEUED", "OK", "2", "2"])

    def test_redis_cli_scan_and_blpop(self):
        keys = {k for ks in harness.keys_on_nodes(self.cluster, 5, prefix="cliscan") for k in ks}
        client = self.cluster.client()
        client.mset({k: "v" for k in keys})
        code, out, err = self.cli("--scan", "--pattern", "cliscan:*")
        self.assertEqual(code, 0, err)
        self.assertEqual(set(out.split()), keys)
        self.assertEqual(self.cli("--no-raw", "BLPOP", "cli:queue", "0.2")[1], "(nil)\n")
        client.rpush("cli:queue", "job")
        self.assertEqual(self.cli("BLPOP", "cli:queue", "1")[1], "cli:queue\njob\n")
        client.close()

    def test_redis_cli_subscribe(self):
        channel = "cli:news"
        proc = subprocess.Popen(["redis-cli", "-h", "127.0.0.1", "-p", self.port, "SUBSCRIBE",
                                 channel], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            client = self.cluster.client()
            harness.wait_until(lambda: client.pubsub_numsub(channel) == [(channel.encode(), 1)],
                               timeout=10, what="the redis-cli subscription")
            self.assertEqual(client.publish(channel, "breaking"), 1)
            client.close()
            lines = []
            deadline = time.monotonic() + 10
            while len(lines) < 6 and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                lines.append(line.decode().strip())
            self.assertEqual(lines, ["subscribe", channel, "1", "message", channel, "breaking"])
        finally:
            proc.kill()
            proc.wait(timeout=10)
            proc.stdout.close()
            proc.stderr.close()

    def test_hiredis_session(self):
        binary = os.environ.get("HIREDIS_CLIENT") or harness.find_tool("hiredis_client")
        out = subprocess.run([binary, "127.0.0.1", self.port, "hs", "session"],
                             capture_output=True, timeout=TIMEOUT_S)
        text = out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")
        self.assertEqual(out.returncode, 0, text)
        self.assertIn("all checks passed", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
