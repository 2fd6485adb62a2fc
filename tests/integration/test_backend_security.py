#!/usr/bin/env python3
"""Backend authentication and TLS (docs/security.md), against real redis-servers started with
requirepass, ACL users and --tls-port, with certificates made by openssl in the test:

(a) requirepass + pool.db: every request lands in database 3, authenticated (password_env).
(b) ACL users: `app` (+@all) through TLS with a client certificate; a restricted user gets the
    node's own NOPERM for writes and its reads work.
(c) a wrong password for one node: a clear log line, `node_auth_failed` counted, the node goes
    down, its keys get `-ERR node X: authentication failed`, the other node is unaffected, and
    reconnects back off (the node's ACL LOG counts the failed AUTHs: a handful, not thousands).
(d) TLS failures, each with one good node beside the bad one: an expired certificate, a
    certificate for another name, TLS to a plain port. Clear reason in the log, counted
    (`tls_handshake`), no crash, backoff, the good node serves.
(e) password rotation with a Kubernetes Secret volume (`..data` symlink swap) and ACL SETUSER /
    CONFIG SET requirepass, with clients running throughout: no request fails, new connections
    (after a reload, a new MULTI) use the new password.
(f) the passwords never appear in sidecache's log, INFO, /metrics or any error reply.
"""
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FAST_POOL = ("  connect_timeout: 500ms\n  request_timeout: 1s\n"
             "  reconnect_backoff: {min: 20ms, max: 200ms}\n"
             "  health: {interval: 100ms, timeout: 300ms, max_interval: 200ms, "
             "failure_threshold: 2}\n")
SECRETS = []  # every password of this run: none may show up anywhere sidecache writes


def secret(text):
    SECRETS.append(text)
    return text


