"""Test harness: real redis-server processes and the real sidecache binary on free loopback
ports, each stopped by PID. Every wait is bounded; nothing here can hang a test run.

Run with Debian's /usr/bin/python3 (it has python3-redis). ctest sets SIDECACHE_BIN,
SIDECACHE_BUILD_DIR and SIDECACHE_SOURCE_DIR.
"""
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("SIDECACHE_BIN", "")
BUILD_DIR = os.environ.get("SIDECACHE_BUILD_DIR", "")
SOURCE_DIR = os.environ.get(
    "SIDECACHE_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

_used_ports = set()

# SIDECACHE_TEST_BACKEND=auth_tls runs the same tests against nodes that need TLS and an ACL
# user's password: every RedisServer listens on a TLS port only, with `user app`, and every
# sidecache config gets pool.username / password_file / tls. Direct test connections to such a
# node (RespConnection, ping, redis-py) speak TLS and AUTH on their own.
BACKEND_MODE = os.environ.get("SIDECACHE_TEST_BACKEND", "plain")
SECURE_USER = "app"
SECURE_PASSWORD = "s3cret-backend-pw-%d" % random.randint(100000, 999999)
_secure_ports = set()
_certs = None


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def make_certs(directory, expired=False):
    """A CA and, signed by it, certificates in `directory`: server.{crt,key} for 127.0.0.1
    (IP SAN), client.{crt,key}, other.{crt,key} for the name other.example, expired.{crt,key}
    (127.0.0.1, validity over). Returns a dict of paths."""
    os.makedirs(directory, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "2", "-subj", "/CN=sidecache test CA", cwd=directory)

    def leaf(name, subject, san, days="2", start=None):
        with open(os.path.join(directory, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", subject, cwd=directory)
        if start is None:
            openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", name + ".crt", "-days", days, "-extfile",
                    name + ".ext", cwd=directory)
        else:
            # An expired certificate: a tiny CA database signs it with dates in the past.
            openssl("ca", "-batch", "-config", _mini_ca_conf(directory), "-in", name + ".csr",
                    "-out", name + ".crt", "-startdate", start[0], "-enddate", start[1],
                    "-extfile", name + ".ext", "-notext", cwd=directory)

    leaf("server", "/CN=127.0.0.1", "IP:127.0.0.1")
    leaf("client", "/CN=sidecache", "DNS:sidecache")
    leaf("other", "/CN=other.example", "DNS:other.example")
    if expired:
        leaf("expired", "/CN=127.0.0.1", "IP:127.0.0.1",
             start=("20200101000000Z", "20200102000000Z"))
    return {n: os.path.join(directory, n) for n in
            ("ca.crt", "server.crt", "server.key", "client.crt", "client.key", "other.crt",
             "other.key", "expired.crt", "expired.key")}


def _mini_ca_conf(directory):
    db = os.path.join(directory, "ca-db")
    os.makedirs(os.path.join(db, "new"), exist_ok=True)
    open(os.path.join(db, "index.txt"), "a").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write("1000\n")
    path = os.path.join(directory, "mini-ca.cnf")
    with open(path, "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndir=%s\ndatabase=$dir/index.txt\n"
                "new_certs_dir=$dir/new\nserial=$dir/serial\ncertificate=%s/ca.crt\n"
                "private_key=%s/ca.key\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
                "[p]\ncommonName=supplied\n" % (db, directory, directory))
    return path


def secure_certs():
    """The certificates of this test process (made once, removed at exit)."""
    global _certs
    if _certs is None:
        import atexit
        directory = tempfile.mkdtemp(prefix="sidecache-certs-")
        atexit.register(shutil.rmtree, directory, True)
        _certs = make_certs(directory)
        with open(os.path.join(directory, "password"), "w") as f:
            f.write(SECURE_PASSWORD + "\n")
        _certs["password"] = os.path.join(directory, "password")
    return _certs


def secure_redis_args(port, certs, password=None, user=SECURE_USER):
    """redis-server arguments: TLS only on `port`, `user` with `password`, default user off."""
    password = password or SECURE_PASSWORD
    return ["--port", "0", "--tls-port", str(port), "--tls-cert-file", certs["server.crt"],
            "--tls-key-file", certs["server.key"], "--tls-ca-cert-file", certs["ca.crt"],
            "--tls-auth-clients", "optional", "--user", "default", "off",
            "--user"] + ("%s on >%s ~* &* +@all" % (user, password)).split()


def secure_pool_yaml():
    """The pool keys that make sidecache reach secure_redis_args() nodes."""
    c = secure_certs()
    return ("  username: %s\n  password_file: %s\n  tls:\n    ca_file: %s\n"
            "    cert_file: %s\n    key_file: %s\n" % (SECURE_USER, c["password"], c["ca.crt"],
                                                     c["client.crt"], c["client.key"]))


def _secure_socket(port, timeout, auth=True):
    import ssl
    c = secure_certs()
    ctx = ssl.create_default_context(cafile=c["ca.crt"])
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock = ctx.wrap_socket(raw)
    if auth:
        conn = RespConnection(port, timeout=timeout, sock=sock)
        reply = conn.command("AUTH", SECURE_USER, SECURE_PASSWORD)
        if reply != "OK":
            raise ConnectionError("AUTH failed: %r" % (reply,))
        if conn.buf:
            raise ConnectionError("unexpected bytes after AUTH")
    return sock


def free_port():
    """A free TCP port on 127.0.0.1 below the ephemeral range (and its +10000 bus port)."""
    for _ in range(500):
        port = random.randint(20000, 22767)
        if port in _used_ports:
            continue
        ok = True
        for p in (port, port + 10000):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port found")


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))


