#!/usr/bin/env python3
"""A ring whose nodes are Sentinel groups (pool.sentinel shared, nodes {name, master}), end to
end: two primary+replica groups and three Sentinels that monitor both, started in the test.

(a) keys spread over both groups' primaries by the ring; every group's primary and the per-node
    and per-master series are in the metrics; 3 subscriptions serve both masters.
(b) kill -9 of one group's primary under a steady write load over keys of both groups: the
    other group's keys see no error at all; the failed group's keys fail only inside the
    failover window; no key changes group (the ring hashes node names); every write
    acknowledged after the switch is on the new primary; the switch is counted for that
    master only.
(c) a group whose master no Sentinel knows: its keys get a clear error, the other group's keys
    are served.
"""
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WINDOW_LIMIT_S = 15  # failover (down-after 1 s + election + promotion) plus sidecache's switch
MASTERS = ["group-a", "group-b"]
NODES = {"group-a": "shard-a", "group-b": "shard-b"}


def ring_config(http, sentinels, masters=("group-a", "group-b")):
    def config(port):
        return ("listen: 127.0.0.1:%d\nworkers: 2\nhttp: {listen: 127.0.0.1:%d}\n"
                "pool:\n  hash: murmur\n  request_timeout: 1s\n"
                "  health: {interval: 200ms, timeout: 200ms, failure_threshold: 2}\n"
                "  sentinel:\n    sentinels: [%s]\n"
                "    refresh_interval: 2s\n    refresh_min_interval: 200ms\n"
                "  nodes:\n"
                "    - {name: shard-a, master: %s}\n"
                "    - {name: shard-b, master: %s}\n"
                % ((port, http, ", ".join(sentinels)) + tuple(masters)))
    return config


class RingLoad:
    """A client setting `keys` round-robin through sidecache; outcomes with their time
    (acked: (t, key); errors: (t, key, text))."""

    def __init__(self, sc, keys):
        self.client = sc.client(socket_timeout=3)
        self.keys = keys
        self.acked, self.errors = [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)

    def loop(self):
        n = 0
        while not self.stop.is_set():
            key = self.keys[n % len(self.keys)]
            try:
                self.client.set(key, n)
                self.acked.append((time.monotonic(), key))
            except Exception as e:  # noqa: BLE001 - every client error counts
                self.errors.append((time.monotonic(), key, repr(e)))
                time.sleep(0.01)
            n += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=20)
        return False


class SentinelRingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sidecache-sentinel-ring-")
        started = time.monotonic()
        cls.groups = harness.SentinelGroups(cls.tmp, MASTERS)
        print("two Sentinel groups ready in %.1f s" % (time.monotonic() - started), flush=True)
        cls.http = harness.free_port()
        try:
            cls.sc = harness.Sidecache(cls.tmp, [], config_text=ring_config(
                cls.http, cls.groups.addresses()))
        except BaseException:
            cls.groups.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.client = cls.sc.client()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sc.stop_checked()
        finally:
            cls.groups.stop()
            if not harness.env.keep_tmp():
                shutil.rmtree(cls.tmp, ignore_errors=True)

    def metric(self, name, **labels):
        return harness.metric(self.http, name, **labels)

    def primary(self, master):
        port = self.groups.primary_port(master)
        return self.groups.server(master, port)

    def wait_following(self, master, port, timeout=15):
        address = "127.0.0.1:%d" % port
        harness.wait_until(
            lambda: self.metric("sidecache_sentinel_primary_info", master=master,
                                address=address) == 1,
            timeout=timeout, interval=0.05, what="sidecache following %s for %s"
            % (address, master))

    def keys_by_group(self, prefix, n=40):
        """`n` keys written through sidecache, by the group whose primary holds them."""
        found = {m: [] for m in MASTERS}
        for i in range(n):
            key = "%s:%d" % (prefix, i)
            self.assertTrue(self.client.set(key, "v"))
            holders = [m for m in MASTERS if self.primary(m).client().get(key) is not None]
            self.assertEqual(len(holders), 1, "%s held by %r" % (key, holders))
            found[holders[0]].append(key)
        return found

    def test_a_keys_spread_over_the_groups(self):
        found = self.keys_by_group("a")
        for master in MASTERS:
            self.assertGreater(len(found[master]), 0, "no key on %s" % master)
            self.wait_following(master, self.groups.primary_port(master))
            self.assertEqual(self.metric("sidecache_sentinel_primary_known", master=master), 1)
            self.assertGreaterEqual(self.metric("sidecache_sentinel_resolves_total",
                                                master=master), 1)
            self.assertGreater(self.metric("sidecache_node_requests_total",
                                           node=NODES[master]), 0)
        harness.wait_until(lambda: self.metric("sidecache_sentinel_subscriptions",
                                               master="group-a") == 3,
                           timeout=5, what="3 subscriptions")
        for key in found["group-b"]:
            self.assertEqual(self.client.get(key), b"v")

    def test_b_kill9_one_group_under_load(self):
        found = self.keys_by_group("b")
        failed, other = "group-a", "group-b"
        for master in MASTERS:
            self.assertGreater(len(found[master]), 0, "no key on %s: %r" % (master, found))
        old = self.primary(failed)
        new = self.groups.other(failed, old.port)
        self.wait_following(failed, old.port)
        switches = {m: self.metric("sidecache_sentinel_switches_total", master=m)
                    for m in MASTERS}
        with RingLoad(self.sc, found[failed] + found[other]) as load:
            time.sleep(0.3)
            killed = time.monotonic()
            old.kill9()
            self.wait_following(failed, new.port, timeout=WINDOW_LIMIT_S + 5)
            switched = time.monotonic()
            time.sleep(0.5)
        other_errors = [e for e in load.errors if e[1] in found[other]]
        self.assertEqual(other_errors, [], "the other group's keys failed: %r"
                         % other_errors[:3])
        before = [e for e in load.errors if e[0] < killed]
        self.assertEqual(before, [], "errors before the kill: %r" % before[:3])
        if load.errors:
            window = load.errors[-1][0] - killed
            print("kill -9 of %s: %d client errors (its keys only) over %.2f s; switched "
                  "%.2f s after the kill; first: %s" % (failed, len(load.errors), window,
                                                       switched - killed, load.errors[0][2]),
                  flush=True)
            self.assertLess(window, WINDOW_LIMIT_S)
            self.assertLessEqual(load.errors[-1][0], switched + 0.5)
        after = [k for t, k in load.acked if t > switched]
        self.assertTrue(any(k in found[failed] for k in after), "no write to %s after the "
                        "switch" % failed)
        self.assertTrue(any(k in found[other] for k in after), "after: %d acked, last at +%.2f s, switched +%.2f s" % (len(after), load.acked[-1][0] - killed, switched - killed))
        # No key changed group: each is on its own group's (new) primary.
        direct = {failed: new.client(), other: self.primary(other).client()}
        for master in MASTERS:
            for key in found[master]:
                self.assertIsNotNone(direct[master].get(key), "%s not on %s" % (key, master))
        for t, key in load.acked:
            if t > switched and key in found[failed]:
                self.assertEqual(self.client.get(key), direct[failed].get(key))
        self.assertEqual(self.metric("sidecache_sentinel_switches_total", master=failed),
                         switches[failed] + 1)
        self.assertEqual(self.metric("sidecache_sentinel_switches_total", master=other),
                         switches[other])
        self.sc.check()

    def test_c_unknown_master_refuses_its_keys_only(self):
        import redis
        http = harness.free_port()
        sc = harness.Sidecache(self.tmp, [], config_text=ring_config(
            http, self.groups.addresses(), masters=("group-b", "nosuch")))
        try:
            c = sc.client()
            served, refused = 0, 0
            for i in range(40):
                key = "c:%d" % i
                try:
                    self.assertTrue(c.set(key, "v"))
                    self.assertEqual(self.primary("group-b").client().get(key), b"v")
                    served += 1
                except redis.ResponseError as e:
                    self.assertIn("no primary known for Sentinel master 'nosuch'", str(e))
                    self.assertIn("does not know master 'nosuch'", str(e))
                    refused += 1
            self.assertGreater(served, 0)
            self.assertGreater(refused, 0)
            self.assertEqual(harness.metric(http, "sidecache_sentinel_primary_known",
                                            master="nosuch"), 0)
            self.assertEqual(harness.metric(http, "sidecache_sentinel_primary_known",
                                            master="group-b"), 1)
            sc.check()
        finally:
            sc.stop_checked()


if __name__ == "__main__":
    unittest.main(verbosity=2)