def keys_for(nodes, per_node=3, prefix="k"):
    """{node name: [keys routed there]} for [(name, port, weight)]."""
    names = [(n, w) for n, _, w in nodes]
    candidates = ["%d:%s:%d" % (i, prefix, i * 7919) for i in range(200)]
    placed = harness.route_probe(candidates, names)
    out = {n: [] for n, _, _ in nodes}
    for key, name in zip(candidates, placed):
        if len(out[name]) < per_node:
            out[name].append(key)
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sidecache-sec-")
        self.certs = harness.make_certs(os.path.join(self.tmp, "certs"), expired=True)
        self.servers = []
        self.sidecache = None

    def tearDown(self):
        try:
            if self.sidecache and os.environ.get("SIDECACHE_SHOW_LOG"):
                sys.stderr.write(self.log()[-3000:])
            if self.sidecache:
                self.assert_no_secret(self.sidecache.process.output(), "sidecache's log")
                self.sidecache.stop_checked()
        finally:
            for s in self.servers:
                s.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def redis(self, args, secure_port=False):
        """A redis-server on a new port with `args`; plain, or TLS-only (port in args)."""
        port = harness.free_port()
        server = harness.RedisServer(self.tmp, port=port, start=False, secure=False)
        if secure_port:
            server.extra = ["--tls-cert-file", self.certs["server.crt"], "--tls-key-file",
                            self.certs["server.key"], "--tls-ca-cert-file", self.certs["ca.crt"],
                            "--tls-auth-clients", "optional"] + args
        else:
            server.extra = args
        server.tls = secure_port
        # Started by hand: the harness's readiness PING knows neither the password nor TLS.
        listen = ["--port", "0", "--tls-port", str(port)] if secure_port else ["--port", str(port)]
        argv = ["redis-server"] + listen + ["--bind", "127.0.0.1", "--save", "", "--appendonly",
                                            "no", "--dir", server.dir] + server.extra
        server.process = harness.Process(argv, os.path.join(server.dir, "redis.log"))
        self.servers.append(server)
        harness.wait_until(lambda: self.accepting(port), timeout=10,
                           what="redis-server on %d" % port)
        return server

    @staticmethod
    def accepting(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def cli(self, server, *args, auth=True, user=None, password=None):
        """redis-cli's output for one command (first line), NOAUTH when it said so."""
        argv = ["redis-cli", "-p", str(server.port)]
        if server.tls:
            argv += ["--tls", "--cacert", self.certs["ca.crt"], "--cert",
                     self.certs["client.crt"], "--key", self.certs["client.key"]]
        if auth and password:
            argv += ["--no-auth-warning", "-a", password] + (["--user", user] if user else [])
        argv += list(args)
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except subprocess.TimeoutExpired:
            return ""
        return "NOAUTH" if out.startswith("NOAUTH") else out

    def start(self, nodes, pool_yaml, http=True, env=None, workers=1, top_extra=""):
        port = harness.free_port()
        self.http_port = harness.free_port() if http else None
        top = "http:\n  listen: 127.0.0.1:%d\n  ready_min_nodes_up: 0\n" % self.http_port \
            if http else ""
        top += top_extra
        path = os.path.join(self.tmp, "sidecache.yaml")
        with open(path, "w") as f:
            if nodes:
                f.write(harness.config_yaml(port, nodes, workers, FAST_POOL + pool_yaml, top))
            else:  # pool_yaml lists the nodes itself
                f.write("listen: 127.0.0.1:%d\nworkers: %d\n%spool:\n%s%s" %
                        (port, workers, top, FAST_POOL, pool_yaml))
        self.sidecache = harness.Sidecache.__new__(harness.Sidecache)
        self.sidecache.port = port
        self.sidecache.workdir = self.tmp
        self.sidecache.config_path = path
        self.sidecache.process = harness.Process([harness.BIN, "-c", path],
                                                 os.path.join(self.tmp, "sidecache.log"),
                                                 env=env)
        harness.wait_until(lambda: harness.ping(port) or not self.sidecache.process.alive(),
                           timeout=15, what="sidecache")
        self.sidecache.check()
        return self.sidecache

    def assert_no_secret(self, text, where):
        for s in SECRETS:
            self.assertNotIn(s, text, "a password appears in " + where)

    def log(self):
        return self.sidecache.process.output()


class AuthTest(Base):
    def test_requirepass_and_db_with_password_env(self):
        pw = secret("rp-%d" % os.getpid())
        a = self.redis(["--requirepass", pw])
        env = dict(os.environ, SC_REDIS_PW=pw)
        nodes = [("n0", a.port, 1)]
        sc = self.start(nodes, "  password_env: SC_REDIS_PW\n  db: 3\n", env=env)
        c = sc.raw()
        self.assertEqual(c.command("SET", "dbkey", "v"), "OK")
        self.assertEqual(c.command("GET", "dbkey"), b"v")
        c.command("HELLO", "3")  # a RESP3 client: HELLO 3 AUTH on the RESP3 connections
        self.assertEqual(c.command("GET", "dbkey"), b"v")
        c.close()
        direct = harness.redis_client_for(a.port, password=pw, db=3)
        self.assertEqual(direct.get("dbkey"), b"v")
        self.assertIsNone(harness.redis_client_for(a.port, password=pw, db=0).get("dbkey"))
        # MULTI and Pub/Sub run on dedicated connections: authenticated and in db 3 too.
        c = sc.raw()
        self.assertEqual(c.command("MULTI"), "OK")
        c.command("INCR", "dbcount")
        self.assertEqual(c.command("EXEC"), [1])
        self.assertEqual(direct.get("dbcount"), b"1")
        c.close()

    def test_acl_users_and_mutual_tls(self):
        pw, ro_pw = secret("app-%d" % os.getpid()), secret("ro-%d" % os.getpid())
        tls_args = (["--user", "default", "off", "--user"] + ("app on >%s ~* &* +@all" % pw).split()
                    + ["--user"] + ("ro on >%s ~* &* +@read +@connection" % ro_pw).split()
                    + ["--tls-auth-clients", "yes"])
        a = self.redis(tls_args, secure_port=True)
        b = self.redis(tls_args, secure_port=True)
        pw_file = os.path.join(self.tmp, "app.pw")
        ro_file = os.path.join(self.tmp, "ro.pw")
        for path, text in ((pw_file, pw), (ro_file, ro_pw)):
            with open(path, "w") as f:
                f.write(text + "\n")
        tls = ("  tls:\n    ca_file: %s\n    cert_file: %s\n    key_file: %s\n" %
               (self.certs["ca.crt"], self.certs["client.crt"], self.certs["client.key"]))
        nodes = [("n0", a.port, 1), ("n1", b.port, 1)]
        # n1 is reached as the read-only user (per-node credentials).
        sc = self.start([], "  username: app\n  password_file: %s\n%s  nodes:\n"
                        "    - {name: n0, address: 127.0.0.1:%d}\n"
                        "    - {name: n1, address: 127.0.0.1:%d, username: ro, "
                        "password_file: %s}\n" % (pw_file, tls, a.port, b.port, ro_file))
        keys = keys_for(nodes)
        c = sc.raw()
        for k in keys["n0"]:
            self.assertEqual(c.command("SET", k, "x"), "OK")
            self.assertEqual(c.command("GET", k), b"x")
        for k in keys["n1"]:
            reply = c.command("SET", k, "x")
            self.assertIsInstance(reply, harness.RespError)
            self.assertTrue(reply.startswith("NOPERM"), reply)
            self.assertIsNone(c.command("GET", k))
        c.close()
        self.assertIn("(TLS)", self.log())

    def _nodes_with_wrong_password(self):
        good_pw, bad = secret("good-%d" % os.getpid()), secret("wrong-%d" % os.getpid())
        a = self.redis(["--requirepass", good_pw])
        b = self.redis(["--requirepass", good_pw])
        good_file = os.path.join(self.tmp, "good.pw")
        with open(good_file, "w") as f:
            f.write(good_pw)
        os.environ["SC_WRONG_PW"] = bad
        return a, b, good_file, good_pw

    def test_wrong_password_node_is_down_others_serve(self):
        a, b, good_file, good_pw = self._nodes_with_wrong_password()
        nodes = [("n0", a.port, 1), ("n1", b.port, 1)]
        sc = self.start([], "  password_file: %s\n  nodes:\n"
                        "    - {name: n0, address: 127.0.0.1:%d, password_env: SC_WRONG_PW}\n"
                        "    - {name: n1, address: 127.0.0.1:%d}\n" % (good_file, a.port, b.port),
                        env=dict(os.environ))
        keys = keys_for(nodes)
        c = sc.raw()
        replies = []
        for _ in range(3):
            for k in keys["n0"]:
                replies.append(c.command("GET", k))
            for k in keys["n1"]:
                self.assertEqual(c.command("SET", k, "ok"), "OK")
        for r in replies:
            self.assertIsInstance(r, harness.RespError)
            self.assertIn(r, ("ERR node n0: authentication failed",))
        harness.wait_until(
            lambda: harness.metric(self.http_port, "sidecache_node_healthy", node="n0") == 0,
            timeout=10, what="n0 marked down")
        self.assertEqual(c.command("GET", keys["n0"][0]), "ERR node n0: authentication failed")
        self.assertGreater(harness.metric(self.http_port, "sidecache_node_errors_total",
                                          node="n0", kind="node_auth_failed"), 0)
        self.assertEqual(harness.metric(self.http_port, "sidecache_node_errors_total",
                                        node="n1", kind="node_auth_failed"), 0)
        log = self.log()
        self.assertRegex(log, r"backend n0: cannot connect to 127\.0\.0\.1:\d+: authentication "
                              r"failed: WRONGPASS")
        self.assertIn("node n0 is down", log)
        # Backoff: over 2 s the node sees a bounded number of failed AUTHs (reconnects at most
        # every 200 ms plus probes backing off), not a busy loop.
        before = self.failed_auths(a, good_pw)
        time.sleep(2.0)  # the measuring window: attempts per unit of time are the point
        during = self.failed_auths(a, good_pw) - before
        self.assertLess(during, 40, "reconnects to a node refusing AUTH must back off")
        self.assertGreater(during, 0)
        replies_text = "\n".join(str(r) for r in replies)
        self.assert_no_secret(replies_text, "error replies")
        self.assert_no_secret(harness.metrics_text(self.http_port), "/metrics")
        info = c.command("INFO")
        self.assert_no_secret(info.decode() if isinstance(info, bytes) else str(info), "INFO")
        c.close()
        sc.check()

    def failed_auths(self, server, pw):
        """Failed AUTH attempts the node's ACL LOG has counted."""
        out = subprocess.run(["redis-cli", "-p", str(server.port), "--no-auth-warning", "-a", pw,
                              "ACL", "LOG"], capture_output=True, text=True, timeout=10).stdout
        lines = out.splitlines()
        total = 0
        for i, line in enumerate(lines):
            if line == "count" and i + 1 < len(lines):
                total += int(lines[i + 1])
        return total


class TlsFailureTest(Base):
    def tls_node(self, cert, key):
        return self.redis(["--tls-cert-file", self.certs[cert], "--tls-key-file",
                           self.certs[key]], secure_port=True)

    def check_bad_node(self, bad, good, expect, pool_tls):
        nodes = [("bad", bad.port, 1), ("good", good.port, 1)]
        sc = self.start(nodes, pool_tls)
        keys = keys_for(nodes)
        c = sc.raw()
        for k in keys["good"]:
            self.assertEqual(c.command("SET", k, "v"), "OK")
            self.assertEqual(c.command("GET", k), b"v")
        reply = c.command("GET", keys["bad"][0])
        self.assertIsInstance(reply, harness.RespError)
        harness.wait_until(lambda: expect in self.log(), timeout=10, what=expect)
        harness.wait_until(
            lambda: harness.metric(self.http_port, "sidecache_node_healthy", node="bad") == 0,
            timeout=10, what="bad node marked down")
        failures = harness.metric(self.http_port, "sidecache_node_errors_total", node="bad",
                                  kind="tls_handshake")
        if pool_tls.strip().startswith("tls"):
            self.assertGreater(failures, 0)
        # Backoff: a few attempts per second at most (backoff max 200 ms, 1 worker); the
        # one-second window is the measurement.
        time.sleep(1.0)
        later = harness.metric(self.http_port, "sidecache_node_errors_total", node="bad",
                               kind="tls_handshake")
        self.assertLess(later - failures, 15)
        self.assertEqual(harness.metric(self.http_port, "sidecache_node_healthy", node="good"), 1)
        self.assertRegex(self.log(), r"backend bad: cannot connect to 127\.0\.0\.1:%d: " % bad.port)
        c.close()
        sc.check()

    def pool_tls(self, extra=""):
        return "  tls:\n    ca_file: %s\n%s" % (self.certs["ca.crt"], extra)

    def test_expired_certificate(self):
        bad = self.tls_node("expired.crt", "expired.key")
        good = self.tls_node("server.crt", "server.key")
        self.check_bad_node(bad, good, "certificate rejected: certificate has expired",
                            self.pool_tls())

    def test_certificate_for_another_name(self):
        bad = self.tls_node("other.crt", "other.key")
        good = self.tls_node("server.crt", "server.key")
        self.check_bad_node(bad, good, "certificate rejected: IP address mismatch",
                            self.pool_tls())

    def test_server_name_mismatch_and_verify_off(self):
        good = self.tls_node("server.crt", "server.key")
        nodes = [("good", good.port, 1)]
        self.start(nodes, self.pool_tls("    server_name: wrong.example\n"))
        harness.wait_until(lambda: "certificate rejected: hostname mismatch" in self.log(),
                           timeout=10, what="hostname mismatch logged")
        self.sidecache.stop_checked()
        self.sidecache = None
        # verify: false is explicit, warned about at load, and then connects.
        sc = self.start(nodes, self.pool_tls("    server_name: wrong.example\n    verify: false\n"))
        self.assertIn("TLS peer verification is off", self.log())
        c = sc.raw()
        self.assertEqual(c.command("SET", "a", "1"), "OK")
        c.close()

    def test_write_behind_flusher_follows_reloaded_tls(self):
        """The flushers' own node connections take TLS settings a reload changed, as the
        workers' do: started with a wrong server name, fixed by a reload, a write-behind SET
        reaches the database."""
        node = self.tls_node("server.crt", "server.key")
        dbpath = os.path.join(self.tmp, "app.db")
        db = sqlite3.connect(dbpath)
        db.execute("CREATE TABLE kv (id TEXT PRIMARY KEY, v TEXT)")
        db.commit()
        db.close()
        cache = ("cache:\n  database:\n    type: sqlite\n    path: %s\n  policies:\n"
                 "    - {match: \"kv:*\", table: kv, key_column: id, value_column: v, ttl: 60s,"
                 " write: behind}\n" % dbpath)
        nodes = [("n", node.port, 1)]
        sc = self.start(nodes, self.pool_tls("    server_name: wrong.example\n"), top_extra=cache)
        harness.wait_until(lambda: "certificate rejected: hostname mismatch" in self.log(),
                           timeout=10, what="hostname mismatch logged")
        with open(sc.config_path) as f:
            text = f.read()
        with open(sc.config_path, "w") as f:
            f.write(text.replace("    server_name: wrong.example\n", ""))
        sc.process.signal(signal.SIGHUP)
        harness.wait_until(lambda: "reload (SIGHUP): applied configuration" in self.log(),
                           timeout=10, what="reload applied")
        c = sc.raw()

        def acknowledged():
            return c.command("SET", "kv:1", "one") == "OK"
        harness.wait_until(acknowledged, timeout=15, what="a write-behind SET acknowledged")

        def flushed():
            db = sqlite3.connect(dbpath, timeout=5)
            try:
                return db.execute("SELECT v FROM kv").fetchall() == [("one",)]
            finally:
                db.close()
        harness.wait_until(flushed, timeout=15, what="the flusher wrote the row")
        c.close()

    def test_tls_to_a_plain_port(self):
        bad = self.redis([])  # plain
        good = self.tls_node("server.crt", "server.key")
        self.check_bad_node(bad, good, "TLS handshake not completed within 500 ms (is the port TLS?)",
                            self.pool_tls())


class RotationTest(Base):
    def secret_volume(self, directory, value, generation):
        """Writes `value` the way the kubelet updates a Secret volume: a new timestamped
        directory, then `..data` swapped to it by rename; `password` -> `..data/password`."""
        target = os.path.join(directory, "..gen_%d" % generation)
        os.makedirs(target)
        with open(os.path.join(target, "password"), "w") as f:
            f.write(value + "\n")
        tmp_link = os.path.join(directory, "..data_tmp")
        os.symlink(os.path.basename(target), tmp_link)
        os.rename(tmp_link, os.path.join(directory, "..data"))
        link = os.path.join(directory, "password")
        if not os.path.islink(link):
            os.symlink("..data/password", link)

    def connects(self, node):
        return harness.metric(self.http_port, "sidecache_node_connects_total", node=node)

    def test_rotation_without_failed_requests(self):
        old, new = secret("old-%d" % os.getpid()), secret("new-%d" % os.getpid())
        acl = self.redis(["--user", "default", "off", "--user"] +
                         ("app on >%s ~* &* +@all" % old).split())
        rp = self.redis(["--requirepass", old])
        volume = os.path.join(self.tmp, "secret")
        os.makedirs(volume)
        self.secret_volume(volume, old, 1)
        # ACL node as user app, requirepass node as the default user (per-node username "").
        # max_connection_age: pool connections are replaced every 300 ms (without failing
        # requests), so new connections, which read the file again, keep coming.
        sc = self.start([], "  username: app\n  password_file: %s/password\n"
                        "  max_connection_age: 300ms\n  nodes:\n"
                        "    - {name: acl, address: 127.0.0.1:%d}\n"
                        "    - {name: rp, address: 127.0.0.1:%d, username: \"\"}\n"
                        % (volume, acl.port, rp.port), workers=2)
        nodes = [("acl", acl.port, 1), ("rp", rp.port, 1)]
        keys = keys_for(nodes, per_node=4)
        all_keys = keys["acl"] + keys["rp"]
        errors, done, count = [], threading.Event(), [0]

        def traffic():
            conns = [sc.raw() for _ in range(4)]
            i = 0
            while not done.is_set():
                c = conns[i % len(conns)]
                k = all_keys[i % len(all_keys)]
                for reply in (c.command("SET", k, str(i)), c.command("GET", k)):
                    if isinstance(reply, harness.RespError):
                        errors.append(str(reply))
                count[0] += 1
                i += 1
            for c in conns:
                c.close()

        workers = [threading.Thread(target=traffic) for _ in range(2)]
        for t in workers:
            t.start()
        try:
            harness.wait_until(lambda: count[0] > 50, timeout=10, what="traffic")
            # 1. The node accepts both passwords; 2. the Secret changes; 3. the old one goes.
            self.assertEqual(self.cli(acl, "ACL", "SETUSER", "app", ">" + new, user="app",
                                      password=old), "OK")
            self.assertEqual(self.cli(rp, "ACL", "SETUSER", "default", ">" + new, password=old),
                             "OK")
            self.secret_volume(volume, new, 2)
            self.assertEqual(self.cli(acl, "ACL", "SETUSER", "app", "<" + old, user="app",
                                      password=new), "OK")
            # requirepass now leaves only the new password; live connections stay authenticated.
            self.assertEqual(self.cli(rp, "CONFIG", "SET", "requirepass", new, password=old),
                             "OK")
            # Only the new password works now: connections made from here on prove it.
            connects = {n: self.connects(n) for n in ("acl", "rp")}
            harness.wait_until(lambda: all(self.connects(n) >= connects[n] + 4 for n in connects),
                               timeout=20, what="new connections with the new password")
            before = count[0]
            harness.wait_until(lambda: count[0] > before + 200, timeout=20, what="more traffic")
            # A dedicated connection opened now (MULTI) authenticates with the new password.
            c = sc.raw()
            for k in all_keys:
                self.assertEqual(c.command("MULTI"), "OK")
                c.command("SET", k, "m")
                self.assertEqual(c.command("EXEC"), ["OK"])
            c.close()
        finally:
            done.set()
            for t in workers:
                t.join(timeout=30)
        self.assertEqual(errors, [], "requests failed during the rotation")
        self.assertGreater(harness.metric(self.http_port, "sidecache_node_connects_total",
                                          node="rp"), 1)
        self.assertEqual(harness.metric(self.http_port, "sidecache_node_errors_total",
                                        kind="node_auth_failed"), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
