#!/usr/bin/env python3
"""Multi-key commands through sidecache over 3 nodes: split/merge (MGET, MSET, DEL, UNLINK,
EXISTS, TOUCH), tagged single-node multi-key commands (MSETNX), broadcasts (DBSIZE, SCRIPT
LOAD/EXISTS/FLUSH), EVALSHA on every node, EVAL with no keys. Then a differential run: the same
seeded random command sequence against one direct redis-server and through sidecache must get
byte-identical replies.
"""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402


def random_keys(rng, n, prefix):
    return ["%s:%s:%d" % (prefix, "".join(rng.choice("abcdefghijklmnop") for _ in range(6)), i)
            for i in range(n)]


class MultiKey(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)
        cls.r = cls.cluster.client()

    @classmethod
    def tearDownClass(cls):
        cls.r.close()
        cls.cluster.close()

    def setUp(self):
        self.rng = random.Random(self.id())
        for i in range(3):
            self.cluster.direct(i).flushall()

    def tearDown(self):
        self.cluster.sidecache.check()

    def test_mget_mset_200_keys_order_and_nils(self):
        keys = random_keys(self.rng, 200, "mk")
        present = {k: ("value-%s" % k).encode() for k in keys[::2]}
        self.assertTrue(self.r.mset(present))
        self.assertEqual(set(self.cluster.probe(keys)), {0, 1, 2})
        order = list(keys) + keys[:20]  # some keys twice
        self.rng.shuffle(order)
        self.assertEqual(self.r.mget(order), [present.get(k) for k in order])
        # Each key is on the node route_probe names, and only there.
        for k, node in zip(keys[::2], self.cluster.probe(keys[::2])):
            self.assertEqual(self.cluster.direct(node).get(k), present[k])
        self.assertEqual(sum(self.cluster.direct(i).dbsize() for i in range(3)), 100)
        # MSET overwrites across nodes; the later of two values for one key wins, as in Redis.
        raw = self.cluster.sidecache.raw()
        try:
            self.assertEqual(raw.command("MSET", keys[0], "a", keys[1], "b", keys[0], "c"), "OK")
            self.assertEqual(raw.command("MGET", keys[0], keys[1]), [b"c", b"b"])
            self.assertEqual(raw.command("MGET", "nothing:here"), [None])
            self.assertTrue(raw.command("MSET", keys[0]).startswith("ERR wrong number"))
            self.assertTrue(raw.command("MSET", keys[0], "1", keys[1]).startswith(
                "ERR wrong number"))
        finally:
            raw.close()

    def test_del_unlink_exists_touch_counts(self):
        keys = random_keys(self.rng, 30, "cnt")
        self.r.mset({k: "1" for k in keys[:20]})
        with_dups = keys[:10] + keys[:5] + keys[20:]  # 10 present + 5 duplicates + 10 missing
        self.assertEqual(self.r.exists(*with_dups), 15)  # EXISTS counts duplicates, like Redis
        self.assertEqual(self.r.touch(*with_dups), 15)
        self.assertEqual(self.r.delete(*with_dups), 10)  # DEL deletes each key once
        self.assertEqual(self.r.exists(*keys), 10)
        self.assertEqual(self.r.unlink(*(keys[10:20] + keys[10:12] + keys[25:])), 10)
        self.assertEqual(self.r.exists(*keys), 0)
        self.assertEqual(self.r.delete(*keys), 0)
        self.assertEqual(sum(self.cluster.direct(i).dbsize() for i in range(3)), 0)

    def test_msetnx_with_tags_and_crossslot(self):
        tagged = ["{order:%d}:%s" % (7, f) for f in ("a", "b", "c")]
        self.assertTrue(self.r.msetnx({tagged[0]: "1", tagged[1]: "2"}))
        self.assertFalse(self.r.msetnx({tagged[1]: "x", tagged[2]: "3"}))
        self.assertEqual(self.r.mget(tagged), [b"1", b"2", None])
        node = self.cluster.node_of(tagged[0])
        self.assertEqual(self.cluster.direct(node).mget(tagged), [b"1", b"2", None])
        keys = random_keys(self.rng, 40, "nx")
        nodes = self.cluster.probe(keys)
        a = keys[nodes.index(0)]
        b = keys[nodes.index(1)]
        with self.assertRaises(redis.ResponseError) as e:
            self.r.msetnx({a: "1", b: "2"})
        self.assertTrue(str(e.exception).startswith("CROSSSLOT"))
        self.assertEqual(self.r.exists(a, b), 0)

    def test_dbsize_is_the_sum_over_backends(self):
        self.r.mset({k: "v" for k in random_keys(self.rng, 150, "db")})
        # Not even on its ring node (a Redis Cluster node takes only keys of its own slots).
        stray = (harness.keys_on_nodes(self.cluster, 1, "only")[0][0] if self.cluster.on_cluster
                 else "only-on-node0")
        self.cluster.direct(0).set(stray, "x")
        per_node = [self.cluster.direct(i).dbsize() for i in range(3)]
        self.assertTrue(all(n > 0 for n in per_node), per_node)
        self.assertEqual(self.r.dbsize(), sum(per_node))
        self.assertEqual(sum(per_node), 151)

    def test_scripts_on_every_node(self):
        body = "return {KEYS[1], redis.call('INCRBY', KEYS[1], ARGV[1])}"
        sha = self.r.script_load(body)
        for i in range(3):
            self.assertEqual(self.cluster.direct(i).script_exists(sha), [True])
        keys = random_keys(self.rng, 30, "sha")
        nodes = self.cluster.probe(keys)
        for node in range(3):
            k = keys[nodes.index(node)]
            self.assertEqual(self.r.evalsha(sha, 1, k, 5), [k.encode(), 5])
            self.assertEqual(self.cluster.direct(node).get(k), b"5")
        self.assertEqual(self.r.script_exists(sha, "0" * 40, sha), [True, False, True])
        # Loaded on one node only: not usable everywhere, so EXISTS says no.
        other = self.cluster.direct(1).script_load("return 2")
        self.assertEqual(self.r.script_exists(other), [False])
        self.assertEqual(self.r.eval("return ARGV[1] .. 'x'", 0, "abc"), b"abcx")
        self.assertEqual(self.r.eval("return 42", 0), 42)
        self.assertTrue(self.r.script_flush())
        for i in range(3):
            self.assertEqual(self.cluster.direct(i).script_exists(sha), [False])
        self.assertEqual(self.r.script_exists(sha), [False])
        with self.assertRaises(redis.exceptions.NoScriptError):
            self.r.evalsha(sha, 1, keys[0], 1)