class RespConnection:
    """A minimal RESP client over a socket, for byte-exact tests and raw protocol input."""

    def __init__(self, port, timeout=5.0, sock=None):
        if sock is None and port in _secure_ports:
            sock = _secure_socket(port, timeout)
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.types_seen = set()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def command(self, *args):
        self.send_raw(self.encode(*args))
        return self.read_reply()

    def command_raw(self, *args):
        """Sends one command; returns its reply's exact bytes (RESP2 or RESP3)."""
        self.send_raw(self.encode(*args))
        return self.read_raw()

    def read_raw(self):
        """The exact bytes of the next reply, RESP2 or RESP3 (an attribute with the reply it
        precedes); decode_reply() turns them into a tree."""
        while True:
            end = reply_end(self.buf)
            if end is not None:
                raw, self.buf = self.buf[:end], self.buf[end:]
                return raw
            self._fill()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by peer")
        self.buf += chunk

    def read_reply(self):
        """One reply, decoded. RESP3 types: `_` None, `,` float, `#` bool, `(` int, `=`
        Verbatim, `%` dict, `~` RespSet, `>` Push, `|` attribute (dropped: the value it
        describes is returned). `types_seen` collects every type byte read (see reset_types)."""
        return _to_value(decode_reply(self.read_raw()), self.types_seen)

    def reset_types(self):
        self.types_seen = set()

    def is_closed(self, timeout=5.0):
        """True when the peer closes the connection within the timeout (after any data)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ConnectionAbortedError):
            return True
        except OSError as e:  # a TLS socket closed under an unfinished record
            if "EOF" in str(e) or "UNEXPECTED" in str(e).upper():
                return True
            raise


class RespError(str):
    """An error reply (a str holding the error text)."""


# RESP2 and RESP3 reply types by their first byte: a line, a length-prefixed blob, an aggregate
# of N elements (a map or attribute has N pairs).
_LINE_TYPES = frozenset(b"+-:_,#(")
_BLOB_TYPES = frozenset(b"$=!")
_AGGREGATE_TYPES = frozenset(b"*~>")
_PAIR_TYPES = frozenset(b"%|")


def _parse_reply(buf, pos):
    """(node, end) for the reply starting at buf[pos], or None when buf holds only part of it.
    A node is (type_byte_as_str, value): bytes for lines and blobs (None for nulls), a list of
    nodes for aggregates (maps: keys and values alternating; an attribute: its pairs, then the
    reply it precedes)."""
    eol = buf.find(b"\r\n", pos)
    if eol < 0:
        return None
    kind, head, after = buf[pos], buf[pos + 1:eol], eol + 2
    if kind in _LINE_TYPES:
        return (chr(kind), head), after
    if kind in _BLOB_TYPES:
        n = int(head)
        if n < 0:
            return (chr(kind), None), after
        if len(buf) < after + n + 2:
            return None
        return (chr(kind), buf[after:after + n]), after + n + 2
    if kind in _AGGREGATE_TYPES or kind in _PAIR_TYPES:
        n = int(head)
        if n < 0:
            return (chr(kind), None), after
        count = n * 2 if kind in _PAIR_TYPES else n
        if kind == ord("|"):
            count += 1  # the attributed reply follows the pairs
        items = []
        for _ in range(count):
            parsed = _parse_reply(buf, after)
            if parsed is None:
                return None
            node, after = parsed
            items.append(node)
        return (chr(kind), items), after
    raise ValueError("bad reply type byte %r at %d in %r" % (chr(kind), pos, buf[pos:pos + 40]))


def _to_value(node, seen):
    """The Python value of a reply tree (see RespConnection.read_reply); adds every type byte
    to `seen`."""
    kind, value = node
    seen.add(kind)
    if kind == "+":
        return value.decode()
    if kind == "-":
        return RespError(value.decode())
    if kind in ":(":
        return int(value)
    if kind == "_" or value is None:
        return None
    if kind == ",":
        return float(value)
    if kind == "#":
        return value == b"t"
    if kind == "$":
        return value
    if kind == "=":
        return Verbatim(value[4:], value[:3].decode())
    if kind == "!":
        return RespError(value.decode())
    items = [_to_value(v, seen) for v in value]
    if kind == "%":
        return dict(zip(items[0::2], items[1::2]))
    if kind == "|":
        return items[-1]
    return RespSet(items) if kind == "~" else Push(items) if kind == ">" else items


def reply_end(buf, pos=0):
    """Where the reply starting at buf[pos] ends, or None when it is incomplete."""
    parsed = _parse_reply(buf, pos)
    return None if parsed is None else parsed[1]


def decode_reply(raw):
    """The tree of one complete reply's bytes (see _parse_reply); raises on trailing bytes."""
    parsed = _parse_reply(raw, 0)
    if parsed is None or parsed[1] != len(raw):
        raise ValueError("not exactly one reply: %r" % raw[:200])
    return parsed[0]


