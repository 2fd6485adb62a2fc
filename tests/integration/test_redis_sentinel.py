#!/usr/bin/env python3
"""pool.type: sentinel end to end: a primary, a replica (--replicaof) and three Sentinels
(quorum 2, down-after 1 s) started in the test, and sidecache given the Sentinels only:

(a) sidecache finds the primary (verified with ROLE); writes land on it and read back; the
    subscriptions and the primary are in the metrics.
(b) SENTINEL FAILOVER (graceful): sidecache follows without a restart; a write made after the
    switch is on the new primary.
(c) kill -9 of the primary under a steady write load: sidecache follows the promoted replica
    without a restart; client errors only inside the failover window (measured and printed);
    every write acknowledged after the switch is on the new primary; switches counted.
(d) a reload (SIGHUP) asks the Sentinels again and keeps following the primary.
(e) a Sentinel that is down at start is skipped; one that restarts is subscribed to again.
(f) a master name no Sentinel knows: a clear log line, clients get a clear error, no crash.
(g) a Sentinel that hangs (SIGSTOP) is left by the keepalive and subscribed to again after.
(h) config errors: missing master, no Sentinels, nodes or ring options on a sentinel pool,
    pool.sentinel on a cluster pool, a plain node on a ring with pool.sentinel, with file:line.
"""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WINDOW_LIMIT_S = 15  # failover (down-after 1 s + election + promotion) plus sidecache's switch


def sentinel_config(http, sentinels, master="mymaster"):
    def config(port):
        return ("listen: 127.0.0.1:%d\nworkers: 2\nhttp: {listen: 127.0.0.1:%d}\n"
                "pool:\n  type: sentinel\n  request_timeout: 1s\n"
                "  health: {interval: 200ms, timeout: 200ms, failure_threshold: 2}\n"
                "  sentinel:\n    master: %s\n    sentinels: [%s]\n"
                "    refresh_interval: 2s\n    refresh_min_interval: 200ms\n"
                % (port, http, master, ", ".join(sentinels)))
    return config


