"""A real Redis Cluster made in the test: N cluster-enabled redis-servers (plain TCP) joined
with `redis-cli --cluster create`, optionally with one replica per primary."""
import subprocess
import threading
import time

from .processes import wait_until
from .redis import RedisServer
from .sidecache import Sidecache
from .slots import crc16, key_slot, slot_tag  # noqa: F401  (re-exported)

# repl-diskless-sync-delay 0: a replica's first sync starts at once (the default waits 5 s for
# more replicas to join the transfer).
CLUSTER_ARGS = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000", "--repl-diskless-sync-delay", "0"]


def raw(server):
    """A client of `server` that returns replies as sent (redis-py parses CLUSTER replies)."""
    c = server.client()
    c.response_callbacks = {}
    return c


def cluster_sidecache(workdir, seed_port, http_port, cluster="refresh_interval: 60s"):
    """A sidecache (2 workers, HTTP on `http_port`) with a cluster pool seeded with one node;
    `cluster` is the pool.cluster flow map's inside."""
    def config(port):
        return ("listen: 127.0.0.1:%d\nworkers: 2\nhttp: {listen: 127.0.0.1:%d}\n"
                "pool:\n  type: cluster\n  nodes: [127.0.0.1:%d]\n  cluster: {%s}\n"
                % (port, http_port, seed_port, cluster))
    return Sidecache(workdir, [], config_text=config)


def cluster_node(workdir):
    """One more cluster-enabled redis-server (for add-node), started."""
    return RedisServer(workdir, secure=False, extra=CLUSTER_ARGS)


class RedisCluster:
    """`primaries` cluster-enabled redis-servers, each with `replicas` replicas, joined with
    redis-cli --cluster create; ready (every node says cluster_state:ok, every replica's
    link to its primary is up and every node's CLUSTER SLOTS lists them) when the constructor
    returns. `nodes` lists every server
    (primaries and replicas, in creation order; redis-cli picks the roles)."""

    def __init__(self, workdir, primaries=3, replicas=0):
        self.nodes = []
        try:
            for _ in range(primaries * (1 + replicas)):
                self.nodes.append(cluster_node(workdir))
            addresses = ["127.0.0.1:%d" % r.port for r in self.nodes]
            subprocess.run(["redis-cli", "--cluster", "create"] + addresses +
                           ["--cluster-replicas", str(replicas), "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            self.ids = {r.port: raw(r).execute_command("CLUSTER MYID").decode()
                        for r in self.nodes}
            self.replicas = replicas
            wait_until(self.ready, timeout=20, what="cluster_state:ok, replicas in sync")
            if replicas:
                self.touch_primaries()
                wait_until(self.replicas_listed, timeout=20, what="replicas in CLUSTER SLOTS")
        except BaseException:
            self.stop()
            raise

    def alive(self):
        return [r for r in self.nodes if r.alive()]

    def ok(self):
        for r in self.alive():
            info = raw(r).execute_command("CLUSTER INFO").decode()
            if "cluster_state:ok" not in info:
                return False
        return True

    def ready(self):
        """cluster_state:ok everywhere, every node knows every other, replicas in sync."""
        if not self.ok():
            return False
        for r in self.alive():
            info = raw(r).execute_command("CLUSTER INFO").decode()
            if "cluster_known_nodes:%d\r\n" % len(self.nodes) not in info:
                return False
            repl = raw(r).execute_command("INFO", "replication").decode()
            if "role:slave" in repl and "master_link_status:up" not in repl:
                return False
        return True

    def touch_primaries(self):
        """A write (then its delete) on every primary: CLUSTER SLOTS lists a replica only once
        its replication offset is not 0, which a fresh cluster reaches at the first write (or
        the primary's PING to it after repl-ping-replica-period, 10 s)."""
        for first, _, primary, *_ in self.slots():
            key = next("fixture:%d" % i for i in range(1000000)
                       if key_slot("fixture:%d" % i) == first)
            client = self.by_port(primary[1]).client()
            client.set(key, "x")
            client.delete(key)

    def replicas_listed(self):
        """Every live node's CLUSTER SLOTS names `replicas` replicas in every range."""
        return all(len(entry) - 3 >= self.replicas
                   for r in self.alive() for entry in self.slots(r))

    def by_port(self, port):
        return next(r for r in self.nodes if r.port == port)

    def slots(self, via=None):
        """CLUSTER SLOTS of `via` (default: the first live node)."""
        return raw(via or self.alive()[0]).execute_command("CLUSTER SLOTS")

    def owner(self, slot, via=None):
        """The RedisServer that owns `slot`, from CLUSTER SLOTS."""
        for first, last, primary, *_ in self.slots(via):
            if first <= slot <= last:
                return self.by_port(primary[1])
        raise AssertionError("slot %d unassigned" % slot)

    def primaries(self):
        """The primaries that own slots, from CLUSTER SLOTS."""
        ports = sorted({primary[1] for _, _, primary, *_ in self.slots()})
        return [self.by_port(p) for p in ports]

    def replicas_of(self, primary):
        """The live replicas of `primary`, from its own INFO replication."""
        info = raw(primary).execute_command("INFO", "replication").decode()
        ports = [int(field.split("=")[1]) for line in info.split("\r\n")
                 if line.startswith("slave") and ":" in line
                 for field in line.split(":", 1)[1].split(",") if field.startswith("port=")]
        return [self.by_port(p) for p in ports]

    def keyslot(self, key):
        return self.alive()[0].client().execute_command("CLUSTER KEYSLOT", key)

    def stop(self):
        for r in self.nodes:
            r.stop()


class Load:
    """A client reading (and with `write`, rewriting) `keys` through sidecache in a loop until
    the block ends; `errors` holds every client-visible error or wrong value, `done` counts
    the rounds of requests.

    `versioned`: each SET writes a new value ("key:n"); `acked[key]` is the last value a SET
    got +OK for, `unknown[key]` the values of SETs that failed (they may or may not have been
    applied), and a GET must return the acked value or one of those. `failures` holds
    (time.monotonic(), key, error) for each error and `successes` (time.monotonic(), key) for
    each round that had none, for error windows per key."""

    def __init__(self, sc, keys, write, versioned=False):
        self.sc, self.keys, self.write, self.versioned = sc, keys, write, versioned
        self.errors = []
        self.failures = []
        self.successes = []
        self.acked = {k: k for k in keys}
        self.unknown = {k: set() for k in keys}
        self.done = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)

    def fail(self, key, what):
        self.errors.append(what)
        self.failures.append((time.monotonic(), key, what))

    def step(self, c, k, n):
        value = c.get(k)
        allowed = {self.acked[k]} | self.unknown[k]
        if value is None or value.decode() not in allowed:
            self.fail(k, "wrong value for %s: %r" % (k, value))
        if not self.write:
            return
        new = "%s:%d" % (k, n) if self.versioned else k
        try:
            c.set(k, new)
        except Exception:
            self.unknown[k].add(new)
            raise
        self.acked[k] = new
        self.unknown[k].clear()

    def loop(self):
        c = self.sc.client()
        n = 0
        while not self.stop.is_set():
            for k in self.keys:
                n += 1
                try:
                    self.step(c, k, n)
                    self.successes.append((time.monotonic(), k))
                    self.done += 1
                except Exception as e:  # noqa: BLE001 - every client error counts
                    self.fail(k, repr(e))

    def __enter__(self):
        self.thread.start()
        time.sleep(0.2)  # the loop is running before anything happens to the cluster
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=20)
        return False
