#!/usr/bin/env python3
"""The HTTP endpoint under connection floods, with its default http.max_connections (64): 200
idle connections kept open by a client that reconnects each one the moment it is closed, and
then 200 slow clients that each send part of a request and reconnect the same way. Meanwhile a
prober asks /healthz, /readyz and /metrics on new connections every 50 ms: every try must be
answered 200 within PROBE_BOUND_S. The connections closed to make room are counted by reason
(sidecache_http_connections_closed_total); RESP keeps serving.
"""
import os
import selectors
import socket
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FLOOD = 200
FLOOD_S = 5.0
PROBE_BOUND_S = 1.0
PATHS = ("/healthz", "/readyz", "/metrics")


class Flood:
    """`count` connections to `port`, each reopened as soon as the server closes it, until
    stop(). `first_bytes` is sent on each new connection (b"" for idle connections)."""

    def __init__(self, port, count, first_bytes=b""):
        self.port = port
        self.count = count
        self.first_bytes = first_bytes
        self.selector = selectors.DefaultSelector()
        self.reconnects = 0
        self.connect_failures = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        for _ in range(self.count):
            self._open()
        self.thread.start()

    def _open(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
            if self.first_bytes:
                s.sendall(self.first_bytes)
        except OSError:
            self.connect_failures += 1
            return
        s.setblocking(False)
        self.selector.register(s, selectors.EVENT_READ)

    def _run(self):
        while not self.stopping.is_set():
            for key, _ in self.selector.select(timeout=0.05):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    continue
                self.selector.unregister(s)
                s.close()
                self.reconnects += 1
                self._open()
            while len(self.selector.get_map()) < self.count and not self.stopping.is_set():
                self._open()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def probe(port, path):
    """(status, seconds) of GET `path` on a new connection; status None when it failed."""
    started = time.monotonic()
    try:
        status = urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                        timeout=5).status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = None
    return status, time.monotonic() - started


class HttpFloodTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http_port = harness.free_port()
        cls.cluster = harness.Cluster(
            n=1, workers=1,
            top_extra="http:\n  listen: 127.0.0.1:%d\n  max_connections: 64\n" % cls.http_port)
        harness.wait_until(lambda: probe(cls.http_port, "/readyz")[0] == 200, timeout=15,
                           what="/readyz 200")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def closed(self, reason):
        return harness.metric(self.http_port, "sidecache_http_connections_closed_total",
                              reason=reason)

    def probe_through(self, flood):
        """Probes every path every 50 ms for FLOOD_S while `flood` runs; the failures, and
        the slowest answer."""
        failures, slowest, tries = [], 0.0, 0
        flood.start()
        try:
            deadline = time.monotonic() + FLOOD_S
            while time.monotonic() < deadline:
                for path in PATHS:
                    status, seconds = probe(self.http_port, path)
                    tries += 1
                    slowest = max(slowest, seconds)
                    if status != 200 or seconds > PROBE_BOUND_S:
                        failures.append((path, status, round(seconds, 3)))
                time.sleep(0.05)  # the probe rate: every path every 50 ms during the flood
        finally:
            flood.stop()
        self.assertGreaterEqual(tries, 12)
        return failures, slowest, tries

    def assert_probes_survive(self, first_bytes):
        evicted_before = self.closed("evicted")
        flood = Flood(self.http_port, FLOOD, first_bytes)
        failures, slowest, tries = self.probe_through(flood)
        print("\n%d probe tries, slowest %.3f s, flood reconnected %d times" %
              (tries, slowest, flood.reconnects), file=sys.stderr)
        self.assertEqual(failures, [], "probe tries failed or slower than %.1f s" %
                         PROBE_BOUND_S)
        self.assertLess(slowest, PROBE_BOUND_S)
        # The flood really hit the cap: its connections were closed to make room, and so often
        # that it kept reconnecting.
        self.assertGreater(flood.reconnects, FLOOD)
        self.assertGreater(self.closed("evicted") - evicted_before, FLOOD - 64)
        # RESP is unaffected, and the endpoint is back to a handful of connections.
        self.assertTrue(self.cluster.client().set("flood", "ok"))
        harness.wait_until(
            lambda: harness.metric(self.http_port, "sidecache_http_connections") <= 2,
            timeout=10, what="flood connections closed")
        self.cluster.sidecache.check()

    def test_idle_connections_do_not_starve_probes(self):
        self.assert_probes_survive(b"")

    def test_partial_requests_do_not_starve_probes(self):
        self.assert_probes_survive(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
