#!/usr/bin/env python3
"""Replies of any shape pass through the shared node connection, and odd input is handled as
Redis 7.0 handles it, with one redis-server node behind sidecache (health probes every 200 ms):

(a) `EVAL "local a = {}; local b = {a}; a[1] = b; return a" 0` answers a ~8,000-deep array
    ending in the Lua stack error: through sidecache the caller gets the same bytes as from
    Redis directly, while a pipelined load on the same node sees no error, the node connection
    is never lost and the node is never ejected.
(b) a status or an error line longer than 64 KiB (a script's `error_reply`) passes unchanged.
(c) inline `ECHO a\\0b`: Redis finds line ends with strchr, so a NUL hides the end of the
    line and nothing is answered; once the unanswered input passes 64 KiB both answer
    `-ERR Protocol error: too big inline request` and close. Other clients are not affected.
"""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

POOL = "  health: {interval: 200ms, timeout: 500ms, failure_threshold: 2}\n"
CYCLE = "local a = {}; local b = {a}; a[1] = b; return a"
LOAD_S = 4.0
PIPELINE = 50


def reply_end(buf, pos=0):
    """Where the reply at buf[pos] ends, or None: iterative, for replies of any depth."""
    left = [1]  # elements still wanted per open aggregate
    while left:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        kind, head, pos = buf[pos:pos + 1], buf[pos + 1:eol], eol + 2
        count = 0
        if kind in (b"$", b"=", b"!"):
            n = int(head)
            if n >= 0:
                if len(buf) < pos + n + 2:
                    return None
                pos += n + 2
        elif kind in (b"*", b"~", b">", b"%", b"|"):
            n = int(head)
            count = max(n, 0) * (2 if kind in (b"%", b"|") else 1) + (1 if kind == b"|" else 0)
        left[-1] -= 1
        if count:
            left.append(count)
        while left and left[-1] == 0:
            left.pop()
    return pos


def raw_reply(port, *args, timeout=10.0):
    """Sends one command on a new connection and returns its reply's exact bytes."""
    conn = harness.RespConnection(port, timeout=timeout)
    try:
        conn.send_raw(harness.RespConnection.encode(*args))
        while True:
            end = reply_end(conn.buf)
            if end is not None:
                return conn.buf[:end]
            conn._fill()
    finally:
        conn.close()


def answer_within(sock, seconds):
    """What `sock` receives within `seconds` (b"<closed>" appended when the peer closes)."""
    sock.settimeout(seconds)
    out = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return out + b"<closed>"
            out += chunk
    except (socket.timeout, TimeoutError):
        return out
    except ConnectionResetError:
        return out + b"<closed>"


class PipelinedLoad(threading.Thread):
    """Pipelines of SET/GET on one connection until stopped; records every wrong reply."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.conn = harness.RespConnection(port, timeout=10)
        self.stop = threading.Event()
        self.bad = []
        self.replies = 0

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                batch = b"".join(harness.RespConnection.encode("SET", "load:%d" % (i + k), "v%d" % k)
                                 + harness.RespConnection.encode("GET", "load:%d" % (i + k))
                                 for k in range(PIPELINE))
                self.conn.send_raw(batch)
                for k in range(PIPELINE):
                    set_reply, get_reply = self.conn.read_reply(), self.conn.read_reply()
                    if set_reply != "OK" or get_reply != b"v%d" % k:
                        self.bad.append((i + k, set_reply, get_reply))
                    self.replies += 2
                i += PIPELINE
        except Exception as e:  # noqa: BLE001 - any failure of the load is a finding
            self.bad.append(("exception", repr(e)))
        finally:
            self.conn.close()


class DeepReplies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(1, pool_extra=POOL)
        # What sidecache's replies are compared with: a plain redis-server of the same version
        # (the cluster's node may need TLS and AUTH: SIDECACHE_TEST_BACKEND=auth_tls).
        cls.reference = harness.RedisServer(cls.cluster.tmp, secure=False)
        cls.redis_port = cls.reference.port
        cls.port = cls.cluster.sidecache.port

    @classmethod
    def tearDownClass(cls):
        cls.reference.stop()
        cls.cluster.close()

    def log(self):
        return self.cluster.sidecache.process.output()

    def test_a_lua_cycle_reply_matches_redis_and_hurts_nobody(self):
        direct = raw_reply(self.redis_port, "EVAL", CYCLE, "0")
        depth = 0
        while direct.startswith(b"*1\r\n", depth * 4):
            depth += 1
        self.assertGreater(depth, 7000, direct[:100])
        self.assertTrue(direct[depth * 4:].startswith(b"-ERR reached lua stack limit"),
                        direct[depth * 4:])

        load = PipelinedLoad(self.port)
        load.start()
        deadline = time.monotonic() + LOAD_S
        evals = 0
        try:
            while time.monotonic() < deadline:
                self.assertEqual(raw_reply(self.port, "EVAL", CYCLE, "0"), direct)
                evals += 1
        finally:
            load.stop.set()
            load.join(timeout=20)
        self.assertFalse(load.is_alive(), "the pipelined load hung")
        self.assertEqual(load.bad, [], "the load on the same node saw errors")
        self.assertGreater(load.replies, 100)
        self.assertGreater(evals, 5)
        log = self.log()
        self.assertNotIn("connection lost", log)
        self.assertNotIn("protocol error", log)
        self.assertNotIn("is down", log)
        self.cluster.sidecache.check()

    def test_b_long_status_and_error_lines(self):
        for script in ("return redis.error_reply(string.rep('e', 100000))",
                       "return redis.status_reply(string.rep('s', 100000))",
                       "return {redis.status_reply(string.rep('s', 70000)), 1}"):
            direct = raw_reply(self.redis_port, "EVAL", script, "0")
            self.assertGreater(len(direct), 70000)
            self.assertEqual(raw_reply(self.port, "EVAL", script, "0"), direct, script)
        self.assertNotIn("connection lost", self.log())

    def test_c_inline_nul_waits_like_redis(self):
        for port in (self.redis_port, self.port):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"PING\r\nECHO a\x00b\r\nPING\r\n")
                self.assertEqual(answer_within(s, 0.5), b"+PONG\r\n", "port %d" % port)
                self.assertTrue(harness.ping(self.port))  # other clients are served
                s.sendall(b"x" * 70000)
                self.assertEqual(answer_within(s, 5),
                                 b"-ERR Protocol error: too big inline request\r\n<closed>",
                                 "port %d" % port)
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"*1\x00\r\n$4\r\nPING\r\n")
                self.assertEqual(answer_within(s, 0.3), b"", "port %d" % port)
        self.cluster.sidecache.check()


if __name__ == "__main__":
    unittest.main(verbosity=2)
