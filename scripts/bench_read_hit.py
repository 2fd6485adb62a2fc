#!/usr/bin/env python3
"""Read-through hit and miss cost, one or several sidecache binaries side by side.

    python3 scripts/bench_read_hit.py --bin build/release/src/app/sidecache \
        [--bin OTHER_BUILD/src/app/sidecache] [--bin build/release/src/app/sidecache+lease_in_read]
        [--rounds 3] [--requests 200000]

A `--bin` ending in "+lease_in_read" runs that binary with `lease_in_read: true` on the policy,
"+lease_in_read=VALUE" with `lease_in_read: VALUE` (auto, true, false; the default is the
binary's own: `auto` since it exists, before that `false`).

Per binary: its own redis-server and sidecache (`workers: 1`, both pinned to core 0,
redis-benchmark to core 1), a SQLite table of 10,000 rows with 16-byte values, and one
read-through policy (`mapping: column`, `lease: true`, negative_ttl 30 s, ttl 1 h, XFetch off).
Every policy key is cached first; plain keys of the same size are SET directly in Redis.

Reported, interleaved over the binaries and rounds (medians, with min-max):
  - requests/s of a plain GET and of a read-through hit through the same sidecache, -c 50,
    -P 1 and -P 16, and their ratio (issue target: hit >= 0.9x plain);
  - Redis commands per hit, per miss (until the value is stored; the key deleted through
    sidecache, then directly in Redis) and per negative hit, from
    INFO commandstats (commands a script runs are counted too, as Redis counts them);
  - the mean time of a miss read one at a time (the round trips before and after the database).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import harness  # noqa: E402

KEYS = 10_000
# Not sidecache's requests: this script's checks, and the health checks.
IGNORED = ("cmdstat_info", "cmdstat_config|resetstat", "cmdstat_strlen", "cmdstat_ping")
VALUE = "v" * 16
POLICY = """    - name: products
      match: "product:*"
      table: products
      key_column: id
      value_column: name
      ttl: 1h
      ttl_jitter: 0
      negative_ttl: 30s
      lease: true
      xfetch_beta: 0
