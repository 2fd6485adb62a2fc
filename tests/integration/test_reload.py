#!/usr/bin/env python3
"""Live reload end to end, real redis-server nodes:

(a) a redis-py client loops while a 4th node is added by rewriting the file (atomic rename, seen
    by the file watch) and a node is removed by SIGHUP: no error, the same client session
    throughout (CLIENT ID), a pipelining client sees every reply right, new keys land where
    route_probe says, the removed node's connections are closed.
(b) key movement: 4 -> 5 nodes moves <= 25% of 10,000 keys, all to the new node; sidecache
    places keys accordingly after the reload.
(c) a node moved to a new address under the same name keeps its keys (read from the new server).
(d) invalid YAML, a duplicate node name and an unknown key: the running config stays, the log
    names file:line:col (once per change), the proxy keeps working; a valid file then applies.
(e) Kubernetes ConfigMap style: the config is a symlink through `..data`, swapped atomically to
    a new directory: applied without SIGHUP.
(f) listen/workers/logging.format changes are reported as needing a restart; the old port serves.
(g) logging.level: debug applies on reload (and info again).
(h) 20 reloads: one client session throughout, no backend connection left behind.
(i) a node down at reload stays down (fail fast) in the new config and is readmitted later.
"""
import os
import random
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WATCH = "process: {watch_interval: 100ms}\n"
NO_WATCH = "process: {watch_config: false}\n"
APPLIED_FILE = r"reload \(config file changed\): applied configuration"
APPLIED_HUP = r"reload \(SIGHUP\): applied configuration"


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def log_count(sc, pattern):
    return len(re.findall(pattern, sc.process.output()))


def wait_log(sc, pattern, count=1, timeout=10.0, busy=None):
    """Waits until `pattern` appears `count` times in the log, running `busy()` meanwhile."""
    deadline = time.monotonic() + timeout
    while log_count(sc, pattern) < count:
        if time.monotonic() > deadline:
            raise AssertionError("no %r in the log after %.0fs:\n%s" % (pattern, timeout,
                                                                       sc.process.tail()))
        if busy:
            busy()
        else:
            time.sleep(0.02)  # the poll interval of this bounded wait


_node_clients = {}


def node_client(server):
    """One client per node, kept: a TLS handshake per lookup made the placement checks slow."""
    c = _node_clients.get(server.port)
    if c is None:
        c = _node_clients[server.port] = server.client()
    return c


def close_node_clients():
    """Before counting a node's connections: ours are closed."""
    for c in _node_clients.values():
        c.close()
    _node_clients.clear()


def holder(servers, key):
    """Name of the one server (of a name -> RedisServer dict) holding `key`."""
    found = [name for name, r in servers.items() if node_client(r).exists(key)]
    if len(found) != 1:
        raise AssertionError("key %r held by %r" % (key, found))
    return found[0]


def ring(nodes):
    return [(name, w) for name, _, w in nodes]


