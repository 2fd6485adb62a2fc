#!/usr/bin/env python3
"""Write-behind benchmark.

    /usr/bin/python3 scripts/bench_write.py [--requests N] [--clients C] [--bin PATH]
        [--bin-before PATH] [--repeats R] [--no-drain]

1. Client throughput: redis-benchmark SETs through sidecache on keys of a write: behind policy
   against plain SETs (keys of no policy) through the same sidecache, same redis-server
   (appendonly yes, everysec). Target: write-behind >= 70% of plain. Per phase, Redis' own
   cost from INFO commandstats (usec per client SET, per command) and redis-server's CPU per
   client SET (/proc), the write-behind phase counted until its queue is drained. With
   --bin-before the two binaries run alternately, --repeats times each; medians at the end.
2. Database write rate: N distinct keys are queued while the SQLite file is locked, then the
   lock is released and the drain is timed, once with batches (batch_size 500) and once with
   one row per transaction (batch_size 1). Rows/s = N / drain time.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import harness  # noqa: E402


def policies():
    return """    - match: "wb:*"
      table: kv
      key_column: id
      value_column: v
      write: behind
      write_behind: {queue_max: 10000000}
"""


def start(tmp, dbpath, redis, batch_size):
    http = harness.free_port()
    database = "    type: sqlite\n    path: %s\n    query_timeout: 5s" % dbpath
    sc = harness.Sidecache(tmp, [("a", redis.port, 1)], workers=2,
                           top_extra=harness.cache_yaml(
                               http, database, policies(),
                               "  write_behind: {batch_size: %d, flush_interval: 50ms}\n"
                               % batch_size))
    return sc, http


def bench_set(port, prefix, requests, clients):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-n", str(requests), "-c",
                          str(clients), "-r", "100000", "-q", "--csv", "SET",
                          prefix + "__rand_int__", "value-of-32-bytes-xxxxxxxxxxxxxx"],
                         capture_output=True, text=True, timeout=600, check=True)
    line = [l for l in out.stdout.splitlines() if l and not l.startswith('"test"')][-1]
    return float(line.split(",")[1].strip('"'))


def redis_cpu_s(redis):
    """redis-server's user + system CPU seconds so far."""
    with open("/proc/%d/stat" % redis.process.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def queue_names(sc):
    """(stream, pending hash) of the node, from sidecache's log."""
    m = re.search(r"queue (\S+) \(pending (\S+)", sc.process.output())
    assert m, "no queue names in the log"
    return m.group(1), m.group(2)


def queue_drained(r, names):
    stream, pending = names
    return r.xlen(stream) == 0 and r.hlen(pending) == 0


def commandstats(r):
    """{command: (calls, usec)} of INFO commandstats."""
    out = {}
    for name, v in r.info("commandstats").items():
        out[name.replace("cmdstat_", "")] = (v["calls"], v["usec"])
    return out


def phase(sc, redis, prefix, requests, clients, drain):
    """One redis-benchmark run; (req/s, Redis usec per SET by command, Redis CPU us per SET)."""
    r = redis.client()
    r.config_resetstat()
    cpu0 = redis_cpu_s(redis)
    rate = bench_set(sc.port, prefix, requests, clients)
    if drain:
        names = queue_names(sc)
        harness.wait_until(lambda: queue_drained(r, names), timeout=600, interval=0.05,
                           what="drain")
    cpu = (redis_cpu_s(redis) - cpu0) * 1e6 / requests
    stats = {k: v for k, v in commandstats(r).items()
             if k not in ("config|resetstat", "info", "xlen", "hlen", "ping")}
    return rate, stats, cpu


# Commands sidecache sends itself (a script's own commands are counted inside its EVAL/EVALSHA
# and again under their names: the total leaves them out).
TOP_LEVEL = {"evalsha", "eval", "xreadgroup", "xautoclaim", "xpending", "xrange", "xlen",
             "xgroup|create"}


def show_stats(label, stats, requests):
    top = TOP_LEVEL | ({"set"} if "evalsha" not in stats else set())
    total = sum(u for k, (_, u) in stats.items() if k in top)
    parts = ", ".join("%s %.2f (%d calls, %.2f/call)" % (k, u / requests, c, u / max(c, 1))
                      for k, (c, u) in sorted(stats.items(), key=lambda kv: -kv[1][1])[:8])
    print("  %s: Redis usec per SET %.2f (commands sidecache sent); by command: %s" %
          (label, total / requests, parts))
    return total / requests


def throughput(args, tmp, dbpath, redis):
    bins = [("after", args.bin)]
    if args.bin_before:
        bins = [("before", args.bin_before), ("after", args.bin)]
    results = {name: [] for name, _ in bins}
    for rep in range(args.repeats):
        for name, binary in bins:
            harness.BIN = binary
            redis.client().flushall()
            sc, _ = start(tmp, dbpath, redis, 500)
            try:
                plain, pstats, pcpu = phase(sc, redis, "plain:", args.requests, args.clients,
                                            False)
                behind, bstats, bcpu = phase(sc, redis, "wb:", args.requests, args.clients,
                                             True)
            finally:
                sc.stop()
            load = os.getloadavg()[0]
            print("run %d %s: plain %.0f req/s, write-behind %.0f req/s (%.0f%% of plain), "
                  "load %.1f" % (rep + 1, name, plain, behind, 100.0 * behind / plain, load))
            pu = show_stats("plain", pstats, args.requests)
            bu = show_stats("write-behind", bstats, args.requests)
            print("  redis-server CPU per SET: plain %.1f us, write-behind %.1f us "
                  "(until drained)" % (pcpu, bcpu))
            results[name].append((plain, behind, behind / plain, pu, bu, pcpu, bcpu, load))
    for name, rows in results.items():
        med = [statistics.median(col) for col in zip(*rows)]
        print("%s, medians of %d: plain %.0f req/s, write-behind %.0f req/s, ratio %.0f%% "
              "(%s); Redis usec/SET (commandstats) plain %.2f, write-behind %.2f; "
              "redis-server CPU us/SET plain %.1f, write-behind %.1f; load %.1f" %
              (name, len(rows), med[0], med[1], 100 * med[2],
               ", ".join("%.0f%%" % (100 * r[2]) for r in rows), med[3], med[4], med[5],
               med[6], med[7]))


def drain_rate(tmp, dbpath, redis, batch_size, n):
    r = redis.client()
    r.flushall()
    db = sqlite3.connect(dbpath)
    db.execute("DELETE FROM kv")
    db.commit()
    db.close()
    sc, http = start(tmp, dbpath, redis, batch_size)
    try:
        lock = sqlite3.connect(dbpath, timeout=5, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        c = sc.client()
        p = c.pipeline(transaction=False)
        for i in range(n):
            p.set("wb:%d" % i, "v%d" % i)
            if i % 1000 == 999:
                p.execute()
        p.execute()
        lock.execute("ROLLBACK")
        lock.close()
        t0 = time.monotonic()
        harness.wait_until(lambda: harness.metric(http, "sidecache_write_behind_flushed_total")
                           >= n, timeout=600, interval=0.01, what="drain")
        took = time.monotonic() - t0
        db = sqlite3.connect(dbpath)
        rows = db.execute("SELECT count(*) FROM kv").fetchone()[0]
        db.close()
        assert rows == n, (rows, n)
        return n / took
    finally:
        sc.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--bin", default=str(ROOT / "build/release/src/app/sidecache"))
    ap.add_argument("--bin-before", default="",
                    help="a second binary, run alternately with --bin (before/after)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-drain", action="store_true", help="skip the database drain rates")
    args = ap.parse_args()
    harness.BIN = args.bin
    with tempfile.TemporaryDirectory() as tmp:
        dbpath = os.path.join(tmp, "app.db")
        db = sqlite3.connect(dbpath)
        db.execute("CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT)")
        db.commit()
        db.close()
        redis = harness.RedisServer(tmp, extra=["--appendonly", "yes", "--appendfsync",
                                                "everysec"])
        try:
            throughput(args, tmp, dbpath, redis)
            if args.no_drain:
                return
            harness.BIN = args.bin
            batched = drain_rate(tmp, dbpath, redis, 500, args.rows)
            single = drain_rate(tmp, dbpath, redis, 1, args.rows)
            print("database rows/s, batches of up to 500:     %10.0f" % batched)
            print("database rows/s, one row per transaction:  %10.0f (batched: %.1fx)" %
                  (single, batched / single))
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
