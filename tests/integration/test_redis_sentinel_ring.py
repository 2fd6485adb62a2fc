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
(d) write: behind on a sentinel pool (pool.type: sentinel, one of the groups): writes queued
    while the database is locked, a graceful SENTINEL FAILOVER, more writes after the switch;
    every acknowledged write reaches SQLite (the flusher reconnects to the new primary, where
    the queue was replicated) and the queue drains there.
(e) read_from: replica on a sentinel pool: reads are counted on the replica's INFO
    commandstats (the one SENTINEL replicas lists), none on the primary; writes go to the
    primary.
(f) pool.sentinel.tls: a Sentinel reached over TLS only (its TLS port; certificates made for
    the run) names the primary and is subscribed to.
"""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
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


class SentinelRingTest(harness.SentinelSidecacheTest):
    @classmethod
    def setUpClass(cls):
        cls.start("sidecache-sentinel-ring-", lambda tmp: harness.SentinelGroups(tmp, MASTERS),
                  ring_config)
        cls.groups = cls.servers

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
        # One family per series name, one series per master: a valid exposition.
        promtool = shutil.which("promtool")
        if promtool is not None:
            out = subprocess.run([promtool, "check", "metrics"],
                                 input=harness.metrics_text(self.http), capture_output=True,
                                 text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

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
        with harness.WriteLoad(self.sc, found[failed] + found[other]) as load:
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

    def test_d_write_behind_follows_a_failover(self):
        master = "group-b"
        dbpath = os.path.join(self.tmp, "behind.db")
        db = sqlite3.connect(dbpath)
        db.executescript("CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT);")
        db.close()
        http = harness.free_port()
        cache = harness.cache_yaml(
            http, "    type: sqlite\n    path: %s\n    query_timeout: 300ms" % dbpath,
            '    - {match: "kv:*", table: kv, key_column: id, value_column: v, write: behind}',
            "  write_behind: {flush_interval: 20ms, claim_idle: 1s, backoff_min: 20ms, "
            "backoff_max: 200ms}\n")

        def config(port):
            return ("listen: 127.0.0.1:%d\nworkers: 2\n%s"
                    "pool:\n  type: sentinel\n  request_timeout: 1s\n"
                    "  health: {interval: 200ms, timeout: 200ms, failure_threshold: 2}\n"
                    "  sentinel:\n    master: %s\n    sentinels: [%s]\n"
                    "    refresh_interval: 2s\n    refresh_min_interval: 200ms\n"
                    % (port, cache, master, ", ".join(self.groups.addresses())))
        sc = harness.Sidecache(self.tmp, [], config_text=config)
        try:
            c = sc.client(decode_responses=True)
            old = self.primary(master)
            new = self.groups.other(master, old.port)
            # The database is locked: the writes stay queued in Redis.
            lock = sqlite3.connect(dbpath, timeout=5, isolation_level=None)
            lock.execute("BEGIN IMMEDIATE")
            try:
                for i in range(50):
                    self.assertTrue(c.set("kv:%d" % i, "before-%d" % i))
                # Replicated before the switch (what a primary acknowledged but had not
                # replicated is Redis' own loss, not what this test is about).
                self.assertEqual(old.client().execute_command("WAIT", 1, 5000), 1)
                self.assertEqual(self.groups.sentinels[0].command("SENTINEL", "FAILOVER", master),
                                 "OK")
                harness.wait_until(
                    lambda: harness.metric(http, "sidecache_sentinel_primary_info", master=master,
                                           address="127.0.0.1:%d" % new.port) == 1,
                    timeout=15, interval=0.05, what="the sentinel pool following the failover")
                for i in range(50, 100):
                    self.assertTrue(c.set("kv:%d" % i, "after-%d" % i))
            finally:
                lock.execute("ROLLBACK")
                lock.close()

            def rows():
                db = sqlite3.connect(dbpath, timeout=5)
                try:
                    return dict(db.execute("SELECT id, v FROM kv").fetchall())
                finally:
                    db.close()
            # The row id is the key without the policy's prefix.
            expected = {"%d" % i: ("before-%d" if i < 50 else "after-%d") % i
                        for i in range(100)}
            try:
                harness.wait_until(lambda: rows() == expected, timeout=20, interval=0.1,
                                   what="every acknowledged write in SQLite")
            except TimeoutError:
                got = rows()
                missing = sorted(k for k in expected if got.get(k) != expected[k])
                self.fail("%d writes missing or wrong in SQLite (%r...); log:\n%s"
                          % (len(missing), missing[:5], sc.process.output()[-3000:]))
            self.assertIn("now at 127.0.0.1:%d: reconnecting" % new.port, sc.process.output())
            # Acknowledged on the new primary: its stream and pending set drain.
            m = re.search(r"queue (\S+) \(pending (\S+),", sc.process.output())
            self.assertIsNotNone(m)
            r = new.client()
            harness.wait_until(lambda: r.xlen(m.group(1)) == 0 and r.hlen(m.group(2)) == 0,
                               timeout=10, what="the queue drained on the new primary")
            sc.check()
        finally:
            sc.stop_checked()
        # Leave the group settled for whatever runs next.
        self.groups.wait_settled(master, new.port)

    def test_e_replica_reads(self):
        master = "group-b"
        primary = self.primary(master)
        replica = self.groups.other(master, primary.port)
        # After test_d's failover the old primary resyncs as a replica: wait until it is online
        # and the Sentinels list it.
        self.groups.wait_replicated(primary.port, timeout=20)
        self.groups.wait_settled(master, primary.port)
        http = harness.free_port()

        def config(port):
            return ("listen: 127.0.0.1:%d\nworkers: 2\nhttp: {listen: 127.0.0.1:%d}\n"
                    "pool:\n  type: sentinel\n  request_timeout: 1s\n"
                    "  sentinel:\n    master: %s\n    sentinels: [%s]\n"
                    "    read_from: replica\n"
                    % (port, http, master, ", ".join(self.groups.addresses())))
        sc = harness.Sidecache(self.tmp, [], config_text=config)
        try:
            c = sc.client()
            p, r = primary.client(), replica.client()
            self.assertTrue(c.set("e:key", "v"))
            self.assertEqual(p.get("e:key"), b"v")  # the write went to the primary
            self.assertEqual(p.execute_command("WAIT", 1, 5000), 1)
            gets = {"primary": harness.commandstat(p, "get"),
                    "replica": harness.commandstat(r, "get")}
            for _ in range(20):
                self.assertEqual(c.get("e:key"), b"v")
            self.assertEqual(harness.commandstat(r, "get"), gets["replica"] + 20)
            self.assertEqual(harness.commandstat(p, "get"), gets["primary"])
            self.assertGreaterEqual(harness.metric(
                http, "sidecache_node_requests_total", node="127.0.0.1:%d" % replica.port), 20)
            self.assertIn("replicas 127.0.0.1:%d" % replica.port, sc.process.output())
            sc.check()
        finally:
            sc.stop_checked()

    def test_f_tls_to_the_sentinels(self):
        master = "group-b"
        certs = harness.secure_certs()
        tls_port = harness.free_port()
        tls = ("tls-port %d\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\n"
               "tls-auth-clients no\n"
               % (tls_port, certs["server.crt"], certs["server.key"], certs["ca.crt"]))
        primary = self.groups.primary_port(master)
        sentinel = harness.Sentinel(self.tmp, None, masters={master: primary}, extra_conf=tls)
        http = harness.free_port()

        def config(port):
            return ("listen: 127.0.0.1:%d\nworkers: 1\nhttp: {listen: 127.0.0.1:%d}\n"
                    "pool:\n  type: sentinel\n"
                    "  sentinel:\n    master: %s\n    sentinels: [127.0.0.1:%d]\n"
                    "    tls: {ca_file: %s}\n"
                    % (port, http, master, tls_port, certs["ca.crt"]))
        try:
            sc = harness.Sidecache(self.tmp, [], config_text=config)
            try:
                self.assertTrue(sc.client().set("f:key", "v"))
                self.assertEqual(self.groups.server(master, primary).client().get("f:key"), b"v")
                harness.wait_until(lambda: harness.metric(
                    http, "sidecache_sentinel_subscriptions", master=master) == 1,
                    timeout=5, what="the TLS Sentinel subscribed to")
                sc.check()
            finally:
                sc.stop_checked()
        finally:
            sentinel.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