"""


def pin(pid: int, cpu: str) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def key(i: int) -> str:
    return "%012d" % i


class Target:
    def __init__(self, binary: str, work: str, db_path: str):
        self.binary = binary
        policy = POLICY
        if "+lease_in_read" in binary:
            binary, _, option = binary.partition("+lease_in_read")
            policy += "      lease_in_read: %s\n" % (option.lstrip("=") or "true")
        self.redis = harness.RedisServer(work)
        harness.BIN = os.path.abspath(binary)
        self.side = harness.Sidecache(
            work, [("r1", self.redis.port, 1)], workers=1,
            top_extra=harness.cache_yaml(harness.free_port(),
                                         "    type: sqlite\n    path: %s" % db_path, policy))
        pin(self.redis.process.pid, "0")
        pin(self.side.process.pid, "0")
        self.r = self.redis.client()
        self.c = self.side.client()
        pipe = self.r.pipeline(transaction=False)
        for i in range(KEYS):
            pipe.set("plain:" + key(i), VALUE)
        pipe.execute()
        for i in range(0, KEYS, 100):  # loads every policy key
            self.c.mget(["product:" + key(j) for j in range(i, i + 100)])
        harness.wait_until(lambda: self.r.exists("product:" + key(KEYS - 1)) == 1, timeout=30,
                           what="the policy keys cached")

    def commands(self) -> dict[str, int]:
        stats = self.r.info("commandstats")
        return {k[len("cmdstat_"):]: v["calls"] for k, v in stats.items()
                if k.startswith("cmdstat_") and k not in IGNORED}

    def per_request(self, fn, n: int, settled=lambda: True) -> dict[str, float]:
        self.r.config_resetstat()
        fn()
        harness.wait_until(settled, timeout=30, what="the stores")
        time.sleep(0.2)  # stores and releases that follow the last reply (a benchmark only)
        return {k: round(v / n, 2) for k, v in sorted(self.commands().items()) if v}

    def stop(self) -> None:
        self.side.stop()
        self.redis.stop()


def cpu_seconds(pid: int) -> float:
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def benchmark(port: int, pattern: str, pipeline: int, requests: int) -> float:
    out = subprocess.run(
        ["taskset", "-c", "1", "redis-benchmark", "-p", str(port), "-c", "50", "-n",
         str(requests), "-P", str(pipeline), "-r", str(KEYS), "--csv", "GET", pattern],
        check=True, capture_output=True, text=True).stdout
    line = [ln for ln in out.splitlines() if ln.startswith('"GET')][-1]
    return float(line.split(",")[1].strip('"'))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", action="append", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200_000)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    db_path = os.path.join(tmp.name, "app.db")
    db = sqlite3.connect(db_path)
    db.execute("CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO products VALUES (?, ?)", [(key(i), VALUE) for i in range(KEYS)])
    db.commit()
    db.close()
    targets = []
    try:
        for i, b in enumerate(args.bin):
            work = os.path.join(tmp.name, "t%d" % i)
            os.makedirs(work)
            targets.append(Target(b, work, db_path))
        print("load average before: %s" % open("/proc/loadavg").read().strip())
        rates: dict[tuple[int, str, int], list[float]] = {}
        cpu: dict[tuple[int, str, int], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for t_i, t in enumerate(targets):
                for p in (1, 16):
                    for name, pattern in (("plain", "plain:__rand_int__"),
                                          ("hit", "product:__rand_int__")):
                        side0 = cpu_seconds(t.side.process.pid)
                        redis0 = cpu_seconds(t.redis.process.pid)
                        rates.setdefault((t_i, name, p), []).append(
                            benchmark(t.side.port, pattern, p, args.requests))
                        cpu.setdefault((t_i, name, p), []).append((
                            (cpu_seconds(t.side.process.pid) - side0) / args.requests * 1e6,
                            (cpu_seconds(t.redis.process.pid) - redis0) / args.requests * 1e6))
        print("\n| binary | -P | plain GET rps | read-through hit rps | hit / plain |")
        print("|---|---:|---:|---:|---:|")
        for t_i, t in enumerate(targets):
            for p in (1, 16):
                plain, hit = rates[(t_i, "plain", p)], rates[(t_i, "hit", p)]
                ratios = [h / q for h, q in zip(hit, plain)]
                print("| %s | %d | %.0f (%.0f-%.0f) | %.0f (%.0f-%.0f) | %.2f (%.2f-%.2f) |" % (
                    t.binary, p, statistics.median(plain), min(plain), max(plain),
                    statistics.median(hit), min(hit), max(hit), statistics.median(ratios),
                    min(ratios), max(ratios)))
        print("\nCPU us per request (medians; sidecache / redis-server, user+system):")
        for t_i, t in enumerate(targets):
            for p in (1, 16):
                for name in ("plain", "hit"):
                    c = cpu[(t_i, name, p)]
                    print("  %s -P %d %s: %.2f / %.2f" % (
                        t.binary, p, name, statistics.median(x for x, _ in c),
                        statistics.median(y for _, y in c)))
        print("\nRedis commands per request (INFO commandstats):")
        n = 200
        for t_i, t in enumerate(targets):
            hit = t.per_request(lambda: [t.c.get("product:" + key(i)) for i in range(n)], n)
            misses = []
            # Invalidated through sidecache (the application's DEL), then in Redis directly.
            for via, first in ((t.c, 0), (t.r, n)):
                gone = ["product:" + key(i) for i in range(first, first + n)]
                via.delete(*gone)
                started = time.perf_counter()
                miss = t.per_request(lambda: [t.c.get(k) for k in gone], n,
                                     lambda: all(t.r.strlen(k) == len(VALUE) for k in gone))
                misses.append((miss, (time.perf_counter() - started - 0.2) / n * 1000))
            absent = ["product:x%d-%d" % (t_i, i) for i in range(n)]
            for k in absent:
                t.c.get(k)
            time.sleep(0.2)
            negative = t.per_request(lambda: [t.c.get(k) for k in absent], n)
            print("  %s\n    hit: %s\n"
                  "    miss after DEL through sidecache: %s (%.3f ms per miss, one at a time)\n"
                  "    miss after DEL in Redis directly: %s (%.3f ms per miss, one at a time)\n"
                  "    negative hit: %s" % (t.binary, hit, misses[0][0], misses[0][1],
                                            misses[1][0], misses[1][1], negative))
        print("\nload average after: %s" % open("/proc/loadavg").read().strip())
    finally:
        for t in targets:
            t.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
