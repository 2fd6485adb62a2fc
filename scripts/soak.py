#!/usr/bin/python3
"""Soak and fault run for sidecache (docs/soak.md): minutes of mixed load while nodes are killed,
stalled and restarted, PostgreSQL is stopped and started under read-through and write-behind,
and the configuration is reloaded; then checks that nothing that should hold did not.

Topology (all on 127.0.0.1, free ports, stopped by PID): PostgreSQL; three redis-servers with
appendonly (fsync always, so an acknowledged write-behind entry survives kill -9): node0 is never
faulted, node1 is killed with -9 and restarted, node2 sits behind tests/tools/fault_proxy.py and
is stalled (a hung node) and resumed; one sidecache with 2 workers, read-through on item:*,
write-behind on kv:*.

Load (threads): healthy keys (plain h:* and write-behind kv:* keys on node0) written and read
back by one writer per key; plain and write-behind keys on the faulted nodes; read-through GETs
(the row's value or an error); slow readers pipelining GETs of a 16 KB value and reading
slowly; connection churn (connect, PING, close; half of them close with replies unread);
/metrics and probes scraped every second.

Fault cycle (30 s, repeated): kill -9 node1, restart it; stall node2, resume; stop PostgreSQL
for 6 s, start it; reload the configuration (pool.request_timeout changed).

Checks: no error and no wrong value on healthy keys; no acknowledged write lost (every key's
last acknowledged value read back through sidecache, and in PostgreSQL for write-behind keys
once the queues drained); read-through values always the row's; resident memory after the run
within max(20 MB, 25 %) of its value after the first cycle; open fds back to their baseline
within 10 s of the load ending. Exit 0 when every check passed; prints the figures either way.

    scripts/soak.sh [--duration SECONDS] [--build-dir build/release]
"""
import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CYCLE_S = 30.0
KEYS_PER_NODE = 40
ITEMS = 200
RSS_SLACK_BYTES = 20 * 1024 * 1024
RSS_SLACK_RATIO = 0.25
FD_SLACK = 4

POLICIES = """    - {match: "item:*", table: items, key_column: id, value_column: v, ttl: 10m}
    - {match: "kv:*", table: kv, key_column: id, value_column: v, write: behind}
"""


def args_and_env():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (>= 30)")
    parser.add_argument("--build-dir", default=os.path.join(SOURCE, "build", "release"))
    args = parser.parse_args()
    args.duration = max(args.duration, CYCLE_S)
    build = os.path.abspath(args.build_dir)
    os.environ.setdefault("SIDECACHE_BIN", os.path.join(build, "src", "app", "sidecache"))
    os.environ.setdefault("SIDECACHE_BUILD_DIR", build)
    os.environ.setdefault("SIDECACHE_SOURCE_DIR", SOURCE)
    if not os.path.isfile(os.environ["SIDECACHE_BIN"]):
        sys.exit("soak: no sidecache binary at %s (build it, or pass --build-dir)" %
                 os.environ["SIDECACHE_BIN"])
    return args


ARGS = args_and_env()
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))
import harness  # noqa: E402
import redis  # noqa: E402


