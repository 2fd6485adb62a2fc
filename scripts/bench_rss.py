#!/usr/bin/env python3
"""Resident memory of sidecache after start: VmRSS from /proc/PID/status some seconds after it
answers PING, with the sample config (config/sidecache.yaml) in its two forms:
  proxy-only    the sample without its cache section
  sqlite        the sample as it is: read-through on the quick start's SQLite database
over one redis-server on 127.0.0.1. Each binary given is started in turn with each config,
interleaved, `--repeat` times; the table gives the median and the range in MiB, and the
median of RssFile (the resident pages of the binary and its shared libraries).

  /usr/bin/python3 scripts/bench_rss.py [--repeat 3] [--settle 3] [--sidecache PATH]...

Without --sidecache: the build under test (build/release/src/app/sidecache). Everything is
stopped by PID at the end.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import harness  # noqa: E402


def rss_kib(pid):
    """(VmRSS, RssFile) of process `pid` in KiB: RssFile is the part that maps files (the
    binary and its shared libraries)."""
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssFile"):
                fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["RssFile"]


def measure(workdir, binary, redis_port, sqlite_path, settle):
    harness.BIN = binary
    http = harness.free_port()
    side = harness.Sidecache(workdir, [], config_text=lambda port: harness.sample_config_yaml(
        port, http, redis_port, sqlite_path))
    try:
        time.sleep(settle)
        side.check()
        return rss_kib(side.process.pid)
    finally:
        side.stop_checked()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sidecache", action="append", default=[],
                    help="a sidecache binary (repeat to compare)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--settle", type=float, default=3.0, help="seconds after PING")
    args = ap.parse_args()
    binaries = args.sidecache or [str(ROOT / "build" / "release" / "src" / "app" / "sidecache")]
    with tempfile.TemporaryDirectory() as tmp:
        redis = harness.RedisServer(tmp)
        sqlite_path = os.path.join(tmp, "sample.db")
        harness.make_sample_db(sqlite_path)
        configs = [("proxy-only", None), ("sqlite", sqlite_path)]
        figures = {(b, c): [] for b in binaries for c, _ in configs}
        try:
            for _ in range(args.repeat):
                for name, path in configs:
                    for binary in binaries:
                        figures[(binary, name)].append(
                            measure(tmp, binary, redis.port, path, args.settle))
        finally:
            redis.stop()
    print("| binary | config | VmRSS after start, MiB (median) | range | of which RssFile |")
    print("|---|---|--:|--:|--:|")
    for binary in binaries:
        for name, _ in configs:
            mib = [rss / 1024 for rss, _ in figures[(binary, name)]]
            files = [f / 1024 for _, f in figures[(binary, name)]]
            print("| %s | %s | %.1f | %.1f-%.1f | %.1f |" % (
                binary, name, statistics.median(mib), min(mib), max(mib),
                statistics.median(files)))


if __name__ == "__main__":
    main()
