#!/usr/bin/env python3
"""The usual cache patterns through sidecache with python3-redis, over 3 redis-server nodes.

Strings (SET options, counters, a SETNX lock released by a compare-and-delete script, the
INCR+EXPIRE rate limiter), hashes, sorted sets, lists, sets (tagged multi-key commands on one
node, CROSSSLOT for untagged keys on different nodes), expiry, TYPE and binary-safe values.
Every value is also read straight from the backend that holds the key, and that backend must be
the one route_probe predicts for the same ring (node0..node2, weight 1, fnv1a_64, tag "{}").
"""
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import redis  # noqa: E402

LOCK_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0"""

RATE_LIMIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1])) end
return n"""


class DataTypes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)
        cls.r = cls.cluster.client()
        cls.rng = random.Random(4242)

    @classmethod
    def tearDownClass(cls):
        cls.r.close()
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    # -- helpers -------------------------------------------------------------------------------

    def key(self, family):
        word = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
        return "dt:%s:%s" % (family, word)

    def keys_per_node(self, family):
        """One fresh key on each of the three nodes (chosen with route_probe)."""
        found = {}
        while len(found) < 3:
            candidates = [self.key(family) for _ in range(30)]
            for k, node in zip(candidates, self.cluster.probe(candidates)):
                found.setdefault(node, k)
        return [found[i] for i in range(3)]

    def backend(self, key):
        """Direct client on the node holding `key`, after checking route_probe agrees."""
        node = self.cluster.node_of(key)
        self.assertEqual(node, self.cluster.probe([key])[0], "key %r on the wrong node" % key)
        return self.cluster.direct(node)

    # -- strings -------------------------------------------------------------------------------

    def test_strings_set_options_and_counters(self):
        for k in self.keys_per_node("str"):
            with self.subTest(key=k):
                r = self.r
                self.assertTrue(r.set(k, "v1", ex=100))
                self.assertTrue(0 < r.ttl(k) <= 100)
                self.assertIsNone(r.set(k, "v2", nx=True))
                self.assertEqual(r.get(k), b"v1")
                self.assertTrue(r.set(k, "v3", xx=True, px=50000))
                self.assertTrue(0 < r.pttl(k) <= 50000)
                self.assertIsNone(r.set(k + ":missing", "x", xx=True))
                self.assertIsNone(r.get(k + ":missing"))
                self.assertEqual(self.backend(k).get(k), b"v3")
                self.assertEqual(r.getset(k, "10"), b"v3")
                self.assertEqual(r.incr(k), 11)
                self.assertEqual(r.incrby(k, 100), 111)
                self.assertEqual(r.decr(k), 110)
                self.assertEqual(self.backend(k).get(k), b"110")
                self.assertEqual(r.append(k, "abc"), 6)
                self.assertEqual(r.strlen(k), 6)
                self.assertEqual(r.get(k), b"110abc")
                with self.assertRaises(redis.ResponseError) as e:
                    r.incr(k)
                self.assertIn("not an integer", str(e.exception))
                self.assertEqual(r.delete(k), 1)
                self.assertEqual(r.incrby(k, -5), -5)
                self.assertEqual(self.backend(k).get(k), b"-5")

    def test_setnx_lock_with_compare_and_delete(self):
        release = self.r.register_script(LOCK_RELEASE)
        for lock in self.keys_per_node("lock"):
            with self.subTest(key=lock):
                self.assertTrue(self.r.set(lock, "token-a", nx=True, px=10000))
                self.assertFalse(self.r.setnx(lock, "token-b"))
                self.assertEqual(self.backend(lock).get(lock), b"token-a")
                self.assertEqual(release(keys=[lock], args=["token-b"]), 0)
                self.assertEqual(self.r.get(lock), b"token-a")
                self.assertEqual(self.r.eval(LOCK_RELEASE, 1, lock, "token-a"), 1)
                self.assertIsNone(self.r.get(lock))
                self.assertEqual(self.cluster.direct(self.cluster.probe([lock])[0]).exists(lock),
                                 0)
                self.assertTrue(self.r.setnx(lock, "token-b"))
                self.assertEqual(release(keys=[lock], args=["token-b"]), 1)

    def test_rate_limiter_script(self):
        for k in self.keys_per_node("rate"):
            with self.subTest(key=k):
                counts = [self.r.eval(RATE_LIMIT, 1, k, 60) for _ in range(5)]
                self.assertEqual(counts, [1, 2, 3, 4, 5])
                direct = self.backend(k)
                self.assertEqual(direct.get(k), b"5")
                self.assertTrue(0 < direct.ttl(k) <= 60)

    # -- hashes, sorted sets, lists, sets ------------------------------------------------------

    def test_hashes(self):
        for k in self.keys_per_node("hash"):
            with self.subTest(key=k):
                r = self.r
                self.assertEqual(r.hset(k, mapping={"name": "ann", "visits": 1, "x": "y"}), 3)
                self.assertEqual(r.hget(k, "name"), b"ann")
                self.assertEqual(r.hmget(k, ["name", "nope", "x"]), [b"ann", None, b"y"])
                self.assertEqual(r.hincrby(k, "visits", 41), 42)
                self.assertTrue(r.hexists(k, "x"))
                self.assertEqual(r.hdel(k, "x", "nope"), 1)
                self.assertFalse(r.hexists(k, "x"))
                self.assertEqual(r.hlen(k), 2)
                expected = {b"name": b"ann", b"visits": b"42"}
                self.assertEqual(r.hgetall(k), expected)
                self.assertEqual(self.backend(k).hgetall(k), expected)
                self.assertEqual(r.hgetall(k + ":none"), {})

    def test_sorted_sets(self):
        for k in self.keys_per_node("zset"):
            with self.subTest(key=k):
                r = self.r
                self.assertEqual(r.zadd(k, {"alice": 10, "bob": 30, "carol": 20}), 3)
                self.assertEqual(r.zrevrange(k, 0, -1, withscores=True),
                                 [(b"bob", 30.0), (b"carol", 20.0), (b"alice", 10.0)])
                self.assertEqual(r.zrevrank(k, "alice"), 2)
                self.assertIsNone(r.zrevrank(k, "nobody"))
                self.assertEqual(r.zscore(k, "carol"), 20.0)
                self.assertEqual(r.zincrby(k, 15, "alice"), 25.0)
                self.assertEqual(r.zrangebyscore(k, 15, 26), [b"carol", b"alice"])
                self.assertEqual(r.zrangebyscore(k, "(20", "+inf", withscores=True),
                                 [(b"alice", 25.0), (b"bob", 30.0)])
                self.assertEqual(self.backend(k).zrevrange(k, 0, 0), [b"bob"])

    def test_lists(self):
        for k in self.keys_per_node("list"):
            with self.subTest(key=k):
                r = self.r
                for i in range(10):
                    r.lpush(k, "event%d" % i)
                self.assertTrue(r.ltrim(k, 0, 4))
                self.assertEqual(r.lrange(k, 0, -1), [b"event%d" % i for i in range(9, 4, -1)])
                self.assertEqual(r.rpush(k, "tail1", "tail2"), 7)
                self.assertEqual(r.lpop(k), b"event9")
                self.assertEqual(r.llen(k), 6)
                self.assertEqual(self.backend(k).lrange(k, -2, -1), [b"tail1", b"tail2"])

    def test_sets(self):
        for k in self.keys_per_node("set"):
            with self.subTest(key=k):
                r = self.r
                self.assertEqual(r.sadd(k, "a", "b", "c", "a"), 3)
                self.assertEqual(r.smembers(k), {b"a", b"b", b"c"})
                self.assertTrue(r.sismember(k, "b"))
                self.assertFalse(r.sismember(k, "z"))
                self.assertEqual(r.srem(k, "b", "z"), 1)
                self.assertEqual(r.scard(k), 2)
                self.assertEqual(self.backend(k).smembers(k), {b"a", b"c"})

    def test_multi_key_set_commands_with_hash_tags(self):
        for tag in ("{user:%d}" % i for i in range(6)):
            a, b = tag + ":friends", tag + ":follows"
            self.r.sadd(a, "x", "y", "z")
            self.r.sadd(b, "y", "z", "w")
            self.assertEqual(self.r.sinter(a, b), {b"y", b"z"})
            self.assertEqual(self.r.sunion(a, b), {b"w", b"x", b"y", b"z"})
            self.assertEqual(self.r.sinterstore(tag + ":both", [a, b]), 2)
            self.assertEqual(self.cluster.node_of(a), self.cluster.node_of(b))
            self.assertEqual(self.cluster.node_of(a), self.cluster.node_of(tag + ":both"))
            self.assertEqual(self.backend(tag + ":both").smembers(tag + ":both"), {b"y", b"z"})

    def test_crossslot_for_untagged_keys_on_different_nodes(self):
        a, b, _ = self.keys_per_node("cross")
        self.r.sadd(a, "x")
        self.r.sadd(b, "x")
        for call in (lambda: self.r.sinter(a, b), lambda: self.r.sunion(a, b),
                     lambda: self.r.smove(a, b, "x"), lambda: self.r.rename(a, b),
                     lambda: self.r.eval("return 1", 2, a, b)):
            with self.assertRaises(redis.ResponseError) as e:
                call()
            self.assertTrue(str(e.exception).startswith("CROSSSLOT"), str(e.exception))
        self.assertEqual(self.r.smembers(a), {b"x"})  # nothing was moved
        self.assertEqual(self.r.smembers(b), {b"x"})

    # -- expiry, TYPE, binary values -----------------------------------------------------------

    def test_expire_ttl_persist(self):
        for k in self.keys_per_node("exp"):
            with self.subTest(key=k):
                r = self.r
                self.assertEqual(r.ttl(k), -2)
                r.set(k, "v")
                self.assertEqual(r.ttl(k), -1)
                self.assertTrue(r.expire(k, 300))
                self.assertTrue(295 <= r.ttl(k) <= 300)
                self.assertTrue(290000 <= r.pttl(k) <= 300000)
                self.assertTrue(290 <= self.backend(k).ttl(k) <= 300)
                self.assertTrue(r.persist(k))
                self.assertFalse(r.persist(k))
                self.assertEqual(r.ttl(k), -1)
                self.assertTrue(r.pexpire(k, 1))
                harness.wait_until(lambda: r.exists(k) == 0, timeout=5, what="expiry")
                self.assertFalse(r.expire(k, 10))

    def test_type(self):
        k = self.key("type")
        r = self.r
        r.set(k + ":s", "v")
        r.hset(k + ":h", "f", "v")
        r.lpush(k + ":l", "v")
        r.sadd(k + ":e", "v")
        r.zadd(k + ":z", {"v": 1})
        for suffix, kind in ((":s", b"string"), (":h", b"hash"), (":l", b"list"), (":e", b"set"),
                             (":z", b"zset"), (":none", b"none")):
            self.assertEqual(r.type(k + suffix), kind)

    def test_binary_safe_values(self):
        every_byte = bytes(range(256)) * 4
        big = bytes(self.rng.getrandbits(8) for _ in range(1024 * 1024))
        for k in self.keys_per_node("bin"):
            with self.subTest(key=k):
                self.assertTrue(self.r.set(k, every_byte))
                self.assertEqual(self.r.get(k), every_byte)
                self.assertEqual(self.backend(k).get(k), every_byte)
                self.assertTrue(self.r.set(k, big))
                self.assertEqual(self.r.get(k), big)
                self.assertEqual(self.r.strlen(k), len(big))
                self.assertEqual(self.backend(k).get(k), big)
        # Binary keys and fields too.
        bkey = b"dt:bin:\x00\r\n\xff key"
        self.r.hset(bkey, b"\x00\xff", b"\r\n")
        self.assertEqual(self.r.hgetall(bkey), {b"\x00\xff": b"\r\n"})
        self.assertEqual(self.backend(bkey).hget(bkey, b"\x00\xff"), b"\r\n")

    def test_placement_matches_route_probe(self):
        keys = [self.key("place") for _ in range(300)]
        with self.r.pipeline(transaction=False) as p:
            for k in keys:
                p.set(k, "1")
            p.execute()
        predicted = self.cluster.probe(keys)
        held = {}
        for i in range(3):
            for k in self.cluster.direct(i).keys("dt:place:*"):
                held[k.decode()] = i
        self.assertEqual([held.get(k) for k in keys], predicted)
        self.assertEqual(set(predicted), {0, 1, 2})


if __name__ == "__main__":
    unittest.main(verbosity=2)
