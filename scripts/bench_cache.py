#!/usr/bin/env python3
"""Read-through benchmark: sidecache's cache policies against naive cache-aside, same data.

    python3 scripts/bench_cache.py [--quick] [--write-docs] [--bin build/release/src/app/sidecache]
    python3 scripts/bench_cache.py --effectiveness [--quick] [--write-docs]

--effectiveness measures what single flight, the lease, XFetch and stale-if-error exist for
(see effectiveness() below); without it, the throughput comparison that follows.

One PostgreSQL (products: 100,000 rows), one redis-server, and the load generator
tests/integration/tools/cache_load (built with the project) with Zipf-like key popularity:

  naive      cache_load against redis-server directly: GET; on a miss, the query on PostgreSQL,
             then SET PX ttl. Every miss queries; no single flight, no early refresh.
  sidecache  cache_load against sidecache in front of the same redis-server, with a policy
             running the same query: single flight, XFetch early refresh, jitter.

Both run the same query, which includes pg_sleep(--db-latency-ms) to stand for a database
across the network (a local query takes ~50 us, which would hide stampedes). Database queries
are counted by PostgreSQL itself (pg_stat_user_tables.idx_scan of products), and cross-checked
with the client's (naive) or sidecache's own count. Reported: requests/s, hit ratio, database
queries per 1,000 requests, p50/p99/p99.9 and the worst one-second p99 (a spike at expiry
boundaries shows there).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import harness  # noqa: E402

DOCS_BEGIN = "<!-- bench-cache:results:begin -->"
DOCS_END = "<!-- bench-cache:results:end -->"
ROWS = 100_000


LOGGED_READS = """
CREATE UNLOGGED TABLE reads (k integer, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION log_read(k integer) RETURNS int LANGUAGE sql VOLATILE AS
  $$ INSERT INTO reads(k) VALUES (k) RETURNING 1 $$;
"""


def logged_query_for(latency_ms):
    """The row query, which also records (id, time) in `reads`: stampedes show as reads of one
    key close together."""
    return ("SELECT p.id, p.name, p.category, p.price, p.stock FROM log_read($1::int) AS l(x), "
            "pg_sleep(%g) AS s, products p WHERE p.id = $1::int" % (latency_ms / 1000.0))


def duplicate_reads(pg, within_ms=1000):
    """Reads of a key less than `within_ms` after the previous read of the same key."""
    rows = pg.psql("SELECT count(*) FROM (SELECT at - lag(at) OVER (PARTITION BY k ORDER BY at) "
                   "AS gap FROM reads) g WHERE gap < interval '%d milliseconds'" % within_ms)
    return int(rows[0][0])


def query_for(latency_ms):
    return ("SELECT id, name, category, price, stock FROM products, pg_sleep(%g) WHERE id = $1"
            % (latency_ms / 1000.0))


def idx_scans(pg):
    # Statistics reach pg_stat_* when a backend ends or goes idle; the callers close their
    # connections (or stop sidecache) first, and pg_stat_force_next_flush() covers ours.
    rows = pg.psql("SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) FROM "
                    "pg_stat_user_tables WHERE relname = 'products'")
    return int(rows[0][0])


def scans_after_flush(pg, before, timeout=15.0):
    """idx_scan once it stops changing (stats of ended backends arrive within a second)."""
    deadline = time.time() + timeout
    last = idx_scans(pg)
    while time.time() < deadline:
        time.sleep(1.0)
        now = idx_scans(pg)
        if now == last:
            return now - before
        last = now
    return last - before


def metric_sum(port, name):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run_load(tool, port, mode, args, extra=(), seconds=None, seed=1):
    seconds = args.seconds if seconds is None else seconds
    cmd = [tool, "--port", str(port), "--mode", mode, "--keys", str(ROWS),
           "--zipf", str(args.zipf), "--threads", str(args.threads), "--seed", str(seed),
           "--seconds", str(seconds), "--ttl-ms", str(args.ttl_ms), "--rate", str(args.rate),
           *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        sys.exit("cache_load failed: " + out.stderr)
    return json.loads(out.stdout)


def load_products(pg, rows):
    pg.psql("CREATE TABLE products (id integer PRIMARY KEY, name text, category text, "
            "price numeric(10,2), stock integer)")
    pg.psql("INSERT INTO products SELECT i, 'Product ' || i, "
            "(ARRAY['books','games','garden','kitchen'])[i % 4 + 1], "
            "5 + (i * 37) % 500 + ((i * 13) % 100) / 100.0, (i * 7) % 250 "
            f"FROM generate_series(1, {rows}) AS i")
    pg.psql("ANALYZE products")


def run_parallel(jobs):
    """Runs cache_load commands at once; their JSON results, in order."""
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in jobs]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        if p.returncode != 0:
            sys.exit("cache_load failed: " + err)
        results.append(json.loads(out))
    return results


def merge(results):
    """One result from several cache_load runs of the same length (sums; worst percentiles)."""
    total = dict(results[0])
    for r in results[1:]:
        for k in ("requests", "rps", "client_misses", "client_queries", "errors", "errors_cached"):
            total[k] += r[k]
        for k in ("p50_ms", "p99_ms", "p999_ms", "worst_second_p99_ms"):
            total[k] = max(total[k], r[k])
        total["key_windows"] = max(total["key_windows"], r["key_windows"])
        for k in ("second_p99_ms", "hot_second_p99_ms"):
            total[k] = [max(a, b) for a, b in zip(total[k], r[k])]
    return total


def median(values):
    values = sorted(v for v in values if v > 0)
    return values[len(values) // 2] if values else 0.0


def effectiveness(args):
    """The tutorial's cache-aside in the client (naive) against one sidecache and a fleet of
    three sharing the Redis (lease on), all cold at the start, on a hot-key workload: Zipf
    s=1.1 over 10,000 keys, 64 closed-loop clients, TTL 5 s, a 20 ms database query, several
    TTL periods. Reported per setup: database queries per (key, TTL window) that was requested
    (a cache that loads each key once per TTL makes about 1; a stampede makes more), duplicate
    queries (a key read again less than 1 s after its last read: a stampede), the median and
    worst per-second p99 of the 10 hottest keys (a spike at their expiry shows in the worst
    second), and, with the database stopped for 10 s in the middle of a run, the
    errors on keys that had been read before (stale-if-error answers them)."""
    keys, threads = 10_000, 64
    ttl_ms, latency_ms = args.ttl_ms, args.db_latency_ms
    seconds = args.seconds
    query = logged_query_for(latency_ms)
    harness.BIN = args.bin
    rows = []

    def load_cmd(port, mode, n_threads, seed, secs, extra=()):
        return [args.tool, "--port", str(port), "--mode", mode, "--keys", str(keys),
                "--zipf", "1.1", "--threads", str(n_threads), "--seed", str(seed),
                "--seconds", str(secs), "--ttl-ms", str(ttl_ms), *extra]

    with tempfile.TemporaryDirectory(prefix="sidecache-bench-eff-") as work:
        pg = harness.Postgres()
        redis = harness.RedisServer(work)
        try:
            load_products(pg, keys)
            pg.psql(LOGGED_READS)
            naive_extra = ("--pg", pg.conninfo(), "--query", query)

            def flush():
                conn = harness.RespConnection(redis.port)
                conn.command("FLUSHALL")
                conn.close()

            def sidecaches(n, lease, stale_if_error="0"):
                # As many database connections in all as the naive clients have.
                config = f"""
cache:
  database: {{type: postgres, conninfo: "{pg.conninfo()}", pool_size: {threads // n},
              query_timeout: 2s,
              connect_timeout: 500ms}}
  policies:
    - name: products
      match: "product:*"
      query: "{query}"
      mapping: json
      ttl: {ttl_ms}ms
      ttl_jitter: 0.1
      xfetch_beta: 1
      lease: {"true" if lease else "false"}
      lease_ttl: 2s
      lease_wait: 1s
      load_timeout: 3s
      stale_if_error: {stale_if_error}
"""
                return [harness.Sidecache(work, [("n1", redis.port, 1)], workers=1,
                                          top_extra=config) for _ in range(n)]

            def measure(name, run):
                flush()
                pg.psql("TRUNCATE reads")
                result = run()
                result["db_queries"] = int(pg.psql("SELECT count(*) FROM reads")[0][0])
                result["duplicates"] = duplicate_reads(pg)
                result["name"] = name
                rows.append(result)

            measure("naive (cache-aside in the client)", lambda: run_parallel(
                [load_cmd(redis.port, "naive", threads, 7, seconds, naive_extra)])[0])
            for n, lease, name in ((1, False, "sidecache"),
                                   (3, True, "3 sidecaches, lease on")):
                def fleet_run(n=n, lease=lease):
                    fleet = sidecaches(n, lease)
                    try:
                        per = [threads // n + (1 if i < threads % n else 0) for i in range(n)]
                        return merge(run_parallel(
                            [load_cmd(sc.port, "sidecache", per[i], 7, seconds)
                             for i, sc in enumerate(fleet)]))
                    finally:
                        for sc in fleet:
                            sc.stop()
                measure(name, fleet_run)

            # The database stopped for 10 s in the middle of a run.
            outage = []
            for name in ("naive", "sidecache, stale_if_error: 60s"):
                flush()
                fleet = sidecaches(1, False, "60s") if name != "naive" else []
                port = fleet[0].port if fleet else redis.port
                mode, extra = ("sidecache", ()) if fleet else ("naive", naive_extra)
                proc = subprocess.Popen(load_cmd(port, mode, threads, 9, 30, extra),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                time.sleep(10)
                pg.stop()
                time.sleep(10)
                pg.start()
                out, err = proc.communicate(timeout=120)
                for sc in fleet:
                    sc.stop()
                if proc.returncode != 0:
                    sys.exit("cache_load failed: " + err)
                r = json.loads(out)
                r["name"] = name
                outage.append(r)
        finally:
            redis.stop()
            pg.close()

    lines = [
        "Zipf s=1.1 over %d keys, %d closed-loop clients, TTL %d ms (sidecache: jitter 10%%, "
        "XFetch beta 1), database query with pg_sleep(%g ms), %g s from a cold cache; queries "
        "counted by PostgreSQL. A (key, window) pair is a key requested at least once in one "
        "TTL-long window of the run." % (keys, threads, ttl_ms, latency_ms, seconds),
        "",
        "| setup | requests/s | db queries | (key, window) pairs | queries per pair | "
        "duplicate queries (< 1 s after the key's last) | hot keys: median 1 s p99 ms | "
        "hot keys: worst 1 s p99 ms | all: p50 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        pairs = max(1, r["key_windows"])
        hot = r["hot_second_p99_ms"][1:-1]  # whole seconds only
        lines.append("| %s | %.0f | %d | %d | %.3f | %d | %.2f | %.2f | %.2f |" % (
            r["name"], r["rps"], r["db_queries"], pairs, r["db_queries"] / pairs,
            r["duplicates"], median(hot), max(hot or [0]), r["p50_ms"]))
    lines += ["", "Database stopped from second 10 to 20 of a 30 s run:", "",
              "| setup | requests | errors | errors on keys read before | worst 1 s p99 ms |",
              "|---|---|---|---|---|"]
    for r in outage:
        lines.append("| %s | %d | %d | %d | %.2f |" % (
            r["name"], r["requests"], r["errors"], r["errors_cached"],
            r["worst_second_p99_ms"]))
    return "\n".join(lines)


def write_docs(marker, title, command, report):
    begin, end = "<!-- %s:begin -->" % marker, "<!-- %s:end -->" % marker
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    block = "%s\nMeasured %s with `%s`.\n\n%s\n%s" % (
        begin, time.strftime("%Y-%m-%d"), command, report, end)
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text += "\n## %s\n\n%s\n" % (title, block)
    path.write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=str(ROOT / "build/release/src/app/sidecache"))
    parser.add_argument("--tool", default=str(ROOT / "build/release/tests/integration/cache_load"))
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--zipf", type=float, default=1.0)
    parser.add_argument("--ttl-ms", type=int, default=5000)
    parser.add_argument("--db-latency-ms", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=8000,
                        help="requests/s of both runs (equal rates give comparable hit ratios)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of load before each measured run (default: 2 TTLs)")
    parser.add_argument("--quick", action="store_true", help="8 s per run")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--effectiveness", action="store_true",
                        help="the hot-key effectiveness comparison (see effectiveness())")
    args = parser.parse_args()
    if args.effectiveness:
        # The documented workload unless told otherwise: TTL 5 s, 20 ms queries, 4 TTL periods.
        if "--db-latency-ms" not in sys.argv:
            args.db_latency_ms = 20.0
        if "--seconds" not in sys.argv:
            args.seconds = 10 if args.quick else 20
        report = effectiveness(args)
        print(report)
        if args.write_docs:
            write_docs("bench-cache-effectiveness", "Read-through effectiveness",
                       "python3 scripts/bench_cache.py --effectiveness", report)
        return
    if args.quick:
        args.seconds = 8
    if args.warmup is None:
        args.warmup = 2 * args.ttl_ms / 1000.0
    harness.BIN = args.bin
    query = query_for(args.db_latency_ms)

    with tempfile.TemporaryDirectory(prefix="sidecache-bench-cache-") as work:
        pg = harness.Postgres()
        redis = harness.RedisServer(work)
        try:
            load_products(pg, ROWS)
            results = {}

            naive_args = ("--pg", pg.conninfo(), "--query", query)
            run_load(args.tool, redis.port, "naive", args, naive_args, args.warmup, seed=2)
            before = scans_after_flush(pg, 0)
            naive = run_load(args.tool, redis.port, "naive", args, naive_args)
            naive["db_queries"] = scans_after_flush(pg, before)
            naive["hit_ratio"] = 1 - naive["client_misses"] / max(1, naive["requests"])
            naive["own_count"] = naive["client_queries"]
            results["naive"] = naive

            conn = harness.RespConnection(redis.port)
            conn.command("FLUSHALL")
            conn.close()
            http_port = harness.free_port()
            cache = f"""
http: {{listen: 127.0.0.1:{http_port}}}
cache:
  database: {{type: postgres, conninfo: "{pg.conninfo()}", pool_size: {args.threads},
              query_timeout: 2s}}
  policies:
    - name: products
      match: "product:*"
      query: "{query}"
      mapping: json
      ttl: {args.ttl_ms}ms
      ttl_jitter: 0.1
      xfetch_beta: 1
"""
            # Warm-up on one sidecache process, measurement on a fresh one: its database
            # connections end with it, so PostgreSQL's counts of the two phases do not mix.
            sc = harness.Sidecache(work, [("n1", redis.port, 1)], workers=1, top_extra=cache)
            run_load(args.tool, sc.port, "sidecache", args, (), args.warmup, seed=2)
            sc.stop()
            before = scans_after_flush(pg, 0)
            sc = harness.Sidecache(work, [("n1", redis.port, 1)], workers=1, top_extra=cache)
            names = ("hits", "misses", "loads", "early_refreshes", "negative_hits")
            side = run_load(args.tool, sc.port, "sidecache", args)
            got = {n: metric_sum(http_port, "sidecache_cache_%s_total" % n) for n in names}
            hits, misses = got["hits"], got["misses"]
            side["own_count"] = int(got["loads"])
            side["early_refreshes"] = int(got["early_refreshes"])
            sc.stop()
            side["db_queries"] = scans_after_flush(pg, before)
            side["hit_ratio"] = hits / max(1.0, hits + misses)
            results["sidecache"] = side
        finally:
            redis.stop()
            pg.close()

    for r in results.values():
        r["queries_per_1000"] = 1000.0 * r["db_queries"] / max(1, r["requests"])
    ratio = results["naive"]["queries_per_1000"] / max(1e-9,
                                                       results["sidecache"]["queries_per_1000"])
    lines = [
        "Zipf s=%g over %d rows, %g requests/s from %d client threads (and as many database "
        "connections), %g s "
        "measured after %g s of warm-up, TTL %d ms (jitter 10%% for sidecache), query with "
        "pg_sleep(%g ms); queries counted by PostgreSQL." % (
            args.zipf, ROWS, args.rate, args.threads, args.seconds, args.warmup, args.ttl_ms,
            args.db_latency_ms),
        "",
        "| | requests/s | hit ratio | db queries / 1000 req | (own count) | p50 ms | p99 ms "
        "| p99.9 ms | worst 1 s p99 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("naive", "sidecache"):
        r = results[name]
        lines.append("| %s | %.0f | %.3f | %.2f | %d | %.2f | %.2f | %.2f | %.2f |" % (
            name, r["rps"], r["hit_ratio"], r["queries_per_1000"], r["own_count"], r["p50_ms"],
            r["p99_ms"], r["p999_ms"], r["worst_second_p99_ms"]))
    lines += ["", "Database queries, naive / sidecache: **%.1fx** (target: at least 5x)." % ratio,
              "sidecache early refreshes (XFetch): %d." % results["sidecache"]["early_refreshes"]]
    report = "\n".join(lines)
    print(report)
    if args.write_docs:
        path = ROOT / "docs" / "benchmarks.md"
        text = path.read_text()
        stamp = time.strftime("%Y-%m-%d")
        block = "%s\nMeasured %s with `python3 scripts/bench_cache.py`.\n\n%s\n%s" % (
            DOCS_BEGIN, stamp, report, DOCS_END)
        if DOCS_BEGIN in text:
            head, rest = text.split(DOCS_BEGIN, 1)
            text = head + block + rest.split(DOCS_END, 1)[1]
        else:
            text += "\n## Read-through caching\n\n" + block + "\n"
        path.write_text(text)


if __name__ == "__main__":
    main()
