#!/usr/bin/env python3
"""What clients send on connect, answered by sidecache itself (HELLO, CLIENT ..., SELECT, PING,
ECHO, QUIT, INFO, CONFIG GET, TIME, COMMAND, RESET, AUTH), and the sidecache binary's command
line (--version, --help, --check-config on good and bad files, a listen address in use).
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TIMEOUT_S = 30


def info_fields(text):
    if isinstance(text, bytes):
        text = text.decode()
    fields = {}
    for line in text.split("\r\n"):
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            fields[k] = v
    return fields


class LocalCommands(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3, workers=2)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def setUp(self):
        self.conn = self.cluster.sidecache.raw()

    def tearDown(self):
        self.conn.close()
        self.cluster.sidecache.check()

    def test_hello(self):
        c = self.conn
        for args in (["HELLO"], ["HELLO", "2"]):
            reply = c.command(*args)
            fields = dict(zip(reply[::2], reply[1::2]))
            self.assertEqual(fields[b"proto"], 2)
            self.assertEqual(fields[b"server"], b"redis")
            self.assertEqual(fields[b"id"], c.command("CLIENT", "ID"))
        reply = c.command("HELLO", "2", "SETNAME", "my-app")
        self.assertIsInstance(reply, list)
        self.assertEqual(c.command("CLIENT", "GETNAME"), b"my-app")
        self.assertTrue(c.command("HELLO", "4").startswith("NOPROTO"))
        self.assertTrue(c.command("HELLO", "4", "SETNAME", "other").startswith("NOPROTO"))
        self.assertEqual(c.command("CLIENT", "GETNAME"), b"my-app")  # unchanged by the failure
        self.assertTrue(c.command("HELLO", "two").startswith("ERR Protocol version"))
        self.assertEqual(c.command("PING"), "PONG")  # still RESP2, still open
        # HELLO 3 (see test_resp3.py): a RESP3 map, then back with HELLO 2.
        reply = c.command("HELLO", "3", "SETNAME", "other")
        self.assertIsInstance(reply, dict)
        self.assertEqual(reply[b"proto"], 3)
        self.assertEqual(reply[b"id"], c.command("CLIENT", "ID"))
        self.assertEqual(c.command("CLIENT", "GETNAME"), b"other")
        self.assertEqual(c.command("HELLO", "2")[5], 2)

    def test_client_subcommands(self):
        c = self.conn
        self.assertIsNone(c.command("CLIENT", "GETNAME"))
        self.assertEqual(c.command("CLIENT", "SETNAME", "worker-1"), "OK")
        self.assertEqual(c.command("CLIENT", "GETNAME"), b"worker-1")
        self.assertTrue(c.command("CLIENT", "SETNAME", "has space").startswith("ERR Client names"))
        self.assertEqual(c.command("CLIENT", "SETINFO", "LIB-NAME", "redis-py"), "OK")
        self.assertEqual(c.command("CLIENT", "SETINFO", "lib-ver", "4.3.4"), "OK")
        self.assertTrue(c.command("CLIENT", "SETINFO", "nope", "x").startswith("ERR"))
        first = c.command("CLIENT", "ID")
        other = self.cluster.sidecache.raw()
        try:
            second = other.command("CLIENT", "ID")
        finally:
            other.close()
        self.assertIsInstance(first, int)
        self.assertNotEqual(first, second)
        self.assertTrue(c.command("CLIENT", "KILL", "ID", "1").startswith("ERR"))
        self.assertEqual(c.command("RESET"), "RESET")
        self.assertIsNone(c.command("CLIENT", "GETNAME"))

    def test_select_ping_echo_auth_quit(self):
        c = self.conn
        self.assertEqual(c.command("SELECT", "0"), "OK")
        reply = c.command("SELECT", "1")
        self.assertIsInstance(reply, harness.RespError)
        self.assertTrue(reply.startswith("ERR"))
        self.assertTrue(c.command("SELECT", "x").startswith("ERR value is not an integer"))
        self.assertEqual(c.command("PING"), "PONG")
        self.assertEqual(c.command("PING", "hi there"), b"hi there")
        self.assertEqual(c.command("PING", "a", "b"),  # Redis checks PING's arity itself
                         "ERR wrong number of arguments for 'ping' command")
        self.assertEqual(c.command("ECHO", b"\x00bin\r\n"), b"\x00bin\r\n")
        self.assertTrue(c.command("ECHO").startswith("ERR wrong number of arguments"))
        self.assertTrue(c.command("AUTH", "secret").startswith("ERR AUTH <password> called"))
        self.assertEqual(c.command("AUTH", "default", "anything"), "OK")
        c.send_raw(c.encode("QUIT") + c.encode("PING"))
        self.assertEqual(c.read_reply(), "OK")
        self.assertTrue(c.is_closed())
        self.assertEqual(c.buf, b"")  # nothing after QUIT is answered

    def test_quit_after_forwarded_commands(self):
        # QUIT behind commands still waiting for nodes: their replies first, then +OK, close.
        c = self.conn
        self.assertEqual(c.command("SET", "quit:k", "v"), "OK")
        c.send_raw(b"".join(c.encode(*cmd) for cmd in
                            [("GET", "quit:k"), ("MGET", "quit:k", "quit:none", "quit:k"),
                             ("INCR", "quit:ctr"), ("QUIT",), ("GET", "quit:k")]))
        self.assertEqual(c.read_reply(), b"v")
        self.assertEqual(c.read_reply(), [b"v", None, b"v"])
        self.assertEqual(c.read_reply(), 1)
        self.assertEqual(c.read_reply(), "OK")
        self.assertTrue(c.is_closed())
        self.assertEqual(c.buf, b"")

    def test_info(self):
        text = self.conn.command("INFO")
        fields = info_fields(text)
        self.assertEqual(fields["loading"], "0")
        self.assertIn("redis_version", fields)
        self.assertIn("# Server", text.decode())
        for section in ("server", "clients", "persistence", "stats"):
            self.assertTrue(self.conn.command("INFO", section).decode().startswith("# "),
                            section)
        clients = info_fields(self.conn.command("INFO", "clients"))
        self.assertLessEqual({"connected_clients", "maxclients", "blocked_clients"}, set(clients))
        self.assertNotIn("redis_version", clients)  # only the section asked for

    def connected_clients(self):
        return int(info_fields(self.conn.command("INFO", "clients"))["connected_clients"])

    def test_info_connected_clients_counts_open_clients(self):
        harness.wait_until(lambda: self.connected_clients() == 1, timeout=5,
                           what="only this test's client")
        extra = [self.cluster.sidecache.raw() for _ in range(7)]
        try:
            for e in extra:
                self.assertEqual(e.command("PING"), "PONG")  # accepted by some worker
            self.assertEqual(self.connected_clients(), 8)
        finally:
            for e in extra[:4]:
                e.close()
        harness.wait_until(lambda: self.connected_clients() == 4, timeout=5,
                           what="connected_clients back to 4")
        for e in extra[4:]:
            e.close()
        harness.wait_until(lambda: self.connected_clients() == 1, timeout=5,
                           what="connected_clients back to 1")

    def test_info_total_commands_processed_increases(self):
        def total():
            return int(info_fields(self.conn.command("INFO", "stats"))["total_commands_processed"])
        before = total()
        for i in range(10):
            self.conn.command("SET", "info:%d" % i, "v")
        after = total()
        self.assertGreaterEqual(after - before, 11)
        self.assertLess(after - before, 1000)

    def test_config_time_command_reset(self):
        c = self.conn
        self.assertEqual(c.command("CONFIG", "GET", "save"), [])
        self.assertEqual(c.command("CONFIG", "GET", "appendonly"), [])
        seconds, micros = c.command("TIME")
        self.assertLess(abs(int(seconds) + int(micros) / 1e6 - time.time()), 5)
        self.assertTrue(0 <= int(micros) < 1000000)
        count = c.command("COMMAND", "COUNT")
        self.assertGreater(count, 200)
        self.assertEqual(len(c.command("COMMAND")), count)
        self.assertEqual(len(c.command("COMMAND", "LIST")), count)
        (get,) = c.command("COMMAND", "INFO", "get")
        self.assertEqual(get[:2], [b"get", 2])
        self.assertIn("readonly", get[2])
        self.assertEqual(get[3:6], [1, 1, 1])
        self.assertEqual(c.command("COMMAND", "INFO", "get", "nosuch")[1], None)
        self.assertEqual(c.command("CLIENT", "SETNAME", "before-reset"), "OK")
        self.assertEqual(c.command("RESET"), "RESET")
        self.assertIsNone(c.command("CLIENT", "GETNAME"))
        self.assertEqual(c.command("PING"), "PONG")

    def test_redis_py_connects_with_name(self):
        client = self.cluster.client(client_name="py-app")
        self.assertEqual(client.client_getname(), "py-app")
        self.assertTrue(client.ping())
        self.assertEqual(client.info()["loading"], 0)
        client.close()


class MaxClients(unittest.TestCase):
    def test_max_clients(self):
        cluster = harness.Cluster(1, top_extra="limits:\n  max_clients: 3\n")
        conns = []
        try:
            conns = [cluster.sidecache.raw() for _ in range(3)]
            for c in conns:
                self.assertEqual(c.command("PING"), "PONG")
            extra = cluster.sidecache.raw()
            reply = extra.read_reply()
            self.assertIsInstance(reply, harness.RespError)
            self.assertIn("max number of clients reached", reply)
            self.assertTrue(extra.is_closed())
            extra.close()
            conns.pop().close()

            def admitted():
                c = cluster.sidecache.raw()
                try:
                    return c.command("PING") == "PONG"
                except (ConnectionError, OSError):
                    return False
                finally:
                    c.close()
            harness.wait_until(admitted, timeout=5, what="a free client slot")
            stats = info_fields(conns[0].command("INFO", "stats"))
            self.assertGreaterEqual(int(stats["rejected_connections"]), 1)
            cluster.sidecache.check()
        finally:
            for c in conns:
                c.close()
            cluster.close()


class CommandLine(unittest.TestCase):
    def run_bin(self, *args):
        out = subprocess.run([harness.BIN] + list(args), capture_output=True, text=True,
                             timeout=TIMEOUT_S)
        return out.returncode, out.stdout, out.stderr

    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".yaml", prefix="sidecache-cli-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_version_and_help(self):
        code, out, _ = self.run_bin("--version")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^sidecache \d+\.\d+\.\d+")
        code, out, _ = self.run_bin("--help")
        self.assertEqual(code, 0)
        self.assertIn("--check-config", out)
        code, _, err = self.run_bin("--no-such-flag")
        self.assertNotEqual(code, 0)
        self.assertIn("unknown argument '--no-such-flag'", err)
        code, _, err = self.run_bin()
        self.assertNotEqual(code, 0)

    def test_check_config(self):
        sample = os.path.join(harness.SOURCE_DIR, "config", "sidecache.yaml")
        code, out, err = self.run_bin("--check-config", sample)
        self.assertEqual(code, 0, err)
        self.assertIn("valid", out)
        bad = self.write("listen: 127.0.0.1:6390\npool:\n  request_timeout: 2w\n  nodes:\n"
                         "    - {name: a, address: 127.0.0.1:7001}\n")
        code, out, err = self.run_bin("--check-config", bad)
        self.assertNotEqual(code, 0)
        self.assertIn("%s:3:20: pool.request_timeout: invalid duration '2w'" % bad, err)
        unknown = self.write("listen: 127.0.0.1:6390\npool:\n  hahs: fnv1a_64\n  nodes:\n"
                             "    - {name: a, address: 127.0.0.1:7001}\n")
        code, out, err = self.run_bin("--check-config", unknown)
        self.assertNotEqual(code, 0)
        self.assertIn("%s:3:3: unknown key 'pool.hahs'" % unknown, err)
        syntax = self.write("pool:\n  nodes: [\n")
        code, out, err = self.run_bin("--check-config", syntax)
        self.assertNotEqual(code, 0)
        self.assertRegex(err, r"%s:\d+:\d+: YAML syntax error" % syntax)
        code, out, err = self.run_bin("--check-config", "/nonexistent/sidecache.yaml")
        self.assertNotEqual(code, 0)
        self.assertIn("cannot read config file", err)
        code, _, err = self.run_bin("-c", unknown)  # running checks the same way
        self.assertNotEqual(code, 0)
        self.assertIn("unknown key 'pool.hahs'", err)

    def test_listen_address_in_use(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        cfg = self.write("listen: 127.0.0.1:%d\nworkers: 2\npool:\n  nodes:\n"
                         "    - {name: a, address: 127.0.0.1:%d}\n" % (port, harness.free_port()))
        try:
            code, out, err = self.run_bin("-c", cfg)
        finally:
            holder.close()
        self.assertNotEqual(code, 0)
        self.assertIn("%s:1:9: listen: cannot listen on 127.0.0.1:%d: Address already in use"
                      % (cfg, port), out + err)

    def test_listen_and_http_listen_errors_name_the_config_line(self):
        node = "pool:\n  nodes:\n    - {name: a, address: 127.0.0.1:%d}\n" % harness.free_port()
        cfg = self.write("workers: 1\nlisten: no-such-listen-host.invalid:%d\n%s"
                         % (harness.free_port(), node))
        code, out, err = self.run_bin("-c", cfg)
        self.assertNotEqual(code, 0)
        self.assertRegex(out + err, r"%s:2:9: listen: cannot resolve listen address "
                         r"no-such-listen-host.invalid: " % re.escape(cfg))
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        try:
            cfg = self.write("listen: 127.0.0.1:%d\nhttp:\n  listen: 127.0.0.1:%d\n%s"
                             % (harness.free_port(), holder.getsockname()[1], node))
            code, out, err = self.run_bin("-c", cfg)
        finally:
            holder.close()
        self.assertNotEqual(code, 0)
        self.assertRegex(out + err, r"%s:3:11: http.listen: cannot listen on HTTP address "
                         r"127.0.0.1:\d+ \(http.listen\): Address already in use" % re.escape(cfg))

    def test_unresolvable_node_is_a_warning_and_sidecache_starts(self):
        workdir = tempfile.mkdtemp(prefix="sidecache-cli-redis-")
        self.addCleanup(shutil.rmtree, workdir, True)
        redis = harness.RedisServer(workdir)
        self.addCleanup(redis.stop)
        port = harness.free_port()
        cfg = self.write("listen: 127.0.0.1:%d\npool:\n  nodes:\n"
                         "    - {name: a, address: 127.0.0.1:%d}\n"
                         "    - {name: b, address: no-such-node.invalid:7003}\n"
                         % (port, redis.port))
        warning = (r"%s:5:26: pool.nodes\[1\].address: host 'no-such-node.invalid' does not "
                   r"resolve \(.+\); starting anyway" % re.escape(cfg))
        code, out, err = self.run_bin("--check-config", cfg)
        self.assertEqual(code, 0, err)
        self.assertIn("valid", out)
        self.assertRegex(err, "warning: " + warning)
        proc = harness.Process([harness.BIN, "-c", cfg], cfg + ".log")
        try:
            harness.wait_until(lambda: harness.ping(port) or not proc.alive(), timeout=15,
                               what="sidecache with an unresolvable node")
            self.assertTrue(proc.alive(), proc.output())
            self.assertRegex(proc.output(), warning)
        finally:
            proc.stop()
            os.unlink(cfg + ".log")

    def test_second_sidecache_on_the_same_port_exits(self):
        cluster = harness.Cluster(1, workers=2)
        try:
            port = cluster.sidecache.port
            cfg = self.write("listen: 127.0.0.1:%d\nworkers: 2\npool:\n  nodes:\n"
                             "    - {name: a, address: 127.0.0.1:%d}\n"
                             % (port, cluster.redis[0].port))
            code, out, err = self.run_bin("-c", cfg)
            self.assertNotEqual(code, 0)
            self.assertIn("Address already in use", out + err)
            for _ in range(20):  # the first one still gets every connection
                self.assertTrue(harness.ping(port))
        finally:
            cluster.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
