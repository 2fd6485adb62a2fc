#!/usr/bin/env python3
"""Graceful drain end to end, real redis-server nodes:

(a) SIGTERM right after a client wrote a pipeline of 10,000 SETs: every reply is +OK, the
    connection ends cleanly (EOF, no reset) after the last complete reply, and the replies are
    exactly the commands applied on the backends (k0..k(n-1), nothing applied without its
    reply); exit code 0 within the drain timeout.
    Slow readers: a client that reads its replies only after the SIGTERM (64 KB GET replies
    interleaved with SETs) still gets every reply owed, whole, then a clean close; with
    input sidecache never read (max_pipeline reached) too.
(b) idle clients are closed at once and the process exits quickly with 0 (SIGTERM and SIGINT).
(c) a request stuck on a SIGSTOPped node (request_timeout 0) with drain_timeout 1s: idle
    clients closed at once, new connections refused while draining, exit 0 after about 1 s.
(d) a second SIGTERM during a long drain exits at once with 0.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

N = 10000


def tcp_queues(local=None, remote=None):
    """(tx_queue, rx_queue) of the established TCP sockets with these local/remote ports."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            lport = int(parts[1].split(":")[1], 16)
            rport = int(parts[2].split(":")[1], 16)
            if parts[3] == "01" and local in (None, lport) and remote in (None, rport):
                tx, rx = parts[4].split(":")
                out.append((int(tx, 16), int(rx, 16)))
    return out


def recv_queue(port):
    """Bytes in the receive queues of established TCP sockets whose local port is `port`."""
    return sum(rx for _, rx in tcp_queues(local=port))