class Tally:
    """Counters and findings shared by the load threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.problems = []  # what must never happen: (what, detail)

    def count(self, name, n=1):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n

    def problem(self, what, detail):
        with self.lock:
            self.count(what)
            if len(self.problems) < 50:
                self.problems.append((what, detail))


class Soak:
    def __init__(self, tmp):
        self.tmp = tmp
        self.tally = Tally()
        self.stop_load = threading.Event()
        self.faulted = {1: False, 2: False}  # node index -> a fault is on
        self.db_down = False
        self.acked = {}  # key -> last value acknowledged by sidecache
        self.unsure = {}  # key -> values sent since, answered with an error (may have landed)
        self.pg = harness.Postgres()
        self.pg.psql("CREATE TABLE items (id text PRIMARY KEY, v text);"
                     "CREATE TABLE kv (id text PRIMARY KEY, v text);"
                     "INSERT INTO items SELECT i::text, 'row' || i FROM generate_series(0, %d) i;"
                     % (ITEMS - 1))
        durable = ["--appendonly", "yes", "--appendfsync", "always"]
        self.redis = [harness.RedisServer(tmp, extra=durable) for _ in range(3)]
        self.proxy = harness.FaultProxy(tmp, self.redis[2].port)
        self.nodes = [("node0", self.redis[0].port, 1), ("node1", self.redis[1].port, 1),
                      ("node2", self.proxy.port, 1)]
        self.http = harness.free_port()
        database = ('    type: postgres\n    conninfo: "%s"\n    pool_size: 2\n'
                    "    query_timeout: 2s\n    connect_timeout: 500ms" % self.pg.conninfo())
        self.top = harness.cache_yaml(
            self.http, database, POLICIES,
            "  write_behind: {batch_size: 200, flush_interval: 20ms, backoff_min: 50ms, "
            "backoff_max: 500ms}\n")
        self.pool = ("  request_timeout: %s\n  connect_timeout: 500ms\n"
                     "  health: {interval: 200ms, timeout: 300ms, max_interval: 1s}\n")
        self.sc = harness.Sidecache(tmp, self.nodes, workers=2, top_extra=self.top,
                                    pool_extra=self.pool % "1s")
        self.keys = self.keys_on_nodes()

    def keys_on_nodes(self):
        """{(prefix, node): [keys]} for h: and kv: keys, KEYS_PER_NODE on each node."""
        ring = [(name, w) for name, _, w in self.nodes]
        out = {}
        for prefix in ("h", "kv"):
            candidates = ["%s:%d" % (prefix, i) for i in range(KEYS_PER_NODE * 12)]
            for key, name in zip(candidates, harness.route_probe(candidates, ring)):
                node = int(name[len("node"):])
                bucket = out.setdefault((prefix, node), [])
                if len(bucket) < KEYS_PER_NODE:
                    bucket.append(key)
        return out

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.sc.port, socket_timeout=5,
                           socket_connect_timeout=5)

    @staticmethod
    def release(c):
        c.connection_pool.disconnect()

    # ---- load ------------------------------------------------------------------------------

    def writer(self, prefix, node):
        """One writer per key set: SET then GET each key; errors allowed only on faulted nodes
        (and, for kv:, never on node0: write-behind acknowledges without the database)."""
        c = self.client()
        try:
            self._write_loop(c, self.keys[(prefix, node)], node)
        finally:
            self.release(c)

    def _write_loop(self, c, keys, node):
        n = 0
        while not self.stop_load.is_set():
            key = keys[n % len(keys)]
            value = "%s-%d" % (key, n)
            n += 1
            faulted = self.faulted.get(node, False)
            self.unsure.setdefault(key, set()).add(value)
            try:
                c.set(key, value)
                self.acked[key] = value
                self.unsure[key] = set()
                got = c.get(key)
                if got is not None and got.decode() != value and not faulted:
                    self.tally.problem("wrong value", (key, value, got))
                self.tally.count("writes ok")
            except redis.RedisError as e:
                if node == 0:
                    self.tally.problem("error on a healthy key", (key, str(e)))
                else:
                    self.tally.count("errors on faulted nodes")
                    time.sleep(0.01)

    def reader(self):
        """Read-through GETs: the row's value, or an error (database or node down)."""
        c = self.client()
        try:
            self._read_loop(c)
        finally:
            self.release(c)

    def _read_loop(self, c):
        n = 0
        while not self.stop_load.is_set():
            i = n % ITEMS
            n += 1
            try:
                got = c.get("item:%d" % i)
                if got is not None and got.decode() != "row%d" % i:
                    self.tally.problem("wrong read-through value", (i, got))
                self.tally.count("read-through ok")
            except redis.RedisError:
                self.tally.count("read-through errors")
                time.sleep(0.01)

    def slow_reader(self):
        """Pipelines 200 GETs of a 16 KB value, reads the replies 4 KB every 5 ms."""
        request = b"".join(harness.RespConnection.encode("GET", "big:slow") for _ in range(200))
        while not self.stop_load.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.sc.port), timeout=5)
                s.sendall(request)
                received = 0
                while received < 200 * 16000 and not self.stop_load.is_set():
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    received += len(chunk)
                    time.sleep(0.005)
                s.close()
                self.tally.count("slow reader rounds")
            except OSError:
                self.tally.count("slow reader errors")
                time.sleep(0.1)

    def churn(self):
        n = 0
        while not self.stop_load.is_set():
            n += 1
            try:
                s = socket.create_connection(("127.0.0.1", self.sc.port), timeout=5)
                s.sendall(b"PING\r\n")
                if n % 2:
                    if s.recv(64) != b"+PONG\r\n":
                        self.tally.problem("bad PING reply", n)
                s.close()
                self.tally.count("churned connections")
            except OSError as e:
                self.tally.problem("connection churn failed", str(e))
                time.sleep(0.05)

    def scraper(self):
        while not self.stop_load.is_set():
            for path in ("/metrics", "/healthz"):
                try:
                    urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http, path),
                                           timeout=5).read()
                    self.tally.count("scrapes ok")
                except OSError as e:
                    self.tally.problem("scrape failed", "%s: %s" % (path, e))
            self.stop_load.wait(1.0)

    # ---- faults ----------------------------------------------------------------------------

    def at(self, start, offset):
        """Waits until `offset` seconds into the cycle that began at `start`."""
        self.stop_load.wait(max(0.0, start + offset - time.monotonic()))

    def fault_cycle(self, number):
        start = time.monotonic()
        self.at(start, 2)
        self.faulted[1] = True
        self.redis[1].kill9()
        self.at(start, 6)
        self.redis[1].start()
        self.at(start, 9)
        self.faulted[1] = False
        self.faulted[2] = True
        self.proxy.stall()
        self.at(start, 12)
        self.proxy.resume()
        self.at(start, 14)
        self.faulted[2] = False
        self.db_down = True
        self.pg.stop()
        self.at(start, 20)
        self.pg.start()
        self.db_down = False
        self.at(start, 23)
        timeout = "1500ms" if number % 2 == 0 else "1s"
        # Written aside and renamed over, so the watcher never reads half a file.
        with open(self.sc.config_path + ".new", "w") as f:
            f.write(harness.config_yaml(self.sc.port, self.nodes, 2, self.pool % timeout,
                                        self.top))
        os.replace(self.sc.config_path + ".new", self.sc.config_path)
        self.tally.count("reloads written")
        self.at(start, CYCLE_S)

    # ---- measurements ----------------------------------------------------------------------

    def rss(self):
        with open("/proc/%d/status" % self.sc.process.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def fds(self):
        return len(os.listdir("/proc/%d/fd" % self.sc.process.pid))

    def fd_table(self):
        """{fd: what it is}: a file's path, or a TCP socket's 'tcp local -> remote port'."""
        pid = self.sc.process.pid
        sockets = {}
        for table in ("tcp", "tcp6"):
            try:
                with open("/proc/%d/net/%s" % (pid, table)) as f:
                    for line in f.readlines()[1:]:
                        cols = line.split()
                        local, remote, inode = cols[1], cols[2], cols[9]
                        state = "listen" if cols[3] == "0A" else "->%d" % int(remote.split(":")[1], 16)
                        sockets[inode] = "tcp :%d %s" % (int(local.split(":")[1], 16), state)
            except OSError:
                pass
        out = {}
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if target.startswith("socket:["):
                target = sockets.get(target[8:-1], target)
            out[int(fd)] = target
        return out

    def port_names(self):
        """Port -> what listens there, to name the peers of sidecache's sockets."""
        names = {port: "redis %s" % name for name, port, _ in self.nodes}
        names[self.pg.port] = "postgres"
        return names

    def describe_fds(self, before, after):
        """What is open at the end beyond the baseline, by kind (sockets by their peer)."""
        names = self.port_names()

        def kinds(table):
            counts = {}
            for what in table.values():
                if "->" in what:
                    port = int(what.rsplit("->", 1)[1])
                    what = "connection to %s" % names.get(port, "port %d" % port)
                elif what.startswith("tcp "):
                    what = "listening socket"
                counts[what] = counts.get(what, 0) + 1
            return counts

        was, now = kinds(before), kinds(after)
        diff = {w: now.get(w, 0) - was.get(w, 0) for w in set(was) | set(now)}
        return ", ".join("%+d %s" % (n, w) for w, n in sorted(diff.items()) if n) or "none"

    def run(self, duration):
        c = self.client()
        c.set("big:slow", "x" * 16000)
        for i in range(ITEMS):  # warm the read-through cache
            c.get("item:%d" % i)
        self.release(c)
        time.sleep(0.5)
        self.fd_baseline_table = self.fd_table()
        fd_baseline = len(self.fd_baseline_table)
        rss_start = self.rss()
        threads = [threading.Thread(target=self.writer, args=(p, n))
                   for p in ("h", "kv") for n in range(3)]
        threads += [threading.Thread(target=self.reader) for _ in range(2)]
        threads += [threading.Thread(target=self.slow_reader) for _ in range(4)]
        threads += [threading.Thread(target=self.churn) for _ in range(2)]
        threads += [threading.Thread(target=self.scraper)]
        for t in threads:
            t.daemon = True
            t.start()
        began = time.monotonic()
        rss_after_first = None
        rss_peak = 0
        cycles = 0
        while time.monotonic() - began + CYCLE_S <= duration + 1:
            self.fault_cycle(cycles)
            cycles += 1
            rss = self.rss()
            rss_peak = max(rss_peak, rss)
            if rss_after_first is None:
                rss_after_first = rss
            print("soak: cycle %d done at %.0f s, rss %.1f MB, fds %d" %
                  (cycles, time.monotonic() - began, rss / 2**20, self.fds()), flush=True)
        self.stop_load.set()
        for t in threads:
            t.join(timeout=15)
        loaded_s = time.monotonic() - began
        return self.verify(fd_baseline, rss_start, rss_after_first, rss_peak, cycles, loaded_s)

    def verify(self, fd_baseline, rss_start, rss_after_first, rss_peak, cycles, loaded_s):
        failures = [("%s (%d)" % (what, self.tally.counts[what]), detail)
                    for what, detail in self.tally.problems]
        c = self.client()
        harness.wait_until(lambda: self._answers(c), timeout=20, what="every node serving")
        lost = []
        for key, value in sorted(self.acked.items()):
            got = c.get(key)
            if got is None or not self._acceptable(key, got.decode()):
                lost.append((key, value, got))
        harness.wait_until(
            lambda: harness.metric(self.http, "sidecache_write_behind_queue_depth") == 0,
            timeout=60, what="write-behind queues drained")
        rows = dict(self.pg.psql("SELECT id, v FROM kv"))
        for key, value in sorted(self.acked.items()):
            if key.startswith("kv:") and not self._acceptable(key, rows.get(key[3:])):
                lost.append((key, value, "database: %r" % rows.get(key[3:])))
        if lost:
            failures.append(("acknowledged writes lost (%d)" % len(lost), lost[:10]))
        self.release(c)
        fd_end = self.fds()
        deadline = time.monotonic() + 10
        while fd_end > fd_baseline + FD_SLACK and time.monotonic() < deadline:
            time.sleep(0.2)
            fd_end = self.fds()
        fd_end_table = self.fd_table()
        fd_end = len(fd_end_table)
        if fd_end > fd_baseline + FD_SLACK:
            failures.append(("fds not back to baseline", (fd_baseline, fd_end)))
        rss_end = self.rss()
        bound = max(RSS_SLACK_BYTES, rss_after_first * RSS_SLACK_RATIO)
        if rss_end > rss_after_first + bound:
            failures.append(("RSS grew", (rss_after_first, rss_end)))
        reloads = harness.metric(self.http, "sidecache_config_reloads_total", result="ok")
        if reloads < cycles:
            lines = [line for line in self.sc.process.output().splitlines() if "reload" in line]
            failures.append(("config reloads missing", (reloads, cycles, lines[-12:])))
        self.sc.check()
        counts = self.tally.counts
        print("soak: %.0f s of load, %d fault cycles, %d reloads applied" %
              (loaded_s, cycles, reloads))
        for name in sorted(counts):
            print("soak:   %-28s %d" % (name, counts[name]))
        print("soak:   acknowledged keys checked  %d" % len(self.acked))
        print("soak:   rss MB: start %.1f, after cycle 1 %.1f, peak %.1f, end %.1f" %
              (rss_start / 2**20, rss_after_first / 2**20, rss_peak / 2**20, rss_end / 2**20))
        print("soak:   open fds: baseline %d, end %d (new: %s)" %
              (fd_baseline, fd_end, self.describe_fds(self.fd_baseline_table, fd_end_table)))
        print("soak:   loadavg %s" % open("/proc/loadavg").read().strip())
        for what, detail in failures:
            print("soak: FAILED: %s: %s" % (what, detail))
        print("soak: %s" % ("PASSED" if not failures else "FAILED"))
        return not failures

    def _acceptable(self, key, found):
        """The last acknowledged value, or one sent after it whose reply was an error (a
        timed-out write may still have been applied)."""
        return found == self.acked[key] or found in self.unsure.get(key, ())

    def _answers(self, c):
        try:
            for node in range(3):
                c.get(self.keys[("h", node)][0])
            return True
        except redis.RedisError:
            return False

    def close(self):
        for stop in (self.sc.stop, self.proxy.stop, self.pg.close):
            try:
                stop()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                print("soak: while stopping: %s" % e)
        for r in self.redis:
            r.stop()


def main():
    print("soak: %.0f s, loadavg before %s" % (ARGS.duration, open("/proc/loadavg").read().strip()),
          flush=True)
    with tempfile.TemporaryDirectory(prefix="sidecache-soak-") as tmp:
        soak = Soak(tmp)
        try:
            ok = soak.run(ARGS.duration)
        finally:
            soak.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
