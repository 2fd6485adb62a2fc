#!/usr/bin/env python3
"""Golden key placement from the real twemproxy (nutcracker 0.5) over real redis-server backends.

Two modes (plain python3 stdlib; also imported by tests/integration/test_twemproxy_compat.py):

  placement: start N redis-servers and nutcracker with one ketama pool, SET every key through
    nutcracker, ask each backend which keys it holds, print "<hex key> <server name>" per key.

      twemproxy_golden.py placement --hash murmur --nodes 3 [--weights 1,2,1] [--named]
                                    [--tag '{}'] [--keys FILE_OF_HEX_LINES | --count 1000]

  hashes: recover the exact 32-bit hash nutcracker computes for each key, using modula pools
    (slot = hash % total_weight) over two backends A and B. A pool [A weight 2^b, B weight 2^b]
    sends a key to B exactly when bit b of the hash is set (b = 0..20); pools that alternate
    A and B every 2^c slots over 2053 slots give bit c of (hash % 2053). The key is SET on A
    only, then GET through each pool: a hit means "A". The Chinese remainder theorem joins
    hash % 2^21 and hash % 2053 (2^21 * 2053 > 2^32). Prints "<kind> <hex key> <hash hex>".

      twemproxy_golden.py hashes [--kinds fnv1a_64,murmur] [HEX_KEY...]

Every process is started here and stopped by PID in a finally block; ports are below 32768.
"""
import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NUTCRACKER = "/usr/sbin/nutcracker"
REDIS_SERVER = "redis-server"
HASH_KINDS = ["fnv1a_64", "fnv1_64", "fnv1a_32", "fnv1_32", "md5", "murmur", "crc16", "crc32",
              "crc32a", "one_at_a_time", "jenkins", "hsieh"]
SOCKET_TIMEOUT = 10.0
LOW_BITS = 21
ODD_MODULUS = 2053

_used_ports = set()


