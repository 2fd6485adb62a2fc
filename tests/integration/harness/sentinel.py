"""A Sentinel-watched group for tests: one primary, one replica (--replicaof) and N Sentinels
(`redis-server sentinel.conf --sentinel`, each with its own writable config file), all plain
TCP on reserved loopback ports, stopped by PID."""
import os
import shutil
import tempfile
import threading
import time
import unittest

from . import env
from .processes import (AddressInUse, Process, free_port, says_address_in_use, start_on_free_port,
                        wait_until)
from .redis import RedisServer
from .resp import RespConnection, ping
from .sidecache import Sidecache, metric

MASTER = "mymaster"


def command(port, *args, timeout=2.0):
    """One command to the server on `port` over a fresh connection; its decoded reply."""
    c = RespConnection(port, timeout=timeout)
    try:
        return c.command(*args)
    finally:
        c.close()


class Sentinel:
    """One Sentinel process monitoring MASTER at `primary_port` (quorum 2), or every master of
    `masters` ({name: primary port}); `extra_conf` is appended to its config (a TLS port)."""

    def __init__(self, workdir, primary_port, down_after_ms=1000, failover_timeout_ms=5000,
                 masters=None, extra_conf=""):
        self.workdir = workdir
        self.masters = masters or {MASTER: primary_port}
        self.extra_conf = extra_conf
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.process = None
        self.port = start_on_free_port(self._start_on)

    def _start_on(self, port):
        self.port = port
        self.dir = os.path.join(self.workdir, "sentinel-%d" % port)
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\nprotected-mode no\ndaemonize no\ndir %s\n"
                    % (port, self.dir))
            for name, primary in self.masters.items():
                f.write("sentinel monitor %s 127.0.0.1 %d 2\n"
                        "sentinel down-after-milliseconds %s %d\n"
                        "sentinel failover-timeout %s %d\n"
                        "sentinel parallel-syncs %s 1\n"
                        % (name, primary, name, self.down_after_ms, name,
                           self.failover_timeout_ms, name))
            f.write(self.extra_conf)
        self.start()

    def start(self):
        self.process = Process(["redis-server", self.conf, "--sentinel"],
                               os.path.join(self.dir, "sentinel.log"))
        wait_until(lambda: ping(self.port) or not self.process.alive(), timeout=10,
                   what="sentinel on %d" % self.port)
        if not self.process.alive():
            output = self.process.output()
            self.process.stop()
            if says_address_in_use(output):
                raise AddressInUse("sentinel: port %d taken" % self.port)
            raise RuntimeError("sentinel on %d exited:\n%s" % (self.port, output[-2000:]))

    def command(self, *args):
        return command(self.port, *args)

    def primary(self, master=MASTER):
        """The primary's port this Sentinel names now (None when it names none)."""
        reply = self.command("SENTINEL", "get-master-addr-by-name", master)
        return int(reply[1]) if reply else None

    def stop(self):
        if self.process:
            self.process.stop()


def wait_replicated(primary, timeout=15):
    """Until the primary on `primary` has an online replica."""
    def synced():
        try:
            info = command(primary, "INFO", "replication")
        except OSError:
            return False
        text = info.decode() if isinstance(info, bytes) else str(info)
        return "connected_slaves:1" in text and "state=online" in text
    wait_until(synced, timeout=timeout, what="replica of %d online" % primary)


def wait_settled(sentinels, master, primary, timeout=20):
    """Until every Sentinel names `primary` for `master`, knows its replica and the other
    Sentinels."""
    others = len(sentinels) - 1

    def settled():
        for s in sentinels:
            try:
                if s.primary(master) != primary:
                    return False
                if len(s.command("SENTINEL", "replicas", master)) < 1:
                    return False
                if len(s.command("SENTINEL", "sentinels", master)) < others:
                    return False
            except (OSError, TypeError):
                return False
        return True
    wait_until(settled, timeout=timeout, interval=0.1,
               what="Sentinels agreeing on primary %d for %s" % (primary, master))


