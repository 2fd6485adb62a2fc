#!/usr/bin/env python3
"""pool.type: cluster when the cluster changes under load: a real 3-primary + 3-replica Redis
Cluster made per test (harness.RedisCluster, under 10 s), a steady mixed GET/SET workload
through sidecache (harness.Load, every SET a new value), and:

(a) kill -9 of a primary: only its slots' keys see errors, and only until the cluster has
    promoted its replica (plus sidecache's refresh); the window is measured from the
    workload's error timestamps and printed. Then every key works again against the promoted
    replica without restarting sidecache, and every acknowledged write to another primary's
    keys is readable.
(b) CLUSTER FAILOVER (graceful, sent to a replica) under load: zero client-visible errors.
(c) redis-cli --cluster reshard moves 1000 slots under load: zero client-visible errors, every
    acknowledged write readable afterwards, MOVED counted in sidecache_cluster_redirects_total.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Load, key_slot, raw  # noqa: E402

SETUP_BUDGET = 10.0  # seconds to make the 3+3 cluster


def role(server):
    return raw(server).execute_command("ROLE")[0].decode()


def recovered_at(load, keys):
    """When the first request to one of `keys` worked after they began to fail (None: not
    yet). The end of their error window, as a client sees it: errors alone would miss the time
    the load sat in a request that waited out CLUSTERDOWN."""
    first = next((t for t, k, _ in load.failures if k in keys), None)
    if first is None:
        return None
    return next((t for t, k in load.successes if t > first and k in keys), None)


class ClusterCase(unittest.TestCase):
    """A fresh 3+3 cluster and a sidecache in front of it for each test; READ_FROM, when
    set, is pool.cluster.read_from."""
    READ_FROM = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sidecache-cluster-ha-")
        started = time.monotonic()
        self.cluster = harness.RedisCluster(self.tmp, primaries=3, replicas=1)
        self.setup_time = time.monotonic() - started
        self.http = harness.free_port()
        cluster = "refresh_interval: 60s, refresh_min_interval: 100ms"
        if self.READ_FROM:
            cluster += ", read_from: " + self.READ_FROM
        try:
            self.sc = harness.cluster_sidecache(self.tmp, self.cluster.nodes[0].port, self.http,
                                                cluster)
        except BaseException:
            self.cluster.stop()
            raise

    def tearDown(self):
        try:
            self.sc.stop_checked()
        finally:
            self.cluster.stop()
            if not harness.env.keep_tmp():
                shutil.rmtree(self.tmp, ignore_errors=True)

    def metric(self, name, **labels):
        return harness.metric(self.http, name, **labels)

    def keys_by_primary(self, per_primary, prefix):
        """{primary port: [keys]}, `per_primary` keys for each primary."""
        owners = {}
        for first, last, primary, *_ in self.cluster.slots():
            owners.setdefault(primary[1], []).append((first, last))
        found = {port: [] for port in owners}
        i = 0
        while min(len(v) for v in found.values()) < per_primary:
            key = "%s:%d" % (prefix, i)
            slot = key_slot(key)
            port = next(p for p, ranges in owners.items()
                        if any(a <= slot <= b for a, b in ranges))
            if len(found[port]) < per_primary:
                found[port].append(key)
            i += 1
        return found

    def preload(self, keys):
        c = self.sc.client()
        for k in keys:
            self.assertTrue(c.set(k, k))

    def check_acked(self, load, keys):
        """Every acknowledged write to `keys` readable through sidecache and on the owner."""
        c = self.sc.client()
        for k in keys:
            allowed = {load.acked[k]} | load.unknown[k]
            got = c.get(k)
            self.assertIn(got.decode() if got else None, allowed, k)
            owner = self.cluster.owner(key_slot(k))
            got = owner.client().get(k)
            self.assertIn(got.decode() if got else None, allowed, k)

    def workload(self, prefix):
        """20 keys per primary, set; (keys by primary port, every key, the first primary,
        its replica)."""
        keys = self.keys_by_primary(20, prefix)
        every = [k for ks in keys.values() for k in ks]
        self.preload(every)
        primary = self.cluster.primaries()[0]
        return keys, every, primary, self.cluster.replicas_of(primary)[0]

    def run_until(self, load, more, timeout=20):
        start = load.done
        harness.wait_until(lambda: load.done >= start + more, timeout=timeout,
                           what="%d more requests" % more)



class ClusterHaTest(ClusterCase):
    def test_0_setup_time(self):
        print("\n3+3 cluster made in %.2f s" % self.setup_time, file=sys.stderr)
        self.assertLess(self.setup_time, SETUP_BUDGET)
        self.assertEqual(len(self.cluster.primaries()), 3)
        for p in self.cluster.primaries():
            self.assertEqual(len(self.cluster.replicas_of(p)), 1)

    def test_a_kill_primary(self):
        keys, every, victim, heir = self.workload("fo")
        affected = set(keys[victim.port])
        with Load(self.sc, every, write=True, versioned=True) as load:
            self.run_until(load, 300)
            killed = time.monotonic()
            victim.kill9()
            harness.wait_until(lambda: role(heir) == "master", timeout=30, interval=0.01,
                               what="the replica promoted")
            promoted = time.monotonic()
            harness.wait_until(self.cluster.ok, timeout=30, what="cluster_state:ok")
            # sidecache follows on its own: the killed primary's keys work again, then a clean
            # stretch of requests to every key.
            harness.wait_until(lambda: recovered_at(load, affected) is not None, timeout=15,
                               what="the killed primary's keys served again")
            self.run_until(load, 3 * len(every))
        hit = [f for f in load.failures if f[1] in affected]
        others = [f for f in load.failures if f[1] not in affected]
        recovered = recovered_at(load, affected)
        window = recovered - killed
        cluster_time = promoted - killed
        kinds = sorted({re.sub(r"\d+", "N", f[2]) for f in hit})
        print("\nkill -9 of a primary: the test saw its replica promoted after %.2f s; its keys "
              "failed for %.2f s (%d errors, the last %.2f s after the kill: %s); other keys %d "
              "errors; %d CLUSTERDOWN/TRYAGAIN retries"
              % (cluster_time, window, len(hit), (hit[-1][0] - killed) if hit else 0,
                 "; ".join(kinds), len(others),
                 self.metric("sidecache_cluster_retries_total")), file=sys.stderr)
        self.assertEqual(others[:5], [], "errors on other primaries' keys (killed at %.3f)"
                         % killed)
        late = [f for f in load.failures if f[0] > recovered]
        self.assertEqual(late[:5], [], "errors after the failover (killed at %.3f)" % killed)
        # At most the cluster's own failover time plus one refresh (refresh_min_interval and
        # the CLUSTER SLOTS round trip).
        self.assertLess(window, cluster_time + 0.5)
        self.check_acked(load, [k for k in every if k not in affected])
        c = self.sc.client()
        for k in affected:  # writable again, on the promoted replica
            self.assertTrue(c.set(k, "after"))
            self.assertEqual(heir.client().get(k), b"after")
        self.sc.check()

    def test_b_graceful_failover(self):
        keys, every, old, heir = self.workload("gf")
        with Load(self.sc, every, write=True, versioned=True) as load:
            self.run_until(load, 300)
            raw(heir).execute_command("CLUSTER FAILOVER")
            harness.wait_until(lambda: role(heir) == "master" and role(old) == "slave"
                               and self.cluster.ok(), timeout=30, interval=0.01,
                               what="the manual failover")
            self.run_until(load, 3 * len(every))
        self.assertEqual(load.errors[:5], [])
        self.check_acked(load, every)
        for k in keys[old.port]:
            self.assertIs(self.cluster.owner(key_slot(k)), heir)
        self.sc.check()

    def test_c_reshard_1000_slots(self):
        source, target = self.cluster.primaries()[:2]
        first = min(a for a, b, primary, *_ in self.cluster.slots() if primary[1] == source.port)
        moving = range(first, first + 1000)  # redis-cli takes a source's lowest slots first
        keys, i = [], 0
        while len(keys) < 60:
            key = "rs:%d" % i
            if key_slot(key) in moving:
                keys.append(key)
            i += 1
        keys += ["rs:other:%d" % i for i in range(30)]
        self.preload(keys)
        moved_before = self.metric("sidecache_cluster_redirects_total", kind="moved")
        with Load(self.sc, keys, write=True, versioned=True) as load:
            self.run_until(load, 100)
            started = time.monotonic()
            subprocess.run(["redis-cli", "--cluster", "reshard", "127.0.0.1:%d" % source.port,
                            "--cluster-from", self.cluster.ids[source.port],
                            "--cluster-to", self.cluster.ids[target.port],
                            "--cluster-slots", "1000", "--cluster-yes"],
                           check=True, capture_output=True, timeout=90)
            took = time.monotonic() - started
            self.run_until(load, 3 * len(keys))
        print("\nreshard of 1000 slots took %.2f s; %d requests, %d errors"
              % (took, load.done, len(load.errors)), file=sys.stderr)
        self.assertEqual(load.errors[:5], [])
        for k in keys[:60]:
            self.assertIs(self.cluster.owner(key_slot(k)), target)
        self.check_acked(load, keys)
        self.assertGreater(self.metric("sidecache_cluster_redirects_total", kind="moved"),
                           moved_before)
        self.sc.check()


def calls(server, command):
    """How many times `server` ran `command` since its last CONFIG RESETSTAT."""
    stats = server.client().info("commandstats")
    return stats.get("cmdstat_" + command, {}).get("calls", 0)


def reset_stats(servers):
    for r in servers:
        r.client().config_resetstat()


class ReplicaReadTest(ClusterCase):
    """read_from: replica."""
    READ_FROM = "replica"

    def test_reads_on_replicas_writes_on_primaries(self):
        keys = [k for ks in self.keys_by_primary(10, "rr").values() for k in ks]
        self.preload(keys)
        for k in keys:  # replicated (read straight from the replica, after READONLY)
            primary = self.cluster.owner(key_slot(k))
            replica = self.cluster.replicas_of(primary)[0].client()
            replica.execute_command("READONLY")
            harness.wait_until(lambda: replica.get(k) == k.encode(), timeout=5,
                               what="%s replicated" % k)
        primaries = self.cluster.primaries()
        replicas = [r for p in primaries for r in self.cluster.replicas_of(p)]
        reset_stats(self.cluster.nodes)
        c = self.sc.client()
        for _ in range(3):
            for k in keys:
                self.assertEqual(c.get(k), k.encode())
        for k in keys:
            self.assertTrue(c.set(k, k))
        self.assertEqual([calls(p, "get") for p in primaries], [0, 0, 0])
        self.assertEqual(sum(calls(p, "set") for p in primaries), len(keys))
        per_replica = [calls(r, "get") for r in replicas]
        self.assertEqual(sum(per_replica), 3 * len(keys))
        self.assertNotIn(0, per_replica)
        # A split read: each slot's part goes where a GET of that slot went (a replica).
        reset_stats(self.cluster.nodes)
        self.assertEqual(c.mget(keys), [k.encode() for k in keys])
        self.assertEqual(c.exists(*keys), len(keys))
        slots = len({key_slot(k) for k in keys})
        self.assertEqual([calls(p, "mget") + calls(p, "exists") for p in primaries], [0, 0, 0])
        self.assertEqual(sum(calls(r, "mget") for r in replicas), slots)
        self.assertEqual(sum(calls(r, "exists") for r in replicas), slots)
        self.assertNotIn(0, [calls(r, "mget") for r in replicas])
        info = harness.metrics_text(self.http)
        for r in replicas:
            self.assertIn('node="127.0.0.1:%d"' % r.port, info)
        self.assertEqual(self.metric("sidecache_cluster_node_info", role="replica"), 3)
        self.assertEqual(self.metric("sidecache_cluster_node_info", role="primary"), 3)
        self.sc.check()

    def test_moved_from_a_replica_is_followed(self):
        """A slot moved away: the old owner's replica answers MOVED (with READONLY it serves
        only its primary's slots); sidecache follows it to the new primary."""
        source, target = self.cluster.primaries()[:2]
        first = min(a for a, b, primary, *_ in self.cluster.slots() if primary[1] == source.port)
        keys = [k for k in ("mv:%d" % i for i in range(200000)) if key_slot(k) == first][:3]
        self.preload(keys)
        subprocess.run(["redis-cli", "--cluster", "reshard", "127.0.0.1:%d" % source.port,
                        "--cluster-from", self.cluster.ids[source.port],
                        "--cluster-to", self.cluster.ids[target.port],
                        "--cluster-slots", "1", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        moved_before = self.metric("sidecache_cluster_redirects_total", kind="moved")
        c = self.sc.client()
        for k in keys:
            self.assertEqual(c.get(k), k.encode())
        self.assertGreater(self.metric("sidecache_cluster_redirects_total", kind="moved"),
                           moved_before)
        self.sc.check()


class PreferReplicaTest(ClusterCase):
    """read_from: prefer_replica."""
    READ_FROM = "prefer_replica"

    def test_killed_replica_falls_back_to_primary(self):
        keys, every, primary, replica = self.workload("pr")
        reset_stats([replica])
        with Load(self.sc, every, write=True) as load:
            self.run_until(load, 300)
            self.assertGreater(calls(replica, "get"), 0)  # its reads were on the replica
            replica.kill9()
            # Long enough for the health checker to mark it down and the cluster to drop it.
            harness.wait_until(
                lambda: self.metric("sidecache_node_healthy", node="127.0.0.1:%d" % replica.port)
                == 0 or "127.0.0.1:%d" % replica.port not in harness.metrics_text(self.http),
                timeout=20, what="the replica marked down")
            self.run_until(load, 3 * len(every))
        self.assertEqual(load.errors[:5], [])
        reset_stats([primary])
        c = self.sc.client()
        for k in keys[primary.port]:
            self.assertEqual(c.get(k), k.encode())
        self.assertEqual(calls(primary, "get"), len(keys[primary.port]))
        self.sc.check()


if __name__ == "__main__":
    unittest.main(verbosity=2)
