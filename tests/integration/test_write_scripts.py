"""The write-behind Lua scripts (kEnqueueScript in src/write/queue_layout.cpp, kDoneScript in
src/writeback/queue.cpp) and the write-generation scripts (src/cache/generation.cpp) run
directly against a real redis-server, with states the end-to-end tests cannot set up on
purpose: several writes in one enqueue call (one reply each, one stream entry, queue bound
counted inside the call, a miss), the plain-SET script, a call that fails writing nothing, a
key whose queued writes span two acknowledgements (no TTL until the last), stream trimming with
an older entry still pending, a queue of the previous layout (one write per entry, pending
counts), and generations made, bumped and compared."""
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
    for path in (("write", "queue_layout.cpp"), ("writeback", "queue.cpp"),
                 ("cache", "generation.cpp")):
        with open(os.path.join(SOURCE, "src", *path)) as f:
            text += f.read()
    m = re.search(r'const std::string_view %s = R"lua\((.*?)\)lua";' % name, text, re.S)
    assert m, name
    return m.group(1)


STREAM, PENDING, COUNT = "sidecache:wb:{0}", "sidecache:wbp:{0}", "sidecache:wbn:{0}"


def record(key, op, payload, queue_max=100, must_exist=0, neg=True):
    keys = [key] + (["sidecache:neg:" + key] if neg else [])
    args = [len(keys), queue_max, must_exist, "items", key.split(":", 1)[1], op, len(payload)]
    return keys, args + list(payload)


def writes(fields):
    """The writes of one stream entry's raw field list: dicts of a write's fields (f:<name>
    collected in 'f'), either layout."""
    pairs = [(fields[i].decode(), fields[i + 1]) for i in range(0, len(fields), 2)]
    if pairs and pairs[0][0] == "n":
        pairs = pairs[1:]
    if pairs and pairs[0][0] == "m":
        meta, out = pairs[0][1].decode(), []
        for key, value in pairs[1:]:
            parsed = []
            for _ in range(2):
                n, rest = meta.split(":", 1)
                parsed.append(rest[:int(n)])
                meta = rest[int(n):]
            out.append({"k": key, "p": parsed[0], "id": parsed[1], "op": "set", "v": value.decode()})
        return out
    out = []
    for name, value in pairs:
        if name == "k":
            out.append({"k": value.decode(), "f": {}})
        elif name.startswith("f:"):
            out[-1]["f"][name[2:]] = value.decode()
        else:
            out[-1][name] = value.decode()
    return out


