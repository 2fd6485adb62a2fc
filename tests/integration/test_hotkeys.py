#!/usr/bin/env python3
"""Hot-key detection end to end: a skewed workload (exact counts per key, Zipf-like, shuffled,
over several connections and so both workers, part of it as MGET) through sidecache over two
redis-servers. SIDECACHE HOTKEYS (RESP2 and RESP3) and /debug/hotkeys name the truly hottest keys
in order, with counts within the Space-Saving bounds; COUNT and bad arguments; binary and long
keys; the metrics labels are hashes by default and key names with hotkeys.expose_names (applied
by a reload); hotkeys.enabled: false turns the command into an error.
"""
import json
import os
import random
import socket
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WAIT_S = 15
CONNECTIONS = 6
TOP = 6
# Key of each rank (1-based): rank 2 is longer than the 128 bytes kept for display, rank 3 is
# binary. The rest are plain.
LONG_KEY = b"long:" + b"L" * 295
BINARY_KEY = b"bin:\x00\xff\"\\3"


def key_of(rank):
    return {2: LONG_KEY, 3: BINARY_KEY}.get(rank, b"hk:%d" % rank)


def murmur64a(data, seed=0):
    """MurmurHash64A, the hash sidecache labels keys with (hotkeys/key_hash.hpp)."""
    m, r, mask = 0xc6a4a7935bd1e995, 47, (1 << 64) - 1
    h = (seed ^ (len(data) * m)) & mask
    blocks = len(data) // 8
    for i in range(blocks):
        k = int.from_bytes(data[i * 8:i * 8 + 8], "little")
        k = (k * m) & mask
        k ^= k >> r
        k = (k * m) & mask
        h ^= k
        h = (h * m) & mask
    tail = data[blocks * 8:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * m) & mask
    h ^= h >> r
    h = (h * m) & mask
    h ^= h >> r
    return "%016x" % h


def workload(seed=1):
    """(exact touches per key, list of commands): rank r is touched round(2400 / r) times, over
    1500 keys; the touches are shuffled and about a quarter go out as 3-key MGETs."""
    rng = random.Random(seed)
    counts = {key_of(r): round(2400 / r) for r in range(1, 1501)}
    touches = [k for k, n in counts.items() for _ in range(n)]
    rng.shuffle(touches)
    commands, i = [], 0
    while i < len(touches):
        if rng.random() < 0.25 and i + 3 <= len(touches):
            commands.append([b"MGET"] + touches[i:i + 3])
            i += 3
        else:
            commands.append([b"GET", touches[i]])
            i += 1
    return counts, commands


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def drive(port, commands):
    """Sends `commands` pipelined over CONNECTIONS connections and reads every reply."""
    share = [commands[i::CONNECTIONS] for i in range(CONNECTIONS)]
    conns = [harness.RespConnection(port, timeout=30) for _ in range(CONNECTIONS)]
    try:
        for conn, part in zip(conns, share):
            conn.send_raw(b"".join(encode(c) for c in part))
        for conn, part in zip(conns, share):
            for _ in part:
                reply = conn.read_reply()
                if isinstance(reply, harness.RespError):
                    raise AssertionError("workload reply: %s" % reply)
    finally:
        for conn in conns:
            conn.close()


def http_get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def entry_fields(entry):
    """An entry of SIDECACHE HOTKEYS as a dict with str keys (RESP3 map or RESP2 pairs)."""
    if isinstance(entry, list):
        entry = dict(zip(entry[0::2], entry[1::2]))
    return {k.decode(): v for k, v in entry.items()}


def hotkeys_config(http_port, extra="  enabled: true\n"):
    return ("http:\n  listen: 127.0.0.1:%d\n  ready_min_nodes_up: 0\n"
            "process: {watch_interval: 100ms}\n"
            "hotkeys:\n  half_life: 1h\n  sample: 1\n  metrics_top_n: 3\n%s" % (http_port, extra))


class HotKeysTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http_port = harness.free_port()
        cls.cluster = harness.Cluster(n=2, workers=2,
                                      top_extra=hotkeys_config(cls.http_port))
        cls.counts, commands = workload()
        drive(cls.cluster.sidecache.port, commands)
        cls.expected = [key_of(r) for r in range(1, TOP + 1)]
        # Published every 500 ms: wait until the view holds every touch of the hottest key.
        conn = cls.cluster.sidecache.raw()
        try:
            def caught_up():
                reply = conn.command("SIDECACHE", "HOTKEYS", "COUNT", "1")
                return reply and entry_fields(reply[0])["count"] >= cls.counts[key_of(1)]
            harness.wait_until(caught_up, timeout=WAIT_S, what="hot keys published")
        finally:
            conn.close()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def setUp(self):
        self.conn = self.cluster.sidecache.raw()

    def tearDown(self):
        self.conn.close()
        self.cluster.sidecache.check()

    def check_entries(self, entries, want):
        self.assertEqual(len(entries), want)
        rates = [e["rate"] for e in entries]
        self.assertEqual(rates, sorted(rates, reverse=True))
        for rank, e in enumerate(entries, 1):
            full = key_of(rank)
            self.assertEqual(e["key"], full[:128], "rank %d" % rank)
            self.assertEqual(e["key_length"], len(full))
            self.assertEqual(e["hash"], murmur64a(full).encode()
                             if isinstance(e["hash"], bytes) else murmur64a(full))
            truth = self.counts[full]
            # Space-Saving: count - error <= true count <= count (no aging: half_life 1h).
            self.assertGreaterEqual(e["count"], truth, "rank %d" % rank)
            self.assertLessEqual(e["count"] - e["error"], truth, "rank %d" % rank)
            self.assertGreater(e["rate"], 0)

    def test_command_resp2(self):
        reply = self.conn.command("SIDECACHE", "HOTKEYS", "COUNT", str(TOP))
        entries = [entry_fields(e) for e in reply]
        for e in entries:
            e["rate"] = float(e["rate"])  # RESP2: a bulk string with two decimals
        self.check_entries(entries, TOP)
        self.assertEqual(list(entry_fields(reply[0]).keys()),
                         ["key", "key_length", "hash", "rate", "count", "error"])
        # The default is 10; COUNT is case-insensitive.
        self.assertEqual(len(self.conn.command("SIDECACHE", "HOTKEYS")), 10)
        self.assertEqual(len(self.conn.command("sidecache", "hotkeys", "count", "2")), 2)

    def test_command_resp3(self):
        self.conn.command("HELLO", "3")
        reply = self.conn.command("SIDECACHE", "HOTKEYS", "COUNT", "3")
        self.assertTrue(all(isinstance(e, dict) for e in reply))
        entries = [entry_fields(e) for e in reply]
        self.assertTrue(all(isinstance(e["rate"], float) for e in entries))
        self.check_entries(entries, 3)

    def test_bad_arguments(self):
        c = self.conn
        for args, error in (
                (["COUNT", "0"], "ERR COUNT must be between 1 and 10000"),
                (["COUNT", "10001"], "ERR COUNT must be between 1 and 10000"),
                (["COUNT", "-3"], "ERR COUNT must be between 1 and 10000"),
                (["COUNT", "x"], "ERR value is not an integer or out of range"),
                (["COUNT"], "ERR syntax error"),
                (["TOP", "3"], "ERR syntax error")):
            reply = c.command("SIDECACHE", "HOTKEYS", *args)
            self.assertIsInstance(reply, harness.RespError, args)
            self.assertEqual(str(reply), error, args)
        self.assertEqual(str(c.command("SIDECACHE", "NOPE")),
                         "ERR unknown subcommand 'NOPE'. Try SIDECACHE HELP.")
        self.assertTrue(str(c.command("SIDECACHE")).startswith("ERR wrong number of arguments"))
        help_lines = c.command("SIDECACHE", "HELP")
        self.assertTrue(any("HOTKEYS" in line for line in help_lines))
        self.assertEqual(c.command("PING"), "PONG")  # the connection is fine

    def test_debug_endpoint(self):
        status, body = http_get(self.http_port, "/debug/hotkeys?count=%d" % TOP)
        self.assertEqual(status, 200)
        doc = json.loads(body)
        self.assertTrue(doc["enabled"])
        entries = doc["keys"]
        for e in entries:
            e["key"] = e["key"].encode("latin-1")  # one character per byte
        self.check_entries(entries, TOP)
        status, body = http_get(self.http_port, "/debug/hotkeys")
        self.assertEqual(len(json.loads(body)["keys"]), 10)
        for bad in ("count=0", "count=abc", "count=10001", "top=3"):
            status, _ = http_get(self.http_port, "/debug/hotkeys?" + bad)
            self.assertEqual(status, 400, bad)

    def test_z_metrics_then_reload(self):
        # Runs last (unittest sorts by name): it reloads the configuration.
        text = harness.metrics_text(self.http_port)
        self.assertGreater(harness.metric(self.http_port, "sidecache_hotkeys_sketch_entries"), 0)
        rate_lines = [line for line in text.splitlines()
                      if line.startswith("sidecache_hotkey_requests_per_second{")]
        labels = [line.split('"')[1] for line in rate_lines]
        self.assertEqual(labels, [murmur64a(key_of(r)) for r in (1, 2, 3)])
        self.assertNotIn("hk:1", text)
        self.assertEqual(len([line for line in text.splitlines()
                              if line.startswith("sidecache_hotkey_requests_error{")]), 3)

        sc = self.cluster.sidecache
        write_atomic(sc.config_path, harness.config_yaml(
            sc.port, self.cluster.nodes, workers=2,
            top_extra=hotkeys_config(self.http_port, "  enabled: true\n  expose_names: true\n")))
        harness.wait_until(
            lambda: 'sidecache_hotkey_requests_per_second{key="hk:1"}' in
            harness.metrics_text(self.http_port), timeout=WAIT_S, what="named labels")
        text = harness.metrics_text(self.http_port)
        # Non-printable bytes as \xHH, then the exposition format escapes '\' and '"'.
        self.assertIn(r'{key="bin:\\x00\\xff\"\\3"}', text)
        self.assertIn('{key="%s"}' % LONG_KEY[:128].decode(), text)

        write_atomic(sc.config_path, harness.config_yaml(
            sc.port, self.cluster.nodes, workers=2,
            top_extra=hotkeys_config(self.http_port, "  enabled: false\n")))
        harness.wait_until(
            lambda: isinstance(self.conn.command("SIDECACHE", "HOTKEYS"), harness.RespError),
            timeout=WAIT_S, what="hotkeys off after reload")
        self.assertEqual(str(self.conn.command("SIDECACHE", "HOTKEYS")),
                         "ERR hot-key detection is off (hotkeys.enabled: false)")
        status, body = http_get(self.http_port, "/debug/hotkeys")
        self.assertEqual((status, json.loads(body)), (200, {"enabled": False, "keys": []}))
        self.assertNotIn("sidecache_hotkey_requests_per_second", harness.metrics_text(
            self.http_port))
        self.conn.command("GET", "after")  # still served with detection off


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    unittest.main(verbosity=2)
