#!/usr/bin/env python3
"""Differential test: key placement by nutcracker 0.5 (twemproxy) vs sidecache's route module.

For each pool (hash kind, named or unnamed servers, weights, hash tag on/off, 3-5 nodes) the same
2,000+ keys (ASCII, binary, UTF-8, tagged, tag edge cases, empty) are SET through a real
nutcracker over real redis-server backends; each backend is asked which keys it holds. The
route_probe tool (built from tests/unit/route/tools) places the same keys; both must agree on
every key. Needs SIDECACHE_BUILD_DIR (route_probe is looked up under it).
"""
import os
import random
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIDECACHE_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(SOURCE_DIR, "scripts"))

import twemproxy_golden as golden  # noqa: E402

PROBE_TIMEOUT_S = 60


def find_probe():
    build = os.environ.get("SIDECACHE_BUILD_DIR")
    if not build:
        raise unittest.SkipTest("SIDECACHE_BUILD_DIR not set")
    candidate = os.path.join(build, "tests", "route_probe")
    if os.path.isfile(candidate):
        return candidate
    for root, _, files in os.walk(build):
        if "route_probe" in files:
            return os.path.join(root, "route_probe")
    raise RuntimeError("route_probe not found under %s (ninja route_probe)" % build)


def make_keys():
    rng = random.Random(20240501)
    keys = [b"", b"{}", b"{", b"}", b"}{", b"{a", b"a}", b"{a}", b"}a{b}", b"a{b}c{d}e", b"{{x}}",
            b"x{}y{z}", b"\x80", b"\xff" * 3, b"\r\n", b" "]
    keys += [b"key:%d" % i for i in range(800)]
    keys += [b"{user%d}:field%d" % (i % 40, i) for i in range(400)]
    keys += [b"session{%d}" % (i % 25) + bytes([0x80 + i % 128]) for i in range(200)]
    words = ["caf\u00e9", "\u65e5\u672c\u8a9e", "\u0161\u0111\u010d", "\U0001f600", "na\u00efve"]
    keys += [("%s:%d" % (words[i % len(words)], i)).encode() for i in range(300)]
    for n in range(400):
        keys.append(bytes(rng.randrange(256) for _ in range(1 + n % 37)))
    seen, unique = set(), []
    for k in keys:
        if k not in seen:
            seen.add(k)
            unique.append(k)
    return unique


# (hash, weights, named, tag)
POOLS = [
    ("fnv1a_64", [1, 1, 1], False, ""),
    ("fnv1a_64", [1, 1, 1, 1, 1], True, "{}"),
    ("fnv1a_64", [3, 1, 2, 5], False, "{}"),
    ("fnv1_64", [1, 2, 3], True, ""),
    ("fnv1a_32", [1, 1, 1, 1], False, "{}"),
    ("fnv1_32", [2, 2, 1, 1, 4], True, ""),
    ("md5", [1, 1, 1], True, "{}"),
    ("md5", [10, 1, 5, 1], False, ""),
    ("murmur", [1, 1, 1, 1, 1], False, ""),
    ("murmur", [1, 3, 1], True, "{}"),
    ("crc16", [1, 1, 1, 1], True, ""),
    ("crc32", [1, 1, 1], False, "{}"),
    ("crc32a", [2, 1, 1, 1, 1], True, "{}"),
    ("one_at_a_time", [1, 1, 1, 1], False, ""),
    ("jenkins", [1, 1, 2], True, ""),
    ("hsieh", [1, 1, 1, 1, 1], False, "{}"),
    ("hsieh", [7, 3, 1], True, "[]"),
]


class TwemproxyCompat(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.probe = find_probe()
        cls.keys = make_keys()
        cls.cluster = golden.Cluster(max(len(p[1]) for p in POOLS))
        cls.cluster.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.cluster.__exit__(None, None, None)

    def probe_placement(self, hash_kind, weights, named, tag):
        ports = self.cluster.backend_ports()[:len(weights)]
        nodes = ["%s:%d" % ("node%d" % i if named else golden_default_name(p), w)
                 for i, (p, w) in enumerate(zip(ports, weights))]
        args = [self.probe, "--hex", "--hash", hash_kind] + (["--tag", tag] if tag else []) + nodes
        out = subprocess.run(args, input="".join(k.hex() + "\n" for k in self.keys),
                             capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=True)
        names = out.stdout.splitlines()
        self.assertEqual(len(names), len(self.keys))
        return dict(zip(self.keys, names))

    def test_keys_cover_the_brief(self):
        self.assertGreaterEqual(len(self.keys), 2000)

    def test_placement_matches_nutcracker(self):
        for hash_kind, weights, named, tag in POOLS:
            with self.subTest(hash=hash_kind, weights=weights, named=named, tag=tag):
                expected = golden.placement(self.cluster, hash_kind, weights, named, tag,
                                            self.keys)
                got = self.probe_placement(hash_kind, weights, named, tag)
                wrong = [(k, expected[k], got[k]) for k in self.keys if expected[k] != got[k]]
                self.assertEqual(wrong[:5], [], "%d of %d keys placed differently"
                                 % (len(wrong), len(self.keys)))
                # Every node must be used, or the comparison proves little. Except crc32: its
                # 15-bit values all fall before the ring's first point (twemproxy and we alike).
                if hash_kind != "crc32":
                    self.assertEqual(len(set(expected.values())), len(weights))

    def test_every_hash_kind_on_10000_keys(self):
        # One ring per hash kind, 10,000 keys: the placement proof for each function.
        rng = random.Random(7)
        keys = [b"item:%d" % i for i in range(6000)]
        keys += [bytes(rng.randrange(256) for _ in range(1 + i % 23)) for i in range(4000)]
        keys = list(dict.fromkeys(keys))
        saved, self.keys = self.keys, keys
        try:
            for hash_kind in golden.HASH_KINDS:
                with self.subTest(hash=hash_kind):
                    expected = golden.placement(self.cluster, hash_kind, [1, 2, 1, 1], False, "",
                                                keys)
                    got = self.probe_placement(hash_kind, [1, 2, 1, 1], False, "")
                    wrong = [k for k in keys if expected[k] != got[k]]
                    self.assertEqual(len(wrong), 0, "%s: %d of %d keys differ, e.g. %r"
                                     % (hash_kind, len(wrong), len(keys), wrong[:3]))
        finally:
            self.keys = saved


def golden_default_name(port):
    # twemproxy's default for an unnamed server: "host:port" (port 11211 would drop ":port").
    return "127.0.0.1:%d" % port


if __name__ == "__main__":
    unittest.main(verbosity=2)
