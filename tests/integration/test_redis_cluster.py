#!/usr/bin/env python3
"""pool.type: cluster end to end: a real 3-primary Redis Cluster (cluster-replicas 0) created in
the test, sidecache given one seed, and a plain single-node redis-py client:

(a) keys set through sidecache live on the primary that owns CLUSTER KEYSLOT's slot (read back
    from that node directly, where a wrong node would answer MOVED); sidecache's CRC16 agrees
    with CLUSTER KEYSLOT on keys with and without hash tags.
(b) MGET / MSET / DEL / EXISTS across slots and nodes (split by slot); DBSIZE sums the primaries.
(c) SINTERSTORE across slots: -CROSSSLOT in Redis' words; with a hash tag it works.
(d) a slot migrated with real commands (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE)
    while a client loops on its keys: zero client-visible errors, MOVED followed and counted,
    the slot map refreshed (epoch bumped).
(e) ASK: a slot MIGRATING with its key already on the importing node: read through ASKING,
    counted, the map unchanged.
    A multi-key read of a half-moved slot (-TRYAGAIN) waits and succeeds.
(f) CLUSTER INFO / SLOTS / SHARDS / MYID / KEYSLOT answered as one node serving every slot.
(g) a reload (SIGHUP) of a cluster pool asks the cluster again; keys keep working.
(h) a primary added with redis-cli --cluster add-node takes a slot under load: zero client
    errors, the new node gets connections without a reload.
(i) config errors: ring options (hash, hash_tag, weight, name) and down_policy: remap on a
    cluster pool fail --check-config with file:line (read-through and write: behind policies
    pass: tests/integration/test_cluster_cache.py, test_cluster_write_behind.py).
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Load, crc16, raw  # noqa: E402

CROSSSLOT = "CROSSSLOT Keys in request don't hash to the same slot"


class ClusterPoolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sidecache-cluster-")
        cls.cluster = harness.RedisCluster(cls.tmp)
        cls.http = harness.free_port()
        cls.sc = harness.cluster_sidecache(cls.tmp, cls.cluster.nodes[1].port, cls.http,
                                           "refresh_interval: 60s, refresh_min_interval: 50ms")
        cls.client = cls.sc.client()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sc.stop_checked()
        finally:
            cls.cluster.stop()

    def metric(self, name, **labels):
        return harness.metric(self.http, name, **labels)

    def test_a_keys_live_on_their_slot_owner(self):
        keys = ["key:%d" % i for i in range(200)] + ["{user1000}.following",
                                                     "{user1000}.followers", "foo{}{bar}"]
        for k in keys:
            self.assertTrue(self.client.set(k, "v-" + k))
        for k in keys:
            slot = self.cluster.keyslot(k)
            tag = k[k.index("{") + 1:k.index("}")] if "{" in k and "}" in k else ""
            hashed = tag if tag and k.index("}") > k.index("{") else k
            self.assertEqual(crc16(hashed.encode()) % 16384, slot, k)
            owner = self.cluster.owner(slot)
            self.assertEqual(owner.client().get(k), ("v-" + k).encode(), k)
            self.assertEqual(self.client.get(k), ("v-" + k).encode(), k)
        self.assertGreaterEqual(self.metric("sidecache_cluster_slot_map_refreshes_total"), 1)
        self.assertGreaterEqual(self.metric("sidecache_cluster_slot_map_epoch"), 1)

    def test_b_multi_key_commands_split_by_slot(self):
        pairs = {"mk:%d" % i: "val%d" % i for i in range(50)}
        self.assertTrue(self.client.mset(pairs))
        keys = list(pairs) + ["mk:missing"]
        self.assertEqual(self.client.mget(keys),
                         [pairs[k].encode() for k in pairs] + [None])
        self.assertEqual(self.client.exists(*keys), 50)
        for k in pairs:  # each where its slot's owner has it
            self.assertEqual(self.cluster.owner(self.cluster.keyslot(k)).client().get(k),
                             pairs[k].encode())
        self.assertEqual(self.client.delete(*keys), 50)
        self.assertEqual(self.client.mget(list(pairs)), [None] * 50)
        total = sum(r.client().dbsize() for r in self.cluster.nodes)
        self.assertEqual(self.client.dbsize(), total)

    def test_c_crossslot(self):
        import redis
        self.client.sadd("s:a", "x", "y")
        self.client.sadd("s:b", "y")
        self.assertNotEqual(self.cluster.keyslot("s:a"), self.cluster.keyslot("s:b"))
        with self.assertRaises(redis.ResponseError) as caught:
            self.client.sinterstore("s:dest", ["s:a", "s:b"])
        self.assertEqual(str(caught.exception), CROSSSLOT)
        self.client.sadd("{s}:a", "x", "y")
        self.client.sadd("{s}:b", "y")
        self.assertEqual(self.client.sinterstore("{s}:dest", ["{s}:a", "{s}:b"]), 1)
        self.assertEqual(self.client.smembers("{s}:dest"), {b"y"})

    def migrate_prepare(self, slot):
        """SETSLOT IMPORTING on a node other than the owner, MIGRATING on the owner."""
        source = self.cluster.owner(slot)
        target = next(r for r in self.cluster.nodes if r is not source)
        target.client().execute_command("CLUSTER SETSLOT", slot, "IMPORTING",
                                        self.cluster.ids[source.port])
        source.client().execute_command("CLUSTER SETSLOT", slot, "MIGRATING",
                                        self.cluster.ids[target.port])
        return source, target

    def migrate_keys(self, source, target, keys):
        source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                                        "KEYS", *keys)

    def migrate_finish(self, slot, target):
        # The target first, then the others (the source among them): Redis' documented order.
        for r in [target] + [r for r in self.cluster.nodes if r is not target]:
            r.client().execute_command("CLUSTER SETSLOT", slot, "NODE",
                                       self.cluster.ids[target.port])

    def test_d_moved_during_migration_is_invisible(self):
        keys = ["{moved}:%d" % i for i in range(20)]
        slot = self.cluster.keyslot(keys[0])
        for k in keys:
            self.client.set(k, k)
        moved_before = self.metric("sidecache_cluster_redirects_total", kind="moved")
        epoch_before = self.metric("sidecache_cluster_slot_map_epoch")
        with Load(self.sc, keys, write=True) as load:
            source, target = self.migrate_prepare(slot)
            self.migrate_keys(source, target, keys)
            self.migrate_finish(slot, target)
            harness.wait_until(lambda: load.done > 200, timeout=20, what="requests after the move")
        errors = load.errors
        self.assertEqual(errors[:5], [])
        for k in keys:
            self.assertEqual(target.client().get(k), k.encode())
            self.assertEqual(self.client.get(k), k.encode())
        self.assertGreater(self.metric("sidecache_cluster_redirects_total", kind="moved"),
                           moved_before)
        harness.wait_until(
            lambda: self.metric("sidecache_cluster_slot_map_epoch") > epoch_before,
            timeout=10, what="a slot map refresh after MOVED")
        self.sc.check()

    def test_e_ask_while_migrating(self):
        key = "{asked}:1"
        slot = self.cluster.keyslot(key)
        self.client.set(key, "here")
        ask_before = self.metric("sidecache_cluster_redirects_total", kind="ask")
        source, target = self.migrate_prepare(slot)
        try:
            self.migrate_keys(source, target, [key])
            self.assertEqual(self.client.get(key), b"here")  # source says ASK
            self.assertEqual(self.client.get(key), b"here")
            self.assertGreaterEqual(self.metric("sidecache_cluster_redirects_total", kind="ask"),
                                    ask_before + 2)
            # A new key of the migrating slot is written on the importing node (ASK again).
            self.assertTrue(self.client.set("{asked}:2", "new"))
        finally:
            self.migrate_finish(slot, target)
        self.assertEqual(self.client.get("{asked}:2"), b"new")
        self.sc.check()


    def test_e2_tryagain_waits_for_the_migration(self):
        """MGET of two keys of one slot, one already moved: the source answers -TRYAGAIN;
        sidecache waits and resends, and once the slot is moved follows the MOVED."""
        keys = ["{try}:a", "{try}:b"]
        slot = self.cluster.keyslot(keys[0])
        for k in keys:
            self.client.set(k, k)
        retries_before = self.metric("sidecache_cluster_retries_total")
        source, target = self.migrate_prepare(slot)
        result = {}
        try:
            self.migrate_keys(source, target, keys[:1])

            def read():
                try:
                    result["value"] = self.sc.client().mget(keys)
                except Exception as e:  # noqa: BLE001 - the client's error is the finding
                    result["error"] = repr(e)
            reader = threading.Thread(target=read)
            reader.start()
            harness.wait_until(
                lambda: self.metric("sidecache_cluster_retries_total") > retries_before,
                timeout=5, interval=0.005, what="a TRYAGAIN retried")
            self.migrate_keys(source, target, keys[1:])
        finally:
            self.migrate_finish(slot, target)
        reader.join(timeout=20)
        self.assertEqual(result, {"value": [k.encode() for k in keys]})
        self.sc.check()

    def test_f_cluster_commands_see_one_node(self):
        c = raw(self.sc)
        info = c.execute_command("CLUSTER INFO").decode()
        self.assertIn("cluster_state:ok\r\n", info)
        self.assertIn("cluster_slots_assigned:16384\r\n", info)
        self.assertIn("cluster_known_nodes:1\r\n", info)
        slots = c.execute_command("CLUSTER SLOTS")
        self.assertEqual(len(slots), 1)
        self.assertEqual(slots[0][:2], [0, 16383])
        self.assertEqual(slots[0][2][:2], [b"127.0.0.1", self.sc.port])
        myid = c.execute_command("CLUSTER MYID")
        self.assertEqual(slots[0][2][2], myid)
        self.assertEqual(len(myid), 40)
        shards = c.execute_command("CLUSTER SHARDS")
        self.assertEqual(shards[0][0:2], [b"slots", [0, 16383]])
        for key in ["foo", "{user1000}.following", "key:7"]:
            self.assertEqual(c.execute_command("CLUSTER KEYSLOT", key), self.cluster.keyslot(key))
        import redis
        with self.assertRaises(redis.ResponseError):  # administrative ones stay rejected
            c.execute_command("CLUSTER NODES")

    def test_g_reload_keeps_the_topology(self):
        self.client.set("{reload}:k", "v")
        with open(self.sc.config_path) as f:
            text = f.read()
        with open(self.sc.config_path, "w") as f:
            f.write(text.replace("refresh_min_interval: 50ms", "refresh_min_interval: 60ms"))
        self.sc.process.signal(signal.SIGHUP)
        harness.wait_until(lambda: "reload (SIGHUP): applied" in self.sc.process.output(),
                           timeout=10, what="the reload")
        self.assertEqual(self.client.get("{reload}:k"), b"v")
        self.assertEqual(self.client.mget(["{reload}:k", "other"]), [b"v", None])
        self.sc.check()

    def test_h_added_primary_gets_traffic_without_reload(self):
        """A 4th primary joins (redis-cli --cluster add-node) and takes one slot: the MOVED to a
        node sidecache does not know yet waits for the refresh, which adds the node through
        the reload path; zero client errors."""
        keys = ["{added}:%d" % i for i in range(10)]
        for k in keys:
            self.client.set(k, k)
        slot = self.cluster.keyslot(keys[0])
        source = self.cluster.owner(slot)
        new = harness.cluster_node(self.tmp)
        self.cluster.nodes.append(new)  # stopped with the others
        subprocess.run(["redis-cli", "--cluster", "add-node", "127.0.0.1:%d" % new.port,
                        "127.0.0.1:%d" % source.port], check=True, capture_output=True,
                       timeout=60)
        new_id = raw(new).execute_command("CLUSTER MYID").decode()
        self.cluster.ids[new.port] = new_id

        def all_know_it():
            return all("cluster_known_nodes:4" in raw(r).execute_command("CLUSTER INFO").decode()
                       for r in self.cluster.nodes) and self.cluster.ok()
        harness.wait_until(all_know_it, timeout=20, what="the new node known by all")
        with Load(self.sc, keys, write=False) as load:
            raw(new).execute_command("CLUSTER SETSLOT", slot, "IMPORTING",
                                     self.cluster.ids[source.port])
            raw(source).execute_command("CLUSTER SETSLOT", slot, "MIGRATING", new_id)
            self.migrate_keys(source, new, keys)
            self.migrate_finish(slot, new)
            started = load.done
            harness.wait_until(lambda: load.done > started + 100, timeout=20,
                               what="requests after the move")
        errors = load.errors
        self.assertEqual(errors[:5], [])
        self.assertEqual(raw(new).get(keys[0]), keys[0].encode())
        harness.wait_until(lambda: "cluster: primaries now" in self.sc.process.output(),
                           timeout=10, what="the topology change applied")
        nodes = harness.metrics_text(self.http)
        self.assertIn('node="127.0.0.1:%d"' % new.port, nodes)
        self.assertEqual(self.client.get(keys[1]), keys[1].encode())
        self.sc.check()


class ClusterConfigErrorTest(unittest.TestCase):
    CASES = [
        ("  hash: murmur\n", 4, "pool.hash: hash is a ring option"),
        ("  hash_tag: \"{}\"\n", 4, "pool.hash_tag: hash_tag is a ring option"),
        ("  down_policy: remap\n", 4, "pool.down_policy: remap"),
        ("  db: 2\n", 4, "pool.db: a Redis Cluster has only database 0"),
    ]

    def test_ring_options_rejected(self):
        head = "listen: 127.0.0.1:7777\npool:\n  type: cluster\n"
        for extra, line, message in self.CASES:
            harness.assert_config_error(self, head + extra + "  nodes: [127.0.0.1:7000]\n",
                                        message, line)
        for node, message in (("{address: 127.0.0.1:7000, weight: 2}",
                               "pool.nodes[0].weight: weight is a ring option"),
                              ("{name: a, address: 127.0.0.1:7000}", "pool.nodes[0].name")):
            harness.assert_config_error(self, head + "  nodes:\n    - %s\n" % node, message)

    def test_cluster_section_needs_cluster_pool(self):
        harness.assert_config_error(
            self, "pool:\n  cluster: {refresh_interval: 1s}\n  nodes: [\"127.0.0.1:7000:1\"]\n",
            "only for a cluster pool", 2)

    def test_cluster_pool_is_valid(self):
        code, name, out = harness.check_config(
            "pool:\n  type: cluster\n  nodes: [127.0.0.1:7000, 127.0.0.1:7001]\n"
            "  cluster: {refresh_interval: 2s, max_redirects: 3, read_from: prefer_replica}\n")
        self.assertEqual(code, 0, out)
        harness.assert_config_error(
            self, "pool:\n  type: cluster\n  nodes: [127.0.0.1:7000]\n"
            "  cluster:\n    read_from: replicas\n", "read_from", 5)

    def test_cache_policies_and_write_behind(self):
        head = ("pool:\n  type: cluster\n  nodes: [127.0.0.1:7000]\ncache:\n"
                "  database: {type: sqlite, path: /tmp/x.db}\n  policies:\n"
                "    - {match: \"p:*\", table: t, key_column: id, value_column: v}\n")
        code, name, out = harness.check_config(head)
        self.assertEqual(code, 0, out)  # read-through (test_cluster_cache.py runs it)
        # write: behind too (test_cluster_write_behind.py runs it).
        code, name, out = harness.check_config(
            head + "    - {match: \"q:*\", table: t, key_column: id, value_column: v,\n"
            "       write: behind}\n")
        self.assertEqual(code, 0, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
