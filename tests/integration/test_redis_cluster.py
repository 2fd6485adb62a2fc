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
(h2) BLPOP on a slot moved to a primary sidecache has not heard of: waits for the refresh.
(i) WATCH / MULTI ... EXEC / BLPOP on a slot moved behind sidecache's back: the dedicated
    connection follows MOVED (and BLPOP an ASK), no client error, run on the new owner; a
    MOVED after a command was queued reaches the client, nothing runs.
(k) sharded Pub/Sub: SSUBSCRIBE on each slot owner (RESP2, RESP3), SPUBLISH, CROSSSLOT,
    PUBSUB SHARDNUMSUB / SHARDCHANNELS; a subscribed channel's slot moved: subscribed again on
    the new owner, unseen by the client.
(l) SUBSCRIBE + PSUBSCRIBE: each PUBLISH arrives once although the cluster broadcasts it.
Config errors: ring options (hash, hash_tag, weight, name) and down_policy: remap on a
    cluster pool fail --check-config with file:line (read-through and write: behind policies
    pass: tests/integration/test_cluster_cache.py, test_cluster_write_behind.py).
"""
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
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

    def add_empty_primary(self, via):
        """A new node joined to the cluster (redis-cli --cluster add-node), no slots yet."""
        new = harness.cluster_node(self.tmp)
        self.cluster.nodes.append(new)  # stopped with the others
        subprocess.run(["redis-cli", "--cluster", "add-node", "127.0.0.1:%d" % new.port,
                        "127.0.0.1:%d" % via.port], check=True, capture_output=True, timeout=60)
        self.cluster.ids[new.port] = raw(new).execute_command("CLUSTER MYID").decode()
        known = "cluster_known_nodes:%d" % len(self.cluster.nodes)

        def all_know_it():
            return all(known in raw(r).execute_command("CLUSTER INFO").decode()
                       for r in self.cluster.nodes) and self.cluster.ok()
        harness.wait_until(all_know_it, timeout=20, what="the new node known by all")
        return new

    def test_h_added_primary_gets_traffic_without_reload(self):
        """A 4th primary joins (redis-cli --cluster add-node) and takes one slot: the MOVED to a
        node sidecache does not know yet waits for the refresh, which adds the node through
        the reload path; zero client errors."""
        keys = ["{added}:%d" % i for i in range(10)]
        for k in keys:
            self.client.set(k, k)
        slot = self.cluster.keyslot(keys[0])
        source = self.cluster.owner(slot)
        new = self.add_empty_primary(source)
        new_id = self.cluster.ids[new.port]
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

    def move_slot_behind_sidecache(self, key):
        """Moves `key`'s slot (and the key) to another primary with direct commands, after
        sidecache's last refresh (see followed_moved()): its map still names the old owner.
        Returns the new owner."""
        slot = self.cluster.keyslot(key)
        source, target = self.migrate_prepare(slot)
        self.migrate_keys(source, target, [key])
        self.migrate_finish(slot, target)
        return target

    def followed_moved(self, run):
        """Runs `run`, checks that sidecache followed a MOVED meanwhile, and waits for the
        slot-map refresh that MOVED asked for (so that it cannot land after the next move)."""
        moved = self.metric("sidecache_cluster_redirects_total", kind="moved")
        refreshes = self.metric("sidecache_cluster_slot_map_refreshes_total")
        run()
        self.assertGreater(self.metric("sidecache_cluster_redirects_total", kind="moved"), moved)
        harness.wait_until(
            lambda: self.metric("sidecache_cluster_slot_map_refreshes_total") > refreshes,
            timeout=5, what="the refresh asked for by MOVED")

    def test_i_dedicated_sessions_follow_moved(self):
        """WATCH, a pipelined MULTI/EXEC and BLPOP on a slot moved behind sidecache's back:
        the dedicated connection is answered MOVED and follows it; the client sees no error
        and the commands ran on the new owner."""
        # WATCH first: the WATCH is redirected, then the transaction runs on the new owner.
        self.client.set("{dw}:n", "1")
        target = self.move_slot_behind_sidecache("{dw}:n")

        def watched():
            with self.client.pipeline() as p:
                p.watch("{dw}:n")
                value = int(p.get("{dw}:n"))
                p.multi()
                p.set("{dw}:n", value + 1)
                p.set("{dw}:m", "x")
                self.assertEqual(p.execute(), [True, True])
        self.followed_moved(watched)
        self.assertEqual(target.client().get("{dw}:n"), b"2")
        self.assertEqual(target.client().get("{dw}:m"), b"x")
        # MULTI with its commands pipelined: the first queued command is redirected, MULTI and
        # it are sent again on the new owner, the rest follows there.
        self.client.set("{dm}:n", "5")
        target = self.move_slot_behind_sidecache("{dm}:n")

        def pipelined():
            p = self.client.pipeline(transaction=True)
            p.incr("{dm}:n").incr("{dm}:n").get("{dm}:n")
            self.assertEqual(p.execute(), [6, 7, b"7"])
        self.followed_moved(pipelined)
        self.assertEqual(target.client().get("{dm}:n"), b"7")
        # A blocking command.
        self.client.rpush("{db}:q", "a")
        target = self.move_slot_behind_sidecache("{db}:q")
        target.client().rpush("{db}:q", "b")
        self.followed_moved(lambda: self.assertEqual(self.client.blpop(["{db}:q"], timeout=2),
                                                     (b"{db}:q", b"a")))
        self.assertEqual(target.client().lrange("{db}:q", 0, -1), [b"b"])
        self.sc.check()

    def test_h2_dedicated_session_waits_for_a_new_primary(self):
        """A slot moved to a primary sidecache has not heard of: the BLPOP's MOVED names a
        node not in the pool; the session waits for the refresh that adds it, then follows."""
        key = "{newp}:q"
        self.client.rpush(key, "a")
        source = self.cluster.owner(self.cluster.keyslot(key))
        new = self.add_empty_primary(source)
        slot = self.cluster.keyslot(key)
        raw(new).execute_command("CLUSTER SETSLOT", slot, "IMPORTING",
                                 self.cluster.ids[source.port])
        raw(source).execute_command("CLUSTER SETSLOT", slot, "MIGRATING",
                                    self.cluster.ids[new.port])
        self.migrate_keys(source, new, [key])
        self.migrate_finish(slot, new)
        self.assertNotIn('node="127.0.0.1:%d"' % new.port, harness.metrics_text(self.http))
        self.assertEqual(self.client.blpop([key], timeout=2), (key.encode(), b"a"))
        self.assertIn('node="127.0.0.1:%d"' % new.port, harness.metrics_text(self.http))
        self.sc.check()

    def test_i2_moved_after_queueing_aborts_the_transaction(self):
        """A slot that moves after a transaction queued a command on its node: the later
        command's MOVED reaches the client and EXEC is refused, nothing run, as with Redis."""
        conn = harness.RespConnection(self.sc.port, timeout=5)
        try:
            self.client.set("{late}:a", "1")
            self.assertEqual(conn.command("MULTI"), "OK")
            self.assertEqual(conn.command("INCR", "{late}:a"), "QUEUED")
            target = self.move_slot_behind_sidecache("{late}:a")
            reply = conn.command("INCR", "{late}:a")
            self.assertTrue(str(reply).startswith("MOVED %d 127.0.0.1:%d" % (
                self.cluster.keyslot("{late}:a"), target.port)), reply)
            # Redis 7.0 checks EXEC's queued keys again: the whole transaction is discarded
            # with the MOVED (a node that flags it instead would answer EXECABORT).
            reply = str(conn.command("EXEC"))
            self.assertTrue(reply.startswith("MOVED") or reply.startswith("EXECABORT"), reply)
            self.assertEqual(target.client().get("{late}:a"), b"1")  # nothing ran
            self.assertEqual(conn.command("PING"), "PONG")  # out of the transaction
        finally:
            conn.close()
        self.sc.check()

    def test_j_blocking_command_follows_ask(self):
        """BLPOP on a slot being migrated whose list is already on the importing node: the
        source answers ASK; sidecache sends ASKING and the command there."""
        key = "{bask}:q"
        self.client.rpush(key, "x")
        slot = self.cluster.keyslot(key)
        ask_before = self.metric("sidecache_cluster_redirects_total", kind="ask")
        source, target = self.migrate_prepare(slot)
        try:
            self.migrate_keys(source, target, [key])
            self.assertEqual(self.client.blpop([key], timeout=2), (key.encode(), b"x"))
            self.assertGreater(self.metric("sidecache_cluster_redirects_total", kind="ask"),
                               ask_before)
        finally:
            self.migrate_finish(slot, target)
        self.sc.check()

    def shard_channels(self):
        """Channel names on three different primaries, {primary port: channel}."""
        found = {}
        for i in range(1000):
            ch = "sch:%d" % i
            found.setdefault(self.cluster.owner(self.cluster.keyslot(ch)).port, ch)
            if len(found) == 3:
                return found
        self.fail("no channels on three primaries")

    def test_k_sharded_pubsub(self):
        """SSUBSCRIBE on each channel's slot owner (RESP2 and RESP3), SPUBLISH routed by slot,
        CROSSSLOT for one SSUBSCRIBE across slots, PUBSUB SHARDNUMSUB / SHARDCHANNELS summed
        over the primaries; a subscribed channel's slot moved behind sidecache's back: the
        node's sunsubscribe is answered by subscribing again on the new owner, unseen by the
        client, and messages flow again."""
        channels = list(self.shard_channels().values())
        sub = harness.RespConnection(self.sc.port, timeout=5)
        sub3 = harness.RespConnection(self.sc.port, timeout=5)
        try:
            for i, ch in enumerate(channels):
                self.assertEqual(sub.command("SSUBSCRIBE", ch), [b"ssubscribe", ch.encode(), i + 1])
            self.assertEqual(sub.command("SSUBSCRIBE", channels[0], channels[1]), CROSSSLOT)
            for ch in channels:  # each subscribed on its owner, the bad SSUBSCRIBE nowhere
                owner = self.cluster.owner(self.cluster.keyslot(ch))
                self.assertEqual(owner.client().execute_command("PUBSUB SHARDNUMSUB", ch),
                                 [ch.encode(), 1])
            self.assertEqual(self.client.execute_command("PUBSUB SHARDNUMSUB", *channels),
                             [x for ch in channels for x in (ch.encode(), 1)])
            self.assertCountEqual(self.client.execute_command("PUBSUB SHARDCHANNELS", "sch:*"),
                                  [ch.encode() for ch in channels])
            for ch in channels:
                self.assertEqual(self.client.execute_command("SPUBLISH", ch, "m-" + ch), 1)
            self.assertCountEqual([sub.read_reply() for _ in channels],
                                  [[b"smessage", ch.encode(), ("m-" + ch).encode()]
                                   for ch in channels])
            # An SSUBSCRIBE to a slot moved behind sidecache's back: the node's MOVED is
            # followed, the client sees the confirmation only.
            late = "sch:late"
            late_owner = self.cluster.owner(self.cluster.keyslot(late))
            self.client.set(late, "x")  # a key of the slot, to move it with
            target = self.move_slot_behind_sidecache(late)
            self.assertNotEqual(target.port, late_owner.port)
            self.assertEqual(sub.command("SSUBSCRIBE", late), [b"ssubscribe", late.encode(), 4])
            self.assertEqual(target.client().execute_command("PUBSUB SHARDNUMSUB", late),
                             [late.encode(), 1])
            self.assertEqual(sub.command("SUNSUBSCRIBE", late),
                             [b"sunsubscribe", late.encode(), 3])
            # RESP3: confirmations and messages are pushes.
            self.assertEqual(sub3.command("HELLO", "3")[b"proto"], 3)
            reply = sub3.command("SSUBSCRIBE", channels[1])
            self.assertIsInstance(reply, harness.Push)
            self.assertEqual(list(reply), [b"ssubscribe", channels[1].encode(), 1])
            self.assertEqual(self.client.execute_command("SPUBLISH", channels[1], "both"), 2)
            self.assertEqual(sub.read_reply(), [b"smessage", channels[1].encode(), b"both"])
            got = sub3.read_reply()
            self.assertIsInstance(got, harness.Push)
            self.assertEqual(list(got), [b"smessage", channels[1].encode(), b"both"])
            # The slot of channels[1] moves (no keys in it); sidecache's map is stale.
            moved = channels[1]
            slot = self.cluster.keyslot(moved)
            resubscribes = self.metric("sidecache_cluster_shard_resubscribes_total")
            source, target = self.migrate_prepare(slot)
            self.migrate_finish(slot, target)
            harness.wait_until(
                lambda: self.metric("sidecache_cluster_shard_resubscribes_total")
                >= resubscribes + 2, timeout=5, what="both subscribers subscribed again")
            harness.wait_until(
                lambda: target.client().execute_command("PUBSUB SHARDNUMSUB", moved)
                == [moved.encode(), 2], timeout=5, what="the subscriptions on the new owner")
            self.assertEqual(self.client.execute_command("SPUBLISH", moved, "after"), 2)
            # The next frame each client gets is the message: no sunsubscribe reached them.
            self.assertEqual(sub.read_reply(), [b"smessage", moved.encode(), b"after"])
            self.assertEqual(list(sub3.read_reply()), [b"smessage", moved.encode(), b"after"])
            self.assertEqual(sub.command("SUNSUBSCRIBE", moved),
                             [b"sunsubscribe", moved.encode(), 2])
            self.assertEqual(target.client().execute_command("PUBSUB SHARDNUMSUB", moved),
                             [moved.encode(), 1])
            # redis-py 4.3 (RESP2) has no ssubscribe(): its PubSub object sends the command and
            # reads the frames (a plain subscription first, which its get_message() needs).
            p = self.sc.client().pubsub()
            p.subscribe("plain")
            p.execute_command("SSUBSCRIBE", channels[0])
            frames = []
            harness.wait_until(lambda: frames.append(p.get_message(timeout=0.2)) or
                               [f["type"] for f in frames if f] == ["subscribe", "ssubscribe"],
                               timeout=5, what="redis-py's confirmations")
            self.assertEqual(self.client.execute_command("SPUBLISH", channels[0], "py"), 2)
            self.assertEqual(sub.read_reply(), [b"smessage", channels[0].encode(), b"py"])
            message = None
            deadline = time.monotonic() + 5
            while message is None and time.monotonic() < deadline:
                message = p.get_message(timeout=0.2)
            self.assertEqual((message["type"], message["channel"], message["data"]),
                             ("smessage", channels[0].encode(), b"py"))
            p.close()
        finally:
            sub.close()
            sub3.close()
        self.sc.check()

    def test_l_pubsub_messages_arrive_once(self):
        """A cluster broadcasts every PUBLISH to all its nodes: a channel and a pattern
        subscribed through sidecache still get each message once."""
        sub = harness.RespConnection(self.sc.port, timeout=5)
        try:
            self.assertEqual(sub.command("SUBSCRIBE", "news"), [b"subscribe", b"news", 1])
            self.assertEqual(sub.command("PSUBSCRIBE", "ne*"), [b"psubscribe", b"ne*", 2])
            self.assertEqual(self.client.pubsub_numpat(), 1)
            self.client.publish("news", "one")
            self.client.publish("news", "two")
            got = []
            sub.sock.settimeout(0.5)
            try:
                while len(got) < 10:
                    got.append(sub.read_reply())
            except (OSError, TimeoutError):
                pass
            self.assertCountEqual(got, [[b"message", b"news", b"one"],
                                        [b"pmessage", b"ne*", b"news", b"one"],
                                        [b"message", b"news", b"two"],
                                        [b"pmessage", b"ne*", b"news", b"two"]])
        finally:
            sub.close()
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