class SentinelGroups:
    """Several primary+replica groups (one per name of `masters`) and `n` Sentinels that each
    monitor all of them: the nodes of a ring of Sentinel groups. `redis[name]` is the group's
    [first primary, replica]."""

    def __init__(self, workdir, masters, n=3, down_after_ms=1000, failover_timeout_ms=5000):
        self.workdir = workdir
        self.redis = {}
        self.sentinels = []
        try:
            for name in masters:
                primary = RedisServer(workdir, secure=False)
                self.redis[name] = [primary]
                self.redis[name].append(RedisServer(
                    workdir, secure=False, extra=["--replicaof", "127.0.0.1", str(primary.port)]))
            for name in masters:
                wait_replicated(self.redis[name][0].port)
            ports = {name: servers[0].port for name, servers in self.redis.items()}
            for _ in range(n):
                self.sentinels.append(Sentinel(workdir, None, down_after_ms, failover_timeout_ms,
                                               masters=ports))
            for name, port in ports.items():
                self.wait_settled(name, port)
        except BaseException:
            self.stop()
            raise

    def primary_port(self, master):
        return self.sentinels[0].primary(master)

    def server(self, master, port):
        return next(r for r in self.redis[master] if r.port == port)

    def other(self, master, port):
        return next(r for r in self.redis[master] if r.port != port)

    def wait_settled(self, master, primary, timeout=20):
        wait_settled(self.sentinels, master, primary, timeout)

    def wait_replicated(self, primary, timeout=15):
        wait_replicated(primary, timeout)

    def addresses(self):
        return ["127.0.0.1:%d" % s.port for s in self.sentinels]

    def stop(self):
        for s in self.sentinels:
            s.stop()
        for servers in self.redis.values():
            for r in servers:
                r.stop()


class SentinelGroup:
    """A primary, a replica of it and `n` Sentinels that see both and each other (so a
    failover can be authorised at once). `redis[0]` is the first primary."""

    def __init__(self, workdir, n=3, down_after_ms=1000, failover_timeout_ms=5000):
        self.workdir = workdir
        self.redis = []
        self.sentinels = []
        try:
            self.redis.append(RedisServer(workdir, secure=False))
            primary = self.redis[0].port
            self.redis.append(RedisServer(workdir, secure=False,
                                          extra=["--replicaof", "127.0.0.1", str(primary)]))
            self.wait_replicated(primary)
            for _ in range(n):
                self.sentinels.append(Sentinel(workdir, primary, down_after_ms,
                                               failover_timeout_ms))
            self.wait_settled(primary)
        except BaseException:
            self.stop()
            raise

    def server(self, port):
        return next(r for r in self.redis if r.port == port)

    def wait_replicated(self, primary, timeout=15):
        """Until the primary on `primary` has the other server as an online replica."""
        wait_replicated(primary, timeout)

    def wait_settled(self, primary, timeout=20):
        """Until every Sentinel names `primary`, knows its replica and the other Sentinels."""
        wait_settled(self.sentinels, MASTER, primary, timeout)

    def addresses(self):
        return ["127.0.0.1:%d" % s.port for s in self.sentinels]

    def stop(self):
        for s in self.sentinels:
            s.stop()
        for r in self.redis:
            r.stop()


class WriteLoad:
    """A client setting keys through sidecache in a loop (`keys` round-robin, or w:<n> = n);
    every outcome is recorded with its time (acked: (t, key); errors: (t, key, text))."""

    def __init__(self, sc, keys=None):
        self.client = sc.client(socket_timeout=3)
        self.keys = keys
        self.acked, self.errors = [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop)

    def loop(self):
        n = 0
        while not self.stop.is_set():
            key = self.keys[n % len(self.keys)] if self.keys else "w:%d" % n
            try:
                self.client.set(key, n)
                self.acked.append((time.monotonic(), key))
            except Exception as e:  # noqa: BLE001 - every client error counts
                self.errors.append((time.monotonic(), key, repr(e)))
                time.sleep(0.01)
            n += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=20)
        return False


class SentinelSidecacheTest(unittest.TestCase):
    """A test class with Sentinel-watched servers and one sidecache over them for the class:
    setUpClass calls `start(servers, config)` (`servers` has stop() and addresses();
    `config(http_port, addresses)` is the sidecache's YAML)."""

    @classmethod
    def start(cls, prefix, make_servers, config):
        cls.tmp = tempfile.mkdtemp(prefix=prefix)
        started = time.monotonic()
        cls.servers = make_servers(cls.tmp)
        print("%s ready in %.1f s" % (type(cls.servers).__name__, time.monotonic() - started),
              flush=True)
        cls.http = free_port()
        try:
            cls.sc = Sidecache(cls.tmp, [], config_text=config(cls.http,
                                                                cls.servers.addresses()))
        except BaseException:
            cls.servers.stop()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        cls.client = cls.sc.client()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.sc.stop_checked()
        finally:
            cls.servers.stop()
            if not env.keep_tmp():
                shutil.rmtree(cls.tmp, ignore_errors=True)

    def metric(self, name, **labels):
        return metric(self.http, name, **labels)
