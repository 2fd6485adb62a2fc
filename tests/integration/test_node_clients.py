#!/usr/bin/env python3
"""Real Node.js clients against sidecache over 3 nodes: node-redis 6 (npm "redis") and ioredis 6,
each in RESP3 (their default: HELLO 3 on connect) and RESP2. The checks are the scripts in
node/ (connect handshake, pipeline, MULTI/EXEC/WATCH, a blocking pop woken by another client,
Pub/Sub across channels on different nodes, data-type round trips); each prints "ok <step>".

The packages come from node/package-lock.json, installed with `npm ci` into
$SIDECACHE_BUILD_DIR/node-clients (reused while the lockfile is unchanged). The same checks also
run against one plain redis-server, which shows the checks themselves are right.
"""
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")
NPM_TIMEOUT_S = 150
CHECK_TIMEOUT_S = 60

# Steps every check must report as "ok" (the cross-node transaction only through the proxy).
COMMON_STEPS = ["connect", "handshake", "strings", "split_keys", "hash", "list_set_zset", "stream",
                "pipeline", "multi_exec", "multi_watch", "blocking_pop", "pubsub"]
PROXY_STEPS = COMMON_STEPS + ["multi_cross_node"]


def install_dir():
    build = harness.BUILD_DIR or tempfile.gettempdir()
    return os.path.join(build, "node-clients")


def ensure_node_modules():
    """`npm ci` from the lockfile into the build tree, unless already done for this lockfile.
    Returns the node_modules path; raises with a clear message when node/npm are missing or the
    registry cannot be reached."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError("%s not found: run `bash scripts/deps.sh test` (Debian nodejs npm)"
                               % tool)
    target = install_dir()
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(NODE_DIR, "package-lock.json"), "rb") as f:
        lock = f.read()
    node_version = subprocess.run(["node", "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
    stamp = hashlib.sha256(lock + node_version.encode()).hexdigest()
    stamp_path = os.path.join(target, ".installed")
    modules = os.path.join(target, "node_modules")
    with open(os.path.join(target, ".lock"), "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # two test runs sharing a build tree
        try:
            with open(stamp_path) as f:
                if f.read().strip() == stamp and os.path.isdir(modules):
                    return modules
        except FileNotFoundError:
            pass
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(os.path.join(NODE_DIR, name), os.path.join(target, name))
        args = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts",
                "--fetch-timeout=30000", "--fetch-retries=1"]
        try:
            out = subprocess.run(args, cwd=target, capture_output=True, text=True,
                                 timeout=NPM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError("`npm ci` in %s took more than %d s: is the npm registry "
                               "reachable?" % (target, NPM_TIMEOUT_S))
        if out.returncode != 0:
            text = out.stdout + out.stderr
            hint = ""
            if any(w in text for w in ("ENOTFOUND", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN",
                                       "network", "FETCH_ERROR")):
                hint = " (cannot reach the npm registry %s)" % subprocess.run(
                    ["npm", "config", "get", "registry"], capture_output=True, text=True,
                    timeout=30).stdout.strip()
            raise RuntimeError("`npm ci` failed%s:\n%s" % (hint, text[-3000:]))
        with open(stamp_path, "w") as f:
            f.write(stamp + "\n")
    return modules


class NodeClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.modules = ensure_node_modules()
        cls.cluster = harness.Cluster(3)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def tearDown(self):
        self.cluster.sidecache.check()

    def run_check(self, script, port, protocol, prefix, proxy):
        # One channel and one key per node: Pub/Sub and MSET/MGET span every node.
        per_node = harness.keys_on_nodes(self.cluster, 2, prefix=prefix)
        cfg = {"port": port, "protocol": protocol, "prefix": prefix, "proxy": proxy,
               "channels": [keys[0] for keys in per_node],
               "split_keys": [keys[1] for keys in per_node],
               "timeout_ms": (CHECK_TIMEOUT_S - 5) * 1000}
        env = dict(os.environ, NODE_PATH=self.modules)
        try:
            out = subprocess.run(["node", os.path.join(NODE_DIR, script), json.dumps(cfg)],
                                 capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, env=env)
        except subprocess.TimeoutExpired as e:
            self.fail("%s did not finish in %d s:\n%s" % (script, CHECK_TIMEOUT_S, e.stdout))
        return out.returncode, out.stdout, out.stderr

    def check_client(self, script, protocol):
        prefix = "%s%d" % (script.split("_")[0], protocol)
        code, out, err = self.run_check(script, self.cluster.sidecache.port, protocol, prefix,
                                        True)
        passed = [line[3:] for line in out.splitlines() if line.startswith("ok ")]
        self.assertEqual((code, sorted(passed)), (0, sorted(PROXY_STEPS)),
                         "%s RESP%d through sidecache:\n%s\n%s" % (script, protocol, out, err))
        # The data really went through to the node the ring gives each key.
        key = prefix + ":s"
        self.assertEqual(self.cluster.node_of(key), self.cluster.probe([key])[0])
        self.assertEqual(self.cluster.direct(self.cluster.node_of(key)).get(key), b"hello world")

    def test_node_redis_resp3(self):
        self.check_client("node_redis_check.js", 3)

    def test_node_redis_resp2(self):
        self.check_client("node_redis_check.js", 2)

    def test_ioredis_resp3(self):
        self.check_client("ioredis_check.js", 3)

    def test_ioredis_resp2(self):
        self.check_client("ioredis_check.js", 2)

    def test_checks_pass_against_redis_itself(self):
        # The baseline: the same checks straight against one redis-server must pass, so a
        # failure through sidecache is sidecache's.
        server = harness.RedisServer(self.cluster.tmp, secure=False)
        try:
            for script in ("node_redis_check.js", "ioredis_check.js"):
                for protocol in (3, 2):
                    prefix = "direct-%s%d" % (script.split("_")[0], protocol)
                    code, out, err = self.run_check(script, server.port, protocol, prefix, False)
                    passed = [line[3:] for line in out.splitlines() if line.startswith("ok ")]
                    self.assertEqual((code, sorted(passed)), (0, sorted(COMMON_STEPS)),
                                     "%s RESP%d against redis-server:\n%s\n%s"
                                     % (script, protocol, out, err))
        finally:
            server.stop()

    def test_check_fails_without_server(self):
        # The checks can fail: nothing listening is a connect failure (exit code 2).
        for script in ("node_redis_check.js", "ioredis_check.js"):
            code, out, err = self.run_check(script, harness.free_port(), 3, "none", True)
            self.assertEqual(code, 2, out + err)
            self.assertIn("FAIL connect", err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
