#!/usr/bin/env python3
"""Client authentication, ACL users, denied commands and TLS on sidecache's own port.

Every NOAUTH / WRONGPASS / NOPERM reply is byte-compared with a real redis-server configured
the same way (requirepass; ACL SETUSER with the same rules). Real clients (redis-cli,
python3-redis, ioredis, node-redis) connect with a password and over TLS; certificates are made
with openssl per run. Also: mutual TLS accepted and refused, reload of passwords, users and
certificates, the brute-force brake, and no password in logs, INFO, /metrics or replies.
"""
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PASSWORD = "s3cret-default-pw"
APP_PW = "app-pw-7f3a"
READER_PW = "reader-pw-91c2"
ALL_PASSWORDS = (PASSWORD, APP_PW, READER_PW, "rotated-pw-55d1")

# Each user as sidecache's rules and as the ACL SETUSER arguments for the reference Redis.
USERS = {
    "app": ("on +@all -@dangerous +get ~product:*", APP_PW),
    "reader": ("on +@read +ping ~* &news:*", READER_PW),
    "gone": ("off +@all ~*", "gone-pw"),
}


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=60)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=%s" % name, "-keyout", name + ".key", "-out", name + ".crt", cwd=d)


def make_cert(d, name, ca, cn="127.0.0.1", ip=True):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % cn, "-keyout",
            name + ".key", "-out", name + ".csr", cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n" if ip else "extendedKeyUsage=clientAuth\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt",
            cwd=d)


def auth_yaml(tmp, password=PASSWORD, users=USERS, extra_auth="failure_delay: 10ms"):
    """The auth: section, passwords in files of their own."""
    path = os.path.join(tmp, "default.pw")
    with open(path, "w") as f:
        f.write(password + "\n")
    lines = ["auth:", "  password_file: %s" % path, "  " + extra_auth, "  users:"]
    for name, (rules, pw) in users.items():
        upath = os.path.join(tmp, name + ".pw")
        with open(upath, "w") as f:
            f.write(pw)
        lines.append("    - {name: %s, password_file: %s, rules: \"%s\"}" % (name, upath, rules))
    return "\n".join(lines) + "\n"


def reference_redis(tmp):
    """A redis-server with requirepass and the same ACL users."""
    server = harness.RedisServer(tmp, secure=False)  # ready on PING, then locked
    admin = server.client()
    for name, (rules, pw) in USERS.items():
        admin.execute_command("ACL", "SETUSER", name, "reset", ">" + pw, *rules.split())
    admin.config_set("requirepass", PASSWORD)
    admin.close()
    return server


def answers(port, lines):
    """The exact bytes sidecache or Redis answers to `lines` (inline commands), one request at a
    time on one connection."""
    c = harness.RespConnection(port)
    out = []
    try:
        for line in lines:
            c.send_raw(line.encode() + b"\r\n")
            out.append(c.read_raw())
    finally:
        c.close()
    return out


def ready(port):
    """sidecache answers (NOAUTH counts: auth is on)."""
    try:
        c = harness.RespConnection(port, timeout=0.5)
        try:
            return c.command("PING") in ("PONG", "NOAUTH Authentication required.")
        finally:
            c.close()
    except OSError:
        return False


def start_sidecache(tmp, backend, top_extra, **kw):
    sc = harness.Sidecache(tmp, [("n1", backend.port, 1)], top_extra=top_extra, wait=False, **kw)
    harness.wait_until(lambda: ready(sc.port) or not sc.process.alive(), timeout=15,
                       what="sidecache on %d" % sc.port)
    if not sc.process.alive():
        raise RuntimeError("sidecache exited: " + sc.process.output())
    return sc


def redis_cli(port, *args, tls=None, user=None, password=None, timeout=15):
    cmd = ["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--no-auth-warning"]
    if tls:
        cmd += ["--tls", "--cacert", tls["ca"]]
        if tls.get("cert"):
            cmd += ["--cert", tls["cert"], "--key", tls["key"]]
    if user:
        cmd += ["--user", user]
    if password:
        cmd += ["--pass", password]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


class ClientAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sidecache-auth-")
        cls.backend = harness.RedisServer(cls.tmp)
        cls.reference = reference_redis(cls.tmp)
        cls.http = harness.free_port()
        cls.sc = start_sidecache(
            cls.tmp, cls.backend,
            auth_yaml(cls.tmp) + "http: {listen: 127.0.0.1:%d}\n" % cls.http +
            "logging: {level: debug}\n")

    @classmethod
    def tearDownClass(cls):
        cls.sc.stop_checked()
        cls.backend.stop()
        cls.reference.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        self.sc.check()

    def compare(self, lines):
        # The reference Redis and the backend start empty, and each test uses its own keys.
        got = answers(self.sc.port, lines)
        want = answers(self.reference.port, lines)
        for line, g, w in zip(lines, got, want):
            self.assertEqual(g, w, "reply to %r" % line)

    def test_requirepass_replies_match_redis(self):
        self.compare([
            "GET a", "FOO", "GET", "HELLO 3", "HELLO 3 AUTH default bad", "AUTH bad",
            "AUTH nobody " + PASSWORD, "AUTH a b c", "ACL WHOAMI", "MULTI", "PING",
            "AUTH " + PASSWORD, "ACL WHOAMI", "PING", "RESET", "ACL WHOAMI", "GET a",
            "HELLO 2 AUTH default " + PASSWORD + "x", "AUTH default " + PASSWORD, "ECHO hi",
        ])

    def test_acl_user_replies_match_redis(self):
        self.compare([
            "AUTH app " + APP_PW, "ACL WHOAMI", "GET a", "GET product:t1", "SET product:t1 x",
            "GET product:t1", "FLUSHALL", "CONFIG GET maxmemory", "KEYS *",
            "SUBSCRIBE ch", "PUBLISH ch x", "MGET product:t1 a", "EVAL \"return 1\" 1 a",
            "MULTI", "GET a", "GET product:t2", "EXEC", "MULTI", "FLUSHALL", "EXEC",
            "AUTH app wrong", "ACL WHOAMI", "AUTH gone gone-pw", "ACL WHOAMI",
        ])

    def test_reader_user_and_channels_match_redis(self):
        self.compare([
            "AUTH reader " + READER_PW, "SET r1 x", "GET r1", "DEL r1", "PUBLISH news:1 x",
            "PUBLISH other x", "SUBSCRIBE other", "PSUBSCRIBE news*", "SSUBSCRIBE other",
            "PING", "ACL WHOAMI",
        ])

    def test_python_client(self):
        import redis
        c = self.sc.client(username="app", password=APP_PW)
        self.assertTrue(c.set("product:py", "1"))
        self.assertEqual(c.get("product:py"), b"1")
        with self.assertRaises(redis.exceptions.NoPermissionError):
            c.get("other:py")
        c.close()
        d = self.sc.client(password=PASSWORD)
        self.assertEqual(d.get("product:py"), b"1")
        self.assertEqual(d.execute_command("ACL", "WHOAMI"), b"default")
        bad = self.sc.client(password="nope")
        with self.assertRaisesRegex(redis.exceptions.RedisError, "WRONGPASS"):
            bad.ping()
        with self.assertRaisesRegex(redis.exceptions.RedisError, "Authentication required"):
            self.sc.client().get("x")  # no password: NOAUTH

    def test_redis_cli_resp2_and_resp3(self):
        out = redis_cli(self.sc.port, "SET", "product:cli", "v", user="app", password=APP_PW)
        self.assertEqual(out.stdout.strip(), "OK", out.stderr)
        out = redis_cli(self.sc.port, "-3", "GET", "product:cli", user="app", password=APP_PW)
        self.assertEqual(out.stdout.strip(), "v", out.stderr)
        out = redis_cli(self.sc.port, "GET", "x", password="wrong")
        self.assertIn("NOAUTH", out.stdout + out.stderr)

    def test_node_clients(self):
        import test_node_clients
        modules = test_node_clients.ensure_node_modules()
        for client in ("ioredis", "node-redis"):
            for protocol in (3, 2):
                run_node_check(self, modules, client, self.sc.port, protocol, None)

    def test_metrics_and_info_count_failures_without_passwords(self):
        before = harness.metric(self.http, "sidecache_auth_failures_total")
        denied = harness.metric(self.http, "sidecache_access_denied_total")
        answers(self.sc.port, ["AUTH app " + APP_PW + "typo", "GET x"])
        harness.wait_until(
            lambda: harness.metric(self.http, "sidecache_auth_failures_total") == before + 1,
            timeout=5, what="auth failure counted")
        self.assertGreater(harness.metric(self.http, "sidecache_access_denied_total"), denied)
        c = self.sc.raw()
        self.assertEqual(c.command("AUTH", PASSWORD), "OK")
        info = c.command("INFO", "everything").decode()
        c.close()
        for text in (info, harness.metrics_text(self.http), self.sc.process.output()):
            for pw in ALL_PASSWORDS:
                self.assertNotIn(pw, text)
        self.assertIn("authentication failed", self.sc.process.output())


