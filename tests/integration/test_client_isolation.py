#!/usr/bin/env python3
"""One client must not hurt the others through memory or a shared node connection.

- A client that pipelines GETs of a 1 MB value and never reads: it is closed once its replies
  buffered pass limits.max_output_bytes (counted, logged); another client's keys on the same
  node keep answering without an error, the node is not ejected, RSS stays bounded.
- The same with a 100 KB value from several clients: limits.max_total_output_bytes closes the
  largest; split commands (MGET over nodes) count their merge buffers against the limit.
- Memory is given back: 5,000 idle clients gone, RSS returns near its idle value; one large
  value peaks at most about twice its size and is released after DEL.
"""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def proc_status(pid):
    """VmRSS and VmHWM of `pid` in bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value, _unit = line.split()
                out[key[:-1]] = int(value) * 1024
    return out


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux: clear_refs 5)."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


class Flood:
    """A raw socket that pipelines `count` copies of a request and never reads a reply."""

    def __init__(self, port, request, count):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.error = None
        self.thread = threading.Thread(target=self._send, args=(request * count,), daemon=True)
        self.thread.start()

    def _send(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:  # closed by sidecache while still sending: expected
            self.error = e

    def closed_by_peer(self):
        """True once sidecache closed the connection (unread replies are discarded)."""
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(1 << 20)
                if not data:
                    return True
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            self.sock.setblocking(True)

    def close(self):
        self.sock.close()
        self.thread.join(timeout=10)


class Neighbour:
    """Another client on the same node: a GET/SET loop in a thread, recording errors and the
    worst latency."""

    def __init__(self, cluster, keys):
        self.client = cluster.client(socket_timeout=10)
        self.keys = keys
        self.errors = []
        self.ops = 0
        self.worst = 0.0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stopping:
            key = self.keys[i % len(self.keys)]
            start = time.monotonic()
            try:
                self.client.set(key, "v%d" % i)
                if self.client.get(key) != b"v%d" % i:
                    self.errors.append("wrong value for %s" % key)
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                self.errors.append(repr(e))
            self.worst = max(self.worst, time.monotonic() - start)
            self.ops += 1
            i += 1
            time.sleep(0.01)  # a well-behaved neighbour: one SET+GET every 10 ms

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=30)
        self.client.close()


def get_request(key):
    key = key.encode()
    return b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(key), key)


class SlowReaders(unittest.TestCase):
    LIMITS = "  max_output_bytes: 32mb\n  max_total_output_bytes: 1gb\n"

    @classmethod
    def setUpClass(cls):
        cls.http_port = harness.free_port()
        cls.cluster = harness.Cluster(
            3, top_extra="limits:\n%shttp: {listen: 127.0.0.1:%d, ready_min_nodes_up: 0}\n" %
            (cls.LIMITS, cls.http_port))
        cls.keys = harness.keys_on_nodes(cls.cluster, 6, prefix="iso")
        cls.pid = cls.cluster.sidecache.process.pid

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def metric(self, name, **labels):
        return harness.metric(self.http_port, name, **labels)

    def closed(self, reason):
        return self.metric("sidecache_client_connections_closed_total", reason=reason)

    def run_flood(self, floods, node_keys, reason, settle=30):
        """Runs `floods` (made by the caller) beside a neighbour on `node_keys`; returns the
        neighbour once every flood was closed by sidecache for `reason`."""
        before = self.closed(reason)
        neighbour = Neighbour(self.cluster, node_keys)
        try:
            harness.wait_until(lambda: self.closed(reason) >= before + len(floods),
                               timeout=settle, interval=0.1,
                               what="%d flooding clients closed (%s)" % (len(floods), reason))
            harness.wait_until(lambda: all(f.closed_by_peer() for f in floods), timeout=10,
                               what="the flooding connections closed")
            # the neighbour keeps working after the floods are gone too
            ops = neighbour.ops
            harness.wait_until(lambda: neighbour.ops >= ops + 20, timeout=20,
                               what="the neighbour's requests after the flood")
        finally:
            neighbour.stop()
            for f in floods:
                f.close()
        self.assertEqual(neighbour.errors, [])
        self.assertEqual(self.metric("sidecache_node_ejections_total"), 0)
        self.assertEqual(self.metric("sidecache_node_errors_total", kind="timeout"), 0)
        self.assertEqual(self.metric("sidecache_node_errors_total", kind="connection"), 0)
        self.cluster.sidecache.check()
        return neighbour

    def test_client_that_never_reads_1mb_values_is_closed_alone(self):
        big = self.keys[1][0]
        self.cluster.client().set(big, b"x" * (1 << 20))
        reset_peak(self.pid)
        rss = proc_status(self.pid)["VmRSS"]
        flood = Flood(self.cluster.sidecache.port, get_request(big), 5000)
        neighbour = self.run_flood([flood], self.keys[1][1:], "output_limit")
        peak = proc_status(self.pid)["VmHWM"] - rss
        print("1 MB flood: RSS +%.1f MB, neighbour %d ops, worst %.3f s" %
              (peak / 2**20, neighbour.ops, neighbour.worst), file=sys.stderr)
        # 5,000 replies of 1 MB: without the limit they all were buffered (GBs)
        if not harness.sanitized_build():  # ASan's allocator keeps freed memory quarantined
            self.assertLess(peak, 160 << 20, "RSS grew by %d MB" % (peak >> 20))
        self.assertLess(neighbour.worst, 1.5, "neighbour's worst latency %.2fs" % neighbour.worst)
        self.assertIn("exceed limits.max_output_bytes", self.cluster.sidecache.process.output())
        harness.wait_until(lambda: self.metric("sidecache_client_output_bytes") == 0, timeout=10,
                           what="buffered output back to 0")

    def test_total_output_bound_closes_the_largest(self):
        value = self.keys[2][0]
        self.cluster.client().set(value, b"y" * 100_000)
        reset_peak(self.pid)
        rss = proc_status(self.pid)["VmRSS"]
        floods = [Flood(self.cluster.sidecache.port, get_request(value), 5000) for _ in range(3)]
        self.run_flood(floods, self.keys[2][1:], "output_limit")
        peak = proc_status(self.pid)["VmHWM"] - rss
        # per client: its limit buffered, about as much in flight, and the growth of its queue;
        # before, each buffered max_pipeline (4,096) replies: 400 MB
        self.assertLess(peak, 3 * 3 * (32 << 20) + (40 << 20), "RSS grew by %d MB" % (peak >> 20))

    def test_merge_buffers_count_against_the_limit(self):
        keys = [self.keys[n][3] for n in range(3)] + [self.keys[n][4] for n in range(3)]
        c = self.cluster.client()
        for k in keys:
            c.set(k, b"z" * (1 << 20))
        mget = harness.RespConnection.encode("MGET", *keys)
        flood = Flood(self.cluster.sidecache.port, mget, 500)
        self.run_flood([flood], self.keys[0][1:3], "output_limit")


class TotalOutput(SlowReaders):
    """The same floods with a process-wide bound below what the clients may buffer each."""
    LIMITS = "  max_output_bytes: 64mb\n  max_total_output_bytes: 48mb\n"

    def test_total_output_bound_closes_the_largest(self):
        value = self.keys[2][0]
        self.cluster.client().set(value, b"y" * 100_000)
        floods = [Flood(self.cluster.sidecache.port, get_request(value), 5000) for _ in range(3)]
        self.run_flood(floods, self.keys[2][1:], "total_output_limit")

    test_client_that_never_reads_1mb_values_is_closed_alone = None
    test_merge_buffers_count_against_the_limit = None


@unittest.skipIf(harness.sanitized_build(),
                 "resident memory of a sanitizer build says nothing about the allocator's")
class MemoryReturned(unittest.TestCase):
    def setUp(self):
        self.cluster = harness.Cluster(2)
        self.pid = self.cluster.sidecache.process.pid

    def tearDown(self):
        self.cluster.close()

    def rss(self):
        return proc_status(self.pid)["VmRSS"]

    def settled_rss(self):
        """RSS once it stops falling (two equal readings 0.5 s apart, at most 5 s)."""
        last = self.rss()
        for _ in range(10):
            time.sleep(0.5)  # the interval between the two readings compared
            now = self.rss()
            if abs(now - last) < (256 << 10):
                return now
            last = now
        return last

    def wait_rss_below(self, bound, timeout=10):
        """Waits (bounded) for RSS to fall to `bound`; the caller's assertion reports a miss."""
        try:
            harness.wait_until(lambda: self.rss() <= bound, timeout=timeout, interval=0.2,
                               what="RSS at most %.1f MB" % (bound / 2**20))
        except TimeoutError:
            pass

    def test_idle_clients_memory_is_given_back(self):
        c = self.cluster.client()
        c.set("warm", "x")
        c.get("warm")
        idle = self.settled_rss()
        socks = []
        try:
            for _ in range(5000):
                s = socket.create_connection(("127.0.0.1", self.cluster.sidecache.port),
                                             timeout=10)
                s.sendall(b"PING\r\n")
                socks.append(s)
            for s in socks:
                self.assertEqual(s.recv(16), b"+PONG\r\n")
            busy = self.rss()
        finally:
            for s in socks:
                s.close()
        harness.wait_until(lambda: c.info("clients")["connected_clients"] <= 1, timeout=20,
                           what="the 5,000 clients gone")
        # Before: 5,000 idle clients took about 100 MB, all kept after they left. Now each
        # holds a few KB, and jemalloc gives the pages back once they leave. On glibc's
        # allocator (-DSIDECACHE_JEMALLOC=OFF) the pages that hold one of Asio's per-socket
        # reactor states (pooled, never freed) among freed data stay: a looser bound.
        self.assertLess(busy - idle, 48 << 20, "5,000 idle clients took %d MB" %
                        ((busy - idle) >> 20))
        bound = idle * 1.2 if harness.jemalloc_build() else idle + (32 << 20)
        self.wait_rss_below(bound)
        print("idle %.1f MB, 5,000 clients %.1f MB, after %.1f MB" %
              (idle / 2**20, busy / 2**20, self.rss() / 2**20), file=sys.stderr)
        self.assertLessEqual(self.rss(), bound)
        self.assertEqual(c.get("warm"), b"x")

    def test_large_value_peaks_at_twice_its_size(self):
        size = 96 << 20
        c = self.cluster.client(socket_timeout=60)
        c.set("warm", "x")
        idle = self.settled_rss()
        reset_peak(self.pid)
        c.set("big", b"v" * size)
        self.assertEqual(len(c.get("big")), size)
        peak = proc_status(self.pid)["VmHWM"] - idle
        c.delete("big")
        bound = idle * 1.2 + (2 << 20)
        self.wait_rss_below(bound)
        print("idle %.1f MB, peak +%.1f MB for a %d MB value, after DEL %.1f MB" %
              (idle / 2**20, peak / 2**20, size >> 20, self.rss() / 2**20), file=sys.stderr)
        # two copies at most (the node's reply being framed, the client's being written); a
        # cluster pool keeps one more, of the request, to resend it after a MOVED / ASK
        # (docs/cluster.md, "Not built yet")
        copies = 3 if self.cluster.on_cluster else 2
        self.assertLessEqual(peak, copies * size + (16 << 20))
        self.assertLessEqual(self.rss(), bound)


if __name__ == "__main__":
    unittest.main(verbosity=2)
