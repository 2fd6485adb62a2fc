#!/usr/bin/env python3
"""The HTTP endpoint against a live sidecache over 3 nodes: `promtool check metrics` passes on
/metrics; counters add up exactly after a known load scraped concurrently (commands by name and
result, unknown commands, protocol errors, latency counts, node requests against the nodes' own
INFO commandstats); /healthz and /readyz, which follows nodes killed with -9 and restarted; HTTP
errors (404, 405, 431) and a slow client closed after http.request_timeout while RESP keeps
serving; a taken HTTP address fails startup; every PromQL expression in docs/operations.md passes
`promtool check rules`.
"""
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

REQUEST_TIMEOUT_S = 1.0
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def http_get(port, path, method="GET", headers=None, timeout=5.0):
    """(status, headers dict, body str) of one request on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def parse(text):
    """{(name, ((label, value), ...)): float} of an exposition text."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("unparsable sample line %r" % line)
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples, name, **labels):
    """Sum of every series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def backend_calls(client, *commands):
    stats = client.info("commandstats")
    return sum(stats.get("cmdstat_%s" % c, {}).get("calls", 0) for c in commands)


def promtool(*args, input_text=None):
    if shutil.which("promtool") is None:
        raise AssertionError("promtool not found: install it with scripts/deps.sh test "
                             "(Debian package prometheus)")
    return subprocess.run(["promtool"] + list(args), input=input_text, capture_output=True,
                          text=True, timeout=60)


def http_config(port, min_nodes_up):
    return ("http:\n  listen: 127.0.0.1:%d\n  ready_min_nodes_up: %d\n"
            "  request_timeout: %dms\n" % (port, min_nodes_up, REQUEST_TIMEOUT_S * 1000))


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.http_port = harness.free_port()
        cls.cluster = harness.Cluster(n=3, workers=2, top_extra=http_config(cls.http_port, 3))
        harness.wait_until(lambda: http_get(cls.http_port, "/readyz")[0] == 200, timeout=10,
                           what="/readyz 200")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def scrape(self):
        status, headers, body = http_get(self.http_port, "/metrics")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        return body

    def test_promtool_check_metrics(self):
        self.cluster.client().set("promtool:k", "v")
        result = promtool("check", "metrics", input_text=self.scrape())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout.strip(), "")

    def test_counters_add_up_under_load(self):
        before = parse(self.scrape())
        direct = [self.cluster.direct(i) for i in range(3)]
        backend_before = [backend_calls(d, "set", "get") for d in direct]
        stop = threading.Event()
        scrapes, failures = [], []

        def scraper():
            try:
                while not stop.is_set():
                    scrapes.append(parse(self.scrape()))
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(e)

        thread = threading.Thread(target=scraper, daemon=True)
        thread.start()
        client = self.cluster.client()
        for i in range(1000):
            client.set("load:%d" % i, "v%d" % i)
        for i in range(500):
            self.assertEqual(client.get("load:%d" % i), b"v%d" % i)
        for _ in range(10):
            with self.assertRaises(Exception):
                client.execute_command("NOSUCHCOMMAND", "x")
        bad = self.cluster.sidecache.raw()
        bad.send_raw(b"*1\r\n$x\r\n")
        self.assertIn("Protocol error", bad.read_reply())
        self.assertTrue(bad.is_closed())
        bad.close()
        stop.set()
        thread.join(30)
        self.assertEqual(failures, [])
        self.assertGreater(len(scrapes), 1, "no scrape completed while the load ran")
        for earlier, later in zip(scrapes, scrapes[1:]):  # counters never go back
            self.assertLessEqual(value(earlier, "sidecache_commands_total", command="set",
                                       result="ok"),
                                 value(later, "sidecache_commands_total", command="set",
                                       result="ok"))
        after = parse(self.scrape())

        def delta(name, **labels):
            return total(after, name, **labels) - total(before, name, **labels)

        self.assertEqual(delta("sidecache_commands_total", command="set", result="ok"), 1000)
        self.assertEqual(delta("sidecache_commands_total", command="get", result="ok"), 500)
        self.assertEqual(delta("sidecache_commands_total", result="error"), 0)
        self.assertEqual(delta("sidecache_unknown_commands_total"), 10)
        self.assertEqual(delta("sidecache_protocol_errors_total"), 1)
        self.assertEqual(delta("sidecache_request_duration_seconds_count", **{"class": "write"}),
                         1000)
        self.assertEqual(delta("sidecache_request_duration_seconds_count", **{"class": "read"}),
                         500)
        self.assertEqual(delta("sidecache_client_connections_accepted_total"), 2)
        self.assertGreater(delta("sidecache_client_bytes_received_total"), 1500 * 20)
        self.assertGreater(delta("sidecache_client_bytes_sent_total"), 1000 * 5)
        # Every request reached its node: per node, what sidecache counted equals what the node
        # executed, and the latency histogram saw each reply.
        self.assertEqual(delta("sidecache_node_requests_total"), 1500)
        self.assertEqual(delta("sidecache_node_request_duration_seconds_count"), 1500)
        for i, d in enumerate(direct):
            node = self.cluster.node_name(i)
            self.assertEqual(delta("sidecache_node_requests_total", node=node),
                             backend_calls(d, "set", "get") - backend_before[i], node)
            self.assertEqual(delta("sidecache_node_errors_total", node=node), 0)
            self.assertEqual(value(after, "sidecache_node_up", node=node), 1)
            self.assertEqual(value(after, "sidecache_node_inflight_requests", node=node), 0)
        self.cluster.sidecache.check()

    def test_probes(self):
        self.assertEqual(http_get(self.http_port, "/healthz")[::2], (200, "ok\n"))
        self.assertEqual(http_get(self.http_port, "/readyz")[::2], (200, "ready\n"))
        status, headers, body = http_get(self.http_port, "/readyz", method="HEAD")
        self.assertEqual((status, headers["Content-Length"], body), (200, "6", ""))

    def test_http_errors(self):
        self.assertEqual(http_get(self.http_port, "/")[0], 404)
        self.assertEqual(http_get(self.http_port, "/metrics/x")[0], 404)
        status, headers, _ = http_get(self.http_port, "/metrics", method="POST")
        self.assertEqual((status, headers.get("Allow")), (405, "GET, HEAD"))
        self.assertEqual(http_get(self.http_port, "/healthz", method="DELETE")[0], 405)
        big = {"X-Filler": "a" * 9000}
        self.assertEqual(http_get(self.http_port, "/healthz", headers=big)[0], 431)
        self.assertEqual(http_get(self.http_port, "/healthz")[0], 200)

    def test_slow_client_is_closed_and_resp_keeps_serving(self):
        slow = [socket.create_connection(("127.0.0.1", self.http_port), timeout=5)
                for _ in range(8)]
        started = time.monotonic()
        for s in slow:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        # Meanwhile the proxy and the endpoint both serve.
        client = self.cluster.client()
        for i in range(50):
            client.set("slow:%d" % i, i)
        self.assertEqual(client.ping(), True)
        self.assertEqual(http_get(self.http_port, "/healthz")[0], 200)
        for s in slow:
            s.settimeout(REQUEST_TIMEOUT_S + 5)
            self.assertEqual(s.recv(1024), b"", "slow client not closed")
            s.close()
        elapsed = time.monotonic() - started
        self.assertGreaterEqual(elapsed, REQUEST_TIMEOUT_S * 0.8)
        self.assertLess(elapsed, REQUEST_TIMEOUT_S + 3)

    def test_keep_alive(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        try:
            for path in ("/healthz", "/metrics", "/readyz", "/nope", "/healthz"):
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                self.assertEqual(response.status, 404 if path == "/nope" else 200)
        finally:
            conn.close()


class ReadinessTest(unittest.TestCase):
    def test_readyz_follows_nodes(self):
        http_port = harness.free_port()
        cluster = harness.Cluster(n=3, workers=2, top_extra=http_config(http_port, 2))
        try:
            harness.wait_until(lambda: http_get(http_port, "/readyz")[0] == 200, timeout=10,
                               what="/readyz 200")
            cluster.redis[0].kill9()
            harness.wait_until(lambda: harness.metric(http_port, "sidecache_node_healthy",
                                                      node="node0") == 0,
                               timeout=15, what="node0 marked down")
            self.assertEqual(http_get(http_port, "/readyz")[0], 200)  # 2 of 3 still enough
            cluster.redis[1].kill9()
            # Bounds, not timing targets: the health checker needs failure_threshold probes,
            # which a loaded CI machine can stretch past a few seconds.
            harness.wait_until(lambda: http_get(http_port, "/readyz")[0] == 503, timeout=15,
                               what="/readyz 503")
            self.assertEqual(http_get(http_port, "/readyz")[2], "1 of 3 nodes up, need 2\n")
            samples = parse(http_get(http_port, "/metrics")[2])
            self.assertEqual(value(samples, "sidecache_node_up", node="node0"), 0)
            self.assertEqual(value(samples, "sidecache_node_up", node="node2"), 1)
            self.assertEqual(http_get(http_port, "/healthz")[0], 200)
            self.assertTrue(cluster.client().ping())  # the proxy still answers
            cluster.redis[0].start()
            harness.wait_until(lambda: http_get(http_port, "/readyz")[0] == 200, timeout=15,
                               what="/readyz 200 after a restart")
            samples = parse(http_get(http_port, "/metrics")[2])
            self.assertGreater(total(samples, "sidecache_node_connect_failures_total"), 0)
            self.assertGreater(total(samples, "sidecache_node_connects_total", node="node0"), 2)
        finally:
            cluster.close()


    def test_readyz_503_while_draining(self):
        http_port = harness.free_port()
        cluster = harness.Cluster(n=2, top_extra=http_config(http_port, 1) +
                                  "process: {drain_timeout: 10s}\n")
        stopped = None
        try:
            harness.wait_until(lambda: http_get(http_port, "/readyz")[0] == 200, timeout=10,
                               what="/readyz 200")
            key = harness.keys_on_nodes(cluster, 1, prefix="drain")[0][0]  # a key on node 0
            stopped = cluster.redis[0].process
            stopped.signal(signal.SIGSTOP)  # the GET below stays open
            pending = threading.Thread(target=lambda: cluster.client().get(key), daemon=True)
            pending.start()
            harness.wait_until(lambda: value(parse(http_get(http_port, "/metrics")[2]),
                                             "sidecache_node_inflight_requests",
                                             node="node0") == 1,
                               timeout=5, what="the GET in flight on node0")
            cluster.sidecache.process.signal(signal.SIGTERM)
            harness.wait_until(lambda: http_get(http_port, "/readyz")[0] == 503, timeout=5,
                               what="/readyz 503 while draining")
            self.assertEqual(http_get(http_port, "/readyz")[2],
                             "draining: finishing open requests before exiting\n")
            self.assertEqual(http_get(http_port, "/healthz")[0], 200)
            stopped.signal(signal.SIGCONT)
            stopped = None
            pending.join(10)
            cluster.sidecache.process.proc.wait(timeout=15)
            self.assertEqual(cluster.sidecache.process.proc.returncode, 0)
        finally:
            if stopped is not None:
                stopped.signal(signal.SIGCONT)
            cluster.close(check=False)  # sidecache has exited on its own


class StartupTest(unittest.TestCase):
    def test_taken_http_address_fails_startup(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        tmp = tempfile.mkdtemp(prefix="sidecache-test-")
        try:
            node = harness.free_port()
            sidecache = harness.Sidecache(tmp, [("n", node, 1)], wait=False,
                                          top_extra="http: {listen: 127.0.0.1:%d}\n" % port)
            sidecache.process.proc.wait(timeout=15)
            self.assertEqual(sidecache.process.proc.returncode, 1)
            self.assertIn("cannot listen on HTTP address 127.0.0.1:%d (http.listen)" % port,
                          sidecache.process.output())
            sidecache.stop()
        finally:
            holder.close()
            shutil.rmtree(tmp, ignore_errors=True)


class DocsTest(unittest.TestCase):
    def test_promql_in_docs_passes_promtool(self):
        path = os.path.join(harness.SOURCE_DIR, "docs", "operations.md")
        with open(path) as f:
            text = f.read()
        expressions = [" ".join(b.split()) for b in re.findall(r"```promql\n(.*?)```", text, re.S)]
        self.assertGreaterEqual(len(expressions), 8)
        alerts = re.findall(r"### Example alerts\n\n```yaml\n(.*?)```", text, re.S)
        self.assertEqual(len(alerts), 1)
        tmp = tempfile.mkdtemp(prefix="sidecache-promql-")
        try:
            rules = os.path.join(tmp, "rules.yml")
            with open(rules, "w") as f:
                f.write("groups:\n  - name: docs\n    rules:\n")
                for i, expr in enumerate(expressions):
                    f.write("      - record: docs:expr_%d\n        expr: '%s'\n"
                            % (i, expr.replace("'", "''")))
            result = promtool("check", "rules", rules)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            alert_rules = os.path.join(tmp, "alerts.yml")
            with open(alert_rules, "w") as f:
                f.write(alerts[0])
            result = promtool("check", "rules", alert_rules)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
