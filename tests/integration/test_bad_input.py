#!/usr/bin/env python3
"""Bad input on raw sockets: every malformed request gets `-ERR Protocol error: <text>` and only
that client is closed, after the replies to what it sent before; a bystander client connected
the whole time keeps getting correct answers. Unknown, rejected and unsupported commands answer
-ERR and keep the connection. The inline form works. sidecache is alive at the end.
Error texts are compared with a direct redis-server where Redis has the same rule.
"""
import os
import random
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LIMITS = "limits:\n  max_bulk_bytes: 1kb\n  max_inline_bytes: 1kb\n  max_pending_bytes: 4kb\n" \
         "  max_args: 8\n"

# (name, bytes sent, expected text after "ERR Protocol error: ")
PROTOCOL_ERRORS = [
    ("garbage multibulk count", b"*\xff\xfe\x80garbage\r\n", "invalid multibulk length"),
    ("garbage instead of bulk", b"*1\r\n!\xfe\r\n", "expected '$', got '!'"),
    ("garbage without newline", bytes(b for b in range(1, 256) if b not in b"\r\n") * 8,
     "too big inline request"),
    ("huge multibulk count", b"*99999999999\r\n", "invalid multibulk length"),
    ("negative bulk length", b"*1\r\n$-5\r\n", "invalid bulk length"),
    ("huge bulk length", b"*1\r\n$999999999999\r\n", "invalid bulk length"),
    ("bulk over max_bulk_bytes", b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n", "invalid bulk length"),
    ("bad CRLF after bulk", b"*1\r\n$3\r\nGETT\r\n", "expected CRLF after bulk argument"),
    ("inline over max_inline_bytes", b"SET k " + b"v" * 1100 + b"\r\n", "too big inline request"),
    ("unbalanced quotes", b'SET "a b\r\n', "unbalanced quotes in request"),
    ("quote glued to next char", b"SET 'a'b c\r\n", "unbalanced quotes in request"),
    ("header line too long", b"*" + b"1" * 1100, "too big mbulk count string"),
    ("bulk header too long", b"*1\r\n$" + b"1" * 1100, "too big bulk count string"),
    ("more than max_args", b"*9\r\n", "invalid multibulk length"),
    ("inline over max_args", b"DEL a b c d e f g h\r\n", "invalid multibulk length"),
    # Each argument is within max_bulk_bytes, the unfinished command is over max_pending_bytes.
    ("incomplete request over max_pending_bytes",
     b"*6\r\n$4\r\nMSET\r\n" + b"$1000\r\n" + b"k" * 1000 + b"\r\n" +
     (b"$1000\r\n" + b"v" * 1000 + b"\r\n") * 3 + b"$1000\r\n" + b"v" * 100,
     "request exceeds limits.max_pending_bytes"),
]


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3, top_extra=LIMITS)
        cls.direct_redis = harness.RedisServer(cls.cluster.tmp)
        cls.bystander = cls.cluster.sidecache.raw()
        cls.rng = random.Random(99)

    @classmethod
    def tearDownClass(cls):
        cls.bystander.close()
        cls.direct_redis.stop()
        cls.cluster.close()

    def tearDown(self):
        self.check_bystander()
        self.cluster.sidecache.check()

    def check_bystander(self):
        """The long-lived client still gets right answers for keys on every node."""
        values = {}
        for i in range(6):
            k = "bystander:%d:%d" % (i, self.rng.randrange(10**6))
            values[k] = "v%d" % self.rng.randrange(10**9)
            self.assertEqual(self.bystander.command("SET", k, values[k]), "OK")
        for k, v in values.items():
            self.assertEqual(self.bystander.command("GET", k), v.encode())
        self.assertEqual(self.bystander.command("MGET", *values),
                         [v.encode() for v in values.values()])

    def test_protocol_errors_close_only_that_client(self):
        for name, data, text in PROTOCOL_ERRORS:
            with self.subTest(case=name):
                conn = self.cluster.sidecache.raw(timeout=5)
                try:
                    conn.send_raw(data)
                    reply = conn.read_reply()
                    self.assertIsInstance(reply, harness.RespError)
                    self.assertEqual(reply, "ERR Protocol error: " + text)
                    self.assertTrue(conn.is_closed(timeout=5), "connection left open")
                    self.assertEqual(conn.buf, b"", "bytes after the error reply")
                finally:
                    conn.close()
                self.check_bystander()

    def test_replies_before_the_error_are_delivered_in_order(self):
        conn = self.cluster.sidecache.raw()
        try:
            conn.command("SET", "before:err", "value")
            conn.send_raw(b"PING\r\n" + conn.encode("GET", "before:err") +
                          conn.encode("INCR", "before:ctr") + b"*1\r\n$4\r\nPING\r\r" +
                          conn.encode("PING"))
            self.assertEqual(conn.read_reply(), "PONG")
            self.assertEqual(conn.read_reply(), b"value")
            self.assertEqual(conn.read_reply(), 1)
            self.assertEqual(conn.read_reply(),
                             "ERR Protocol error: expected CRLF after bulk argument")
            self.assertTrue(conn.is_closed())
            self.assertEqual(conn.buf, b"")  # the PING after the bad frame is not answered
        finally:
            conn.close()

    def test_truncated_frame_then_close(self):
        # Half-close after a truncated frame: the complete command before it is answered, the
        # fragment is dropped, and sidecache closes the connection.
        conn = self.cluster.sidecache.raw()
        try:
            conn.send_raw(b"PING\r\n*3\r\n$3\r\nSET\r\n$9\r\ntruncated\r\n$10\r\nonly")
            conn.sock.shutdown(socket.SHUT_WR)
            self.assertEqual(conn.read_reply(), "PONG")
            self.assertTrue(conn.is_closed())
            self.assertTrue(conn.buf == b"" or conn.buf.startswith(b"-ERR Protocol error: "),
                            conn.buf)
        finally:
            conn.close()
        # Full close in the middle of a frame and in the middle of a pipeline.
        for data in (b"*3\r\n$3\r\nSET\r\n$9\r\ntrunc", b"GET a\r\n" * 500 + b"GET"):
            conn = self.cluster.sidecache.raw()
            conn.send_raw(data)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
            conn.close()  # with linger 0: a reset
        self.assertIsNone(self.bystander.command("GET", "truncated"))

    def test_unknown_commands_keep_the_connection(self):
        conn = self.cluster.sidecache.raw()
        direct = harness.RespConnection(self.direct_redis.port)
        try:
            for cmd in (["x"], ["x", "a", "b"], ["NOSUCH", "1", "", "three"], ["x"] * 8,
                        ["foo", "a" * 200], ["\xe9t\xe9", "arg"]):
                got = conn.command(*cmd)
                self.assertIsInstance(got, harness.RespError)
                self.assertTrue(got.startswith("ERR unknown command '%s', with args beginning "
                                               "with: " % cmd[0][:128]), got)
                self.assertEqual(got, direct.command(*cmd))
            conn.send_raw(b"nosuch inline  'quoted arg'\r\n")
            got = conn.read_reply()
            direct.send_raw(b"nosuch inline  'quoted arg'\r\n")
            self.assertEqual(got, direct.read_reply())
            self.assertEqual(conn.command("PING"), "PONG")
        finally:
            conn.close()
            direct.close()

    def test_inline_commands(self):
        conn = self.cluster.sidecache.raw()
        try:
            conn.send_raw(b"PING\r\n")
            self.assertEqual(conn.read_reply(), "PONG")
            conn.send_raw(b"SET inline:k v1\r\nGET inline:k\n")  # LF alone ends a line too
            self.assertEqual([conn.read_reply(), conn.read_reply()], ["OK", b"v1"])
            conn.send_raw(b'SET inline:q "hello \\"world\\"\\x41\\n"\r\nGET inline:q\r\n')
            self.assertEqual([conn.read_reply(), conn.read_reply()],
                             ["OK", b'hello "world"A\n'])
            conn.send_raw(b"SET inline:s 'it\\'s'  \r\n\r\n  GET   inline:s\r\n")
            self.assertEqual([conn.read_reply(), conn.read_reply()], ["OK", b"it's"])
            conn.send_raw(b"*-1\r\n*0\r\nECHO hi\r\n")
            self.assertEqual(conn.read_reply(), b"hi")
            self.assertEqual(self.bystander.command("GET", "inline:q"), b'hello "world"A\n')
            self.assertFalse(conn.is_closed(timeout=0.2))
        finally:
            conn.close()

    def test_rejected_and_unsupported_commands_keep_the_connection(self):
        conn = self.cluster.sidecache.raw()
        try:
            for cmd, needle in ((["KEYS", "*"], "'keys' is not allowed through sidecache"),
                                (["KEYS", "*"], "commands.allow_keys: true"),
                                (["FLUSHALL"], "'flushall' is not allowed"),
                                (["FLUSHDB"], "'flushdb' is not allowed"),
                                (["FLUSHDB"], "commands.allow_flush: true"),
                                (["CONFIG", "SET", "maxmemory", "1"], "'config|set' is not allowed"),
                                (["SHUTDOWN"], "'shutdown' is not allowed"),
                                (["SHUTDOWN", "NOSAVE"], "'shutdown' is not allowed"),
                                (["WAIT", "1", "0"], "not supported"),
                                (["CONFIG", "NOPE"], "unknown subcommand 'NOPE'")):
                got = conn.command(*cmd)
                self.assertIsInstance(got, harness.RespError, cmd)
                self.assertTrue(got.startswith("ERR "), got)
                self.assertIn(needle, got)
                self.assertEqual(conn.command("PING"), "PONG")
            self.assertEqual(conn.command("DBSIZE") >= 0, True)  # the nodes were not flushed
            for r in self.cluster.redis:
                self.assertTrue(r.alive(), "SHUTDOWN reached a node")
        finally:
            conn.close()

    def test_zz_sidecache_alive_at_the_end(self):
        self.assertTrue(self.cluster.sidecache.process.alive())
        self.assertTrue(harness.ping(self.cluster.sidecache.port))
        info = self.bystander.command("INFO", "stats").decode()
        errors = int(info.split("total_error_replies_protocol:")[1].split()[0])
        self.assertGreaterEqual(errors, len(PROTOCOL_ERRORS))


class SkippedPrefixes(unittest.TestCase):
    """Empty lines and empty multibulks before a command are skipped, as Redis does. They must
    not reach a node: a node connection is shared by every client, and Redis stops reading
    a connection whose input starts with a NUL byte before a newline (strchr stops at it)."""

    def test_bytes_skipped_before_a_command_are_not_forwarded(self):
        cluster = harness.Cluster(1, pool_extra="  request_timeout: 500ms\n")
        try:
            bystander = cluster.sidecache.raw()
            self.assertEqual(bystander.command("SET", "k", "v"), "OK")
            for prefix in (b"\r\n", b"   \r\n", b"*0\r\n", b"*-1\r\n"):
                with self.subTest(prefix=prefix):
                    conn = cluster.sidecache.raw()
                    try:
                        conn.send_raw(prefix + conn.encode("GET", "k"))
                        reply = conn.read_reply()
                        self.assertTrue(reply == b"v" or reply.startswith("ERR Protocol error"),
                                        reply)
                    finally:
                        conn.close()
                    # Another client's requests to the same node are unaffected.
                    self.assertEqual(bystander.command("GET", "k"), b"v")
            bystander.close()
            cluster.sidecache.check()
        finally:
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
