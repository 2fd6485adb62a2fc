#!/usr/bin/env python3
"""scripts/bench_nearcache.py runs: a tiny run of every setting (loopback and the delaying relay),
-P 1 and -P 16, and the invalidation lag, checked for completion and sane figures only, never
for speed (the machine running the tests is not quiet)."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCRIPT = os.path.join(harness.SOURCE_DIR, "scripts", "bench_nearcache.py")
LOAD = os.path.join(harness.BUILD_DIR, "tests", "tools", "nearcache_load")
RELAY = os.path.join(harness.BUILD_DIR, "tests", "tools", "delay_relay")


class BenchNearcacheSmoke(unittest.TestCase):
    def test_tiny_run_completes_with_sane_figures(self):
        with tempfile.TemporaryDirectory() as tmp:
            out_json = os.path.join(tmp, "runs.json")
            argv = [sys.executable, SCRIPT, "--sidecache", harness.BIN, "--load", LOAD,
                    "--keys", "2000", "--sizes", "16", "--zipf", "1.0", "--pipelines", "1,16",
                    "--connections", "4", "--seconds", "0.3", "--warmup", "0.2",
                    "--lag-samples", "5", "--json", out_json, "--relay", RELAY]
            out = subprocess.run(argv, capture_output=True, text=True, timeout=240)
            self.assertEqual(out.returncode, 0, out.stdout[-2000:] + out.stderr[-2000:])
            self.assertIn("| loopback | 1.0 | 16 B | 16 |", out.stdout)
            with open(out_json) as f:
                data = json.load(f)
        runs = data["runs"]
        self.assertEqual(len(runs), 2 * 2 * 2)  # settings x pipelines x targets
        for r in runs:
            self.assertGreater(r["requests"], 0, r)
            self.assertGreater(r["rps"], 0, r)
            self.assertTrue(0 < r["p50_us"] <= r["p99_us"], r)
            if r["target"] == "direct":
                self.assertAlmostEqual(r["redis_gets_per_request"], 1.0, delta=0.01, msg=r)
            else:
                self.assertTrue(0 < r["hit_ratio"] <= 1, r)
                self.assertTrue(0 <= r["redis_gets_per_request"] < 1, r)
                self.assertGreaterEqual(r["side_cpu_us"], 0, r)  # 10 ms ticks
        self.assertEqual(len(data["lag_ms"]), 5)
        self.assertTrue(all(math.isfinite(x) and x >= 0 for x in data["lag_ms"]))


if __name__ == "__main__":
    unittest.main()