class Reload(unittest.TestCase):
    def make(self, n=3, top_extra=WATCH, **kw):
        c = harness.Cluster(n, top_extra=top_extra, **kw)
        self.addCleanup(c.close)
        self.servers = {name: c.redis[i] for i, (name, _, _) in enumerate(c.nodes)}
        return c

    def rewrite(self, c, nodes, top_extra, pool_extra=""):
        write_atomic(c.sidecache.config_path, harness.config_yaml(
            c.sidecache.port, nodes, pool_extra=pool_extra, top_extra=top_extra))

    def add_node(self, c, name):
        r = harness.RedisServer(c.tmp)
        c.redis.append(r)  # stopped by c.close()
        self.servers[name] = r
        return (name, r.port, 1)

    def check_placement(self, sc_client, nodes, prefix, n=200):
        rnd = random.Random(prefix)  # seeded; fnv1a_64 clusters sequential keys
        keys = ["%s:%d" % (prefix, rnd.getrandbits(40)) for _ in range(n)]
        for k in keys:
            self.assertTrue(sc_client.set(k, "p:" + k))
        want = harness.route_probe(keys, ring(nodes))
        self.assertEqual(set(want), {name for name, _, _ in nodes}, "a node got no key")
        live = {name: self.servers[name] for name, _, _ in nodes}
        for k, name in zip(keys, want):
            self.assertEqual(holder(self.servers, k), name, k)
            self.assertEqual(node_client(live[name]).get(k), ("p:" + k).encode())

    def test_a_add_and_remove_with_a_live_client(self):
        c = self.make()
        sc = c.sidecache
        client = c.client(single_connection_client=True)
        self.addCleanup(client.close)
        cid = client.client_id()
        nodes3 = list(c.nodes)
        nodes4 = nodes3 + [self.add_node(c, "node3")]
        final = [n for n in nodes4 if n[0] != "node1"]
        # Keys on node0 or node2 in every ring: a pipelining client reads them throughout.
        cand = ["st:%d" % i for i in range(600)]
        rings = [harness.route_probe(cand, ring(x)) for x in (nodes3, nodes4, final)]
        stable = [k for k, a, b, d in zip(cand, *rings) if a == b == d and a != "node1"][:100]
        self.assertGreater(len(stable), 50)
        for k in stable:
            self.assertTrue(client.set(k, "s:" + k))
        stop, errors, batches = threading.Event(), [], [0]

        def pipeliner():
            conn = sc.raw(timeout=10)
            try:
                while not stop.is_set():
                    conn.send_raw(b"".join(conn.encode("GET", k) for k in stable))
                    got = [conn.read_reply() for _ in stable]
                    bad = [(k, g) for k, g in zip(stable, got) if g != ("s:" + k).encode()]
                    if bad:
                        errors.append(bad[:3])
                        return
                    batches[0] += 1
            except Exception as e:
                errors.append(e)
            finally:
                conn.close()

        t = threading.Thread(target=pipeliner, daemon=True)
        t.start()
        self.addCleanup(stop.set)
        counter = [0]

        def busy():
            i = counter[0]
            counter[0] += 1
            k = "loop:%d" % (i % 50)
            self.assertTrue(client.set(k, str(i)))
            self.assertEqual(client.get(k), str(i).encode())

        # Add node3: a new file renamed over the old one, seen by the watch.
        self.rewrite(c, nodes4, top_extra=NO_WATCH)
        wait_log(sc, APPLIED_FILE, busy=busy)
        self.assertEqual(client.client_id(), cid, "the client was reconnected")
        self.check_placement(client, nodes4, "four")
        b1 = batches[0]

        # Remove node1 by SIGHUP (the watch is now off: only the signal reloads).
        self.rewrite(c, final, top_extra=NO_WATCH)
        sc.process.signal(signal.SIGHUP)
        wait_log(sc, APPLIED_HUP, busy=busy)
        self.assertEqual(log_count(sc, APPLIED_FILE), 1)
        for _ in range(20):
            busy()
        self.assertEqual(client.client_id(), cid, "the client was reconnected")
        self.check_placement(client, final, "final")
        harness.wait_until(lambda: batches[0] > b1 + 2, timeout=10, what="pipelined batches")
        stop.set()
        t.join(10)
        self.assertEqual(errors, [])
        self.assertGreater(b1, 0)
        # The removed node's connections (data and health probes) are closed.
        close_node_clients()
        n1 = self.servers["node1"].client()
        harness.wait_until(lambda: len(n1.client_list()) == 1, timeout=5,
                           what="sidecache's connections to node1 closed")
        sc.check()

    def test_b_key_movement_4_to_5(self):
        rnd = random.Random(10000)
        keys = ["km:%d" % rnd.getrandbits(48) for _ in range(10000)]
        four = [("node%d" % i, 1) for i in range(4)]
        before = harness.route_probe(keys, four)
        after = harness.route_probe(keys, four + [("node4", 1)])
        moved = [(a, b) for a, b in zip(before, after) if a != b]
        self.assertLessEqual(len(moved), 2500, "%d of 10000 keys moved" % len(moved))
        self.assertGreaterEqual(len(moved), 1000, "%d of 10000 keys moved" % len(moved))
        self.assertEqual({b for _, b in moved}, {"node4"})

        c = self.make(4, top_extra=NO_WATCH)
        client = c.client()
        sample = keys[:200]
        for k in sample:
            self.assertTrue(client.set(k, "old"))
        nodes5 = list(c.nodes) + [self.add_node(c, "node4")]
        self.rewrite(c, nodes5, top_extra=NO_WATCH)
        c.sidecache.process.signal(signal.SIGHUP)
        wait_log(c.sidecache, APPLIED_HUP)
        where = dict(zip(keys, after))
        for k in sample:  # moved keys now read from the (empty) new node
            self.assertEqual(client.get(k), None if where[k] == "node4" else b"old", k)
            self.assertTrue(client.set(k, "new"))
            self.assertEqual(node_client(self.servers[where[k]]).get(k), b"new", k)
        self.assertGreater(sum(where[k] == "node4" for k in sample), 10)
        c.sidecache.check()

    def test_c_node_moves_to_a_new_address(self):
        c = self.make(top_extra=NO_WATCH)
        client = c.client()
        rnd = random.Random(7)
        keys = ["mv:%d" % rnd.randrange(10 ** 9) for _ in range(100)]
        for k in keys:
            self.assertTrue(client.set(k, "v:" + k))
        old = c.redis[1]
        new = harness.RedisServer(c.tmp)
        c.redis.append(new)
        src, dst = old.client(), new.client()
        on1 = [k.decode() for k in src.keys("*")]
        self.assertGreater(len(on1), 10)
        for k in on1:  # a copy of the data, marked so reads show where they came from
            dst.set(k, "moved:" + k)
        nodes = [c.nodes[0], ("node1", new.port, 1), c.nodes[2]]
        self.rewrite(c, nodes, top_extra=NO_WATCH)
        c.sidecache.process.signal(signal.SIGHUP)
        wait_log(c.sidecache, APPLIED_HUP)
        old.kill9()
        for k in keys:
            want = ("moved:" if k in on1 else "v:") + k
            self.assertEqual(client.get(k), want.encode(), k)
        for k in on1:
            self.assertTrue(client.set(k, "w"))
            self.assertEqual(dst.get(k), b"w")
        self.assertEqual(log_count(c.sidecache, r"node node1 is down"), 0)
        c.sidecache.check()

    def test_d_invalid_files_keep_the_running_config(self):
        c = self.make()
        sc = c.sidecache
        client = c.client(single_connection_client=True)
        path = sc.config_path
        good = harness.config_yaml(sc.port, c.nodes, top_extra=WATCH)
        failed_text = "reload (config file changed) failed, keeping the running configuration: "
        failed = re.escape(failed_text)
        dup = list(c.nodes) + [("node0", harness.free_port(), 1)]
        dup_text = harness.config_yaml(sc.port, dup, top_extra=WATCH)
        dup_lines = dup_text.splitlines()
        dup_line = max(i for i, line in enumerate(dup_lines) if "name: node0" in line)
        unknown_text = good.replace("pool:\n", "pool:\n  hahs: fnv1a_64\n")
        unknown_line = unknown_text.splitlines().index("  hahs: fnv1a_64")
        cases = [
            ("syntax", good.replace("\n  nodes:\n", "\n  nodes: [\n"),
             r"\d+:\d+: .*YAML syntax error"),
            ("duplicate name", dup_text, r"%d:%d: pool\.nodes\[3\]\.name: duplicate node name "
             r"'node0' \(also pool\.nodes\[0\]\)" % (dup_line + 1,
                                                      dup_lines[dup_line].index("node0") + 1)),
            ("unknown key", unknown_text,
             r"%d:3: unknown key 'pool\.hahs' \(did you mean 'hash'\?\)" % (unknown_line + 1)),
        ]
        for n, (what, text, message) in enumerate(cases, 1):
            write_atomic(path, text)
            line = re.escape(failed_text + path + ":") + message
            harness.wait_until(lambda: log_count(sc, failed) >= n, timeout=5, what=what)
            self.assertEqual(log_count(sc, failed), n, sc.process.tail())
            self.assertEqual(log_count(sc, line), 1, "%s: want %r in\n%s" % (what, line,
                                                                            sc.process.tail(5)))
            # Time passing is the point: over three watch intervals the same bad file is
            # reported once, not once per check (there is nothing to wait for).
            time.sleep(0.35)
            self.assertEqual(log_count(sc, failed), n, what)
            self.assertEqual(log_count(sc, r"applied configuration"), 0)
            for k in ("inv:%s:%d" % (what, i * 7919) for i in range(30)):  # the old ring
                self.assertTrue(client.set(k, "x"))
                self.assertEqual(client.get(k), b"x")
                self.assertEqual(c.node_of(k), c.probe([k])[0])
        # A valid file now applies (a new weight), the same client session throughout.
        cid = client.client_id()
        weighted = [c.nodes[0], c.nodes[1], (c.nodes[2][0], c.nodes[2][1], 3)]
        write_atomic(path, harness.config_yaml(sc.port, weighted, top_extra=WATCH))
        wait_log(sc, APPLIED_FILE)
        c.nodes = weighted
        self.check_placement(client, weighted, "weighted", n=100)
        self.assertEqual(client.client_id(), cid)
        client.close()
        sc.check()

    def test_e_kubernetes_configmap_symlink_swap(self):
        k8s = tempfile.mkdtemp(prefix="sidecache-k8s-")
        self.addCleanup(shutil.rmtree, k8s, True)
        os.mkdir(os.path.join(k8s, "..v1"))
        os.symlink("..v1", os.path.join(k8s, "..data"))
        path = os.path.join(k8s, "sidecache.yaml")
        os.symlink("..data/sidecache.yaml", path)
        c = self.make(top_extra=WATCH, config_path=path)
        client = c.client(single_connection_client=True)
        self.addCleanup(client.close)
        cid = client.client_id()
        nodes4 = list(c.nodes) + [self.add_node(c, "node3")]
        os.mkdir(os.path.join(k8s, "..v2"))
        with open(os.path.join(k8s, "..v2", "sidecache.yaml"), "w") as f:
            f.write(harness.config_yaml(c.sidecache.port, nodes4, top_extra=WATCH))
        tmp_link = os.path.join(k8s, "..data_tmp")
        os.symlink("..v2", tmp_link)
        os.replace(tmp_link, os.path.join(k8s, "..data"))
        shutil.rmtree(os.path.join(k8s, "..v1"))  # as the kubelet does
        wait_log(c.sidecache, APPLIED_FILE)
        self.assertEqual(log_count(c.sidecache, r"reload .* failed"), 0)
        self.check_placement(client, nodes4, "k8s")
        self.assertEqual(client.client_id(), cid)
        c.sidecache.check()

    def test_f_listen_needs_a_restart(self):
        c = self.make(top_extra=NO_WATCH)
        sc = c.sidecache
        conn = sc.raw()
        self.addCleanup(conn.close)
        other = harness.free_port()
        text = harness.config_yaml(other, c.nodes, workers=2,
                                   top_extra=NO_WATCH + "logging: {format: json}\n",
                                   pool_extra="  request_timeout: 1500ms\n")
        write_atomic(sc.config_path, text)
        sc.process.signal(signal.SIGHUP)
        wait_log(sc, APPLIED_HUP)
        out = sc.process.output()
        self.assertIn("reload: listen changed to 127.0.0.1:%d: needs a restart; still listening "
                      "on 127.0.0.1:%d" % (other, sc.port), out)
        self.assertIn("reload: workers changed to 2: needs a restart; keeping 1", out)
        self.assertIn("reload: logging.format changed: needs a restart", out)
        self.assertEqual(out.splitlines()[-1][:1], "2", "log lines stay text")
        self.assertEqual(conn.command("SET", "lis", "1"), "OK")
        fresh = sc.raw()
        self.assertEqual(fresh.command("GET", "lis"), b"1")
        fresh.close()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", other), timeout=1).close()
        sc.check()

    def test_g_log_level_applies(self):
        c = self.make(top_extra=NO_WATCH)
        sc = c.sidecache
        debug_line = r"client \d+: protocol error"

        def protocol_error():
            conn = sc.raw()
            conn.send_raw(b"*1\r\n$x\r\n")
            self.assertIn("Protocol error", conn.read_reply())
            conn.close()

        protocol_error()
        self.assertEqual(log_count(sc, debug_line), 0)
        self.rewrite(c, c.nodes, NO_WATCH + "logging: {level: debug}\n")
        sc.process.signal(signal.SIGHUP)
        wait_log(sc, APPLIED_HUP)
        protocol_error()
        wait_log(sc, debug_line, timeout=5)
        # Back to info: debug lines stop (the error reply is read after its line is logged).
        self.rewrite(c, c.nodes, NO_WATCH + "logging: {level: info}\n")
        sc.process.signal(signal.SIGHUP)
        wait_log(sc, APPLIED_HUP, count=2)
        protocol_error()
        self.assertEqual(log_count(sc, debug_line), 1)
        sc.check()

    def test_h_many_reloads_leak_no_connections(self):
        c = self.make(top_extra=NO_WATCH)
        sc = c.sidecache
        client = c.client(single_connection_client=True)
        self.addCleanup(client.close)
        cid = client.client_id()
        for n in range(20):
            self.rewrite(c, c.nodes, NO_WATCH, "  request_timeout: %dms\n" % (1000 + n))
            sc.process.signal(signal.SIGHUP)
            k = "many:%d" % n
            self.assertTrue(client.set(k, k))
            wait_log(sc, APPLIED_HUP, count=n + 1, busy=lambda: self.assertTrue(client.set(k, k)))
            self.assertEqual(client.get(k), k.encode())
        self.assertEqual(client.client_id(), cid)
        # Per node: one data connection (1 worker) and one health probe, besides ours. The
        # probe is reopened after a reload, so the count settles at 3; a leak stays above.
        for r in c.redis:
            direct = r.client()
            harness.wait_until(lambda: len(direct.client_list()) == 3, timeout=10,
                               what="old pools' connections closed, probe connected")
        sc.check()

    def test_i_reload_keeps_a_down_node_down(self):
        health = "  health: {interval: 200ms, timeout: 200ms, max_interval: 1s}\n"
        c = self.make(top_extra=NO_WATCH, pool_extra=health)
        sc = c.sidecache
        conn = sc.raw()
        self.addCleanup(conn.close)
        c.redis[1].kill9()
        wait_log(sc, r"node node1 is down after")
        nodes4 = list(c.nodes) + [self.add_node(c, "node3")]
        self.rewrite(c, nodes4, NO_WATCH, health)
        sc.process.signal(signal.SIGHUP)
        wait_log(sc, APPLIED_HUP)
        rnd = random.Random(4)
        keys = ["dn:%d" % rnd.getrandbits(40) for _ in range(200)]
        after = harness.route_probe(keys, ring(nodes4))
        self.assertEqual(set(after), {"node0", "node1", "node2", "node3"})
        for k, name in zip(keys, after):
            reply = conn.command("SET", k, "x")
            if name == "node1":  # still down in the new configuration
                self.assertEqual(reply, "ERR node node1 is down", k)
            else:
                self.assertEqual(reply, "OK", k)
        c.redis[1].start()
        k1 = keys[after.index("node1")]
        harness.wait_until(lambda: conn.command("SET", k1, "y") == "OK", timeout=8,
                           what="node1 readmitted after the reload")
        self.assertEqual(self.servers["node1"].client().get(k1), b"y")
        self.assertEqual(log_count(sc, r"node node1 is down after"), 1)
        sc.check()

if __name__ == "__main__":
    unittest.main(verbosity=2)