def run_node_check(test, modules, client, port, protocol, tls):
    node_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
    cfg = {"client": client, "port": port, "protocol": protocol, "user": "app",
           "password": APP_PW, "key": "product:%s%d" % (client, protocol),
           "denied_key": "secret:1", "tls": tls, "timeout_ms": 40000}
    env = dict(os.environ, NODE_PATH=modules)
    out = subprocess.run(["node", os.path.join(node_dir, "auth_tls_check.js"), json.dumps(cfg)],
                         capture_output=True, text=True, timeout=60, env=env)
    passed = sorted(line[3:] for line in out.stdout.splitlines() if line.startswith("ok "))
    test.assertEqual((out.returncode, passed),
                     (0, ["connect", "noperm", "round_trip", "whoami", "wrongpass"]),
                     "%s RESP%d tls=%s:\n%s\n%s" % (client, protocol, bool(tls), out.stdout,
                                                    out.stderr))


class DenyAndReloadTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sidecache-deny-")
        self.backend = harness.RedisServer(self.tmp)

    def tearDown(self):
        self.backend.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def rewrite(self, sc, top_extra):
        with open(sc.config_path, "w") as f:
            f.write(harness.config_yaml(sc.port, [("n1", self.backend.port, 1)],
                                        top_extra=top_extra))
        sc.process.signal(signal.SIGHUP)

    def test_denied_commands_and_reload(self):
        deny = "commands: {allow_flush: true, deny: [FLUSHALL, DEBUG, config set]}\n"
        sc = start_sidecache(self.tmp, self.backend, deny)
        try:
            c = sc.raw()
            self.assertEqual(c.command_raw("FLUSHALL"),
                             b"-ERR command 'flushall' is disabled by sidecache configuration\r\n")
            self.assertEqual(c.command_raw("CONFIG", "SET", "maxmemory", "1"),
                             b"-ERR command 'config|set' is disabled by sidecache "
                             b"configuration\r\n")
            self.assertEqual(c.command_raw("MULTI"), b"+OK\r\n")
            self.assertTrue(c.command_raw("DEBUG", "SLEEP", "0").startswith(b"-ERR command 'debug'"))
            self.assertEqual(c.command_raw("EXEC"),
                             b"-EXECABORT Transaction discarded because of previous errors.\r\n")
            self.assertEqual(c.command_raw("FLUSHDB"), b"+OK\r\n")
            self.rewrite(sc, "commands: {allow_flush: true}\n")
            harness.wait_until(lambda: c.command_raw("FLUSHALL") == b"+OK\r\n", timeout=10,
                               what="FLUSHALL allowed after reload")
            c.close()
        finally:
            sc.stop_checked()

    def test_password_and_user_reload(self):
        sc = start_sidecache(self.tmp, self.backend, auth_yaml(self.tmp))
        try:
            app = sc.raw()
            self.assertEqual(app.command("AUTH", "app", APP_PW), "OK")
            gone_after = sc.raw()
            self.assertEqual(gone_after.command("AUTH", "reader", READER_PW), "OK")
            old = sc.raw()
            self.assertEqual(old.command("AUTH", PASSWORD), "OK")
            # Rotate the default password in its file, drop the reader user.
            users = {k: v for k, v in USERS.items() if k != "reader"}
            self.rewrite(sc, auth_yaml(self.tmp, password="rotated-pw-55d1", users=users))
            harness.wait_until(
                lambda: answers(sc.port, ["AUTH rotated-pw-55d1"]) == [b"+OK\r\n"], timeout=10,
                what="new password accepted")
            self.assertEqual(answers(sc.port, ["AUTH " + PASSWORD]),
                             [b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"])
            # Connections keep their authentication, as in Redis; a removed user's are closed.
            self.assertEqual(old.command("PING"), "PONG")
            self.assertEqual(app.command("ACL", "WHOAMI"), b"app")
            gone_after.send_raw(gone_after.encode("PING"))
            self.assertTrue(gone_after.is_closed(timeout=5))
            gone_after.close()
            self.assertIn("its ACL user was removed", sc.process.output())
            # Turning auth off lets everyone in.
            self.rewrite(sc, "")
            harness.wait_until(lambda: answers(sc.port, ["PING"]) == [b"+PONG\r\n"], timeout=10,
                               what="auth off after reload")
            for c in (app, old):
                c.close()
        finally:
            sc.stop_checked()

    def test_brute_force_brake(self):
        http = harness.free_port()
        sc = start_sidecache(self.tmp, self.backend,
                             auth_yaml(self.tmp, extra_auth="failure_delay: 200ms\n"
                                       "  max_failures: 5") +
                             "http: {listen: 127.0.0.1:%d}\n" % http)
        try:
            c = sc.raw(timeout=10)
            start = time.monotonic()
            c.send_raw(b"".join(c.encode("AUTH", "guess%d" % i) for i in range(10)))
            replies = []
            try:
                while True:
                    replies.append(c.read_raw())
            except ConnectionError:
                pass
            elapsed = time.monotonic() - start
            c.close()
            # Five wrong guesses, each after the previous one's delay, then the close.
            self.assertEqual(replies, [b"-WRONGPASS invalid username-password pair or user is "
                                       b"disabled.\r\n"] * 5)
            self.assertGreaterEqual(elapsed, 0.75)
            self.assertEqual(harness.metric(http, "sidecache_auth_failures_total"), 5)
            self.assertEqual(harness.metric(http, "sidecache_auth_failure_disconnects_total"), 1)
            log = sc.process.output()
            self.assertIn("authentication failed 5 times", log)
            self.assertNotIn("guess", log)
            # Another connection with the right password is not slowed down.
            self.assertEqual(answers(sc.port, ["AUTH " + PASSWORD, "PING"]),
                             [b"+OK\r\n", b"+PONG\r\n"])
        finally:
            sc.stop_checked()


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sidecache-tls-")
        d = cls.tmp
        make_ca(d, "ca")
        make_ca(d, "otherca")
        make_cert(d, "server", "ca")
        make_cert(d, "client", "ca", cn="client", ip=False)
        make_cert(d, "rogue", "otherca", cn="rogue", ip=False)
        make_cert(d, "server2", "otherca")
        cls.backend = harness.RedisServer(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.backend.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def tls_yaml(self, port, verify=False, cert="server"):
        return ("listen_tls:\n  listen: 127.0.0.1:%d\n  cert_file: %s\n  key_file: %s\n"
                "  ca_file: %s\n  verify_clients: %s\n  handshake_timeout: 2s\n" % (
                    port, self.path(cert + ".crt"), self.path(cert + ".key"),
                    self.path("ca.crt"), "true" if verify else "false"))

    def tls_opts(self, with_cert=False, ca="ca", cert="client"):
        out = {"ca": self.path(ca + ".crt")}
        if with_cert:
            out.update(cert=self.path(cert + ".crt"), key=self.path(cert + ".key"))
        return out

    def test_tls_clients_with_auth(self):
        tls_port = harness.free_port()
        http = harness.free_port()
        sc = start_sidecache(self.tmp, self.backend,
                             self.tls_yaml(tls_port) + auth_yaml(self.tmp) +
                             "http: {listen: 127.0.0.1:%d}\n" % http)
        try:
            out = redis_cli(tls_port, "SET", "product:tls", "v", tls=self.tls_opts(), user="app",
                            password=APP_PW)
            self.assertEqual(out.stdout.strip(), "OK", out.stderr)
            out = redis_cli(tls_port, "-3", "GET", "product:tls", tls=self.tls_opts(),
                            user="app", password=APP_PW)
            self.assertEqual(out.stdout.strip(), "v", out.stderr)
            import redis
            c = redis.Redis(host="127.0.0.1", port=tls_port, ssl=True,
                            ssl_ca_certs=self.path("ca.crt"), username="app", password=APP_PW,
                            socket_timeout=10)
            self.assertEqual(c.get("product:tls"), b"v")
            pipe = c.pipeline(transaction=False)
            for i in range(200):
                pipe.set("product:p%d" % i, "x" * 1000)
            self.assertEqual(len(pipe.execute()), 200)
            c.close()
            # The plain port still works, with the same users.
            self.assertEqual(answers(sc.port, ["AUTH app " + APP_PW, "GET product:tls"]),
                             [b"+OK\r\n", b"$1\r\nv\r\n"])
            import test_node_clients
            modules = test_node_clients.ensure_node_modules()
            for client in ("ioredis", "node-redis"):
                run_node_check(self, modules, client, tls_port, 3, self.tls_opts())
            self.assertGreaterEqual(harness.metric(http, "sidecache_tls_handshakes_total"), 3)
            # Plain text to the TLS port: a failed handshake, counted; sidecache carries on.
            raw = harness.RespConnection(tls_port)
            raw.send_raw(b"PING\r\n")
            self.assertTrue(raw.is_closed(timeout=5))
            raw.close()
            harness.wait_until(
                lambda: harness.metric(http, "sidecache_tls_handshake_failures_total") >= 1,
                timeout=5, what="handshake failure counted")
            # A TLS client that never finishes its handshake is cut at handshake_timeout.
            idle = harness.RespConnection(tls_port)
            self.assertTrue(idle.is_closed(timeout=6))
            idle.close()
        finally:
            sc.stop_checked()

    def test_mutual_tls_and_certificate_reload(self):
        tls_port = harness.free_port()
        sc = start_sidecache(self.tmp, self.backend, self.tls_yaml(tls_port, verify=True))
        try:
            ok = redis_cli(tls_port, "PING", tls=self.tls_opts(with_cert=True))
            self.assertEqual(ok.stdout.strip(), "PONG", ok.stderr)
            no_cert = redis_cli(tls_port, "PING", tls=self.tls_opts())
            self.assertNotEqual(no_cert.stdout.strip(), "PONG")
            rogue = redis_cli(tls_port, "PING", tls=self.tls_opts(with_cert=True, cert="rogue"))
            self.assertNotEqual(rogue.stdout.strip(), "PONG")
            # Python with ssl: the same verdicts.
            ctx = ssl.create_default_context(cafile=self.path("ca.crt"))
            ctx.load_cert_chain(self.path("client.crt"), self.path("client.key"))
            import socket
            with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
                    t.sendall(b"PING\r\n")
                    self.assertEqual(t.recv(100), b"+PONG\r\n")
            # Reload with a certificate from another CA: new connections get it.
            with open(sc.config_path, "w") as f:
                f.write(harness.config_yaml(sc.port, [("n1", self.backend.port, 1)],
                                            top_extra=self.tls_yaml(tls_port, verify=True,
                                                                    cert="server2")))
            sc.process.signal(signal.SIGHUP)

            def new_ca_works():
                out = redis_cli(tls_port, "PING", tls=self.tls_opts(with_cert=True, ca="otherca")
                                | {"cert": self.path("client.crt"),
                                   "key": self.path("client.key")})
                return out.stdout.strip() == "PONG"
            harness.wait_until(new_ca_works, timeout=15, what="reloaded server certificate")
            old = redis_cli(tls_port, "PING", tls=self.tls_opts(with_cert=True))
            self.assertNotEqual(old.stdout.strip(), "PONG")
            # A broken certificate file on reload keeps the running one.
            with open(self.path("broken.crt"), "w") as f:
                f.write("not a certificate\n")
            with open(sc.config_path, "w") as f:
                f.write(harness.config_yaml(sc.port, [("n1", self.backend.port, 1)],
                                            top_extra=self.tls_yaml(tls_port, verify=True,
                                                                    cert="broken")))
            sc.process.signal(signal.SIGHUP)
            harness.wait_until(lambda: "TLS clients keep the previous certificate"
                               in sc.process.output(), timeout=10, what="reload error logged")
            self.assertTrue(new_ca_works())
        finally:
            sc.stop_checked()


if __name__ == "__main__":
    unittest.main(verbosity=2)
