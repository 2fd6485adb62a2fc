#!/usr/bin/env python3
"""scripts/bench_cluster.py works (issue 13's cluster benchmark), as a smoke run: a 3-primary
Redis Cluster, sidecache with a cluster pool and redis-benchmark --cluster, a few hundred
requests per run. Checks that every workload ran against every target without a server error
(the script fails on any) and that the report has its ratios; says nothing about speed (the
real measurement is `bash scripts/bench.sh --only cluster` on a quiet machine)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCRIPT = os.path.join(harness.SOURCE_DIR, "scripts", "bench_cluster.py")


class BenchClusterSmoke(unittest.TestCase):
    def test_every_workload_and_target_runs(self):
        with tempfile.TemporaryDirectory(prefix="sidecache-bench-cluster-test-") as d:
            out = os.path.join(d, "runs.json")
            proc = subprocess.run(["/usr/bin/python3", SCRIPT, "--quick", "--requests", "500",
                                   "--sidecache", harness.BIN, "--json", out],
                                  capture_output=True, text=True, timeout=100)
            self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
            with open(out) as f:
                result = json.load(f)
        pairs = {(r["workload"], r["target"]) for r in result["runs"]}
        for w in ("get-16-P1", "set-16-P1", "get-16-P16", "set-16-P16"):
            self.assertIn((w, "sidecache"), pairs)
            self.assertIn((w, "cluster"), pairs)
        for t in ("sidecache", "cluster-per-slot", "cluster-tagged"):
            self.assertIn(("mget10-16-P1", t), pairs)
        self.assertTrue(all(r["rps"] > 0 for r in result["runs"]), result["runs"])
        self.assertIn(">= 0.90x", result["table"])  # the -P 1 goal is checked and printed
        self.assertIn("> 1x", result["table"])  # the MGET goal too


if __name__ == "__main__":
    unittest.main(verbosity=2)