class Drain(unittest.TestCase):
    def make(self, **kw):
        c = harness.Cluster(3, **kw)
        self.addCleanup(c.close)
        return c

    def wait_exit(self, c, sent_at, timeout):
        """Waits for sidecache to exit; returns (code, seconds since `sent_at`)."""
        sc = c.sidecache
        try:
            sc.process.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail("sidecache still running %.1fs after the signal:\n%s" % (
                timeout, sc.process.tail()))
        elapsed = time.monotonic() - sent_at
        code = sc.process.stop()  # already exited: closes the log, returns the code
        c.sidecache = None  # nothing left for close() to stop
        self.assertIsNone(harness.sanitizer_report(sc.process.output()))
        return code, elapsed

    def test_a_sigterm_during_a_10000_command_pipeline(self):
        c = self.make(top_extra="process: {drain_timeout: 5s}\n")
        sc = c.sidecache
        sock = socket.create_connection(("127.0.0.1", sc.port), timeout=10)
        self.addCleanup(sock.close)
        payload = b"".join(harness.RespConnection.encode("SET", "k%d" % i, "v%d" % i)
                           for i in range(N))
        sock.sendall(payload)
        # The signal must land while the pipeline is being answered, not before sidecache has
        # read any of it (a loaded machine can delay the read): wait for the first reply.
        data, reset = sock.recv(65536), None
        sent_at = time.monotonic()
        sc.process.signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError as e:
                reset = e
                break
            if not chunk:
                break
            data += chunk
        n = len(data) // len(b"+OK\r\n")
        self.assertEqual(data, b"+OK\r\n" * n, "a reply other than +OK, or a partial one")
        code, elapsed = self.wait_exit(c, sent_at, 10)
        applied = set()
        for r in c.redis:
            applied.update(k.decode() for k in r.client().keys("*"))
        print("\n  drain: %d of %d commands answered, %d applied, exit %s after %.2fs%s" % (
            n, N, len(applied), code, elapsed, ", connection reset" if reset else ""),
            file=sys.stderr)
        self.assertGreater(n, 0)
        self.assertEqual(len(applied), n, "commands applied on the backends != replies")
        self.assertEqual(applied, {"k%d" % i for i in range(n)})
        self.assertIsNone(reset, "connection reset after %d replies instead of a clean close" % n)
        self.assertEqual(code, 0)
        self.assertLess(elapsed, 5.5)

    def slow_reader(self, pairs, top_extra):
        """A client pipelines `pairs` x (GET big, SET s<i> v), 64 KB per GET reply, and reads
        nothing until sidecache got SIGTERM. Every reply sidecache owes must then arrive whole,
        in order, followed by a clean close, and every applied SET must have its +OK."""
        c = self.make(top_extra="process: {drain_timeout: 5s}\n" + top_extra)
        sc = c.sidecache
        big = b"b" * 65536
        self.assertTrue(c.client().set("big", big))
        sock = socket.create_connection(("127.0.0.1", sc.port), timeout=10)
        self.addCleanup(sock.close)
        enc = harness.RespConnection.encode
        sock.sendall(b"".join(enc("GET", "big") + enc("SET", "s%d" % i, "v") for i in range(pairs)))

        def applied():
            return sum(r.client().dbsize() for r in c.redis) - 1

        # Sync: every GET sidecache sent was answered and its reply read by sidecache, and
        # sidecache's write to the client is blocked (the client's window is full); the same
        # for two polls in a row.
        port, node = sock.getsockname()[1], c.redis[c.node_of("big")]
        last = [None]

        def settled():
            gets = node.client().info("commandstats").get("cmdstat_get", {}).get("calls", 0)
            snap = (applied(), gets)
            theirs = tcp_queues(local=node.port) + tcp_queues(remote=node.port)
            to_client = tcp_queues(local=sc.port, remote=port)
            ok = (0 < snap[0] <= snap[1] and all(q == (0, 0) for q in theirs) and
                  len(to_client) == 1 and to_client[0][0] > 0)
            stable, last[0] = ok and snap == last[0], snap
            return stable

        harness.wait_until(settled, timeout=5, interval=0.05,
                           what="replies read by sidecache, its write blocked")
        sent_at = time.monotonic()
        sc.process.signal(signal.SIGTERM)
        # The point of the test: a slow client that starts reading only after the drain began;
        # the drain must still answer what it read.
        time.sleep(0.3)
        conn = harness.RespConnection(None, timeout=sock.gettimeout() or 5.0, sock=sock)
        replies, ending = [], "EOF"
        try:
            while len(replies) < 2 * pairs:
                replies.append(conn.read_reply())
            ending = "EOF" if conn.is_closed(timeout=5) else "still open"
        except ConnectionResetError:
            ending = "connection reset"
        except ConnectionError:
            ending = "EOF"  # closed by the peer; a partial reply stays in conn.buf
        code, elapsed = self.wait_exit(c, sent_at, 10)
        want = [big if i % 2 == 0 else "OK" for i in range(len(replies))]
        oks = sum(r == "OK" for r in replies)
        n_applied = sum(r.client().dbsize() for r in c.redis) - 1
        print("\n  slow reader: %d replies (%d SET +OK), %d SETs applied, %d bytes of a partial "
              "reply, %s, exit %s after %.2fs" % (len(replies), oks, n_applied, len(conn.buf),
                                                  ending, code, elapsed), file=sys.stderr)
        self.assertEqual(replies, want, "replies out of order or wrong")
        self.assertEqual(conn.buf, b"", "the connection ended in the middle of a reply")
        self.assertEqual(ending, "EOF")
        self.assertEqual(oks, n_applied, "SETs applied on a node without their reply")
        self.assertEqual(code, 0)

    def test_a_slow_reader_gets_every_reply(self):
        # 200 pairs: all read by sidecache at once (max_pipeline 4096); 13 MB of replies.
        self.slow_reader(200, "")

    def test_a_slow_reader_with_unread_input(self):
        # max_pipeline 64: sidecache stops reading, unread commands stay in the socket.
        self.slow_reader(3000, "limits: {max_pipeline: 64}\n")

    def idle_clients_closed(self, sig):
        c = self.make(workers=2)
        sc = c.sidecache
        conns = [sc.raw(timeout=5) for _ in range(6)]
        for conn in conns:
            self.addCleanup(conn.close)
            self.assertEqual(conn.command("PING"), "PONG")
        client = sc.client()
        self.assertTrue(client.ping())
        sent_at = time.monotonic()
        sc.process.signal(sig)
        for conn in conns:
            self.assertTrue(conn.is_closed(timeout=2), "an idle client was not closed")
            self.assertEqual(conn.buf, b"")
        self.assertLess(time.monotonic() - sent_at, 1.0)
        code, elapsed = self.wait_exit(c, sent_at, 5)
        self.assertEqual(code, 0)
        self.assertLess(elapsed, 2.0)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", sc.port), timeout=1).close()

    def test_b_idle_clients_sigterm(self):
        self.idle_clients_closed(signal.SIGTERM)

    def test_b_idle_clients_sigint(self):
        self.idle_clients_closed(signal.SIGINT)

    def stuck_request(self, drain_timeout):
        """A cluster whose node 2 is stopped, with one GET sent to it and waiting."""
        c = self.make(workers=2, pool_extra="  request_timeout: 0\n  health: {enabled: false}\n",
                      top_extra="process: {drain_timeout: %s}\n" % drain_timeout)
        keys = harness.keys_on_nodes(c, 1, prefix="stuck")
        idle = c.sidecache.raw(timeout=5)
        self.addCleanup(idle.close)
        self.assertEqual(idle.command("SET", keys[0][0], "x"), "OK")
        stuck = c.sidecache.raw(timeout=5)
        self.addCleanup(stuck.close)
        self.assertEqual(stuck.command("PING"), "PONG")
        node = c.redis[2]
        node.process.signal(signal.SIGSTOP)
        self.addCleanup(node.process.signal, signal.SIGCONT)
        stuck.send_raw(stuck.encode("GET", keys[2][0]))
        harness.wait_until(lambda: recv_queue(node.port) > 0, timeout=5,
                           what="the GET waiting at the stopped node")
        return c, idle, stuck

    def test_c_stuck_request_ends_at_drain_timeout(self):
        c, idle, stuck = self.stuck_request("1s")
        sc = c.sidecache
        sent_at = time.monotonic()
        sc.process.signal(signal.SIGTERM)
        self.assertTrue(idle.is_closed(timeout=0.5), "the idle client was not closed at once")
        harness.wait_until(lambda: not harness.ping(sc.port, timeout=0.2), timeout=0.5,
                           what="new connections refused")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", sc.port), timeout=1).close()
        self.assertTrue(sc.process.alive(), "exited before the drain timeout")
        code, elapsed = self.wait_exit(c, sent_at, 5)
        self.assertEqual(code, 0)
        self.assertGreater(elapsed, 0.9)
        self.assertLess(elapsed, 2.0)
        self.assertIn("drain timeout reached", sc.process.output())
        self.assertTrue(stuck.is_closed(timeout=2))

    def test_d_second_sigterm_exits_at_once(self):
        c, idle, stuck = self.stuck_request("10s")
        sc = c.sidecache
        sc.process.signal(signal.SIGTERM)
        self.assertTrue(idle.is_closed(timeout=0.5))
        harness.wait_until(lambda: "SIGTERM received: draining" in sc.process.output(),
                           timeout=2, what="drain started")
        self.assertTrue(sc.process.alive())
        sent_at = time.monotonic()
        sc.process.signal(signal.SIGTERM)
        code, elapsed = self.wait_exit(c, sent_at, 5)
        self.assertEqual(code, 0)
        self.assertLess(elapsed, 1.0)
        self.assertIn("SIGTERM received again: stopping now", sc.process.output())
        self.assertTrue(stuck.is_closed(timeout=2))


if __name__ == "__main__":
    unittest.main(verbosity=2)
