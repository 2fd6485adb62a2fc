#!/usr/bin/env python3
"""Real clients against sidecache over 3 nodes: redis-cli (single commands, --pipe mass
insertion, commands on stdin), redis-benchmark, and a hiredis program (tools/hiredis_client.cpp,
its path in HIREDIS_CLIENT). Every subprocess runs under a timeout.
"""
import os
import random
import re
import socket
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TIMEOUT_S = 60


class Clients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = harness.Cluster(3)
        cls.port = str(cls.cluster.sidecache.port)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def run_tool(self, args, stdin=None):
        out = subprocess.run(args, input=stdin, capture_output=True, timeout=TIMEOUT_S)
        return out.returncode, out.stdout.decode(errors="replace"), \
            out.stderr.decode(errors="replace")

    def cli(self, *args, stdin=None):
        return self.run_tool(["redis-cli", "-h", "127.0.0.1", "-p", self.port] + list(args),
                             stdin=stdin)

    def test_redis_cli_single_commands(self):
        self.assertEqual(self.cli("PING")[1], "PONG\n")
        self.assertEqual(self.cli("SET", "cli:key", "hello world")[1], "OK\n")
        self.assertEqual(self.cli("GET", "cli:key")[1], "hello world\n")
        self.assertEqual(self.cli("INCRBY", "cli:ctr", "7")[1], "7\n")
        self.assertEqual(self.cli("MGET", "cli:key", "cli:none", "cli:ctr")[1],
                         "hello world\n\n7\n")
        code, out, _ = self.cli("KEYS", "*")
        self.assertIn("'keys' is not allowed through sidecache", out)
        self.assertIn("commands.allow_keys", out)  # off by default; the error names the switch
        self.assertEqual(self.cli("--no-raw", "GET", "cli:none")[1], "(nil)\n")
        code, out, _ = self.cli("INFO", "server")
        self.assertEqual(code, 0)
        self.assertIn("redis_version:", out)
        node = self.cluster.node_of("cli:key")
        self.assertEqual(self.cluster.direct(node).get("cli:key"), b"hello world")

    def test_redis_cli_pipe_mass_insertion(self):
        n = 10000
        payload = b"".join(harness.RespConnection.encode("SET", "mass:%d" % i, "value-%d" % i)
                           for i in range(n))
        code, out, err = self.cli("--pipe", stdin=payload)
        self.assertEqual(code, 0, out + err)
        self.assertIn("All data transferred", out + err)
        m = re.search(r"errors: (\d+), replies: (\d+)", out + err)
        self.assertIsNotNone(m, out + err)
        self.assertEqual((int(m.group(1)), int(m.group(2))), (0, n))
        client = self.cluster.client()
        rng = random.Random(5)
        sample = rng.sample(range(n), 200)
        self.assertEqual(client.mget(["mass:%d" % i for i in sample]),
                         [b"value-%d" % i for i in sample])
        self.assertEqual(sum(len(self.cluster.direct(i).keys("mass:*")) for i in range(3)), n)
        client.close()

    def test_redis_cli_commands_on_stdin(self):
        script = b"SET stdin:a 1\nINCR stdin:a\nGET stdin:a\nHSET stdin:h f v\nHGET stdin:h f\n" \
                 b"DEL stdin:a stdin:h\nEXISTS stdin:a\nECHO done\n"
        code, out, err = self.cli(stdin=script)
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines(), ["OK", "2", "2", "1", "v", "2", "0", "done"])

    def test_redis_benchmark(self):
        code, out, err = self.run_tool(["redis-benchmark", "-h", "127.0.0.1", "-p", self.port,
                                        "-t", "set,get", "-n", "2000", "-r", "1000", "-c", "8",
                                        "-q"])
        self.assertEqual(code, 0, out + err)
        lines = [l.strip() for l in out.replace("\r", "\n").splitlines() if l.strip()]
        finals = [l for l in lines if "requests per second" in l]
        self.assertEqual([l.split(":")[0] for l in finals], ["SET", "GET"], out)
        self.assertNotIn("ERR", out + err)
        self.assertNotIn("rror", err)
        held = sum(len(self.cluster.direct(i).keys("key:*")) for i in range(3))
        self.assertGreater(held, 500)  # -r 1000: about 860 distinct keys

    def test_hiredis_client(self):
        binary = os.environ.get("HIREDIS_CLIENT")
        if not binary:
            binary = harness.find_tool("hiredis_client")
        for prefix in ("hc1", "hc2"):  # twice: the second run starts from the first one's data
            code, out, err = self.run_tool([binary, "127.0.0.1", self.port, prefix])
            self.assertEqual(code, 0, out + err)
            self.assertIn("all checks passed", out)
        self.assertEqual(self.cluster.client().get("hc1:pipectr"), b"333")

    def test_hiredis_client_fails_on_wrong_replies(self):
        # The checker must be able to fail: a fake server answering +OK to everything.
        binary = os.environ.get("HIREDIS_CLIENT") or harness.find_tool("hiredis_client")
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(TIMEOUT_S)

        def serve():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.settimeout(TIMEOUT_S)
            buf = b""
            try:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                    lines = buf.split(b"\r\n")
                    buf = lines.pop()
                    conn.sendall(b"+OK\r\n" * sum(1 for l in lines if l.startswith(b"*")))
            except OSError:
                pass
            finally:
                conn.close()

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        try:
            code, _, err = self.run_tool([binary, "127.0.0.1", str(listener.getsockname()[1])])
        finally:
            listener.close()
            server.join(TIMEOUT_S)
        self.assertEqual(code, 1, err)
        self.assertIn("FAIL: GET: want string 'alpha', got status 'OK'", err)
        code, _, err = self.run_tool([binary, "127.0.0.1", str(harness.free_port())])
        self.assertEqual(code, 2, err)  # nothing listening: a connection error


if __name__ == "__main__":
    unittest.main(verbosity=2)
