#!/usr/bin/env python3
"""A CI-sized benchmark that catches a catastrophic slowdown, never noise.

One redis-server, one sidecache (one worker), redis-benchmark GET and SET of 16-byte values
at -P 1 and -P 16 for a fixed number of requests (a few seconds in all). What is compared is
sidecache's own CPU time per request (/proc/PID/stat, user + system), which depends far less on
how busy the machine is than requests per second, against the committed baseline
(bench_smoke_baseline.json, measured on the 2-core development machine): the test fails only
when a workload costs more than FACTOR times its baseline. That is a regression of the kind an
accidental copy per byte, a lock on the hot path or a debug build would cause; anything smaller
is for scripts/bench.sh to measure, with ratios against direct Redis and twemproxy.

Each run must also really have been forwarded: redis-benchmark succeeds, and Redis counted at
least one command of the benchmark's kind per request.

Release builds only: a sanitizer build costs several times the baseline by design.
Update the baseline (after a deliberate change, on a quiet machine):
  SIDECACHE_BIN=build/release/src/app/sidecache SIDECACHE_BUILD_DIR=build/release \\
    /usr/bin/python3 tests/integration/test_bench_smoke.py --write-baseline
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BASELINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_smoke_baseline.json")
FACTOR = 2.5
CLIENTS = 20
KEYS = 1000
# workload id -> (command, pipeline, requests)
WORKLOADS = {
    "get-16-P1": ("get", 1, 20000),
    "set-16-P1": ("set", 1, 20000),
    "get-16-P16": ("get", 16, 200000),
    "set-16-P16": ("set", 16, 200000),
}


def cpu_seconds(pid):
    """User + system CPU of `pid` in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def calls(redis, command):
    """Redis' own count of `command` calls (INFO commandstats)."""
    stats = redis.info("commandstats").get("cmdstat_" + command, {})
    return int(stats.get("calls", 0))


def measure(port, pid, redis, command, pipeline, requests):
    """sidecache's CPU microseconds per request for one redis-benchmark run."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
            "-c", str(CLIENTS), "-P", str(pipeline), "-n", str(requests), "-r", str(KEYS),
            "-d", "16", "-t", command, "-q"]
    before_calls, before_cpu = calls(redis, command), cpu_seconds(pid)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    after_cpu, after_calls = cpu_seconds(pid), calls(redis, command)
    if out.returncode != 0:
        raise AssertionError("redis-benchmark failed (%d): %s" % (out.returncode,
                                                                   out.stderr[-400:]))
    forwarded = after_calls - before_calls
    if forwarded < requests:
        raise AssertionError("only %d of %d %s requests reached Redis: %s"
                             % (forwarded, requests, command.upper(), out.stdout[-400:]))
    return (after_cpu - before_cpu) / requests * 1e6


class BenchSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.redis = harness.RedisServer(cls.tmp.name)
        cls.sidecache = harness.Sidecache(cls.tmp.name, [("n1", cls.redis.port, 1)])
        client = cls.sidecache.client()
        for i in range(KEYS):
            client.set("key:%012d" % i, "v" * 16)
        client.close()

    @classmethod
    def tearDownClass(cls):
        cls.sidecache.stop()
        cls.redis.stop()
        cls.tmp.cleanup()

    def run_all(self):
        """CPU µs per request of each workload: the least of two runs (a run slowed by the
        machine is not a regression)."""
        redis = self.redis.client()
        pid = self.sidecache.process.pid
        result = {}
        for name, (command, pipeline, requests) in WORKLOADS.items():
            result[name] = min(measure(self.sidecache.port, pid, redis, command, pipeline,
                                       requests) for _ in range(2))
        redis.close()
        return result

    @unittest.skipUnless(harness.build_option("CMAKE_BUILD_TYPE") == "Release",
                         "Release builds only (sanitizers cost several times the baseline)")
    def test_cpu_per_request_within_factor_of_baseline(self):
        with open(BASELINE) as f:
            baseline = json.load(f)["cpu_us_per_request"]
        measured = self.run_all()
        report = ", ".join("%s %.2f us (baseline %.2f)" % (k, v, baseline[k])
                           for k, v in measured.items())
        print("bench smoke: " + report)
        over = [k for k, v in measured.items() if v > FACTOR * baseline[k]]
        self.assertEqual(over, [], "CPU per request above %gx the baseline: %s"
                         % (FACTOR, report))


def write_baseline():
    smoke = BenchSmoke()
    BenchSmoke.setUpClass()
    try:
        runs = [smoke.run_all() for _ in range(3)]
    finally:
        BenchSmoke.tearDownClass()
    # The median of three: a baseline from an unlucky run would hide a real regression.
    data = {
        "note": "sidecache CPU microseconds per request (user+system), tests/integration/"
                "test_bench_smoke.py; the test fails above %g times these" % FACTOR,
        "measured": time.strftime("%Y-%m-%d", time.gmtime()),
        "load_average": open("/proc/loadavg").read().split()[:3],
        "cpu_us_per_request": {k: round(sorted(r[k] for r in runs)[1], 3) for k in WORKLOADS},
    }
    with open(BASELINE, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(json.dumps(data, indent=1))


if __name__ == "__main__":
    if "--write-baseline" in sys.argv:
        write_baseline()
    else:
        unittest.main()