def encode_reply(node):
    """The bytes of a reply tree (the inverse of decode_reply)."""
    kind, value = node
    tag = kind.encode()
    if value is None:
        return tag + b"-1\r\n"
    if kind in "+-:_,#(":
        return tag + value + b"\r\n"
    if kind in "$=!":
        return tag + b"%d\r\n" % len(value) + value + b"\r\n"
    count = len(value)
    if kind in "%|":
        count = (count - (1 if kind == "|" else 0)) // 2
    return tag + b"%d\r\n" % count + b"".join(encode_reply(v) for v in value)


class Verbatim(bytes):
    """A RESP3 verbatim string; `format` is its three-letter format ("txt", "mkd")."""

    def __new__(cls, data, fmt):
        obj = super().__new__(cls, data)
        obj.format = fmt
        return obj


class RespSet(list):
    """A RESP3 set (`~`), elements in the order received."""


class Push(list):
    """A RESP3 push (`>`)."""


def ping(port, timeout=0.5, password=None):
    try:
        c = RespConnection(port, timeout=timeout)
        try:
            if password is not None and c.command("AUTH", password) != "OK":
                return False
            return c.command("PING") == "PONG"
        finally:
            c.close()
    except OSError:
        return False


class Process:
    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.stopped = False  # stop() was called: an exit is expected
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, sig=None, timeout=10.0):
        """Stops the process by PID (SIGTERM unless `sig`); returns its exit code."""
        sig = sig if sig is not None else signal.SIGTERM
        self.stopped = True
        if self.alive():
            try:
                os.kill(self.proc.pid, signal.SIGCONT)  # in case a test stopped it
            except ProcessLookupError:
                pass
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def tail(self, lines=40):
        return "\n".join(self.output().splitlines()[-lines:])


# Lines a sanitizer writes when it finds something (ASan, LSan, UBSan); any of them in
# sidecache's log fails the test.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "WARNING: ThreadSanitizer")


def sanitized_build():
    """True when sidecache is a sanitizer build (its allocator's quarantine and shadow memory
    make resident-memory figures meaningless there)."""
    cache = os.path.join(BUILD_DIR, "CMakeCache.txt") if BUILD_DIR else ""
    if cache and os.path.exists(cache):
        with open(cache) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    return line.strip().split("=", 1)[1].lower() in ("asan", "fuzz")
    return False


def sanitizer_report(text):
    """The first sanitizer finding in a log text, with some context, or None."""
    for marker in SANITIZER_MARKERS:
        at = text.find(marker)
        if at >= 0:
            return text[max(0, at - 200):at + 3000]
    return None