class SentinelPoolTest(harness.SentinelSidecacheTest):
    @classmethod
    def setUpClass(cls):
        cls.start("sidecache-sentinel-", harness.SentinelGroup, sentinel_config)
        cls.group = cls.servers

    def primary_port(self):
        return self.group.sentinels[0].primary()

    def wait_following(self, port, timeout=15):
        """Until sidecache's metrics name 127.0.0.1:`port` as its primary."""
        address = "127.0.0.1:%d" % port
        harness.wait_until(
            lambda: self.metric("sidecache_sentinel_primary_info", address=address) == 1,
            timeout=timeout, interval=0.05, what="sidecache following %s" % address)

    def test_a_finds_the_primary(self):
        primary = self.group.redis[0]
        self.assertTrue(self.client.set("a:key", "v1"))
        self.assertEqual(self.client.get("a:key"), b"v1")
        self.assertEqual(primary.client().get("a:key"), b"v1")
        self.assertEqual(self.metric("sidecache_sentinel_primary_known", master="mymaster"), 1)
        self.wait_following(primary.port)
        harness.wait_until(lambda: self.metric("sidecache_sentinel_subscriptions") == 3,
                           timeout=5, what="3 subscriptions")
        self.assertGreaterEqual(self.metric("sidecache_sentinel_resolves_total"), 1)
        self.assertEqual(self.metric("sidecache_sentinel_switches_total"), 0)

    def test_b_graceful_failover(self):
        old = self.primary_port()
        new = next(r.port for r in self.group.redis if r.port != old)
        switches = self.metric("sidecache_sentinel_switches_total")
        started = time.monotonic()
        self.assertEqual(self.group.sentinels[0].command("SENTINEL", "FAILOVER", "mymaster"),
                         "OK")
        self.wait_following(new)
        print("graceful failover followed in %.2f s" % (time.monotonic() - started), flush=True)
        self.assertTrue(self.client.set("b:after", "x"))
        self.assertEqual(self.group.server(new).client().get("b:after"), b"x")
        self.assertEqual(self.metric("sidecache_sentinel_switches_total"), switches + 1)
        self.assertGreaterEqual(self.metric("sidecache_sentinel_switch_messages_total"), 1)
        # The old primary becomes the new one's replica (the next test fails over to it).
        self.group.wait_replicated(new, timeout=20)
        self.group.wait_settled(new)

    def test_c_kill9_primary_under_load(self):
        old_port = self.primary_port()
        old = self.group.server(old_port)
        new = next(r for r in self.group.redis if r.port != old_port)
        self.wait_following(old_port)
        switches = self.metric("sidecache_sentinel_switches_total")
        with harness.WriteLoad(self.sc) as load:
            time.sleep(0.3)
            killed = time.monotonic()
            old.kill9()
            self.wait_following(new.port, timeout=WINDOW_LIMIT_S + 5)
            switched = time.monotonic()
            time.sleep(0.5)
        self.assertGreater(len(load.acked), 0)
        before = [e for e in load.errors if e[0] < killed]
        self.assertEqual(before, [], "errors before the kill: %r" % load.errors[:3])
        if load.errors:
            last_error = load.errors[-1][0]
            window = last_error - killed
            print("kill -9 failover: %d client errors over %.2f s after the kill; sidecache "
                  "switched %.2f s after the kill; first error: %s"
                  % (len(load.errors), window, switched - killed, load.errors[0][2]), flush=True)
            self.assertLess(window, WINDOW_LIMIT_S)
            # Errors only during the window: nothing fails once the switch is made.
            self.assertLessEqual(last_error, switched + 0.5)
        after = [k for t, k in load.acked if t > switched]
        self.assertGreater(len(after), 0, "no write acknowledged after the switch")
        direct = new.client()
        for key in after:
            self.assertIsNotNone(direct.get(key), "%s acknowledged after the switch, missing on "
                                 "the new primary" % key)
        self.assertEqual(self.metric("sidecache_sentinel_switches_total"), switches + 1)
        self.assertEqual(self.client.get(after[-1]), direct.get(after[-1]))
        self.sc.check()

    def test_d_reload_asks_again(self):
        primary = self.primary_port()
        reloads = self.metric("sidecache_config_reloads_total", result="ok")
        with open(self.sc.config_path) as f:
            text = f.read()
        with open(self.sc.config_path, "w") as f:
            f.write(text.replace("refresh_interval: 2s", "refresh_interval: 3s"))
        self.sc.process.signal(signal.SIGHUP)
        harness.wait_until(lambda: self.metric("sidecache_config_reloads_total", result="ok")
                           > reloads, timeout=10, what="the reload")
        self.wait_following(primary)
        self.assertTrue(self.client.set("c2:key", "v"))
        self.assertEqual(self.group.server(primary).client().get("c2:key"), b"v")
        harness.wait_until(lambda: self.metric("sidecache_sentinel_subscriptions") == 3,
                           timeout=5, what="3 subscriptions after the reload")

    def test_e_sentinel_down_at_start_is_skipped(self):
        dead = harness.free_port()  # reserved, nothing listens there
        http = harness.free_port()
        sc = harness.Sidecache(self.tmp, [], config_text=sentinel_config(
            http, ["127.0.0.1:%d" % dead] + self.group.addresses()))
        try:
            c = sc.client()
            self.assertTrue(c.set("d:key", "v"))
            self.assertEqual(self.group.server(self.primary_port()).client().get("d:key"), b"v")
            subscribed = lambda: harness.metric(http, "sidecache_sentinel_subscriptions")  # noqa: E731
            harness.wait_until(lambda: subscribed() == 3, timeout=5,
                               what="3 of 4 Sentinels subscribed")
            # A Sentinel that restarts is subscribed to again.
            sentinel = self.group.sentinels[1]
            sentinel.stop()
            harness.wait_until(lambda: subscribed() == 2, timeout=5, what="a subscription lost")
            sentinel.start()
            harness.wait_until(lambda: subscribed() == 3, timeout=10,
                               what="the restarted Sentinel subscribed again")
            self.assertIn("subscribed to +switch-master again", sc.process.output())
        finally:
            sc.stop_checked()

    def test_f_unknown_master_name(self):
        import redis
        http = harness.free_port()
        sc = harness.Sidecache(self.tmp, [], config_text=sentinel_config(
            http, self.group.addresses(), master="nosuch"))
        try:
            with self.assertRaises(redis.ResponseError) as caught:
                sc.client().get("e:key")
            message = str(caught.exception)
            self.assertIn("no primary known for Sentinel master 'nosuch'", message)
            self.assertIn("does not know master 'nosuch'", message)
            self.assertIn("sentinel: master 'nosuch': no primary found", sc.process.output())
            self.assertEqual(harness.metric(http, "sidecache_sentinel_primary_known"), 0)
            self.assertGreaterEqual(harness.metric(http, "sidecache_sentinel_resolve_errors_total"),
                                    1)
            sc.check()
        finally:
            sc.stop_checked()

    def test_g_hung_sentinel_is_left(self):
        # A Sentinel that stops answering without closing the connection (SIGSTOP): the
        # keepalive PING finds it silent and the subscription is dropped, then reopened.
        sentinel = self.group.sentinels[2]
        subscribed = lambda: self.metric("sidecache_sentinel_subscriptions")  # noqa: E731
        harness.wait_until(lambda: subscribed() == 3, timeout=10, what="3 subscriptions")
        sentinel.process.signal(signal.SIGSTOP)
        try:
            harness.wait_until(lambda: subscribed() == 2, timeout=8,
                               what="the silent Sentinel's subscription dropped")
        finally:
            sentinel.process.signal(signal.SIGCONT)
        harness.wait_until(lambda: subscribed() == 3, timeout=10,
                           what="the Sentinel subscribed to again")
        self.assertIn("sentinel 127.0.0.1:%d: nothing read for" % sentinel.port,
                      self.sc.process.output())