class WriteScripts(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.redis = harness.RedisServer(self.tmp.name)
        self.r = self.redis.client(socket_timeout=5)
        # Raw replies: a batch entry repeats field names, which redis-py's dicts would fold.
        for command in ("XREADGROUP", "XRANGE"):
            self.r.set_response_callback(command, lambda reply, **kw: reply)
        self.r.xgroup_create(STREAM, "sidecache", id="0", mkstream=True)
        self.enqueue_script = self.r.register_script(script("kEnqueueScript"))
        self.sets_script = self.r.register_script(script("kEnqueueSetsScript"))
        self.done_script = self.r.register_script(script("kDoneScript"))

    def tearDown(self):
        self.redis.stop()
        self.tmp.cleanup()

    def enqueue(self, *records):
        keys, args = [STREAM, PENDING, COUNT], []
        for k, a in records:
            keys += k
            args += a
        return self.enqueue_script(keys=keys, args=args)

    def enqueue_sets(self, pairs, queue_max=100, negs=True):
        """kEnqueueSetsScript: plain SETs of policy 'items' (key, value)."""
        meta = "".join("5:items%d:%s" % (len(k.split(":", 1)[1]), k.split(":", 1)[1])
                       for k, _ in pairs)
        keys = [STREAM, PENDING, COUNT] + [k for k, _ in pairs]
        if negs:
            keys += ["sidecache:neg:" + k for k, _ in pairs]
        args = [len(pairs), queue_max, meta] + [x for kv in pairs for x in kv]
        return self.sets_script(keys=keys, args=args)

    def read(self, count):
        """[(stream id, [write, ...])] of up to `count` new stream entries."""
        got = self.r.execute_command("XREADGROUP", "GROUP", "sidecache", "c1", "COUNT", count,
                                     "STREAMS", STREAM, ">")
        return [(i.decode(), writes(f)) for i, f in got[0][1]] if got else []

    def entries(self):
        return [(i.decode(), writes(f)) for i, f in self.r.execute_command("XRANGE", STREAM,
                                                                            "-", "+")]

    def done(self, entries, ttl=60000):
        """kDoneScript for the stream entries `entries` (as read())."""
        counts = {}
        taken = 0
        for _, ws in entries:
            taken += len(ws)
            for w in ws:
                counts[w["k"]] = counts.get(w["k"], 0) + 1
        keys = [STREAM, PENDING, COUNT] + list(counts)
        args = (["sidecache", len(entries)] + [i for i, _ in entries] + [taken] +
                [x for c in counts.values() for x in (ttl, c)])
        return self.done_script(keys=keys, args=args)

    def counter(self):
        return int(self.r.get(COUNT) or 0)

    def test_several_writes_in_one_call_make_one_entry(self):
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
        self.assertEqual(len(entries), 1)  # one stream entry for the call
        entry_id, ws = entries[0]
        self.assertEqual([w["k"] for w in ws], ["item:1", "item:2", "item:5"])
        self.assertEqual(ws[1]["f"], {"name": "n", "email": "e"})
        self.assertEqual(ws[2]["v"], "5")
        self.assertEqual(self.r.hgetall(PENDING), {b"item:1": entry_id.encode(),
                                                   b"item:2": entry_id.encode(),
                                                   b"item:5": entry_id.encode()})
        self.assertEqual(self.counter(), 3)

    def test_sets_script_one_entry_per_call(self):
        self.r.set("sidecache:neg:item:1", "1")
        self.r.set("item:2", "old")
        self.r.pexpire("item:2", 60000)
        self.assertEqual(self.enqueue_sets([("item:1", "a"), ("item:2", "b"), ("item:1", "c")]),
                         3)
        self.assertEqual(self.r.get("item:1"), b"c")  # in order: the later SET wins
        self.assertEqual(self.r.get("item:2"), b"b")
        self.assertEqual(self.r.pttl("item:2"), -1)  # no TTL while queued
        self.assertEqual(self.r.exists("sidecache:neg:item:1"), 0)
        entries = self.read(10)
        self.assertEqual(len(entries), 1)
        entry_id, ws = entries[0]
        self.assertEqual([(w["k"], w["id"], w["v"]) for w in ws],
                         [("item:1", "1", "a"), ("item:2", "2", "b"), ("item:1", "1", "c")])
        self.assertEqual(set(self.r.hgetall(PENDING).values()), {entry_id.encode()})
        self.assertEqual(self.counter(), 3)
        self.done(entries)
        self.assertEqual(self.counter(), 0)
        self.assertEqual(self.r.hlen(PENDING), 0)
        self.assertGreater(self.r.pttl("item:1"), 0)
        self.assertEqual(self.r.xlen(STREAM), 0)

    def test_sets_script_refuses_a_call_that_does_not_fit_whole(self):
        self.assertEqual(self.enqueue_sets([("item:1", "a"), ("item:2", "b")], queue_max=3), 2)
        with self.assertRaises(Exception) as full:
            self.enqueue_sets([("item:3", "c"), ("item:4", "d")], queue_max=3)
        self.assertIn("SIDECACHE_FULL", str(full.exception))
        self.assertEqual(self.r.exists("item:3", "item:4"), 0)
        self.assertEqual(self.counter(), 2)
        self.assertEqual(self.enqueue_sets([("item:3", "c")], queue_max=3), 1)

    def test_a_failing_call_writes_nothing(self):
        # The stream's name holds a string: every write of the call fails, none is cached.
        self.r.delete(STREAM)
        self.r.set(STREAM, "not a stream")
        with self.assertRaises(Exception) as sets:
            self.enqueue_sets([("item:1", "a"), ("item:2", "b")])
        self.assertIn("WRONGTYPE", str(sets.exception))
        with self.assertRaises(Exception) as general:
            self.enqueue(record("item:3", "set", ["c"]), record("item:4", "incr", ["1"]))
        self.assertIn("WRONGTYPE", str(general.exception))
        self.assertEqual(self.r.exists("item:1", "item:2", "item:3", "item:4"), 0)
        self.assertEqual(self.r.hlen(PENDING), 0)
        self.assertEqual(self.counter(), 0)

    def test_pending_names_the_last_entry_of_each_key(self):
        self.enqueue(record("item:1", "set", ["a"]))
        self.r.set("sidecache:neg:item:2", "1")
        self.enqueue(record("item:1", "set", ["b"]), record("item:2", "del", []),
                     record("item:1", "set", ["c"]))
        last = self.entries()[-1][0].encode()
        self.assertEqual(self.r.hgetall(PENDING), {b"item:1": last, b"item:2": last})
        self.assertEqual(self.counter(), 4)
        self.assertEqual(self.r.get("item:1"), b"c")
        self.assertEqual(self.r.exists("sidecache:neg:item:2"), 0)
        self.assertEqual([w["v"] for _, ws in self.entries() for w in ws if w["k"] == "item:1"],
                         ["a", "b", "c"])

    def test_queue_bound_is_counted_inside_one_call(self):
        replies = self.enqueue(*[record("item:%d" % i, "set", ["v"], queue_max=3)
                                 for i in range(5)])
        self.assertEqual(replies[:3], [b"OK", b"OK", b"OK"])
        for refused in replies[3:]:
            self.assertIsInstance(refused, Exception)
            self.assertIn("SIDECACHE_FULL", str(refused))
        self.assertEqual(self.counter(), 3)
        self.assertEqual(self.r.xlen(STREAM), 1)
        self.assertEqual(self.r.exists("item:3", "item:4"), 0)

    def test_ttl_comes_back_with_the_last_queued_write(self):
        self.r.set("sidecache:gen:item:1", "100")  # a load of item:1 is running
        self.r.set(PENDING + ":loads", "1")
        self.enqueue(record("item:1", "set", ["a"]))
        first = self.read(10)
        self.enqueue(record("item:1", "set", ["b"]), record("item:2", "set", ["c"]))
        self.assertEqual(self.done(first), 1)
        self.assertEqual(self.r.get("sidecache:gen:item:1"), b"100")  # not flushed yet
        # item:1 still has a queued write (a later entry): no TTL; the stream keeps the unread.
        self.assertEqual(self.r.pttl("item:1"), -1)
        self.assertEqual(self.r.hget(PENDING, "item:1"), self.entries()[-1][0].encode())
        self.assertEqual(self.r.xlen(STREAM), 1)
        self.assertEqual(self.counter(), 2)
        second = self.read(10)
        self.done(second)
        # Its last write flushed: the load that read the row before must not store it.
        self.assertEqual(self.r.get("sidecache:gen:item:1"), b"101")
        self.assertFalse(self.r.exists("sidecache:gen:item:2"))
        self.assertGreater(self.r.pttl("item:1"), 0)
        self.assertGreater(self.r.pttl("item:2"), 0)
        self.assertEqual(self.r.hlen(PENDING), 0)
        self.assertEqual(self.r.xlen(STREAM), 0)
        self.assertEqual(self.r.exists(COUNT), 0)

    def test_trim_keeps_an_older_pending_entry(self):
        self.r.set("sidecache:gen:item:1", "7")  # no load running: no bump
        for i in range(4):
            self.enqueue(record("item:%d" % i, "set", ["v%d" % i]))
        entries = self.read(10)
        # The oldest stays pending (e.g. retried); the three newer ones are acknowledged.
        self.done(entries[1:])
        left = [i for i, _ in self.entries()]
        self.assertEqual(left[0], entries[0][0])
        pending = self.r.xpending(STREAM, "sidecache")
        self.assertEqual(pending["pending"], 1)
        self.assertEqual(self.r.pttl("item:0"), -1)
        self.assertEqual(self.r.get("sidecache:gen:item:1"), b"7")
        self.done(entries[:1])
        self.assertEqual(self.r.xlen(STREAM), 0)
        self.assertEqual(self.r.xpending(STREAM, "sidecache")["pending"], 0)
        # An entry not yet delivered is not trimmed.
        self.enqueue(record("item:8", "set", ["y"]))
        delivered = self.read(10)
        self.enqueue(record("item:9", "set", ["z"]))
        self.done(delivered)
        self.assertEqual([w["k"] for _, ws in self.entries() for w in ws], ["item:9"])

    def test_done_understands_the_previous_layout(self):
        # A queue written by the previous version: one write per entry, no "n", pending counts.
        for v in ("a", "b"):
            self.r.xadd(STREAM, {"k": "item:1", "p": "items", "id": "1", "op": "set", "v": v})
        self.r.xadd(STREAM, {"k": "item:2", "p": "items", "id": "2", "op": "set", "v": "c"})
        self.r.hset(PENDING, mapping={"item:1": 2, "item:2": 1})
        self.r.set("item:1", "b")
        self.r.set("item:2", "c")
        old = self.read(10)
        self.assertEqual(len(old), 3)
        # A new write of item:2 lands after the old ones (the new layout takes the field over).
        self.enqueue(record("item:2", "set", ["d"]))
        counts = {"item:1": 2, "item:2": 1}
        keys = [STREAM, PENDING, COUNT] + list(counts)
        self.done_script(keys=keys, args=["sidecache", 3] + [i for i, _ in old] + [0] +
                         [x for c in counts.values() for x in (60000, c)])
        self.assertEqual(self.r.hkeys(PENDING), [b"item:2"])  # its new write is still queued
        self.assertGreater(self.r.pttl("item:1"), 0)
        self.assertEqual(self.r.pttl("item:2"), -1)
        self.assertEqual(self.counter(), 1)
        self.done(self.read(10))
        self.assertEqual(self.r.hlen(PENDING), 0)
        self.assertGreater(self.r.pttl("item:2"), 0)



class GenerationScripts(unittest.TestCase):
    """The write generation of a key (src/cache/generation.hpp)."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.redis = harness.RedisServer(self.tmp.name)
        self.r = self.redis.client(socket_timeout=5, decode_responses=True)
        self.gen = self.r.register_script(script("kGenerationScript"))
        self.finish = self.r.register_script(script("kThroughFinishScript"))
        self.store = self.r.register_script(script("kStoreIfGenerationScript"))
        self.delete = self.r.register_script(script("kDeleteBumpScript"))

    def tearDown(self):
        self.redis.stop()
        self.tmp.cleanup()

    def test_made_from_time_read_and_bumped(self):
        g = self.gen(keys=["sidecache:gen:k"], args=[10000, "read"])
        self.assertTrue(g.isdigit() and len(g) >= 16, g)  # microseconds since the epoch
        self.assertLessEqual(self.r.pttl("sidecache:gen:k"), 10000)
        self.assertEqual(self.gen(keys=["sidecache:gen:k"], args=[10000, "read"]), g)
        self.assertEqual(int(self.gen(keys=["sidecache:gen:k"], args=[10000, "bump"])),
                         int(g) + 1)
        # Made again after it expired: larger than any value it had.
        self.r.delete("sidecache:gen:k")
        self.assertGreater(int(self.gen(keys=["sidecache:gen:k"], args=[10000, "bump"])),
                           int(g) + 1)

    def test_a_key_with_queued_writes_has_no_storable_generation(self):
        self.r.hset("sidecache:wbp:{0}", "k", "1-0")
        self.assertEqual(self.gen(keys=["sidecache:gen:k", "sidecache:wbp:{0}", "k"],
                                  args=[10000, "read"]), "0")
        self.assertNotEqual(self.gen(keys=["sidecache:gen:j", "sidecache:wbp:{0}", "j"],
                                     args=[10000, "read"]), "0")
        # The acknowledgements of the node now bump generations, for the load's lifetime.
        self.assertTrue(0 < self.r.pttl("sidecache:wbp:{0}:loads") <= 10000)

    def test_through_finish_caches_only_with_its_own_generation(self):
        g = self.gen(keys=["sidecache:gen:k"], args=[10000, "bump"])
        self.assertEqual(self.finish(keys=["k", "sidecache:gen:k"], args=[g, "s", 5000, "v1"]), 1)
        self.assertEqual(self.r.get("k"), "v1")
        self.assertGreater(self.r.pttl("k"), 4000)
        self.assertEqual(int(self.r.get("sidecache:gen:k")), int(g) + 1)
        # Two writes overlapping: both delete, whichever finishes first.
        g1 = self.gen(keys=["sidecache:gen:k"], args=[10000, "bump"])
        g2 = self.gen(keys=["sidecache:gen:k"], args=[10000, "bump"])
        self.assertEqual(self.finish(keys=["k", "sidecache:gen:k"], args=[g1, "s", 5000, "a"]), 0)
        self.assertIsNone(self.r.get("k"))
        self.r.set("k", "loaded")
        self.assertEqual(self.finish(keys=["k", "sidecache:gen:k"], args=[g2, "s", 5000, "b"]), 0)
        self.assertIsNone(self.r.get("k"))
        # The generation expired meanwhile: deleted too.
        self.r.set("k", "old")
        self.r.delete("sidecache:gen:k")
        self.assertEqual(self.finish(keys=["k", "sidecache:gen:k"], args=[g2, "s", 5000, "c"]), 0)
        self.assertIsNone(self.r.get("k"))
        self.assertFalse(self.r.exists("sidecache:gen:k"))

    def test_through_finish_of_a_hash_sets_fields_only_when_cached(self):
        g = self.gen(keys=["sidecache:gen:h"], args=[10000, "bump"])
        self.assertEqual(self.finish(keys=["h", "sidecache:gen:h"], args=[g, "h", 0, "f", "1"]), 1)
        self.assertFalse(self.r.exists("h"))
        self.r.hset("h", mapping={"f": "0", "g": "x"})
        g = self.gen(keys=["sidecache:gen:h"], args=[10000, "bump"])
        self.assertEqual(self.finish(keys=["h", "sidecache:gen:h"], args=[g, "h", 0, "f", "2"]), 1)
        self.assertEqual(self.r.hgetall("h"), {"f": "2", "g": "x"})

    def test_load_store_only_with_an_unchanged_generation(self):
        g = self.gen(keys=["sidecache:gen:k"], args=[10000, "read"])
        self.assertEqual(self.store(keys=["k", "sidecache:gen:k"], args=[g, "s", 5000, "row"]), 1)
        self.assertEqual(self.r.get("k"), "row")
        self.delete(keys=["k", "sidecache:gen:k"], args=["DEL"])  # a commit's delete
        self.assertEqual(self.store(keys=["k", "sidecache:gen:k"], args=[g, "s", 5000, "old"]), 0)
        self.assertIsNone(self.r.get("k"))
        g = self.gen(keys=["sidecache:gen:h"], args=[10000, "read"])
        self.assertEqual(self.store(keys=["h", "sidecache:gen:h"], args=[g, "h", 5000, "a", "1"]),
                         1)
        self.assertEqual(self.r.hgetall("h"), {"a": "1"})
        self.assertEqual(self.store(keys=["h", "sidecache:gen:h", "sidecache:neg:h"],
                                    args=[g, "a", 3000]), 1)
        self.assertFalse(self.r.exists("h"))
        self.assertEqual(self.r.get("sidecache:neg:h"), "1")
        self.assertEqual(self.store(keys=["x", "sidecache:gen:x"], args=["0", "s", 5000, "v"]), 0)

    def test_delete_bumps_only_an_existing_generation(self):
        self.r.set("k", "v")
        self.assertEqual(self.delete(keys=["k", "sidecache:gen:k"], args=["UNLINK"]), 1)
        self.assertFalse(self.r.exists("sidecache:gen:k"))
        self.r.set("sidecache:gen:k", "100")
        self.assertEqual(self.delete(keys=["k", "sidecache:gen:k"], args=["DEL"]), 0)
        self.assertEqual(self.r.get("sidecache:gen:k"), "101")


if __name__ == "__main__":
    unittest.main(verbosity=2)
