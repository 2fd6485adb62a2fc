#!/usr/bin/env python3
"""Write-behind benchmark.

    /usr/bin/python3 scripts/bench_write.py [--requests N] [--clients C] [--bin PATH]

1. Client throughput: redis-benchmark SETs through sidecache on keys of a write: behind policy
   against plain SETs (keys of no policy) through the same sidecache, same redis-server
   (appendonly yes, everysec). Target: write-behind >= 70% of plain.
2. Database write rate: N distinct keys are queued while the SQLite file is locked, then the
   lock is released and the drain is timed, once with batches (batch_size 500) and once with
   one row per transaction (batch_size 1). Rows/s = N / drain time.
"""
from __future__ import annotations

import argparse
import os
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
            sc, _ = start(tmp, dbpath, redis, 500)
            try:
                plain = bench_set(sc.port, "plain:", args.requests, args.clients)
                behind = bench_set(sc.port, "wb:", args.requests, args.clients)
            finally:
                sc.stop()
            print("SET through sidecache, plain keys:         %10.0f req/s" % plain)
            print("SET through sidecache, write-behind keys:  %10.0f req/s (%.0f%% of plain)" %
                  (behind, 100.0 * behind / plain))
            batched = drain_rate(tmp, dbpath, redis, 500, args.rows)
            single = drain_rate(tmp, dbpath, redis, 1, args.rows)
            print("database rows/s, batches of up to 500:     %10.0f" % batched)
            print("database rows/s, one row per transaction:  %10.0f (batched: %.1fx)" %
                  (single, batched / single))
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
