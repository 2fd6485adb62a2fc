#!/usr/bin/env python3
"""A node back after a crash serves again within about one probe interval of answering, however
long it was down (probes of a node that refuses connections do not back off), with two
redis-server nodes behind sidecache (health interval 500 ms, default max_interval 8 s):

kill -9 node1, keep it down long enough that a doubling backoff would have reached 4-8 s
between probes, restart it on the same port, and measure from the moment it answers PING to the
first successful SET through sidecache on one of its keys. node0's keys answer throughout.
"""
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

INTERVAL_S = 0.5
POOL = ("  down_policy: fail_fast\n"
        "  health: {interval: 500ms, timeout: 300ms, failure_threshold: 2, success_threshold: 2}\n")
DOWN_FOR_S = 6.0          # long enough for probes at 1, 2 and 4 s gaps under a doubling backoff
READMIT_LIMIT_S = INTERVAL_S * 1.5 + 0.5   # one interval, the confirming probe, a margin


class Readmission(unittest.TestCase):
    def setUp(self):
        self.cluster = harness.Cluster(2, pool_extra=POOL)
        self.addCleanup(self.cluster.close)
        self.keys = harness.keys_on_nodes(self.cluster, 2, prefix="ra")
        self.conn = self.cluster.sidecache.raw(timeout=10)
        self.addCleanup(self.conn.close)

    def log_count(self, pattern):
        return len(re.findall(pattern, self.cluster.sidecache.process.output()))

    def test_restarted_node_is_readmitted_within_one_interval(self):
        live, dead = self.keys[0][0], self.keys[1][0]
        self.assertEqual(self.conn.command("SET", dead, "before"), "OK")
        self.cluster.redis[1].kill9()
        harness.wait_until(lambda: self.log_count(r"node node1 is down") == 1, timeout=10,
                           what="node1 ejected")
        down_since = time.monotonic()
        while time.monotonic() - down_since < DOWN_FOR_S:  # the repro: a long outage
            self.assertEqual(self.conn.command("SET", live, "x"), "OK")
            reply = self.conn.command("SET", dead, "x")
            self.assertIsInstance(reply, harness.RespError)
            time.sleep(0.05)  # a client writing every 50 ms through the whole outage

        self.cluster.redis[1].start()  # returns once the node answers PING
        answered = time.monotonic()
        while True:
            reply = self.conn.command("SET", dead, "after")
            if reply == "OK":
                break
            self.assertIsInstance(reply, harness.RespError)
            self.assertLess(time.monotonic() - answered, 15, "node1 never readmitted")
            self.assertEqual(self.conn.command("SET", live, "y"), "OK")
            time.sleep(0.01)  # the poll interval: the time to readmission is what is measured
        took = time.monotonic() - answered
        print("readmitted %.3f s after the node answered" % took, file=sys.stderr)
        self.assertLess(took, READMIT_LIMIT_S, "readmission took %.3f s" % took)
        self.assertEqual(self.cluster.direct(1).get(dead), b"after")
        self.assertEqual(self.log_count(r"node node1 is up again"), 1)
        self.cluster.sidecache.check()


if __name__ == "__main__":
    unittest.main(verbosity=2)