# -- differential ------------------------------------------------------------------------------

POOL = ["dk:%s" % w for w in ("apple", "berry", "cherry", "damson", "elder", "fig", "grape",
                              "hazel", "iris", "juniper", "kiwi", "lemon", "mango", "nectar")]
TAGGED = ["{grp%d}:%s" % (g, f) for g in range(3) for f in ("a", "b", "c")]


def random_command(rng):
    k = rng.choice(POOL + TAGGED)
    ks = [rng.choice(POOL) for _ in range(rng.randint(1, 6))]
    grp = rng.randrange(3)
    tk = ["{grp%d}:%s" % (grp, f) for f in rng.sample("abc", rng.randint(1, 3))]
    v = rng.choice(["1", "17", "-3", "abc", "", "x" * 50, "3.5"])
    n = str(rng.randint(-3, 5))
    choices = [
        ["SET", k, v], ["SET", k, v, "NX"], ["SET", k, v, "XX"], ["GET", k], ["GETSET", k, v],
        ["INCR", k], ["INCRBY", k, n], ["DECR", k], ["APPEND", k, v], ["STRLEN", k],
        ["SETNX", k, v], ["GETDEL", k], ["MGET"] + ks, ["MSET"] + [x for p in ks for x in (p, v)],
        ["DEL"] + ks, ["UNLINK"] + ks, ["EXISTS"] + ks, ["TOUCH"] + ks, ["TYPE", k],
        ["HSET", k, "f" + n, v], ["HGET", k, "f" + n], ["HGETALL", k], ["HINCRBY", k, "c", n],
        ["HDEL", k, "f" + n], ["HLEN", k], ["HMGET", k, "f1", "f2", "c"],
        ["LPUSH", k, v], ["RPUSH", k, v, v], ["LPOP", k], ["LRANGE", k, "0", n], ["LLEN", k],
        ["LTRIM", k, "0", n], ["SADD", k, v, n], ["SREM", k, v], ["SCARD", k],
        ["SISMEMBER", k, n], ["SMEMBERS", k], ["ZADD", k, n, v], ["ZINCRBY", k, n, "m"],
        ["ZRANGE", k, "0", "-1", "WITHSCORES"], ["ZSCORE", k, v], ["ZREVRANK", k, "m"],
        ["EXPIRE", k, "1000"], ["PERSIST", k], ["TTL", k],
        ["MSETNX"] + [x for t in tk for x in (t, v)], ["SINTER"] + tk, ["SUNION"] + tk,
        ["SINTERSTORE"] + tk, ["RENAME", tk[0], tk[-1]], ["EVAL", "return #KEYS", str(len(tk))] + tk,
        ["EVAL", "return redis.call('GET', KEYS[1])", "1", k], ["EVAL", "return ARGV[1]", "0", v],
        ["INCR"], ["GET", k, k], ["NOSUCHCOMMAND", k],
    ]
    return rng.choice(choices)


def normalise(command, reply):
    if command[0] == "SMEMBERS" or command[0] in ("SINTER", "SUNION"):
        if isinstance(reply, list):
            return sorted(reply)
    if command[0] == "TTL" and isinstance(reply, int) and reply > 0:
        return "positive" if reply > 990 else reply
    return reply


class Differential(unittest.TestCase):
    def test_same_replies_as_one_redis(self):
        cluster = harness.Cluster(3)
        direct_server = harness.RedisServer(cluster.tmp)
        try:
            rng = random.Random(20240611)
            direct = harness.RespConnection(direct_server.port)
            proxied = cluster.sidecache.raw()
            mismatches = []
            commands = [random_command(rng) for _ in range(300)]
            for i, cmd in enumerate(commands):
                want = normalise(cmd, direct.command(*cmd))
                got = normalise(cmd, proxied.command(*cmd))
                if want != got:
                    mismatches.append("#%d %r: redis %r, sidecache %r" % (i, cmd, want, got))
            self.assertEqual(mismatches, [], "\n".join(mismatches[:10]))
            # Same final data: every key's type and value dump agree.
            for k in POOL + TAGGED:
                self.assertEqual(direct.command("TYPE", k), proxied.command("TYPE", k), k)
            self.assertEqual(direct.command("DBSIZE"), proxied.command("DBSIZE"))
            families = {c[0] for c in commands}
            self.assertGreater(len(families), 40, "the sequence covers too few commands")
            direct.close()
            proxied.close()
            cluster.sidecache.check()
        finally:
            direct_server.stop()
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
