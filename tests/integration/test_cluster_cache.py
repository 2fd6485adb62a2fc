#!/usr/bin/env python3
"""Read-through and write modes on a cluster pool: one real 3-primary Redis Cluster, a SQLite
file, sidecache seeded with one node, a plain single-node redis-py client:

(a) misses load from SQLite and are stored on the key's slot owner (read there directly); the
    next read is a hit (a row changed in SQLite is not seen).
(b) negative caching: a string policy's marker in the key, a hash policy's beside it, named
    sidecache:neg:{<slot tag>}<key> and found on the owner in the key's slot (keys with braces
    of their own too).
(c) the cross-sidecar lease of a hash policy is looked for in the key's slot: a lease placed
    there by "another sidecar" makes sidecache wait for that holder's value.
(d) write: through (row, then the cache on the owner, the generation key in the key's slot),
    write: invalidate (row, then the key deleted on the owner), DEL with delete_row_on_del.
(e) a slot migrated with real commands (every key of the slot moved, side keys included)
    under a read-through load with a short TTL, on keys whose loads store with one script
    over the key and its write generation, and keys with the lease in the key (misses while
    MIGRATING stored on the importing node through ASK): zero client errors, the right
    values, no store refused.
"""
import os
import re
import sqlite3
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Load, key_slot, slot_tag  # noqa: E402

POLICIES = """    - {name: products, match: "product:*", table: products, key_column: id,
       value_column: name, ttl: 60s, ttl_jitter: 0, negative_ttl: 5s, lease: true}
    - {name: users, match: "user:*", table: users, key_column: id, mapping: hash,
       columns: [name, plan], ttl: 60s, negative_ttl: 5s, lease: true, lease_ttl: 5s,
       load_timeout: 8s,
       lease_wait: 5s}
    - {name: items, match: "item:*", table: items, key_column: id, value_column: v, ttl: 60s,
       write: through, delete_row_on_del: true}
    - {name: inv, match: "inv:*", table: items, key_column: id, value_column: v,
       write: invalidate}
    - {name: kv, match: "kv:*", table: kv, key_column: id, value_column: v, ttl: 1s,
       ttl_jitter: 0, write: invalidate}
    - {name: kl, match: "kl:*", table: kl, key_column: id, value_column: v, ttl: 1s,
       ttl_jitter: 0, lease: true}
    - {name: swr, match: "swr:*", table: products, key_column: id, value_column: name,
       ttl_jitter: 0, stale_while_revalidate: 30s, lease: true, warm: {ids: ["5", "6", "7"]}}
"""
# swr:* takes its TTL (1s) from a TTL rule.
CACHE_EXTRA = "  ttl_rules:\n    - {match: \"swr:*\", ttl: 1s}\n"

def untagged_in_slot(prefix, slot, count):
    """`count` keys "<prefix>x<n>" (no hash tag) that hash to `slot`: a plain side key name
    of theirs would be in another slot."""
    out, n = [], 0
    while len(out) < count:
        key = "%sx%d" % (prefix, n)
        if key_slot(key) == slot:
            out.append(key)
        n += 1
    return out


# kv: keys with and without a hash tag of their own, all in the slot of "{mig}".
MIGRATING = ["kv:{mig}%d" % i for i in range(20)] + untagged_in_slot("kv:", key_slot("mig"), 5)


CLUSTER = None  # one cluster for the file (setUpModule)


def setUpModule():
    global CLUSTER
    CLUSTER = harness.RedisCluster(tempfile.mkdtemp(prefix="sidecache-clcache-"))


def tearDownModule():
    if CLUSTER is not None:
        CLUSTER.stop()


class ClusterCacheTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sidecache-clcache-")
        cls.dbpath = os.path.join(cls.tmp, "app.db")
        cls.db = sqlite3.connect(cls.dbpath)
        cls.db.executescript("""
            CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT, plan TEXT);
            CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT);
            CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT);
            CREATE TABLE kl (id TEXT PRIMARY KEY, v TEXT);
        """)
        cls.db.executemany("INSERT INTO products VALUES (?, ?)",
                           [(i, "name-%d" % i) for i in range(1, 101)])
        cls.db.executemany("INSERT INTO users VALUES (?, ?, ?)",
                           [("1", "ann", "pro"), ("2", "bob", "free"), ("{t}3", "cy", "pro")])
        cls.db.executemany("INSERT INTO items VALUES (?, ?)", [("1", "one"), ("2", "two")])
        cls.db.executemany("INSERT INTO kv VALUES (?, ?)", [(k[3:], k) for k in MIGRATING])
        cls.db.executemany("INSERT INTO kl VALUES (?, ?)",
                           [("{mig}%d" % i, "kl:{mig}%d" % i) for i in range(20)])
        cls.db.commit()
        cls.cluster = CLUSTER
        cls.http = harness.free_port()
        seed, http, dbpath = cls.cluster.nodes[1].port, cls.http, cls.dbpath

        def config(port):
            return ("listen: 127.0.0.1:%d\nworkers: 2\n"
                    "pool:\n  type: cluster\n  nodes: [127.0.0.1:%d]\n"
                    "  request_timeout: 5s\n"
                    "  cluster: {refresh_interval: 60s, refresh_min_interval: 50ms}\n%s"
                    % (port, seed, harness.cache_yaml(
                        http, "    type: sqlite\n    path: %s" % dbpath, POLICIES,
                        CACHE_EXTRA)))
        cls.sc = harness.Sidecache(cls.tmp, [], config_text=config)
        cls.client = cls.sc.client()

    @classmethod
    def tearDownClass(cls):
        cls.sc.stop_checked()

    def owner(self, key):
        return self.cluster.owner(key_slot(key)).client()

    def side_keys(self, kind, key):
        """The `kind` side keys of `key` on its owner (KEYS there), each checked in the slot."""
        found = self.owner(key).keys("sidecache:%s:*" % kind)
        mine = [k.decode() for k in found if k.decode().endswith("}" + key)]
        for k in mine:
            self.assertEqual(self.cluster.keyslot(k), key_slot(key), k)
        return mine

    def test_a_misses_load_onto_the_owner_then_hit(self):
        keys = ["product:%d" % i for i in range(1, 41)]
        owners = {self.cluster.owner(key_slot(k)).port for k in keys}
        self.assertEqual(len(owners), 3)  # every primary holds some
        for k in keys:
            self.assertEqual(self.client.get(k), ("name-" + k.split(":")[1]).encode())
        for k in keys:
            self.assertEqual(self.owner(k).get(k), ("name-" + k.split(":")[1]).encode(), k)
            self.assertGreater(self.owner(k).pttl(k), 50000)
        self.assertEqual(self.client.mget(keys[:10] + ["plain:x"]),
                         [("name-%d" % i).encode() for i in range(1, 11)] + [None])
        self.db.execute("UPDATE products SET name = 'changed' WHERE id = 1")
        self.db.commit()
        self.assertEqual(self.client.get("product:1"), b"name-1")  # a hit: not reloaded
        # Hash policy: the fields on the owner, the key with a brace tag of its own too.
        self.assertEqual(self.client.hgetall("user:1"), {b"name": b"ann", b"plan": b"pro"})
        self.assertEqual(self.owner("user:1").hget("user:1", "plan"), b"pro")
        self.assertEqual(self.client.hget("user:{t}3", "name"), b"cy")
        self.assertEqual(self.owner("user:{t}3").hget("user:{t}3", "name"), b"cy")
        self.assertEqual(self.side_keys("lease", "user:1"), [])  # released once stored
        self.assertEqual(harness.metric(self.http, "sidecache_cache_store_errors_total"), 0)

    def test_b_negative_markers_in_the_key_slot(self):
        self.assertIsNone(self.client.get("product:999"))
        self.assertEqual(self.owner("product:999").get("product:999"), b"\0sidecache:neg")
        for key in ("user:404", "user:{x}405", "user:}406", "user:{407"):
            self.assertEqual(self.client.hgetall(key), {})
            tag = slot_tag(key_slot(key))
            self.assertEqual(self.side_keys("neg", key), ["sidecache:neg:{%s}%s" % (tag, key)])
            plain = ("sidecache:neg:" + key).encode()
            self.assertFalse(any(plain in r.client().keys("sidecache:neg:*")
                                 for r in self.cluster.primaries()))
        # The marker answers: inserted rows stay unseen until negative_ttl passes.
        self.db.execute("INSERT INTO users VALUES ('404', 'late', 'x')")
        self.db.commit()
        self.assertEqual(self.client.hgetall("user:404"), {})

    def test_c_lease_of_another_sidecar_is_in_the_key_slot(self):
        key = "user:2"
        lease = "sidecache:lease:{%s}%s" % (slot_tag(key_slot(key)), key)
        owner = self.owner(key)
        self.assertTrue(owner.set(lease, "other-sidecar", px=5000))
        waits = harness.metric(self.http, "sidecache_cache_lease_waits_total", policy="users")
        result = {}
        reader = threading.Thread(target=lambda: result.update(v=self.sc.client().hgetall(key)))
        reader.start()
        # The reader found the lease and waits; the holder stores its value and lets the lease
        # go; the waiting reader takes it.
        harness.wait_until(lambda: harness.metric(self.http, "sidecache_cache_lease_waits_total",
                                                  policy="users") > waits,
                           timeout=5, what="the reader waiting for the lease")
        self.assertNotIn("v", result)
        owner.hset(key, mapping={"name": "from-holder", "plan": "x"})
        owner.pexpire(key, 60000)
        owner.delete(lease)
        reader.join(timeout=10)
        self.assertEqual(result.get("v"), {b"name": b"from-holder", b"plan": b"x"})

    def test_d_write_through_and_invalidate(self):
        self.assertEqual(self.client.get("item:1"), b"one")
        self.assertTrue(self.client.set("item:1", "uno"))
        self.assertEqual(self.db.execute("SELECT v FROM items WHERE id = '1'").fetchone(),
                         ("uno",))
        self.assertEqual(self.owner("item:1").get("item:1"), b"uno")
        self.assertEqual(len(self.side_keys("gen", "item:1")), 1)
        self.assertEqual(self.client.get("item:1"), b"uno")
        # invalidate: the row written, the cached copy deleted on the owner, then reloaded.
        self.assertEqual(self.client.get("inv:2"), b"two")
        self.assertEqual(self.owner("inv:2").get("inv:2"), b"two")
        self.assertTrue(self.client.set("inv:2", "dos"))
        self.assertIsNone(self.owner("inv:2").get("inv:2"))
        self.assertEqual(self.client.get("inv:2"), b"dos")
        # DEL with delete_row_on_del: the row and the key go.
        self.assertEqual(self.client.delete("item:1"), 1)
        self.assertIsNone(self.db.execute("SELECT v FROM items WHERE id = '1'").fetchone())
        self.assertIsNone(self.owner("item:1").get("item:1"))
        self.assertIsNone(self.client.get("item:1"))

    def test_f_warming_ttl_rules_and_stale_while_revalidate(self):
        # Warmed at startup onto their owners, before any read.
        for i in (5, 6, 7):
            key = "swr:%d" % i
            harness.wait_until(lambda: self.owner(key).get(key) is not None, timeout=10,
                               what="warmed " + key)
            self.assertEqual(self.owner(key).get(key), b"name-%d" % i)
            # The TTL rule's 1s + 30s grace (not default_ttl), stored at startup.
            self.assertTrue(20000 < self.owner(key).pttl(key) <= 31000)
        self.db.execute("UPDATE products SET name = 'fresh-5' WHERE id = 5")
        self.db.commit()
        key, owner = "swr:5", self.owner("swr:5")
        harness.wait_until(lambda: owner.pttl(key) < 30000, timeout=5, what="logical expiry")
        # Stale: answered at once, refreshed in the background (its lease beside the key, in
        # the key's slot), then the new value.
        self.assertEqual(self.client.get(key), b"name-5")
        harness.wait_until(lambda: self.client.get(key) == b"fresh-5", timeout=10,
                           what="the background refresh")
        self.assertEqual(owner.get(key), b"fresh-5")
        self.assertEqual(self.side_keys("lease", key), [])  # given back
        self.assertEqual(harness.metric(self.http, "sidecache_cache_load_errors_total"), 0)
        self.assertGreaterEqual(harness.metric(self.http, "sidecache_cache_stale_total",
                                               policy="swr", reason="swr"), 1)

    def test_e_slot_migrated_under_read_through_load(self):
        # kv: each load reads the key's write generation first and stores with one script over
        # the key and its generation; kl: the lease in the key, the store a script on the key.
        keys = MIGRATING + ["kl:{mig}%d" % i for i in range(20)]
        slot = key_slot(keys[0])
        source = self.cluster.owner(slot)
        target = next(r for r in self.cluster.nodes if r is not source)
        for k in keys:
            self.assertEqual(self.client.get(k), k.encode())
        with Load(self.sc, keys, write=False) as load:
            harness.wait_until(lambda: load.done > 100, timeout=10, what="reads before")
            target.client().execute_command("CLUSTER SETSLOT", slot, "IMPORTING",
                                            self.cluster.ids[source.port])
            source.client().execute_command("CLUSTER SETSLOT", slot, "MIGRATING",
                                            self.cluster.ids[target.port])
            # Misses while the slot is MIGRATING are stored on the importing node (ASK) when
            # every key of their store is absent from the source (kl:*; a kv:* store waits
            # with TRYAGAIN until its generation key has moved too).
            harness.wait_until(lambda: target.client().execute_command(
                "CLUSTER COUNTKEYSINSLOT", slot) > 0, timeout=10, what="a load stored by ASK")
            for _ in range(200):  # loads keep storing keys of the slot while it moves
                batch = source.client().execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
                if not batch:
                    break
                source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0,
                                                5000, "KEYS", *batch)
            # (Every key may have been reloaded onto the target already: moved may be 0.)
            for r in [target] + [r for r in self.cluster.nodes if r is not target]:
                r.client().execute_command("CLUSTER SETSLOT", slot, "NODE",
                                           self.cluster.ids[target.port])
            done = load.done
            harness.wait_until(lambda: load.done > done + 300, timeout=20,
                               what="reads after the move")
        self.assertEqual(load.errors[:5], [])
        # Every load's store (key, generation and markers in one slot) was taken, mid-move too.
        self.assertEqual(harness.metric(self.http, "sidecache_cache_store_errors_total"), 0)
        self.assertEqual(self.cluster.owner(slot).port, target.port)
        self.assertEqual(source.client().execute_command("CLUSTER COUNTKEYSINSLOT", slot), 0)
        self.db.execute("UPDATE kv SET v = 'new' WHERE id = '{mig}0'")
        self.db.commit()
        self.assertTrue(self.client.set("kv:{mig}1", "set-after"))  # invalidate on the target
        self.assertEqual(self.client.get("kv:{mig}1"), b"set-after")
        harness.wait_until(lambda: self.client.get("kv:{mig}0") == b"new", timeout=5,
                           what="a reload after the short TTL")


