"""Write-behind batches (docs/write-modes.md, the durable queue): the writes a worker receives
from many clients in one turn of its event loop are queued by one script call as one stream
entry and answered together when it returns; they reach the database in per-key order, are
coalesced across entries, survive kill -9 of sidecache once acknowledged, and a call that
fails answers every client of it with the error and leaves nothing cached or queued."""
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_write_sqlite import WriteFixture  # noqa: E402

CLIENTS = 16


def stream_writes(r, stream):
    """[[key, ...] per stream entry] of the whole stream (either layout), from raw XRANGE."""
    out = []
    for _, fields in r.execute_command("XRANGE", stream, "-", "+"):
        names = [fields[i] for i in range(0, len(fields), 2)]
        if names[:2] == [b"n", b"m"]:
            out.append([n.decode() for n in names[2:]])
        else:
            out.append([fields[i + 1].decode() for i in range(0, len(fields), 2)
                        if fields[i] == b"k"])
    return out


class WriteBatchesTest(WriteFixture):
    # Many clients' through writes and the flusher take SQLite's write lock in turn: on a busy
    # machine a write may wait for it longer than the fixture's 300 ms.
    query_timeout = "5s"

    def setUp(self):
        super().setUp()
        self.raw_redis = self.redis.client()  # bytes, raw stream replies
        self.raw_redis.set_response_callback("XRANGE", lambda reply, **kw: reply)

    def blast(self, commands_of):
        """Sends every client's pipeline (`commands_of(i)`: a list of commands) before reading
        any reply, then reads them all: [[reply, ...] per client]."""
        conns = [self.sc.raw(timeout=10) for _ in range(CLIENTS)]
        try:
            batches = [commands_of(i) for i in range(CLIENTS)]
            for conn, cmds in zip(conns, batches):
                conn.send_raw(b"".join(conn.encode(*c) for c in cmds))
            return [[conn.read_reply() for _ in cmds] for conn, cmds in zip(conns, batches)]
        finally:
            for conn in conns:
                conn.close()

    def seq_log(self):
        db = sqlite3.connect(self.dbpath, timeout=5)
        try:
            out = {}
            for k, v in db.execute("SELECT id, v FROM seq_log ORDER BY n"):
                out.setdefault(k, []).append(v)
            return out
        finally:
            db.close()

    def test_many_clients_share_entries_and_keep_per_key_order(self):
        lock = self.writes_blocked()  # entries stay queued: the stream can be inspected
        try:
            replies = self.blast(lambda i: [("SET", "seq:c%d" % i, "v%02d" % n)
                                            for n in range(10)] +
                                 [("SET", "kv:c%d" % i, "last%d" % i)])
            self.assertEqual(replies, [["OK"] * 11] * CLIENTS)
            entries = stream_writes(self.raw_redis, self.stream)
            writes = sum(len(e) for e in entries)
            self.assertEqual(writes, CLIENTS * 11)
            # One entry per script call, holding the writes of several clients.
            self.assertLess(len(entries), writes)
            self.assertTrue(any(len({k.split(":")[1] for k in e}) > 1 for e in entries),
                            entries)
            self.assertEqual(int(self.r.get(self.stream.replace(":wb:", ":wbn:")) or 0),
                             writes)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.wait_drained()
        log = self.seq_log()
        for i in range(CLIENTS):
            self.assertEqual(log["c%d" % i], ["v%02d" % n for n in range(10)])
        rows = self.rows("kv")
        self.assertEqual(rows, {"c%d" % i: "last%d" % i for i in range(CLIENTS)})
        self.assertEqual(harness.metric(self.http, "sidecache_write_behind_flushed_total"),
                         CLIENTS * 11)
        self.assertGreater(self.r.pttl("kv:c0"), 0)  # flushed: the TTL is back

    def test_read_your_writes_with_calls_in_flight(self):
        # Each client reads each key right after writing it, while the others' writes keep
        # enqueue calls in flight: a read never overtakes a write waiting for one.
        replies = self.blast(lambda i: [c for n in range(15)
                                        for c in (("SET", "kv:r%d-%d" % (i, n), "v%d" % n),
                                                  ("GET", "kv:r%d-%d" % (i, n)))])
        for i, client in enumerate(replies):
            self.assertEqual(client, [x for n in range(15) for x in ("OK", b"v%d" % n)], i)
        self.wait_drained()
        self.assertEqual(len(self.rows("kv")), 15 * CLIENTS)

    def test_read_your_writes_of_one_key_written_again(self):
        # A second write of a key waits in the key's chain until the first is answered; a read
        # (or any command naming the key) sent after it waits there too, so it sees the second
        # write, never the first. For every write mode, single-key and split reads, and a read
        # naming two keys each with a write in progress. Only its own writes name its keys, so
        # every reply is known.
        def commands(i):
            out = []
            for n in range(6):
                for prefix in ("kv:", "item:", "inv:"):
                    key = "%sw%d%s" % (prefix, i, prefix[:-1])  # one row per key
                    out += [("SET", key, "a%d" % n), ("GET", key),
                            ("SET", key, "b%d" % n), ("GET", key), ("STRLEN", key),
                            ("MGET", key, "%sx%d" % (prefix, i))]
                a, b = "kv:p%d" % i, "kv:q%d" % i
                out += [("SET", a, "a%d" % n), ("SET", b, "b%d" % n), ("MGET", a, b),
                        ("SET", a, "c%d" % n), ("MGET", b, a), ("GET", a)]
            return out

        def expected():
            out = []
            for n in range(6):
                for _ in range(3):
                    b = b"b%d" % n
                    out += ["OK", b"a%d" % n, "OK", b, len(b), [b, None]]
                out += ["OK", "OK", [b"a%d" % n, b"b%d" % n], "OK",
                        [b"b%d" % n, b"c%d" % n], b"c%d" % n]
            return out

        replies = self.blast(commands)
        for i, client in enumerate(replies):
            self.assertEqual(client, expected(), i)
        self.wait_drained()
        rows = self.rows("kv")
        for i in range(CLIENTS):
            self.assertEqual(rows["w%dkv" % i], "b5")
            self.assertEqual(rows["p%d" % i], "c5")

    def test_coalescing_across_entries(self):
        lock = self.writes_blocked()
        try:
            replies = self.blast(lambda i: [("SET", "kv:hot%d" % (n % 3), "c%d-%d" % (i, n))
                                            for n in range(12)])
            self.assertEqual(replies, [["OK"] * 12] * CLIENTS)
            self.assertGreater(self.r.xlen(self.stream), 1)
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.wait_drained()
        rows = self.rows("kv")
        # Every key's row is its last write, which the cache holds too.
        for k in range(3):
            self.assertEqual(rows["hot%d" % k], self.r.get("kv:hot%d" % k))
        self.assertEqual(len(rows), 3)
        self.assertGreater(harness.metric(self.http, "sidecache_write_behind_coalesced_total"),
                           CLIENTS * 12 / 2)

    def test_kill9_after_acknowledgement_loses_nothing(self):
        lock = self.writes_blocked()
        try:
            replies = self.blast(lambda i: [("SET", "kv:k%d-%d" % (i, n), "v%d" % n)
                                            for n in range(20)] +
                                 [("SET", "seq:k%d" % i, "s%d" % n) for n in range(5)])
            self.assertEqual(replies, [["OK"] * 25] * CLIENTS)
            port = self.sc.port
            self.sc.process.signal(9)
            self.sc.process.proc.wait(timeout=10)
            self.sc.process.stopped = True
            self.sc.process.log.close()
            harness.wait_until(lambda: not harness.ping(port), timeout=5,
                               what="the killed sidecache's port closed")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        self.assertEqual(self.rows("kv"), {})  # nothing reached the database before the kill
        self.start(port=port)
        self.wait_drained()
        rows = self.rows("kv")
        self.assertEqual(rows, {"k%d-%d" % (i, n): "v%d" % n
                                for i in range(CLIENTS) for n in range(20)})
        log = self.seq_log()
        for i in range(CLIENTS):
            self.assertEqual(log["k%d" % i], ["s%d" % n for n in range(5)])

    def test_a_failing_call_answers_each_client_with_its_error(self):
        # The queue's stream name holds a string: every enqueue call fails.
        self.r.delete(self.stream)
        self.r.set(self.stream, "not a stream")
        replies = self.blast(lambda i: [("SET", "kv:f%d" % i, "x"), ("INCR", "cnt:f%d" % i)])
        for client in replies:
            for reply in client:
                self.assertIsInstance(reply, harness.RespError)
                self.assertIn("WRONGTYPE", reply)
        # Nothing acknowledged, nothing cached or queued.
        keys = ["kv:f%d" % i for i in range(CLIENTS)] + ["cnt:f%d" % i for i in range(CLIENTS)]
        self.assertEqual(self.r.exists(*keys), 0)
        self.assertEqual(self.r.hlen(self.pending), 0)
        self.assertGreaterEqual(harness.metric(self.http, "sidecache_write_errors_total"),
                                2 * CLIENTS)
        # The stream back: the flusher makes its group again, writes go through.
        self.r.delete(self.stream)
        self.assertTrue(self.c.set("kv:f0", "y"))
        self.wait_drained()
        self.assertEqual(self.rows("kv"), {"f0": "y"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
