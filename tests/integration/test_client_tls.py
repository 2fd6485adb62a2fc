#!/usr/bin/env python3
"""Clients over TLS (listen_tls), the paths of sidecache's own TLS stream (OpenSSL on the
socket) that test_client_auth does not reach:

- values larger than a TLS record (3 MB) both ways, and a pipeline of 20,000 commands written
  at once (reads that fill the buffer and leave records in OpenSSL);
- a client that sends its requests and then its close_notify (a TLS half-close) gets every
  reply, then sidecache's close_notify before the connection ends;
- QUIT: the reply, then close_notify (not a truncated stream);
- a client whose every byte (handshake and records) arrives in a segment of its own;
- a client that pipelines GETs of a 1 MB value and never reads (the socket stops taking
  writes): closed at limits.max_output_bytes, while another TLS client keeps working.
"""
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_client_auth import make_ca, make_cert  # noqa: E402


class MemoryTls:
    """A TLS client over memory BIOs: it can send its close_notify and keep reading, which
    ssl.SSLSocket.unwrap() does not allow."""

    def __init__(self, port, ca):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        ctx = ssl.create_default_context(cafile=ca)
        # Python ignores a missing close_notify by default: this client tells them apart.
        ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
        self.obj = ctx.wrap_bio(self.incoming, self.outgoing, server_hostname="127.0.0.1")
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.feed()
        self.flush()

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def feed(self):
        data = self.sock.recv(65536)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()
        return bool(data)

    def send(self, data):
        self.obj.write(data)
        self.flush()

    def close_notify(self):
        try:
            self.obj.unwrap()
        except ssl.SSLWantReadError:  # sent; the peer's is read later
            pass
        self.flush()

    def read_all(self):
        """Everything until the connection ends: (bytes, how it ended: "close_notify" or the
        error)."""
        data = b""
        while True:
            try:
                chunk = self.obj.read(65536)
                if not chunk:
                    return data, "close_notify"
                data += chunk
            except ssl.SSLWantReadError:
                self.feed()
            except ssl.SSLZeroReturnError:
                return data, "close_notify"
            except ssl.SSLError as e:
                return data, "%s: %s" % (type(e).__name__, e)

    def close(self):
        self.sock.close()


class DribbleTls(MemoryTls):
    """Sends every byte of its TLS stream (handshake included) in a TCP segment of its own, so
    sidecache sees records cut at every point: partial headers, partial bodies."""

    def __init__(self, port, ca):
        self.sock = None
        self.pending = b""
        super().__init__(port, ca)

    def flush(self):
        data = self.outgoing.read()
        if data and self.sock is not None:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(len(data)):
                self.sock.sendall(data[i:i + 1])


class ClientTlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sidecache-client-tls-")
        make_ca(cls.tmp, "ca")
        make_cert(cls.tmp, "server", "ca")
        cls.ca = os.path.join(cls.tmp, "ca.crt")
        cls.backend = harness.RedisServer(cls.tmp)
        cls.tls_port = harness.free_port()
        cls.http = harness.free_port()
        cls.sc = harness.Sidecache(
            cls.tmp, [("n1", cls.backend.port, 1)],
            top_extra="listen_tls:\n  listen: 127.0.0.1:%d\n  cert_file: %s\n  key_file: %s\n"
            "http: {listen: 127.0.0.1:%d}\nlimits: {max_output_bytes: 8mb}\n" % (
                cls.tls_port, os.path.join(cls.tmp, "server.crt"),
                os.path.join(cls.tmp, "server.key"), cls.http))

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sc.stop_checked()
        finally:
            cls.backend.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def client(self):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.tls_port, ssl=True, ssl_ca_certs=self.ca,
                           socket_timeout=30)

    def test_large_values_and_deep_pipeline(self):
        c = self.client()
        big = os.urandom(3 << 20)
        self.assertTrue(c.set("tls:big", big))
        self.assertEqual(c.get("tls:big"), big)
        pipe = c.pipeline(transaction=False)
        for i in range(10000):
            pipe.set("tls:p%d" % i, b"v" * (i % 700))
            pipe.get("tls:p%d" % i)
        replies = pipe.execute()
        self.assertEqual(replies[0::2], [True] * 10000)
        self.assertEqual(replies[1::2], [b"v" * (i % 700) for i in range(10000)])
        c.close()
        self.sc.check()

    def test_half_close_with_close_notify(self):
        t = MemoryTls(self.tls_port, self.ca)
        try:
            t.send(b"SET tls:h 1\r\nGET tls:h\r\n" * 2000)
            t.close_notify()
            data, end = t.read_all()
        finally:
            t.close()
        self.assertEqual(data, b"+OK\r\n$1\r\n1\r\n" * 2000)
        self.assertEqual(end, "close_notify")

    def test_records_cut_at_every_byte(self):
        t = DribbleTls(self.tls_port, self.ca)
        try:
            t.send(b"SET tls:d abc\r\nGET tls:d\r\n" * 20 + b"QUIT\r\n")
            data, end = t.read_all()
        finally:
            t.close()
        self.assertEqual(data, b"+OK\r\n$3\r\nabc\r\n" * 20 + b"+OK\r\n")
        self.assertEqual(end, "close_notify")

    def test_quit_ends_with_close_notify(self):
        t = MemoryTls(self.tls_port, self.ca)
        try:
            t.send(b"PING\r\nQUIT\r\n")
            data, end = t.read_all()
        finally:
            t.close()
        self.assertEqual(data, b"+PONG\r\n+OK\r\n")
        self.assertEqual(end, "close_notify")

    def test_client_that_does_not_read_is_closed(self):
        c = self.client()
        c.set("tls:mb", b"x" * (1 << 20))
        closed = "sidecache_client_connections_closed_total"
        before = harness.metric(self.http, closed, reason="output_limit")
        ctx = ssl.create_default_context(cafile=self.ca)
        raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=30)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        flood = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        errors = []

        def send():
            try:
                flood.sendall(b"GET tls:mb\r\n" * 200)  # 200 MB of replies, never read
            except OSError as e:  # closed by sidecache while still sending: expected
                errors.append(e)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            harness.wait_until(
                lambda: harness.metric(self.http, closed, reason="output_limit") > before,
                timeout=30, what="the flooding TLS client closed for its output")
            # Another TLS client was never held up.
            self.assertEqual(len(c.get("tls:mb")), 1 << 20)
            self.assertTrue(c.ping())
        finally:
            flood.close()
            sender.join(timeout=10)
            c.close()
        self.assertIn("exceed limits.max_output_bytes", self.sc.process.output())
        self.sc.check()


if __name__ == "__main__":
    unittest.main()