class ClusterInvalidationChannelTest(unittest.TestCase):
    """cache.invalidation_channel on a cluster pool: PostgreSQL NOTIFY payloads (the trigger
    docs/write-modes.md ships) delete the key on its slot's current owner, also after the slot
    moved to another primary (the listener follows MOVED)."""

    @classmethod
    def setUpClass(cls):
        for r in CLUSTER.primaries():  # what the other class cached
            r.client().flushall()
        cls.pg = harness.Postgres()
        try:
            cls.pg.psql("CREATE TABLE items (id TEXT PRIMARY KEY, v TEXT);"
                        "INSERT INTO items VALUES ('1', 'one'), ('{n}2', 'two');")
            cls.pg.psql(trigger_sql().replace("TABLE_NAME", "items")
                        .replace("KEY_PREFIX", "item:"))
            cls.tmp = tempfile.mkdtemp(prefix="sidecache-clinv-")
            cls.http = harness.free_port()
            database = "    type: postgres\n    conninfo: \"%s\"\n    pool_size: 2" % (
                cls.pg.conninfo())
            top = harness.cache_yaml(
                cls.http, database,
                "    - {match: \"item:*\", table: items, key_column: id, value_column: v}\n",
                "  invalidation_channel: sidecache_invalidate\n")
            seed, http = CLUSTER.nodes[0].port, cls.http

            def config(port):
                return ("listen: 127.0.0.1:%d\npool:\n  type: cluster\n"
                        "  nodes: [127.0.0.1:%d]\n  cluster: {refresh_min_interval: 50ms}\n%s"
                        % (port, seed, top))
            cls.sc = harness.Sidecache(cls.tmp, [], config_text=config)
            cls.client = cls.sc.client()
        except BaseException:
            cls.pg.close()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sc.stop_checked()
        finally:
            cls.pg.close()

    def test_notify_deletes_on_the_current_owner(self):
        # NOTIFYs sent before the listener's LISTEN are not delivered: wait for it.
        harness.wait_until(lambda: "listening on PostgreSQL channel" in self.sc.process.output(),
                           timeout=10, what="the invalidation listener")
        for key, first, second in (("item:1", "one", "uno"), ("item:{n}2", "two", "dos")):
            self.assertEqual(self.client.get(key), first.encode())
            owner = CLUSTER.owner(key_slot(key)).client()
            self.assertEqual(owner.get(key), first.encode())
            self.pg.psql("UPDATE items SET v = '%s' WHERE id = '%s'" % (second, key[5:]))
            harness.wait_until(lambda: owner.get(key) is None, timeout=10,
                               what="the NOTIFY's delete of " + key)
            self.assertEqual(self.client.get(key), second.encode())
        # The slot of item:{n}2 moves (empty of other keys first: MIGRATE them along).
        key = "item:{n}2"
        slot = key_slot(key)
        source = CLUSTER.owner(slot)
        target = next(r for r in CLUSTER.primaries() if r is not source)
        target.client().execute_command("CLUSTER SETSLOT", slot, "IMPORTING",
                                        CLUSTER.ids[source.port])
        source.client().execute_command("CLUSTER SETSLOT", slot, "MIGRATING",
                                        CLUSTER.ids[target.port])
        while True:
            batch = source.client().execute_command("CLUSTER GETKEYSINSLOT", slot, 100)
            if not batch:
                break
            source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                                            "KEYS", *batch)
        for r in [target] + [r for r in CLUSTER.nodes if r is not target]:
            r.client().execute_command("CLUSTER SETSLOT", slot, "NODE", CLUSTER.ids[target.port])
        self.assertEqual(target.client().get(key), b"dos")
        self.pg.psql("UPDATE items SET v = 'deux' WHERE id = '{n}2'")
        harness.wait_until(lambda: target.client().get(key) is None, timeout=10,
                           what="the delete on the new owner")
        self.assertEqual(self.client.get(key), b"deux")
        self.assertGreaterEqual(harness.metric(self.http, "sidecache_invalidations_total"), 3)


def trigger_sql():
    """The trigger SQL shipped in docs/write-modes.md (between the markers)."""
    with open(os.path.join(harness.SOURCE_DIR, "docs", "write-modes.md")) as f:
        m = re.search(r"<!-- trigger-sql -->\s*```sql\n(.*?)```", f.read(), re.S)
    assert m, "no trigger SQL in docs/write-modes.md"
    return m.group(1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
