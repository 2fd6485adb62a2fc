"""The sidecache binary under test: its generated config, start and checked stop, and reads
of its HTTP endpoint (metrics, probes)."""
import os
import signal

from . import cluster_backend, env, tls
from .processes import AddressInUse, Process, says_address_in_use, start_on_free_port, wait_until
from .resp import RespConnection, ping


# Lines a sanitizer writes when it finds something (ASan, LSan, UBSan); any of them in
# sidecache's log fails the test.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer", "WARNING: ThreadSanitizer")


def sanitized_build():
    """True when sidecache is a sanitizer build (its allocator's quarantine and shadow memory
    make resident-memory figures meaningless there)."""
    cache = os.path.join(env.BUILD_DIR, "CMakeCache.txt") if env.BUILD_DIR else ""
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


def node_yaml(nodes):
    lines = []
    for name, port, weight in nodes:
        lines.append("    - {name: %s, address: 127.0.0.1:%d, weight: %d}" % (name, port, weight))
    return "\n".join(lines)


def config_yaml(port, nodes, workers=1, pool_extra="", top_extra=""):
    """The config file Sidecache writes (tests that reload write new versions of it). With
    SIDECACHE_TEST_BACKEND=auth_tls the pool authenticates and uses TLS (secure_pool_yaml);
    with SIDECACHE_TEST_BACKEND=cluster, for the shared Redis Cluster's primaries, it is a
    cluster pool seeded with their addresses (cluster_backend.pool_yaml: ring-only pool keys
    skip the test)."""
    if cluster_backend.serves(nodes):
        return "listen: 127.0.0.1:%d\nworkers: %d\n%s\n%s" % (
            port, workers, top_extra, cluster_backend.pool_yaml(nodes, pool_extra))
    security = tls.secure_pool_yaml() if env.BACKEND_MODE == "auth_tls" else ""
    return "listen: 127.0.0.1:%d\nworkers: %d\n%s\npool:\n%s  nodes:\n%s\n%s\n" % (
        port, workers, top_extra, security, node_yaml(nodes), pool_extra)


def sample_config_yaml(port, http_port, redis_port, sqlite_path=None):
    """config/sidecache.yaml (the annotated sample) on these ports, over one Redis node: with
    its SQLite read-through on `sqlite_path` (see make_sample_db), or without its cache section
    (the proxy-only sample) when None."""
    import yaml
    with open(os.path.join(env.SOURCE_DIR, "config", "sidecache.yaml")) as f:
        conf = yaml.safe_load(f)
    conf["listen"] = "127.0.0.1:%d" % port
    conf["http"]["listen"] = "127.0.0.1:%d" % http_port
    conf["pool"]["nodes"] = [{"name": "r1", "address": "127.0.0.1:%d" % redis_port,
                              "weight": 1}]
    if sqlite_path:
        conf["cache"]["database"]["path"] = sqlite_path
    else:
        del conf["cache"]
    return yaml.safe_dump(conf, sort_keys=False)


def make_sample_db(path):
    """The quick start's SQLite database (config/sample-data.sql, as scripts/run.sh makes it)."""
    import sqlite3
    db = sqlite3.connect(path)
    try:
        with open(os.path.join(env.SOURCE_DIR, "config", "sample-data.sql")) as f:
            db.executescript(f.read())
    finally:
        db.close()


class Sidecache:
    """The sidecache binary with a generated config; `pool_extra`/`top_extra` add YAML lines."""

    def __init__(self, workdir, nodes, workers=1, pool_extra="", top_extra="", port=None,
                 wait=True, config_path=None, config_text=None):
        """`config_path`: where to write the config and what `-c` names (it may be a symlink,
        written through); by default a new file in `workdir`. `config_text`: a function of the
        listen port that returns the whole config (then `nodes`, `workers` and the extras are
        not used)."""
        self.workdir = workdir
        self.process = None

        def start(candidate):
            self.port = candidate
            self.config_path = config_path or os.path.join(workdir,
                                                           "sidecache-%d.yaml" % candidate)
            with open(self.config_path, "w") as f:
                f.write(config_text(candidate) if config_text else
                        config_yaml(candidate, nodes, workers, pool_extra, top_extra))
            self.process = Process([env.binary(), "-c", self.config_path],
                                   os.path.join(workdir, "sidecache-%d.log" % candidate))
            if wait:
                self._wait_started()

        start_on_free_port(start, port)

    def _wait_started(self):
        """Returns once sidecache answers PING (bounded); AddressInUse when its listen port
        was taken, RuntimeError when it exited for another reason."""
        wait_until(lambda: ping(self.port) or not self.process.alive(), timeout=15,
                   what="sidecache on %d" % self.port)
        if not self.process.alive():
            output = self.process.output()
            self.process.stop()
            if "cannot listen on 127.0.0.1:%d: " % self.port in output and \
                    says_address_in_use(output):
                raise AddressInUse("sidecache: port %d taken" % self.port)
            raise RuntimeError("sidecache exited: " + output)

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


def check_config(text):
    """Runs `sidecache --check-config` on `text` (written to a temp file); returns (exit code,
    the file's name, stdout + stderr)."""
    import subprocess
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        r = subprocess.run([env.binary(), "--check-config", f.name], capture_output=True,
                           text=True, timeout=30)
        return r.returncode, f.name, r.stdout + r.stderr
    finally:
        os.unlink(f.name)


def assert_config_error(test, text, message, line=None):
    """`sidecache --check-config` refuses `text` with `message`, at `line` of the file when
    given; returns the output."""
    code, name, out = check_config(text)
    test.assertNotEqual(code, 0, out)
    test.assertIn(message, out, text)
    if line is not None:
        test.assertIn("%s:%d:" % (name, line), out, text)
    return out


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