class SentinelConfigTest(unittest.TestCase):
    HEAD = "listen: 127.0.0.1:7777\npool:\n  type: sentinel\n"
    CASES = [  # (pool lines after HEAD, line of the error, message)
        ("  sentinel: {sentinels: [127.0.0.1:26379]}\n", 4, "missing required key 'master'"),
        ("  sentinel: {master: m, sentinels: []}\n", 4, "at least one Sentinel address"),
        ("  sentinel: {master: m}\n", 4, "at least one Sentinel address"),
        ("  sentinel: {master: m, sentinels: [127.0.0.1:26379, 127.0.0.1:26379]}\n", 4,
         "duplicate Sentinel address"),
        ("  sentinel: {master: m, sentinels: [127.0.0.1]}\n", 4, "a Sentinel is host:port"),
        ("  sentinel: {master: m, sentinels: [127.0.0.1:26379]}\n  nodes: [\"127.0.0.1:6379:1\"]\n",
         5, "list the Sentinels in pool.sentinel.sentinels"),
        ("  sentinel: {master: m, sentinels: [127.0.0.1:26379]}\n  hash: md5\n", 5,
         "hash is a ring option"),
        ("  sentinel: {master: m, sentinels: [127.0.0.1:26379]}\n  down_policy: remap\n", 5,
         "use fail_fast"),
        ("  sentinel: {master: m, sentinels: [127.0.0.1:26379], username: u}\n", 4,
         "a username needs a password"),
        ("", 3, "a sentinel pool needs pool.sentinel"),
    ]

    def test_errors(self):
        for extra, line, message in self.CASES:
            harness.assert_config_error(self, self.HEAD + extra, message, line)

    def test_sentinel_section_needs_sentinel_pool(self):
        harness.assert_config_error(
            self, "pool:\n  type: cluster\n  nodes: [\"127.0.0.1:7000\"]\n"
            "  sentinel: {master: m, sentinels: [127.0.0.1:26379]}\n",
            "only for a sentinel pool", 4)
        # On a ring, pool.sentinel makes every node a Sentinel group ({name, master}).
        harness.assert_config_error(
            self, "pool:\n  sentinel: {sentinels: [127.0.0.1:26379]}\n"
            "  nodes: [\"127.0.0.1:7000:1\"]\n", "has Sentinel groups as nodes", 3)

    def test_valid_without_contacting_sentinels(self):
        # Nothing listens on these ports: --check-config does not contact the Sentinels.
        code, name, out = harness.check_config(
            self.HEAD + "  sentinel:\n    master: mymaster\n"
            "    sentinels: [127.0.0.1:1, 127.0.0.1:2]\n    refresh_interval: 2s\n")
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
