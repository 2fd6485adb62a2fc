#!/usr/bin/env python3
"""Logs: JSON lines (every line a JSON object, messages escaped) and the slow-request log
(command name and node, never keys or values)."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# A Lua script that keeps its node busy for ~400 ms (a slow request, without DEBUG SLEEP): far
# above the 150 ms threshold below, which a SET or GET stays under even on a loaded machine
# (with TLS, a first request also waits for the node connection's handshake).
BUSY_SCRIPT = """
local start = redis.call('TIME')
local t0 = start[1] * 1000000 + start[2]
while true do
  local now = redis.call('TIME')
  if now[1] * 1000000 + now[2] - t0 > 400000 then break end
end
return 'done-' .. ARGV[1]
"""


class JsonLogs(unittest.TestCase):
    def test_every_line_is_a_json_object(self):
        cluster = harness.Cluster(2, top_extra='logging: {format: json, level: debug}\n')
        try:
            c = cluster.sidecache.client()
            c.set('k', 'v')
            # A protocol error is logged at debug with text taken from the client's input
            # ("expected '$', got '\"'"): quotes must come out escaped.
            raw = cluster.sidecache.raw()
            raw.send_raw(b'*2\r\n"oops\r\n')
            self.assertTrue(raw.is_closed())
            harness.wait_until(lambda: 'protocol error' in cluster.sidecache.process.output(),
                               timeout=5, what='the protocol error log line')
            log = cluster.sidecache.process.output()
        finally:
            cluster.close()
        lines = [l for l in log.splitlines() if l.strip()]
        self.assertGreater(len(lines), 5)
        levels = set()
        for line in lines:
            obj = json.loads(line)  # raises on anything that is not one JSON object
            self.assertEqual(set(obj), {'time', 'level', 'thread', 'msg'}, line)
            self.assertRegex(obj['time'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$')
            levels.add(obj['level'])
        self.assertIn('info', levels)
        errors = [json.loads(l)['msg'] for l in lines if 'protocol error' in l]
        self.assertTrue(any("got '\"'" in m for m in errors), errors)


class SlowRequestLog(unittest.TestCase):
    def test_slow_requests_are_logged_without_values(self):
        cluster = harness.Cluster(
            2, top_extra='logging: {slow_request_threshold: 150ms}\n')
        try:
            c = cluster.sidecache.client()
            secret = 'secret-value-42'
            c.set('fast-key', secret)
            self.assertEqual(c.get('fast-key'), secret.encode())
            self.assertEqual(c.eval(BUSY_SCRIPT, 0, 'x'), b'done-x')
            harness.wait_until(lambda: 'slow request' in cluster.sidecache.process.output(),
                               timeout=5, what='the slow-request log line')
            log = cluster.sidecache.process.output()
        finally:
            cluster.close()
        slow = [l for l in log.splitlines() if 'slow request' in l]
        self.assertEqual(len(slow), 1, slow)  # the fast SET/GET are not logged
        self.assertRegex(slow[0],  # a ring node's name, or a cluster node's host:port
                         r"slow request: eval on (node[01]|127\.0\.0\.1:\d+) took \d+\.\d+ ms")
        self.assertNotIn(secret, log)
        self.assertNotIn('redis.call', log)


if __name__ == '__main__':
    unittest.main(verbosity=2)
