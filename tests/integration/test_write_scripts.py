"""The write-behind Lua scripts (kEnqueueScript in src/write/queue_layout.cpp, kDoneScript in
src/writeback/queue.cpp) run directly against a real redis-server, with states the end-to-end tests cannot set up on purpose: several
writes in one enqueue call (one reply each, queue bound counted inside the call, a miss), a key
whose queued writes span two acknowledgements (no TTL until the last), and stream trimming
with an older entry still pending."""
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SOURCE = os.environ.get("SIDECACHE_SOURCE_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def script(name):
    text = ""
    for path in (("write", "queue_layout.cpp"), ("writeback", "queue.cpp")):
        with open(os.path.join(SOURCE, "src", *path)) as f:
            text += f.read()
    m = re.search(r'const std::string_view %s = R"lua\((.*?)\)lua";' % name, text, re.S)
    assert m, name
    return m.group(1)


STREAM, PENDING = "sidecache:wb:{0}", "sidecache:wbp:{0}"


def record(key, op, payload, queue_max=100, must_exist=0, neg=True):
    keys = [key] + (["sidecache:neg:" + key] if neg else [])
    args = [len(keys), queue_max, must_exist, "items", key.split(":", 1)[1], op, len(payload)]
    return keys, args + list(payload)


class WriteScripts(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.redis = harness.RedisServer(self.tmp.name)
        self.r = self.redis.client(socket_timeout=5)
        self.r.xgroup_create(STREAM, "sidecache", id="0", mkstream=True)
        self.enqueue_script = self.r.register_script(script("kEnqueueScript"))
        self.done_script = self.r.register_script(script("kDoneScript"))

    def tearDown(self):
        self.redis.stop()
        self.tmp.cleanup()

    def enqueue(self, *records):
        keys, args = [STREAM, PENDING], []
        for k, a in records:
            keys += k
            args += a
        return self.enqueue_script(keys=keys, args=args)

    def read(self, count):
        got = self.r.xreadgroup("sidecache", "c1", {STREAM: ">"}, count=count)
        return [(i.decode(), f) for i, f in got[0][1]] if got else []

    def done(self, entries, ttl=60000):
        counts = {}
        for _, fields in entries:
            k = fields[b"k"].decode()
            counts[k] = counts.get(k, 0) + 1
        keys = [STREAM, PENDING] + list(counts)
        args = ["sidecache", ttl, len(entries)] + [i for i, _ in entries] + list(counts.values())
        return self.done_script(keys=keys, args=args)

    def test_several_writes_in_one_call(self):
        self.r.set("sidecache:neg:item:1", "1")
        self.r.set("item:3", "x")  # a string: HSET on it fails, the others go on
        replies = self.enqueue(record("item:1", "set", ["a"]),
                               record("item:2", "hset", ["name", "n", "email", "e"]),
                               record("item:3", "hset", ["name", "n"]),
                               record("item:4", "incr", ["5"], must_exist=1),
                               record("item:5", "incr", ["5"]))
        self.assertEqual(replies[0], b"OK")
        self.assertEqual(replies[1], 2)
        self.assertIsInstance(replies[2], Exception)
        self.assertIn("WRONGTYPE", str(replies[2]))
        self.assertIsInstance(replies[3], Exception)
        self.assertIn("SIDECACHE_MISS", str(replies[3]))
        self.assertEqual(replies[4], 5)
        self.assertEqual(self.r.get("item:1"), b"a")
        self.assertEqual(self.r.hgetall("item:2"), {b"name": b"n", b"email": b"e"})
        self.assertEqual(self.r.exists("sidecache:neg:item:1"), 0)
        self.assertEqual(self.r.pttl("item:1"), -1)
        self.assertEqual(self.r.pttl("item:5"), -1)
        entries = self.read(10)
        self.assertEqual([f[b"k"] for _, f in entries], [b"item:1", b"item:2", b"item:5"])
        self.assertEqual(entries[1][1][b"f:email"], b"e")
        self.assertEqual(entries[2][1][b"v"], b"5")
        self.assertEqual(self.r.hgetall(PENDING),
                         {b"item:1": b"1", b"item:2": b"1", b"item:5": b"1"})

    def test_pending_counts_add_up_within_and_across_calls(self):
        self.enqueue(record("item:1", "set", ["a"]))
        self.r.set("sidecache:neg:item:2", "1")
        self.enqueue(record("item:1", "set", ["b"]), record("item:2", "del", []),
                     record("item:1", "set", ["c"]))
        self.assertEqual(self.r.hgetall(PENDING), {b"item:1": b"3", b"item:2": b"1"})
        self.assertEqual(self.r.get("item:1"), b"c")
        self.assertEqual(self.r.exists("sidecache:neg:item:2"), 0)
        self.assertEqual([f[b"v"] for _, f in self.r.xrange(STREAM) if f[b"k"] == b"item:1"],
                         [b"a", b"b", b"c"])

    def test_queue_bound_is_counted_inside_one_call(self):
        replies = self.enqueue(*[record("item:%d" % i, "set", ["v"], queue_max=3)
                                 for i in range(5)])
        self.assertEqual(replies[:3], [b"OK", b"OK", b"OK"])
        for refused in replies[3:]:
            self.assertIsInstance(refused, Exception)
            self.assertIn("SIDECACHE_FULL", str(refused))
        self.assertEqual(self.r.xlen(STREAM), 3)
        self.assertEqual(self.r.exists("item:3", "item:4"), 0)

    def test_ttl_comes_back_with_the_last_queued_write(self):
        self.enqueue(record("item:1", "set", ["a"]))
        first = self.read(10)
        self.enqueue(record("item:1", "set", ["b"]), record("item:2", "set", ["c"]))
        self.assertEqual(self.done(first), 1)
        # item:1 still has a queued write: no TTL, count 1; the stream keeps the unread ones.
        self.assertEqual(self.r.pttl("item:1"), -1)
        self.assertEqual(self.r.hget(PENDING, "item:1"), b"1")
        self.assertEqual(self.r.xlen(STREAM), 2)
        second = self.read(10)
        self.done(second)
        self.assertGreater(self.r.pttl("item:1"), 0)
        self.assertGreater(self.r.pttl("item:2"), 0)
        self.assertEqual(self.r.hlen(PENDING), 0)
        self.assertEqual(self.r.xlen(STREAM), 0)

    def test_trim_keeps_an_older_pending_entry(self):
        for i in range(4):
            self.enqueue(record("item:%d" % i, "set", ["v%d" % i]))
        entries = self.read(10)
        # The oldest stays pending (e.g. retried); the three newer ones are acknowledged.
        self.done(entries[1:])
        left = [i.decode() for i, _ in self.r.xrange(STREAM)]
        self.assertEqual(left[0], entries[0][0])
        pending = self.r.xpending(STREAM, "sidecache")
        self.assertEqual(pending["pending"], 1)
        self.assertEqual(self.r.pttl("item:0"), -1)
        self.done(entries[:1])
        self.assertEqual(self.r.xlen(STREAM), 0)
        self.assertEqual(self.r.xpending(STREAM, "sidecache")["pending"], 0)
        # An entry not yet delivered is not trimmed.
        self.enqueue(record("item:8", "set", ["y"]))
        delivered = self.read(10)
        self.enqueue(record("item:9", "set", ["z"]))
        self.done(delivered)
        self.assertEqual([f[b"k"] for _, f in self.r.xrange(STREAM)], [b"item:9"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