class RedisServer:
    def __init__(self, workdir, port=None, extra=(), start=True, secure=None, password=None):
        """`secure` (default: SIDECACHE_TEST_BACKEND=auth_tls): TLS only, ACL user `app`.
        `password`: plain TCP with requirepass."""
        self.port = port or free_port()
        self.password = password
        self.secure = BACKEND_MODE == "auth_tls" if secure is None else secure
        if self.secure:
            _secure_ports.add(self.port)
        self.dir = os.path.join(workdir, "redis-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.extra = list(extra)
        self.process = None
        if start:
            self.start()

    def start(self):
        listen = (secure_redis_args(self.port, secure_certs()) if self.secure
                  else ["--port", str(self.port)])
        args = ["redis-server"] + listen + [
                "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
                "--protected-mode", "no"] + self.extra
        if self.password is not None:
            args += ["--requirepass", self.password]
        self.process = Process(args, os.path.join(self.dir, "redis.log"))
        wait_until(lambda: ping(self.port, password=self.password), timeout=10,
                   what="redis-server on %d" % self.port)

    def stop(self, sig=signal.SIGTERM):
        if self.process:
            self.process.stop(sig)

    def kill9(self):
        self.process.signal(signal.SIGKILL)
        self.process.proc.wait(timeout=10)
        self.process.log.close()

    def alive(self):
        return self.process is not None and self.process.alive()

    def client(self, **kw):
        import redis
        kw.setdefault("socket_timeout", 5)
        if self.secure:
            c = secure_certs()
            kw.update(ssl=True, ssl_ca_certs=c["ca.crt"], ssl_cert_reqs="required",
                      ssl_check_hostname=False, username=SECURE_USER, password=SECURE_PASSWORD)
        elif self.password is not None:
            kw.setdefault("password", self.password)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def cli(self):
        """redis-cli arguments that reach this server (TLS and AUTH when secure)."""
        args = ["redis-cli", "-p", str(self.port)]
        if self.secure:
            c = secure_certs()
            args += ["--tls", "--cacert", c["ca.crt"], "--user", SECURE_USER, "--pass",
                     SECURE_PASSWORD, "--no-auth-warning"]
        return args


def node_yaml(nodes):
    lines = []
    for name, port, weight in nodes:
        lines.append("    - {name: %s, address: 127.0.0.1:%d, weight: %d}" % (name, port, weight))
    return "\n".join(lines)


def config_yaml(port, nodes, workers=1, pool_extra="", top_extra=""):
    """The config file Sidecache writes (tests that reload write new versions of it). With
    SIDECACHE_TEST_BACKEND=auth_tls the pool authenticates and uses TLS (secure_pool_yaml)."""
    security = secure_pool_yaml() if BACKEND_MODE == "auth_tls" else ""
    return "listen: 127.0.0.1:%d\nworkers: %d\n%s\npool:\n%s  nodes:\n%s\n%s\n" % (
        port, workers, top_extra, security, node_yaml(nodes), pool_extra)


class Sidecache:
    """The sidecache binary with a generated config; `pool_extra`/`top_extra` add YAML lines."""

    def __init__(self, workdir, nodes, workers=1, pool_extra="", top_extra="", port=None,
                 wait=True, config_path=None):
        """`config_path`: where to write the config and what `-c` names (it may be a symlink,
        written through); by default a new file in `workdir`."""
        self.port = port or free_port()
        self.workdir = workdir
        self.config_path = config_path or os.path.join(workdir, "sidecache-%d.yaml" % self.port)
        with open(self.config_path, "w") as f:
            f.write(config_yaml(self.port, nodes, workers, pool_extra, top_extra))
        self.process = Process([BIN, "-c", self.config_path],
                               os.path.join(workdir, "sidecache-%d.log" % self.port))
        if wait:
            wait_until(lambda: ping(self.port) or not self.process.alive(), timeout=15,
                       what="sidecache on %d" % self.port)
            if not self.process.alive():
                raise RuntimeError("sidecache exited: " + self.process.output())

    def client(self, **kw):
        import redis
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def raw(self, timeout=5.0):
        return RespConnection(self.port, timeout=timeout)

    def stop(self, sig=signal.SIGTERM):
        return self.process.stop(sig)

    def problems(self):
        """What is wrong with this sidecache so far: it exited on its own, or its log holds a
        sanitizer report. None when all is well."""
        if not self.process.alive() and not self.process.stopped:
            return "sidecache exited unexpectedly with code %s" % self.process.proc.returncode
        report = sanitizer_report(self.process.output())
        if report:
            return "sanitizer report in sidecache's log:\n" + report
        return None

    def check(self):
        """Raises AssertionError when problems() finds something (use it mid-test)."""
        problem = self.problems()
        if problem:
            raise AssertionError(problem + "\n--- log tail ---\n" + self.process.tail())

    def stop_checked(self):
        """Stops sidecache by SIGTERM and fails when it had crashed, did not exit cleanly, or
        its log holds a sanitizer report (ASan builds report leaks at exit)."""
        problem = None
        if not self.process.alive() and not self.process.stopped:
            problem = "sidecache exited unexpectedly with code %s" % self.process.proc.returncode
        stopped_here = self.process.alive()
        code = self.stop()
        if problem is None and stopped_here and code != 0:
            problem = "sidecache exited with code %s on SIGTERM" % code
        report = sanitizer_report(self.process.output())
        if report:
            problem = (problem + "\n" if problem else "") + \
                "sanitizer report in sidecache's log:\n" + report
        if problem:
            raise AssertionError(problem + "\n--- log tail ---\n" + self.process.tail())


class Cluster:
    """N redis-server nodes and one sidecache in front of them, in a temp dir.

    `down` lists node indexes whose redis-server is not started (start it later with
    cluster.redis[i].start()). close() stops everything and then raises AssertionError when
    sidecache crashed, did not stop cleanly on SIGTERM, or logged a sanitizer report."""

    def __init__(self, n=3, weights=None, down=(), proxied=(), **sidecache_kw):
        """`proxied` lists node indexes sidecache reaches through a FaultProxy
        (self.proxies[i]), for faults between sidecache and that node."""
        self.tmp = tempfile.mkdtemp(prefix="sidecache-test-")
        self.redis = []
        self.proxies = {}
        self.sidecache = None
        try:
            for i in range(n):
                self.redis.append(RedisServer(self.tmp, start=i not in down))
            for i in proxied:
                self.proxies[i] = FaultProxy(self.tmp, self.redis[i].port)
            weights = weights or [1] * n
            self.nodes = [("node%d" % i, self.proxies[i].port if i in self.proxies else r.port,
                           weights[i]) for i, r in enumerate(self.redis)]
            self.sidecache = Sidecache(self.tmp, self.nodes, **sidecache_kw)
        except BaseException:
            self.close(check=False)
            raise

    def close(self, check=True):
        failure = None
        if self.sidecache:
            try:
                self.sidecache.stop_checked()
            except AssertionError as e:
                failure = e
            self.sidecache = None
        for proxy in self.proxies.values():
            proxy.stop()
        for r in self.redis:
            r.stop()
        keep = os.environ.get("SIDECACHE_KEEP_TMP") is not None
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if failure is not None and check:
            raise failure

    def direct(self, i, **kw):
        """A redis-py client connected straight to node i."""
        return self.redis[i].client(**kw)

    def client(self, **kw):
        return self.sidecache.client(**kw)

    def probe(self, keys, tag="{}"):
        """Node indexes route_probe predicts for `keys` on this cluster's ring (fnv1a_64)."""
        names = route_probe(keys, [(name, w) for name, _, w in self.nodes], tag=tag)
        index = {name: i for i, (name, _, _) in enumerate(self.nodes)}
        return [index[n] for n in names]

    def node_of(self, key):
        """Index of the backend that holds `key` (checked directly on the backends)."""
        holders = [i for i, r in enumerate(self.redis) if r.client().exists(key)]
        if len(holders) != 1:
            raise AssertionError("key %r held by nodes %r" % (key, holders))
        return holders[0]


def find_tool(name):
    """A tool built under SIDECACHE_BUILD_DIR (tests/<name> first, then anywhere)."""
    if not BUILD_DIR:
        raise unittest.SkipTest("SIDECACHE_BUILD_DIR not set")
    candidate = os.path.join(BUILD_DIR, "tests", name)
    if os.path.isfile(candidate):
        return candidate
    for root, _, files in os.walk(BUILD_DIR):
        if name in files:
            return os.path.join(root, name)
    raise RuntimeError("%s not found under %s" % (name, BUILD_DIR))


def route_probe(keys, nodes, hash_kind="fnv1a_64", tag="{}", timeout=60):
    """Node names route_probe gives `keys` (str or bytes) on a ring of (name, weight) nodes."""
    keys = [k.encode() if isinstance(k, str) else k for k in keys]
    args = [find_tool("route_probe"), "--hex", "--hash", hash_kind]
    if tag:
        args += ["--tag", tag]
    args += ["%s:%d" % (name, weight) for name, weight in nodes]
    out = subprocess.run(args, input="".join(k.hex() + "\n" for k in keys), capture_output=True,
                         text=True, timeout=timeout, check=True)
    names = out.stdout.splitlines()
    if len(names) != len(keys):
        raise RuntimeError("route_probe answered %d lines for %d keys" % (len(names), len(keys)))
    return names


def keys_on_nodes(cluster, per_node, prefix="k", tag="{}"):
    """`per_node` keys for each node of the cluster: a list (indexed by node) of key lists."""
    found = [[] for _ in cluster.redis]
    batch = 0
    while min(len(f) for f in found) < per_node:
        if batch > 100:
            raise RuntimeError("could not find keys for every node")
        keys = ["%s:%d:%d" % (prefix, batch, i) for i in range(64 * per_node)]
        for key, node in zip(keys, cluster.probe(keys, tag=tag)):
            if len(found[node]) < per_node:
                found[node].append(key)
        batch += 1
    return found


def _postgres_bin():
    """The newest /usr/lib/postgresql/<version>/bin (Debian's server binaries)."""
    root = "/usr/lib/postgresql"
    versions = sorted((d for d in os.listdir(root) if d.isdigit()), key=int) \
        if os.path.isdir(root) else []
    if not versions:
        raise unittest.SkipTest("PostgreSQL server not installed (scripts/deps.sh test)")
    return os.path.join(root, versions[-1], "bin")


class Postgres:
    """A real PostgreSQL server in a temp dir on a free 127.0.0.1 port (trust auth, user
    postgres). As root the server runs as the postgres user (runuser), as PLATFORM.md shows.
    close() stops it (pg_ctl, then by PID) and removes the temp dir."""

    def __init__(self, port=None, start=True):
        self.bin = _postgres_bin()
        self.port = port or free_port()
        self.tmp = tempfile.mkdtemp(prefix="sidecache-pg-")
        os.chmod(self.tmp, 0o755)  # the server user must traverse it
        self.data = os.path.join(self.tmp, "pgdata")
        os.makedirs(self.data, mode=0o700)
        try:
            if os.getuid() == 0:
                shutil.chown(self.data, "postgres", "postgres")
            subprocess.run(self._as_server([os.path.join(self.bin, "initdb"), "-D", self.data,
                                            "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                            "--locale=C.UTF-8", "--no-sync"]),
                           check=True, capture_output=True, timeout=120)
            if start:
                self.start()
        except BaseException:
            self.close()
            raise

    def _as_server(self, args):
        return ["runuser", "-u", "postgres", "--"] + args if os.getuid() == 0 else args

    def _pg_ctl(self, *args):
        return self._as_server([os.path.join(self.bin, "pg_ctl"), "-D", self.data] + list(args))

    def start_args(self):
        return self._pg_ctl("-l", os.path.join(self.data, "log"), "-w", "-t", "30", "-o",
                            "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off" %
                            (self.port, self.data), "start")

    def stop_args(self, mode="fast"):
        return self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")

    def start(self):
        subprocess.run(self.start_args(), check=True, capture_output=True, timeout=60)
        wait_until(self.ready, timeout=30, what="PostgreSQL on %d" % self.port)

    def ready(self):
        return subprocess.run([os.path.join(self.bin, "pg_isready"), "-q", "-h", "127.0.0.1",
                               "-p", str(self.port)], timeout=10).returncode == 0

    def pid(self):
        """The postmaster's PID, or None when it is not running."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self, mode="fast"):
        if self.pid() is None:
            return
        subprocess.run(self.stop_args(mode), capture_output=True, timeout=60)

    def close(self):
        try:
            if self.pid() is not None:
                self.stop()
            pid = self.pid()
            if pid is not None:  # pg_ctl could not stop it: by PID
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            if os.environ.get("SIDECACHE_KEEP_TMP") is None:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def conninfo(self, dbname="postgres"):
        return "host=127.0.0.1 port=%d user=postgres dbname=%s" % (self.port, dbname)

    def psql(self, sql, dbname="postgres", timeout=60):
        """Runs `sql` (one or more statements); the rows of the last one as lists of str
        (NULL is ''). Raises on any SQL error."""
        out = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-F",
                              "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                              str(self.port), "-U", "postgres", "-d", dbname],
                             input=sql, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("psql failed (%d): %s" % (out.returncode, out.stderr))
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def log(self):
        try:
            with open(os.path.join(self.data, "log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class MariaDB:
    """A real MariaDB server (Debian mariadb-server) in a temp dir: its own datadir made by
    mariadb-install-db, TCP on a free 127.0.0.1 port, its socket in the temp dir, root without a
    password (unix_socket auth is for the socket only; TCP root has an empty password). Runs as
    root with --user=root. A database `dbname` is created. close() stops it by PID and removes
    the temp dir. Start-up takes ~4 s (install-db) + ~0.5 s."""

    def __init__(self, port=None, dbname="sidecache_test"):
        self.server = shutil.which("mariadbd") or shutil.which("mysqld") or \
            ("/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None)
        self.install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        self.client = shutil.which("mariadb") or shutil.which("mysql")
        if not (self.server and self.install and self.client):
            raise unittest.SkipTest("MariaDB server not installed (scripts/deps.sh test)")
        self.port = port or free_port()
        self.dbname = dbname
        self.tmp = tempfile.mkdtemp(prefix="sidecache-my-")
        os.chmod(self.tmp, 0o755)
        self.data = os.path.join(self.tmp, "data")
        self.socket = os.path.join(self.tmp, "mysqld.sock")
        self.proc = None
        try:
            subprocess.run([self.install, "--no-defaults", "--datadir=" + self.data,
                            "--user=" + self._user(), "--auth-root-authentication-method=normal",
                            "--skip-test-db", "--skip-name-resolve"],
                           check=True, capture_output=True, timeout=120)
            self.start()
            self.sql("CREATE DATABASE `%s`" % dbname, dbname=None)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _user():
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name

    def start_args(self):
        return [self.server, "--no-defaults", "--datadir=" + self.data, "--user=" + self._user(),
                "--port=%d" % self.port, "--bind-address=127.0.0.1", "--socket=" + self.socket,
                "--pid-file=" + os.path.join(self.tmp, "mysqld.pid"), "--skip-log-bin",
                "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0",
                "--log-error=" + os.path.join(self.tmp, "error.log")]

    def start(self):
        self.proc = subprocess.Popen(self.start_args(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: self.ready() or self.proc.poll() is not None, timeout=30,
                   what="MariaDB on %d" % self.port)
        if self.proc.poll() is not None:
            raise RuntimeError("mariadbd exited: %s" % self.log()[-2000:])

    def stop_command(self):
        """A shell command that stops the server and returns once it is down."""
        admin = shutil.which("mariadb-admin") or shutil.which("mysqladmin")
        base = "%s --no-defaults -h 127.0.0.1 -P %d -u root" % (shlex.quote(admin), self.port)
        # Down means the listener refuses connections, not only that the server was asked to go
        # (the process itself may linger as the harness's unreaped child).
        return ("%s shutdown && for i in $(seq 300); do %s ping >/dev/null 2>&1 || exit 0; "
                "sleep 0.1; done; exit 1" % (base, base))

    def start_command(self):
        """A shell command that starts the server again and returns once it answers."""
        admin = shutil.which("mariadb-admin") or shutil.which("mysqladmin")
        ping = "%s --no-defaults -h 127.0.0.1 -P %d -u root ping" % (shlex.quote(admin), self.port)
        return ("setsid %s >/dev/null 2>&1 < /dev/null & "
                "for i in $(seq 300); do %s >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1"
                % (shlex.join(self.start_args()), ping))

    def ready(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return subprocess.run([self.client, "--no-defaults", "-h", "127.0.0.1", "-P",
                               str(self.port), "-u", "root", "-e", "SELECT 1"],
                              capture_output=True, timeout=10).returncode == 0

    def pid(self):
        try:
            with open(os.path.join(self.tmp, "mysqld.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self):
        """SIGTERM by PID, waits until it exited (bounded), SIGKILL otherwise."""
        pid = self.pid() or (self.proc.pid if self.proc else None)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.pid == pid and self.proc.poll() is not None:
                break  # our child, reaped (a server restarted by start_command is not)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        try:
            self.stop()
        finally:
            if os.environ.get("SIDECACHE_KEEP_TMP") is None:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def sql(self, text, dbname="", timeout=60):
        """Runs `text` (one or more statements) with the mariadb client; the rows of the last
        result as lists of str (NULL is 'NULL'). Raises on any SQL error."""
        args = [self.client, "--no-defaults", "--default-character-set=utf8mb4", "-h",
                "127.0.0.1", "-P", str(self.port), "-u", "root", "-N", "-B"]
        if dbname is not None:
            args.append(dbname or self.dbname)
        out = subprocess.run(args, input=text, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("mariadb failed (%d): %s" % (out.returncode, out.stderr))
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def log(self):
        try:
            with open(os.path.join(self.tmp, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def metrics_text(http_port, timeout=5.0):
    """The /metrics page of a sidecache's HTTP endpoint."""
    import urllib.request
    return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port,
                                  timeout=timeout).read().decode()


def metric(http_port, name, **labels):
    """The sum of the samples of metric `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for line in metrics_text(http_port).splitlines():
        if line.startswith("#") or not (line.startswith(name + "{") or
                                        line.startswith(name + " ")):
            continue
        head, value = line.rsplit(" ", 1)
        if all('%s="%s"' % (k, v) in head for k, v in labels.items()):
            total += float(value)
    return total


def http_status(http_port, path, timeout=5.0):
    """The HTTP status of GET `path` on a sidecache's HTTP endpoint."""
    import urllib.error
    import urllib.request
    try:
        return urllib.request.urlopen("http://127.0.0.1:%d%s" % (http_port, path),
                                      timeout=timeout).status
    except urllib.error.HTTPError as e:
        return e.code


def cache_yaml(http_port, database, policies, extra=""):
    """Top-level YAML for a read-through sidecache: an http endpoint and a cache section.
    `database` and `policies` are YAML text indented for their place (4 spaces)."""
    return ("http:\n  listen: 127.0.0.1:%d\n  ready_min_nodes_up: 0\n"
            "cache:\n  database:\n%s\n  policies:\n%s\n%s" % (http_port, database, policies, extra))


class ClusterSessionTest(unittest.TestCase):
    """Base of the session-mode tests (transactions, blocking): one sidecache over three
    redis-servers for the class, `keys[node]` the KEYS_PER_NODE keys (prefix KEY_PREFIX) that
    route to each node, every node flushed before each test, raw connections closed and the
    sidecache checked alive after it."""
    KEY_PREFIX = "k"
    KEYS_PER_NODE = 4
    RAW_TIMEOUT = 5

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3)
        cls.keys = keys_on_nodes(cls.cluster, cls.KEYS_PER_NODE, prefix=cls.KEY_PREFIX)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def setUp(self):
        for i in range(3):
            self.cluster.direct(i).flushall()
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.cluster.sidecache.check()

    def raw(self, timeout=None):
        c = self.cluster.sidecache.raw(timeout=timeout or self.RAW_TIMEOUT)
        self.conns.append(c)
        return c


FAULT_PROXY = os.path.join(SOURCE_DIR, "tests", "tools", "fault_proxy.py")


class FaultProxy:
    """tests/tools/fault_proxy.py on a free port in front of 127.0.0.1:`target_port`, driven
    from the test: point sidecache (or a client) at `port`, then delay, throttle, stall, drop,
    reset or close its traffic (tests/tools/README.md). Stopped by PID."""

    def __init__(self, workdir, target_port, port=None):
        import sys
        self.port = port or free_port()
        self.control_port = free_port()
        self.target_port = target_port
        self.process = Process(
            [sys.executable, FAULT_PROXY, "--listen", str(self.port),
             "--target", "127.0.0.1:%d" % target_port, "--control", str(self.control_port)],
            os.path.join(workdir, "fault-proxy-%d.log" % self.port))
        self._control = None
        wait_until(lambda: self._connect() or not self.process.alive(), timeout=10,
                   what="fault proxy on %d" % self.port)
        if not self.process.alive():
            raise RuntimeError("fault proxy exited: " + self.process.output())

    def _connect(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.control_port), timeout=5)
        except OSError:
            return False
        self._control = sock.makefile("rw", encoding="ascii", newline="\n")
        self._sock = sock
        return self.command("ping") == "pong"

    def command(self, *words):
        """Sends one control command; its answer after "ok", or RuntimeError on "error"."""
        self._control.write(" ".join(str(w) for w in words) + "\n")
        self._control.flush()
        answer = self._control.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError("fault proxy: %s: %s" % (" ".join(map(str, words)), answer))
        return answer[3:]

    def delay(self, ms, direction="both"):
        self.command("delay", direction, ms)

    def bandwidth(self, bytes_per_s, direction="both"):
        self.command("bandwidth", direction, bytes_per_s)

    def stall(self, direction="both"):
        self.command("stall", direction)

    def drop(self, direction="both"):
        self.command("drop", direction)

    def resume(self, direction="both"):
        self.command("resume", direction)

    def reset(self):
        self.command("reset")

    def close_links(self):
        self.command("close")

    def accept(self, on):
        self.command("accept", "on" if on else "off")

    def clear(self):
        self.command("clear")

    def stats(self):
        """{"links": n, "accepted": n, "up_bytes": n, "down_bytes": n}"""
        return {k: int(v) for k, v in (kv.split("=") for kv in self.command("stats").split())}

    def stop(self):
        if self._control is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._control = None
        return self.process.stop()


def redis_client_for(port, password=None, db=0, username=None):
    """A plain redis-py client of a node started by hand (requirepass / db)."""
    import redis
    return redis.Redis(host="127.0.0.1", port=port, password=password, username=username, db=db,
                       socket_timeout=5)