def free_port():
    """A currently free TCP port in [20000, 32000) (below the ephemeral range)."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(1000):
        port = rng.randrange(20000, 32000)
        if port in _used_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _used_ports.add(port)
        return port
    raise RuntimeError("no free port below 32768")


class Resp:
    """Minimal RESP2 client: pipelined commands, replies parsed from a buffered socket."""

    def __init__(self, port, timeout=SOCKET_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RuntimeError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ValueError("bad RESP reply %r" % line)

    def pipeline(self, commands, batch=500):
        replies = []
        for i in range(0, len(commands), batch):
            part = commands[i:i + batch]
            self.sock.sendall(b"".join(self.encode(*c) for c in part))
            replies.extend(self.read() for _ in part)
        return replies

    def call(self, *args):
        return self.pipeline([args])[0]


def wait_ready(port, proc, what, ping=True, deadline_s=10.0):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited early with %s" % (what, proc.returncode))
        try:
            c = Resp(port, timeout=1.0)
            try:
                if not ping or c.call("PING") == b"PONG":
                    return
            finally:
                c.close()
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("%s on port %d not ready" % (what, port))


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class Cluster:
    """N redis-server backends plus (re)startable nutcracker; use as a context manager."""

    def __init__(self, backends):
        self.nbackends = backends
        self.redis = []  # (port, Popen)
        self.nut = None
        self.workdir = None

    def __enter__(self):
        self.workdir = tempfile.mkdtemp(prefix="twem_golden_")
        try:
            for _ in range(self.nbackends):
                port = free_port()
                proc = subprocess.Popen(
                    [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--daemonize", "no", "--dir", self.workdir],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.redis.append((port, proc))
                wait_ready(port, proc, "redis-server")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        stop(self.nut)
        self.nut = None
        for _, proc in self.redis:
            stop(proc)
        self.redis = []
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def backend_ports(self):
        return [p for p, _ in self.redis]

    def start_nutcracker(self, pools):
        """pools: list of dicts (listen port, hash, distribution, hash_tag, servers lines)."""
        stop(self.nut)
        lines = []
        for i, pool in enumerate(pools):
            lines += ["pool%d:" % i,
                      "  listen: 127.0.0.1:%d" % pool["port"],
                      "  redis: true",
                      "  distribution: %s" % pool.get("distribution", "ketama"),
                      "  hash: %s" % pool["hash"],
                      "  timeout: 5000",
                      "  auto_eject_hosts: false",
                      "  preconnect: false"]
            if pool.get("tag"):
                lines.append('  hash_tag: "%s"' % pool["tag"])
            lines.append("  servers:")
            lines += ["   - %s" % s for s in pool["servers"]]
        conf = os.path.join(self.workdir, "nutcracker.yml")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        stats = free_port()
        self.nut = subprocess.Popen(
            [NUTCRACKER, "-c", conf, "-s", str(stats), "-a", "127.0.0.1",
             "-o", os.path.join(self.workdir, "nutcracker.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pool in pools:
            wait_ready(pool["port"], self.nut, "nutcracker", ping=False)

    def flush(self):
        for port in self.backend_ports():
            c = Resp(port)
            try:
                c.call("FLUSHALL")
            finally:
                c.close()


def server_line(port, weight, name):
    return "127.0.0.1:%d:%d%s" % (port, weight, " " + name if name else "")


def placement(cluster, hash_kind, weights, named, tag, keys):
    """{key: server name} as nutcracker places keys (name = hashed name, default host:port)."""
    ports = cluster.backend_ports()[:len(weights)]
    names = [("node%d" % i if named else "127.0.0.1:%d" % p) for i, p in enumerate(ports)]
    servers = [server_line(p, w, "node%d" % i if named else None)
               for i, (p, w) in enumerate(zip(ports, weights))]
    listen = free_port()
    cluster.start_nutcracker([{"port": listen, "hash": hash_kind, "tag": tag,
                               "servers": servers}])
    cluster.flush()
    proxy = Resp(listen)
    try:
        replies = proxy.pipeline([("SET", k, b"1") for k in keys])
    finally:
        proxy.close()
    bad = [(k, r) for k, r in zip(keys, replies) if r != b"OK"]
    if bad:
        raise RuntimeError("SET through nutcracker failed: %r" % bad[:3])
    where = {}
    for port, name in zip(ports, names):
        c = Resp(port)
        try:
            for k in c.call("KEYS", "*"):
                if k in where:
                    raise RuntimeError("key %r on two backends" % k)
                where[k] = name
        finally:
            c.close()
    missing = [k for k in keys if k not in where]
    if missing:
        raise RuntimeError("keys not found on any backend: %r" % missing[:3])
    return {k: where[k] for k in keys}


def _bit_pools(kind, a_port, b_port):
    pools = []
    for b in range(LOW_BITS):  # slot = hash % 2^(b+1); B holds the upper half: bit b set
        pools.append({"port": free_port(), "hash": kind, "distribution": "modula",
                      "servers": [server_line(a_port, 1 << b, "a"),
                                  server_line(b_port, 1 << b, "b")]})
    for c in range(ODD_MODULUS.bit_length()):  # runs of 2^c slots alternate A, B: bit c
        servers, slot, run = [], 0, 0
        while slot < ODD_MODULUS:
            length = min(1 << c, ODD_MODULUS - slot)
            servers.append(server_line(b_port if run % 2 else a_port, length, "r%d" % run))
            slot += length
            run += 1
        pools.append({"port": free_port(), "hash": kind, "distribution": "modula",
                      "servers": servers})
    return pools


def exact_hashes(cluster, kind, keys):
    """{key: the 32-bit hash nutcracker computes for key with hash `kind`}."""
    a_port, b_port = cluster.backend_ports()[:2]
    pools = _bit_pools(kind, a_port, b_port)
    cluster.start_nutcracker(pools)
    cluster.flush()
    a = Resp(a_port)
    conns = [Resp(p["port"]) for p in pools]
    out = {}
    try:
        a.pipeline([("SET", k, b"1") for k in keys])
        bits = [c.pipeline([("GET", k) for k in keys]) for c in conns]
        for i, k in enumerate(keys):
            low = sum(1 << b for b in range(LOW_BITS) if bits[b][i] is None)
            odd = sum(1 << c for c in range(len(pools) - LOW_BITS)
                      if bits[LOW_BITS + c][i] is None)
            cands = [low + (h << LOW_BITS) for h in range(1 << (32 - LOW_BITS))
                     if (low + (h << LOW_BITS)) % ODD_MODULUS == odd]
            if len(cands) != 1:
                raise RuntimeError("no consistent hash for %r (%s)" % (k, kind))
            out[k] = cands[0]
    finally:
        a.close()
        for c in conns:
            c.close()
    return out


DEFAULT_HASH_KEYS = [b"a", b"foo", b"hello world", b"user:1000", b"{user1000}.following",
                     b"0123456789abcdefXYZ", b"\x80", b"ab\xe9", b"\xff\xfe\xfd\xfc\xfb",
                     "caf\u00e9-\u65e5\u672c".encode(), b"\x00\x01\r\n key", b"x" * 100]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("placement")
    p.add_argument("--hash", default="fnv1a_64")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--weights", default="")
    p.add_argument("--named", action="store_true")
    p.add_argument("--tag", default="")
    p.add_argument("--keys", help="file of hex-encoded keys, one a line")
    p.add_argument("--count", type=int, default=1000, help="else keys key:0 .. key:N-1")
    h = sub.add_parser("hashes")
    h.add_argument("--kinds", default=",".join(HASH_KINDS))
    h.add_argument("keys", nargs="*", help="hex-encoded keys (default: a built-in set)")
    args = ap.parse_args()

    if args.mode == "placement":
        weights = [int(w) for w in args.weights.split(",")] if args.weights else [1] * args.nodes
        if args.keys:
            with open(args.keys) as f:
                keys = [bytes.fromhex(line.strip()) for line in f if line.strip()]
        else:
            keys = [b"key:%d" % i for i in range(args.count)]
        with Cluster(len(weights)) as cluster:
            result = placement(cluster, args.hash, weights, args.named, args.tag, keys)
        for k in keys:
            print(k.hex(), result[k])
    else:
        keys = [bytes.fromhex(k) for k in args.keys] or DEFAULT_HASH_KEYS
        with Cluster(2) as cluster:
            for kind in args.kinds.split(","):
                for k, v in exact_hashes(cluster, kind, keys).items():
                    print(kind, k.hex(), "0x%08x" % v)
    return 0


if __name__ == "__main__":
    sys.exit(main())
