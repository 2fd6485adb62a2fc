#!/usr/bin/env python3
"""sidecache benchmark: direct Redis vs twemproxy (nutcracker) vs sidecache, in one run.

Started by scripts/bench.sh (which installs the tools and builds sidecache); usable alone:

    python3 scripts/bench.py --sidecache build/release/src/app/sidecache [--quick] ...

Layout on a 2-core machine: both redis-server backends, nutcracker and sidecache on core 0
(taskset -c 0), redis-benchmark on core 1. "direct" is redis-benchmark against backend 1.
"sidecache_metrics" is a second sidecache process, identical but with its HTTP endpoint on, and
scraped (GET /metrics every second) while a workload runs against it: metrics on vs metrics off.
Every workload runs against the four targets interleaved (for each repetition, for each
workload, each target, in an order that rotates), so slow drift of a noisy machine hits all
alike. Standard library only; talks to Redis over plain sockets and HTTP with urllib.
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import datetime
import io
import json
import os
import platform
import random
import re
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYSPACE = 100_000  # redis-benchmark -r: keys key:000000000000 .. key:000000099999
CLIENTS = 50
NODE_NAMES = ("node-a", "node-b")
# Extended in main() by the optional targets: sidecache_base (--compare-bin, another build of
# sidecache, e.g. the revision `bench.sh --compare REV` built) and sidecache_policies
# (--policies N: N read-through policies whose patterns the benchmark's keys never match).
TARGETS = ["direct", "twemproxy", "sidecache", "sidecache_metrics"]
PROXIES = ["twemproxy", "sidecache", "sidecache_metrics"]
SIDECACHES = ["sidecache", "sidecache_metrics"]
EXTRAS: list[str] = []
SCRAPE_INTERVAL_S = 1.0  # Prometheus' default is 15 s (scrape_interval); 1 s is stricter
SCRAPE_TIMEOUT_S = 2.0
DEFAULT_BIN = "build/release/src/app/sidecache"
DOCS_BEGIN = "<!-- bench:results:begin -->"
DOCS_END = "<!-- bench:results:end -->"


@dataclass(frozen=True)
class Workload:
    name: str  # short id, e.g. get-16-P16
    title: str  # for tables, e.g. "GET 16 B, -P 16"
    command: str  # get, set or mget
    size: int  # value bytes (prepopulated and, for SET, written)
    pipeline: int


def workloads() -> list[Workload]:
    out = []
    for size in (16, 1024):
        unit = "16 B" if size == 16 else "1 KB"
        for p in (1, 16):
            for cmd in ("get", "set"):
                out.append(Workload(f"{cmd}-{size}-P{p}", f"{cmd.upper()} {unit}, -P {p}", cmd,
                                    size, p))
        if size == 16:
            out.append(Workload("mget10-16-P1", "MGET 10 keys, 16 B, -P 1", "mget", 16, 1))
    return out


# The performance targets (docs/benchmarks.md), each compared within one run. (kind, workload filter, threshold)
def ratio_target(w: Workload) -> float:
    if w.command == "mget":
        return 0.85
    if w.pipeline == 1:
        return 0.95
    return 0.55 if w.size == 16 else 0.50


def cpu_target_us(w: Workload) -> float:
    return 0.7 if w.size == 16 else 1.0


P99_FACTOR = 1.5
RSS_TARGET_MB = 8.0
METRICS_RATIO_TARGET = 0.97  # metrics on within 3 % of metrics off

# Seconds per measured run. Full run: 3 repetitions x 9 workloads x 4 targets x 2.5 s is
# ~4.5 minutes of runs (~5 in all), inside the 600 s budget with room for a loaded machine.
FULL_DURATION_S = 2.5
QUICK_DURATION_S = 1.0


# ---------------------------------------------------------------------------------------------
# Processes


_children: list[subprocess.Popen] = []


def _die_with_parent() -> None:
    # The servers get SIGTERM if this script dies, even by SIGKILL (survives taskset's exec).
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def spawn(argv: list[str], log: Path, cpu: str | None = "0") -> subprocess.Popen:
    full = (["taskset", "-c", cpu] if cpu is not None else []) + argv
    with open(log, "ab") as out:
        p = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             preexec_fn=_die_with_parent)
    _children.append(p)
    return p


def stop_all() -> None:
    for p in reversed(_children):
        if p.poll() is None:
            try:
                p.terminate()  # by PID
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    for p in reversed(_children):
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    _children.clear()


def free_ports(count: int) -> list[int]:
    """Free 127.0.0.1 ports below the ephemeral range (32768)."""
    ports: list[int] = []
    rng = random.Random()
    while len(ports) < count:
        port = rng.randrange(20000, 32000)
        if port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


# ---------------------------------------------------------------------------------------------
# Minimal RESP client


sys.path.insert(0, str(ROOT / "tests" / "integration"))
from harness import RespConnection  # noqa: E402


class Redis(RespConnection):
    """The tests' RESP client (harness.RespConnection) as a context manager."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, *args):
        return self.command(*args)


def wait_ready(port: int, proc: subprocess.Popen, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} (see its log)")
        try:
            with Redis(port, timeout=1) as r:
                if r.call("PING") == "PONG":
                    return
        except (OSError, ConnectionError, RuntimeError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} on port {port} not ready after {timeout} s")


def info_field(port: int, section: str, name: str) -> str | None:
    with Redis(port) as r:
        text = r.call("INFO", section)
    for line in (text or b"").decode().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    return None


def backend_counters(port: int) -> dict[str, int]:
    with Redis(port) as r:
        text = r.call("INFO", "stats").decode()
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        if k in ("total_commands_processed", "keyspace_hits", "keyspace_misses"):
            out[k] = int(v)
    return out


# ---------------------------------------------------------------------------------------------
# /proc


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads, live and exited), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int, key: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------------------------
# Prometheus-like scraper


@dataclass
class ScrapeStats:
    ok: int = 0  # 200 with a body that has sidecache_ metrics
    failed: int = 0
    max_ms: float = 0.0  # slowest scrape (request to last byte)
    body_bytes: int = 0  # size of the last good body
    errors: list[str] = field(default_factory=list)


class Scraper:
    """GET /metrics every SCRAPE_INTERVAL_S on a thread, from start() until stop().

    The first scrape is at start(), the next ones on a fixed 1 s schedule (a slow scrape delays
    the next one, it does not pile them up). Each scrape is a new connection (urllib does not
    keep it alive; Prometheus does), slightly more work for sidecache than a real scrape. The
    thread runs on core 1 with redis-benchmark (the client side), so its own cost does not land
    on the proxy's core."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.stats = ScrapeStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scraper", daemon=True)

    def start(self) -> "Scraper":
        self._thread.start()
        return self

    def stop(self) -> ScrapeStats:
        self._stop.set()
        self._thread.join(timeout=SCRAPE_TIMEOUT_S + 5)
        return self.stats

    def _loop(self) -> None:
        try:
            os.sched_setaffinity(0, {1})  # this thread only
        except (OSError, AttributeError):
            pass
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.scrape_once()
            next_at += SCRAPE_INTERVAL_S
            now = time.monotonic()
            if next_at < now:
                next_at = now
            self._stop.wait(next_at - now)

    def scrape_once(self) -> None:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(self.url, timeout=SCRAPE_TIMEOUT_S) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as e:  # non-2xx
            status, body = e.code, b""
        except (OSError, ValueError) as e:  # refused, reset, timeout, bad response
            self._fail(f"{type(e).__name__}: {e}")
            return
        elapsed_ms = (time.monotonic() - t0) * 1e3
        if status != 200:
            self._fail(f"HTTP {status}")
        elif b"sidecache_" not in body:
            self._fail(f"200 without sidecache_ metrics ({len(body)} bytes)")
        else:
            self.stats.ok += 1
            self.stats.body_bytes = len(body)
            self.stats.max_ms = max(self.stats.max_ms, elapsed_ms)

    def _fail(self, why: str) -> None:
        self.stats.failed += 1
        if len(self.stats.errors) < 3:
            self.stats.errors.append(why)


@contextmanager
def scraping(env: "Env", target: str):
    """A running Scraper for the target with metrics on (yields None for the others)."""
    if target != "sidecache_metrics":
        yield None
        return
    scraper = Scraper(env.ports["sidecache_metrics_http"]).start()
    try:
        yield scraper
    finally:
        scraper.stop()


# ---------------------------------------------------------------------------------------------
# The bench


@dataclass
class Run:
    workload: str
    target: str
    rep: int
    order: int  # position among the targets of this workload in this repetition
    requests: int
    rps: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    wall_s: float
    proxy_cpu_us_per_req: float | None  # the target proxy's own CPU (None for direct)
    backends_cpu_us_per_req: float  # both redis-servers together
    backend_cmds_per_req: float
    backend_misses: int
    proxy_rss_kb: int | None
    scrapes_ok: int | None = None  # sidecache_metrics only: /metrics scrapes during the run
    scrapes_failed: int | None = None
    scrape_max_ms: float | None = None
    scrape_errors: list[str] | None = None


@dataclass
class Env:
    ports: dict[str, int]
    pids: dict[str, int]
    work: Path
    sidecache_bin: str
    versions: dict[str, str] = field(default_factory=dict)


def benchmark_argv(w: Workload, port: int, requests: int) -> list[str]:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", str(CLIENTS),
            "-P", str(w.pipeline), "-n", str(requests), "-r", str(KEYSPACE), "--csv"]
    if w.command == "mget":
        # redis-benchmark 7.0 has no MGET test (-t mset only): a custom command, where every
        # __rand_int__ is drawn separately, so the 10 keys spread over both nodes.
        argv += ["MGET"] + ["key:__rand_int__"] * 10
    else:
        argv += ["-d", str(w.size), "-t", w.command]
    return argv


def target_port(env: Env, target: str) -> int:
    return env.ports["redis1" if target == "direct" else target]


@dataclass
class Snapshot:
    """CPU of the proxy and the backends, and the backends' counters, at one instant."""
    proxy_cpu: float
    backends_cpu: float
    counters: list[dict[str, int]]

    @staticmethod
    def take(env: Env, target: str) -> "Snapshot":
        proxy_pid = env.pids.get(target)
        return Snapshot(
            proxy_cpu=cpu_seconds(proxy_pid) if proxy_pid else 0.0,
            backends_cpu=sum(cpu_seconds(env.pids[b]) for b in ("redis1", "redis2")),
            counters=[backend_counters(env.ports[b]) for b in ("redis1", "redis2")])

    def delta(self, before: "Snapshot", key: str) -> int:
        return sum(a[key] - b[key] for a, b in zip(self.counters, before.counters))


def benchmark_csv_row(env: Env, proc: subprocess.CompletedProcess, w: Workload,
                      target: str) -> list[str]:
    """The last data row of redis-benchmark's --csv output; raises if the run failed."""
    row = None
    for rec in csv.reader(io.StringIO(proc.stdout)):
        if rec and rec[0] != "test":
            row = rec
    if proc.returncode != 0 or row is None or len(row) < 8:
        dead = [f"{name} (pid {pid}) exited with status {p.returncode}"
                for name, pid in env.pids.items() for p in _children
                if p.pid == pid and p.poll() is not None]
        raise RuntimeError(f"redis-benchmark failed for {w.name} against {target} "
                           f"(status {proc.returncode}): {proc.stderr.strip()[-400:]}"
                           + ("; " + "; ".join(dead) if dead else "; all servers still running"))
    return row


def run_benchmark(env: Env, w: Workload, target: str, requests: int, rep: int, order: int,
                  timeout: float) -> Run:
    """One redis-benchmark run against the target (scraped while it runs if metrics are on)."""
    proxy_pid = env.pids.get(target)
    argv = ["taskset", "-c", "1"] + benchmark_argv(w, target_port(env, target), requests)
    before = Snapshot.take(env, target)
    with scraping(env, target) as scraper:
        t0 = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        wall = time.monotonic() - t0
    after = Snapshot.take(env, target)
    with open(env.work / "redis-benchmark.log", "a") as log:
        log.write(f"### rep {rep} {w.name} {target}: {shlex.join(argv)}\n{proc.stdout}"
                  f"{proc.stderr}\n")
    row = benchmark_csv_row(env, proc, w, target)
    rps = float(row[1]) if row[1] != "inf" else float("nan")
    avg, _min, p50, p95, p99, mx = (float(x) for x in row[2:8])
    run = Run(
        workload=w.name, target=target, rep=rep, order=order, requests=requests, rps=rps,
        avg_ms=avg, p50_ms=p50, p95_ms=p95, p99_ms=p99, max_ms=mx, wall_s=wall,
        proxy_cpu_us_per_req=((after.proxy_cpu - before.proxy_cpu) / requests * 1e6
                              if proxy_pid else None),
        backends_cpu_us_per_req=(after.backends_cpu - before.backends_cpu) / requests * 1e6,
        backend_cmds_per_req=after.delta(before, "total_commands_processed") / requests,
        backend_misses=after.delta(before, "keyspace_misses"),
        proxy_rss_kb=rss_kb(proxy_pid) if proxy_pid else None,
    )
    if scraper is not None:
        st = scraper.stats
        run.scrapes_ok, run.scrapes_failed = st.ok, st.failed
        run.scrape_max_ms, run.scrape_errors = st.max_ms, st.errors
    return run


def populate(env: Env, size: int) -> None:
    """SET every key of the keyspace, with a value of `size` bytes, on both backends.

    Both backends hold every key, so direct runs (backend 1 only) and proxied runs (keys spread
    by the ring) all hit."""
    value = (b"v" * size)
    chunk = []
    for i in range(KEYSPACE):
        key = b"key:%012d" % i
        chunk.append(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$%d\r\n%s\r\n" % (key, size, value))
    data = b"".join(chunk)
    path = env.work / f"populate-{size}.resp"
    path.write_bytes(data)
    for name in ("redis1", "redis2"):
        with open(path, "rb") as f:
            out = subprocess.run(["redis-cli", "-p", str(env.ports[name]), "--pipe"], stdin=f,
                                 capture_output=True, text=True, timeout=120)
        if out.returncode != 0 or "errors: 0" not in out.stdout:
            raise RuntimeError(f"populating {name} failed: {out.stdout} {out.stderr}")
    path.unlink()


def check_targets(env: Env, size: int) -> None:
    """Every target answers GET and a 10-key MGET with values of the populated size."""
    keys = [f"key:{i:012d}" for i in random.sample(range(KEYSPACE), 10)]
    for target in TARGETS:
        with Redis(target_port(env, target)) as r:
            got = r.call("MGET", *keys)
            one = r.call("GET", keys[0])
        if not isinstance(got, list) or len(got) != 10 or any(
                not isinstance(v, bytes) or len(v) != size for v in got) or len(one or b"") != size:
            raise RuntimeError(f"{target}: MGET/GET through it did not return the populated "
                               f"values: {str(got)[:200]}")
    check_metrics_endpoint(env)


def check_metrics_endpoint(env: Env) -> None:
    """sidecache_metrics serves /metrics (a 200 with sidecache_ metrics in it)."""
    scraper = Scraper(env.ports["sidecache_metrics_http"])
    scraper.scrape_once()
    if scraper.stats.ok != 1:
        raise RuntimeError(f"sidecache_metrics: GET {scraper.url} failed: {scraper.stats.errors}")


def nutcracker_config(port: int, servers: list[tuple[str, str]]) -> str:
    """twemproxy: ketama, fnv1a_64, the same named servers, no hash_tag."""
    return ("bench:\n"
            f"  listen: 127.0.0.1:{port}\n"
            "  hash: fnv1a_64\n"
            "  distribution: ketama\n"
            "  redis: true\n"
            "  preconnect: true\n"
            "  auto_eject_hosts: false\n"
            "  servers:\n" + "".join(f"    - {addr}:1 {name}\n" for addr, name in servers))


def sidecache_config(port: int, servers: list[tuple[str, str]],
                     http_port: int | None = None, policies: int = 0,
                     work: Path | None = None) -> str:
    """sidecache: one worker (one core for everything server-side), same ring, tags off; with
    http_port, the same plus the HTTP endpoint (metrics on); with policies, that many
    read-through policies on an SQLite file whose patterns no benchmark key (key:...) matches:
    what the policy lookup costs a command it does not apply to."""
    text = (f"listen: 127.0.0.1:{port}\n"
            "workers: 1\n"
            "pool:\n"
            "  hash: fnv1a_64\n"
            "  distribution: ketama\n"
            "  hash_tag: \"\"\n"
            "  nodes:\n" + "".join(f"    - {{name: {name}, address: {addr}, weight: 1}}\n"
                                   for addr, name in servers) +
            "logging: {level: warn, format: text}\n")
    if http_port is not None:
        text += f"http:\n  listen: 127.0.0.1:{http_port}\n"
    if policies:
        # Patterns of other key spaces, some sharing the keys' first byte ("k"), one with a
        # suffix only, as a real configuration would have.
        prefixes = ["user", "product", "order", "session", "cart", "kv", "keyring", "price",
                    "stock", "review", "profile", "token", "feed", "inbox", "geo", "rank",
                    "quota", "flag", "tenant", "keyword"]
        text += (f"cache:\n  database: {{type: sqlite, path: {work / 'policies.db'}}}\n"
                 "  policies:\n")
        for i in range(policies):
            prefix = prefixes[i % len(prefixes)] + ("" if i < len(prefixes) else str(i))
            text += (f"    - {{name: p{i}, match: \"{prefix}:*\", table: t{i}, "
                     f"key_column: id, value_column: v, ttl: 60s}}\n")
    return text


def start_servers(work: Path, sidecache_bin: str, base_bin: str | None = None,
                  policies: int = 0) -> Env:
    names = ["redis1", "redis2", "twemproxy", "twemproxy_stats", "sidecache",
             "sidecache_metrics", "sidecache_metrics_http"] + EXTRAS
    ports = dict(zip(names, free_ports(len(names))))
    procs = {}
    for name in ("redis1", "redis2"):
        d = work / name
        d.mkdir()
        procs[name] = spawn(["redis-server", "--port", str(ports[name]), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(d),
                             "--daemonize", "no"], work / f"{name}.log")
    servers = [(f"127.0.0.1:{ports['redis1']}", NODE_NAMES[0]),
               (f"127.0.0.1:{ports['redis2']}", NODE_NAMES[1])]
    nut_conf = work / "nutcracker.yml"
    nut_conf.write_text(nutcracker_config(ports["twemproxy"], servers))
    for name in ("redis1", "redis2"):
        wait_ready(ports[name], procs[name], name)
    procs["twemproxy"] = spawn(["nutcracker", "-c", str(nut_conf), "-s",
                                str(ports["twemproxy_stats"]), "-a", "127.0.0.1",
                                "-o", str(work / "nutcracker.log")], work / "nutcracker.out")
    if policies:
        import sqlite3
        with sqlite3.connect(work / "policies.db") as db:
            for i in range(policies):
                db.execute(f"CREATE TABLE t{i} (id TEXT PRIMARY KEY, v TEXT)")
    for name in SIDECACHES:  # the same config; sidecache_metrics adds http:, and the extras
        conf = work / f"{name}.yaml"
        conf.write_text(sidecache_config(
            ports[name], servers, ports.get(f"{name}_http"),
            policies if name == "sidecache_policies" else 0, work))
        binary = base_bin if name == "sidecache_base" else sidecache_bin
        procs[name] = spawn([binary, "-c", str(conf)], work / f"{name}.log")
    wait_ready(ports["twemproxy"], procs["twemproxy"], "nutcracker")
    for name in SIDECACHES:
        wait_ready(ports[name], procs[name], name)
    pids = {name: p.pid for name, p in procs.items()}
    return Env(ports=ports, pids=pids, work=work, sidecache_bin=sidecache_bin)


def cmd_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine_info(env: Env) -> dict[str, str]:
    model, cores = "?", str(os.cpu_count())
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", lscpu, re.M)
        model = m.group(1).strip() if m else model
        h = re.search(r"^Hypervisor vendor:\s*(.+)$", lscpu, re.M)
        if h:
            model += f" ({h.group(1).strip()} guest)"
    except OSError:
        pass
    debian = Path("/etc/debian_version").read_text().strip() if Path(
        "/etc/debian_version").exists() else "?"
    rev = cmd_version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    built_here = Path(env.sidecache_bin).resolve() == (ROOT / DEFAULT_BIN).resolve()
    source = (f"git {rev}" + (", with uncommitted changes" if dirty else "") if built_here
              else f"binary {env.sidecache_bin}")
    return {
        "cpu": model,
        "cores": cores,
        "kernel": platform.release(),
        "os": f"Debian {debian}",
        "redis": cmd_version(["redis-server", "--version"]),
        "redis-benchmark": cmd_version(["redis-benchmark", "--version"]),
        "twemproxy": cmd_version(["nutcracker", "--version"]).replace("This is ", ""),
        "sidecache": cmd_version([env.sidecache_bin, "--version"]) + f" ({source})",
    }


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


# ---------------------------------------------------------------------------------------------
# Report


def med(values):
    values = [v for v in values if v is not None and v == v]
    return statistics.median(values) if values else float("nan")


def fmt_rps(v: float) -> str:
    return "n/a" if v != v else f"{v:,.0f}"


def fmt_ms(v: float) -> str:
    return "n/a" if v != v else f"{v:.3f}"


def fmt_x(v: float) -> str:
    return "n/a" if v != v else f"{v:.2f}x"


def fmt_cpu(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.2f}"


def fmt_mb(kb: float | None) -> str:
    return "–" if kb is None or kb != kb else f"{kb / 1024:.1f} MB"


def fmt_syscalls(sc: dict | None) -> str:
    return "–" if not sc else f"{sc['total']:.2f}"


def fmt_us(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.2f} µs"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def summarize_target(rs: list[Run], target: str) -> dict:
    out = {
        "runs": len(rs),
        "rps": med([r.rps for r in rs]),
        "rps_min": min((r.rps for r in rs), default=float("nan")),
        "rps_max": max((r.rps for r in rs), default=float("nan")),
        "p50": med([r.p50_ms for r in rs]),
        "p99": med([r.p99_ms for r in rs]),
        "cpu": med([r.proxy_cpu_us_per_req for r in rs]) if target != "direct" else None,
        "backend_cpu": med([r.backends_cpu_us_per_req for r in rs]),
        "backend_cmds": med([r.backend_cmds_per_req for r in rs]),
        "misses": sum(r.backend_misses for r in rs),
        "rss_kb": med([r.proxy_rss_kb for r in rs if r.proxy_rss_kb]),
    }
    if target == "sidecache_metrics":
        out["scrapes_ok"] = sum(r.scrapes_ok or 0 for r in rs)
        out["scrapes_failed"] = sum(r.scrapes_failed or 0 for r in rs)
        out["scrape_max_ms"] = max((r.scrape_max_ms or 0.0 for r in rs), default=float("nan"))
    return out


def summarize(runs: list[Run], wls: list[Workload]) -> dict:
    by = {}
    for r in runs:
        by.setdefault((r.workload, r.target), []).append(r)
    summary = {}
    for w in wls:
        s = {"workload": w,
             "targets": {t: summarize_target(by.get((w.name, t), []), t) for t in TARGETS}}

        # Ratios: median over repetitions of the paired (same repetition) ratio.
        def paired(a: str, b: str) -> float:
            ra = {r.rep: r.rps for r in by.get((w.name, a), [])}
            rb = {r.rep: r.rps for r in by.get((w.name, b), [])}
            return med([ra[k] / rb[k] for k in ra if k in rb and rb[k]])

        def paired_cpu(a: str, b: str) -> float:
            ca = {r.rep: r.proxy_cpu_us_per_req for r in by.get((w.name, a), [])}
            cb = {r.rep: r.proxy_cpu_us_per_req for r in by.get((w.name, b), [])}
            return med([ca[k] / cb[k] for k in ca if k in cb and cb[k]])
        s["sc_direct"] = paired("sidecache", "direct")
        s["sc_twem"] = paired("sidecache", "twemproxy")
        s["twem_direct"] = paired("twemproxy", "direct")
        s["metrics_on_off"] = paired("sidecache_metrics", "sidecache")
        if "sidecache_base" in TARGETS:
            s["sc_base"] = paired("sidecache", "sidecache_base")
            s["cpu_sc_base"] = paired_cpu("sidecache", "sidecache_base")
        if "sidecache_policies" in TARGETS:
            s["cpu_policies"] = paired_cpu("sidecache_policies", "sidecache")
        summary[w.name] = s
    return summary


Check = tuple[str, str, str, "bool | None"]  # target, goal, measured, met


def report_header(meta: dict) -> list[str]:
    m = meta["machine"]
    return [
        f"**{meta['label']}** — {meta['date']}, {meta['repeat']} repetition(s), "
        f"{CLIENTS} clients, keyspace {KEYSPACE:,}, ~{meta['duration']:g} s per run; "
        f"load average {meta['load_start']} at start, {meta['load_end']} at end.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, kernel {m['kernel']}.  ",
        f"Versions: {m['redis']}; {m['twemproxy']}; {m['sidecache']}.  ",
        f"Command: `{meta['command']}`",
        "",
    ]


def report_throughput(summary: dict, wls: list[Workload], checks: list[Check]) -> list[str]:
    out = ["### Throughput (median requests/s over the repetitions)", "",
           "| workload | direct | twemproxy | sidecache | twemproxy/direct | sidecache/direct "
           "| sidecache/twemproxy | target sidecache/direct | |",
           "|---|--:|--:|--:|--:|--:|--:|--:|---|"]
    for w in wls:
        s = summary[w.name]
        t = s["targets"]
        goal = ratio_target(w)
        ok = None if s["sc_direct"] != s["sc_direct"] else s["sc_direct"] >= goal
        checks.append((f"{w.title}: sidecache/direct req/s", f"≥ {goal:.2f}x",
                       fmt_x(s["sc_direct"]), ok))
        out.append(f"| {w.title} | {fmt_rps(t['direct']['rps'])} | "
                   f"{fmt_rps(t['twemproxy']['rps'])} | {fmt_rps(t['sidecache']['rps'])} | "
                   f"{fmt_x(s['twem_direct'])} | {fmt_x(s['sc_direct'])} | "
                   f"{fmt_x(s['sc_twem'])} | ≥ {goal:.2f}x | {verdict(ok)} |")
    return out + [""]


def report_latency(summary: dict, wls: list[Workload], checks: list[Check]) -> list[str]:
    out = ["### Latency (median over the repetitions of redis-benchmark's p50 / p99, ms)", "",
           "| workload | direct p50 | direct p99 | twemproxy p50 | twemproxy p99 | sidecache p50 "
           "| sidecache p99 | sidecache p99 / direct p99 | target | |",
           "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for w in wls:
        t = summary[w.name]["targets"]
        d99, s99 = t["direct"]["p99"], t["sidecache"]["p99"]
        ratio = s99 / d99 if d99 and d99 == d99 and s99 == s99 else float("nan")
        ok = None if ratio != ratio else ratio <= P99_FACTOR
        checks.append((f"{w.title}: sidecache p99 / direct p99", f"≤ {P99_FACTOR:.1f}x",
                       fmt_x(ratio), ok))
        out.append(f"| {w.title} | {fmt_ms(t['direct']['p50'])} | {fmt_ms(d99)} | "
                   f"{fmt_ms(t['twemproxy']['p50'])} | {fmt_ms(t['twemproxy']['p99'])} | "
                   f"{fmt_ms(t['sidecache']['p50'])} | {fmt_ms(s99)} | {fmt_x(ratio)} | "
                   f"≤ {P99_FACTOR:.1f}x | {verdict(ok)} |")
    return out + [""]


def report_cpu(summary: dict, wls: list[Workload], checks: list[Check]) -> list[str]:
    out = ["### CPU per request (µs of the process's own user+system CPU, /proc/PID/stat)", "",
           "The proxy's own CPU divided by the requests of the run (median over repetitions); "
           "the target applies to the pipelined runs. \"backends\" is both redis-servers "
           "together, for the same run.", "",
           "| workload | twemproxy | sidecache | target sidecache | | backends (direct) "
           "| backends (twemproxy) | backends (sidecache) | sidecache RSS after the run "
           "| sidecache syscalls/req |",
           "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|"]
    for w in wls:
        t = summary[w.name]["targets"]
        sc = t["sidecache"]["cpu"]
        goal_s, v = "", ""
        if w.pipeline > 1:
            goal = cpu_target_us(w)
            ok = None if sc != sc else sc <= goal
            checks.append((f"{w.title}: sidecache CPU per request", f"≤ {goal:.1f} µs",
                           fmt_us(sc), ok))
            goal_s, v = f"≤ {goal:.1f}", verdict(ok)
        out.append(f"| {w.title} | {fmt_cpu(t['twemproxy']['cpu'])} | {fmt_cpu(sc)} | "
                   f"{goal_s} | {v} | {fmt_cpu(t['direct']['backend_cpu'])} | "
                   f"{fmt_cpu(t['twemproxy']['backend_cpu'])} | "
                   f"{fmt_cpu(t['sidecache']['backend_cpu'])} | "
                   f"{fmt_mb(t['sidecache']['rss_kb'])} | "
                   f"{fmt_syscalls(summary[w.name].get('syscalls'))} |")
    return out + [""]


def report_syscalls(summary: dict, wls: list[Workload]) -> list[str]:
    if not any(summary[w.name].get("syscalls") for w in wls):
        return []
    names = sorted({n for w in wls for n in (summary[w.name].get("syscalls") or {})
                    if n != "total"},
                   key=lambda n: -max((summary[w.name].get("syscalls") or {}).get(n, 0)
                                      for w in wls))[:8]
    out = ["### System calls per request (sidecache, `strace -f -c`, one extra run)", "",
           f"One more run per workload of {SYSCALL_RUN_REQUESTS:,} requests (-P 1) or "
           f"{SYSCALL_RUN_REQUESTS * 8:,} (pipelined) with strace attached to every thread of "
           "sidecache; strace slows the process, so only the counts are used, never the "
           "times. The most frequent calls:", "",
           "| workload | total | " + " | ".join(names) + " |",
           "|---|--:|" + "--:|" * len(names)]
    for w in wls:
        sc = summary[w.name].get("syscalls") or {}
        out.append(f"| {w.title} | {fmt_syscalls(sc)} | "
                   + " | ".join(f"{sc.get(n, 0):.2f}" for n in names) + " |")
    return out + [""]


def report_metrics(summary: dict, wls: list[Workload], checks: list[Check]) -> list[str]:
    out = ["### Metrics on vs metrics off (sidecache_metrics vs sidecache)", "",
           f"The same sidecache binary and configuration, plus `http:` and a `GET /metrics` "
           f"every {SCRAPE_INTERVAL_S:g} s during each run (Prometheus' default interval is "
           f"15 s). *on / off* is the median over repetitions of sidecache_metrics ÷ sidecache "
           f"req/s within the same repetition; CPU is the proxy's own, per request, scrapes "
           f"included.", "",
           "| workload | off req/s | on req/s | on / off | target | | off p50 | on p50 "
           "| off p99 | on p99 | off CPU µs/req | on CPU µs/req | scrapes 200 | slowest scrape |",
           "|---|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for w in wls:
        s = summary[w.name]
        off, on = s["targets"]["sidecache"], s["targets"]["sidecache_metrics"]
        ratio = s["metrics_on_off"]
        ok = None if ratio != ratio else ratio >= METRICS_RATIO_TARGET
        checks.append((f"{w.title}: metrics on / metrics off req/s",
                       f"≥ {METRICS_RATIO_TARGET:.2f}x", fmt_x(ratio), ok))
        scrapes = on["scrapes_ok"] + on["scrapes_failed"]
        out.append(f"| {w.title} | {fmt_rps(off['rps'])} | {fmt_rps(on['rps'])} | "
                   f"{fmt_x(ratio)} | ≥ {METRICS_RATIO_TARGET:.2f}x | {verdict(ok)} | "
                   f"{fmt_ms(off['p50'])} | {fmt_ms(on['p50'])} | {fmt_ms(off['p99'])} | "
                   f"{fmt_ms(on['p99'])} | {fmt_cpu(off['cpu'])} | {fmt_cpu(on['cpu'])} | "
                   f"{on['scrapes_ok']} of {scrapes} | {fmt_ms(on['scrape_max_ms'])} ms |")
    ok_total = sum(summary[w.name]["targets"]["sidecache_metrics"]["scrapes_ok"] for w in wls)
    failed = sum(summary[w.name]["targets"]["sidecache_metrics"]["scrapes_failed"] for w in wls)
    checks.append(("every `/metrics` scrape during the runs answered 200", "all",
                   f"{ok_total} of {ok_total + failed}",
                   None if ok_total + failed == 0 else failed == 0))
    return out + [""]


POLICIES_CPU_TARGET = 1.03  # 20 policies that do not match: at most 3 % more CPU per GET


def report_extras(summary: dict, wls: list[Workload], checks: list[Check],
                  meta: dict) -> list[str]:
    out = []
    if "sidecache_base" in TARGETS:
        out += [f"### This build against {meta.get('compare_label') or 'the base build'} "
                f"(sidecache vs sidecache_base)", "",
                "Both builds with the same configuration, in the same repetitions, run back to "
                "back. Ratios are medians over repetitions of this build ÷ the base build: "
                "above 1 is faster for requests/s, below 1 is cheaper for CPU.", "",
                "| workload | base req/s | this req/s | req/s this/base | base CPU µs/req "
                "| this CPU µs/req | CPU this/base |",
                "|---|--:|--:|--:|--:|--:|--:|"]
        for w in wls:
            s = summary[w.name]
            t = s["targets"]
            out.append(f"| {w.title} | {fmt_rps(t['sidecache_base']['rps'])} | "
                       f"{fmt_rps(t['sidecache']['rps'])} | {fmt_x(s['sc_base'])} | "
                       f"{fmt_cpu(t['sidecache_base']['cpu'])} | {fmt_cpu(t['sidecache']['cpu'])} "
                       f"| {fmt_x(s['cpu_sc_base'])} |")
        out.append("")
    if "sidecache_policies" in TARGETS:
        out += [f"### {meta.get('policies')} read-through policies that no key matches "
                f"(sidecache_policies vs sidecache)", "",
                "The same binary with the policies configured (SQLite, patterns of other key "
                "spaces): CPU per request with them ÷ without, median over repetitions.", "",
                "| workload | CPU µs/req without | with | with/without | target | |",
                "|---|--:|--:|--:|--:|---|"]
        for w in wls:
            s = summary[w.name]
            t = s["targets"]
            r = s["cpu_policies"]
            goal_s, v = "", ""
            if w.command == "get":
                ok = None if r != r else r <= POLICIES_CPU_TARGET
                checks.append((f"{w.title}: CPU with {meta.get('policies')} non-matching "
                               f"policies / without", f"≤ {POLICIES_CPU_TARGET:.2f}x",
                               fmt_x(r), ok))
                goal_s, v = f"≤ {POLICIES_CPU_TARGET:.2f}x", verdict(ok)
            out.append(f"| {w.title} | {fmt_cpu(t['sidecache']['cpu'])} | "
                       f"{fmt_cpu(t['sidecache_policies']['cpu'])} | {fmt_x(r)} | {goal_s} | "
                       f"{v} |")
        out.append("")
    return out


def report_memory(rss: dict, checks: list[Check]) -> list[str]:
    out = ["### Memory (resident set after the last run)", "",
           "| process | VmRSS after the run | VmHWM (peak) | target | |",
           "|---|--:|--:|--:|---|"]
    for name in PROXIES:
        cur, peak = rss[name]
        goal_s, v = "", ""
        if name == "sidecache":
            ok = cur / 1024 <= RSS_TARGET_MB
            checks.append(("sidecache RSS after the run", f"≤ {RSS_TARGET_MB:g} MB",
                           f"{cur / 1024:.1f} MB", ok))
            goal_s, v = f"≤ {RSS_TARGET_MB:g} MB", verdict(ok)
        out.append(f"| {name} | {cur / 1024:.1f} MB | {peak / 1024:.1f} MB | {goal_s} | {v} |")
    return out + [""]


def report_checks(checks: list[Check]) -> list[str]:
    met = sum(1 for c in checks if c[3])
    decided = sum(1 for c in checks if c[3] is not None)
    out = [f"### Targets: {met} of {decided} met", "",
           "| target | goal | measured | |", "|---|--:|--:|---|"]
    out += [f"| {name} | {goal} | {measured} | {verdict(ok)} |"
            for name, goal, measured, ok in checks]
    return out + [""]


def report_sanity(summary: dict, wls: list[Workload]) -> list[str]:
    out = ["### Sanity checks", "",
           "Backend commands per request and key misses, from the backends' `INFO stats` "
           "around each run (GET: 1 command and no miss per request; MGET through a proxy: one "
           "command per node touched, so ~2). A proxy answering errors instead of forwarding "
           "would show here.", "",
           "| workload | " + " | ".join(f"{x} cmds/req" for x in TARGETS) + " | misses |",
           "|---|" + "--:|" * (len(TARGETS) + 1)]
    for w in wls:
        t = summary[w.name]["targets"]
        misses = sum(t[x]["misses"] for x in TARGETS)
        out.append(f"| {w.title} | "
                   + " | ".join(f"{t[x]['backend_cmds']:.2f}" for x in TARGETS)
                   + f" | {misses} |")
    return out


def report(summary: dict, wls: list[Workload], rss: dict, meta: dict) -> tuple[str, list]:
    checks: list[Check] = []
    lines = (report_header(meta)
             + report_throughput(summary, wls, checks)
             + report_latency(summary, wls, checks)
             + report_cpu(summary, wls, checks)
             + report_syscalls(summary, wls)
             + report_metrics(summary, wls, checks)
             + report_extras(summary, wls, checks, meta)
             + report_memory(rss, checks))
    lines += report_checks(checks) + report_sanity(summary, wls)
    return "\n".join(lines) + "\n", checks


def write_docs(text: str) -> Path:
    path = ROOT / "docs" / "benchmarks.md"
    doc = path.read_text() if path.exists() else ""
    block = f"{DOCS_BEGIN}\n{text}{DOCS_END}"
    if DOCS_BEGIN in doc and DOCS_END in doc:
        head, rest = doc.split(DOCS_BEGIN, 1)
        _, tail = rest.split(DOCS_END, 1)
        doc = head + block + tail
    else:
        doc = doc.rstrip("\n") + "\n\n## Results\n\n" + block + "\n"
    path.write_text(doc)
    return path


# ---------------------------------------------------------------------------------------------


def target_order(rep: int, wi: int) -> list[str]:
    """Targets of one workload in one repetition. direct, twemproxy and the sidecache pair take
    turns going first; the pair (metrics off, metrics on) always runs back to back, its order
    alternating, so the on/off ratio compares neighbouring runs and neither side always goes
    first."""
    k = rep + wi
    pair = ["sidecache", "sidecache_metrics", *EXTRAS]
    pair = pair[k % len(pair):] + pair[:k % len(pair)]
    slots: list[list[str]] = [["direct"], ["twemproxy"], pair]
    slots = slots[k % 3:] + slots[:k % 3]
    return [t for slot in slots for t in slot]


def calibrate(env: Env, wls: list[Workload], size: int, duration: float,
              fixed: int | None) -> dict[tuple[str, str], int]:
    """-n per (workload, target) of this value size, so each run takes about `duration` s.

    A short run per workload and target gives its rate (and warms every connection up)."""
    requests = {}
    for w in (w for w in wls if w.size == size):
        for t in TARGETS:
            if fixed:
                requests[(w.name, t)] = fixed
                continue
            n = 5000 if w.pipeline == 1 else 40000
            r = run_benchmark(env, w, t, n, rep=-1, order=0, timeout=60)
            rate = r.rps if r.rps == r.rps else n / r.wall_s
            step = 1000 if w.pipeline == 1 else 16000
            requests[(w.name, t)] = max(step, int(rate * duration / step) * step)
    return requests


def print_run(r: Run, w: Workload, repeat: int) -> None:
    cpu = (f", proxy {r.proxy_cpu_us_per_req:.2f} us/req"
           if r.proxy_cpu_us_per_req is not None else "")
    scrapes = (f", /metrics {r.scrapes_ok}/{r.scrapes_ok + r.scrapes_failed} ok"
               if r.scrapes_ok is not None else "")
    print(f"  rep {r.rep + 1}/{repeat} {w.title:<26} {r.target:<17} "
          f"{r.rps:>11,.0f} req/s  p50 {r.p50_ms:.3f}  p99 {r.p99_ms:.3f} ms{cpu}{scrapes}",
          flush=True)


class Measurement:
    """The measured runs: repetitions x workloads x targets, interleaved, within a time budget.
    A failed run is recorded (and reported) and the bench goes on unless a server died."""

    def __init__(self, env: Env, requests: dict, repeat: int, duration: float,
                 budget: float, started: float):
        self.env, self.requests, self.repeat = env, requests, repeat
        self.timeout = max(60, duration * 20)
        self.budget, self.started = budget, started
        self.runs: list[Run] = []
        self.failures: list[str] = []
        self.over_budget = False

    def fail(self, text: str) -> None:
        self.failures.append(text)
        print(f"  FAILED: {text}", flush=True)

    def out_of_time(self) -> bool:
        if not self.over_budget and time.monotonic() - self.started > self.budget:
            self.over_budget = True
            self.failures.append(f"time budget ({self.budget:g} s) used up: the remaining runs "
                                 f"were skipped (a loaded machine?)")
            print(f"  {self.failures[-1]}", flush=True)
        return self.over_budget

    def workload(self, w: Workload, rep: int, wi: int) -> None:
        for pos, t in enumerate(target_order(rep, wi)):
            if self.out_of_time():
                return
            try:
                r = run_benchmark(self.env, w, t, self.requests[(w.name, t)], rep, pos,
                                  timeout=self.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.fail(f"rep {rep + 1}, {w.title}, {t} (left out of the medians): {e}")
                if any(p.poll() is not None for p in _children):
                    raise
                continue
            self.runs.append(r)
            print_run(r, w, self.repeat)
            if r.scrapes_failed:
                self.fail(f"rep {rep + 1}, {w.title}, {t}: {r.scrapes_failed} of "
                          f"{r.scrapes_ok + r.scrapes_failed} /metrics scrapes failed "
                          f"({'; '.join(r.scrape_errors or [])}); the run is kept")
            elif r.scrapes_ok == 0:
                self.fail(f"rep {rep + 1}, {w.title}, {t}: no /metrics scrape completed")


SYSCALL_RUN_REQUESTS = 20000


def count_syscalls(env: Env, w: Workload) -> dict[str, float] | None:
    """System calls of sidecache per request, by name, over one extra run with strace attached
    (`strace -f -c -p PID` attaches to every thread). None when strace is missing or may not
    attach (ptrace restricted)."""
    out = env.work / f"strace-{w.name}.txt"
    try:
        tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(out), "-p",
                                   str(env.pids["sidecache"])],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        return None
    time.sleep(0.5)  # attached to every thread before the run starts
    if tracer.poll() is not None:
        return None
    requests = SYSCALL_RUN_REQUESTS * (1 if w.pipeline == 1 else 8)
    argv = ["taskset", "-c", "1"] + benchmark_argv(w, target_port(env, "sidecache"), requests)
    try:
        subprocess.run(argv, capture_output=True, text=True, timeout=300)
    finally:
        tracer.send_signal(signal.SIGINT)
        try:
            tracer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            tracer.kill()
            return None
    counts: dict[str, float] = {}
    for line in out.read_text().splitlines():
        f = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        # (the total line has no usecs/call column: summed here instead)
        if len(f) >= 5 and f[0][0].isdigit() and f[3].isdigit() and f[-1] != "total":
            counts[f[-1]] = int(f[3]) / requests
    if not counts:
        return None
    counts["total"] = sum(counts.values())
    return counts


def sidecache_error_counters(env: Env) -> list[str]:
    """sidecache's own error counters (a protocol error closes the client's connection)."""
    bad = []
    for name in SIDECACHES:
        for k in ("total_error_replies_protocol", "rejected_connections"):
            v = info_field(env.ports[name], "stats", k)
            if v not in (None, "0"):
                bad.append(f"{name} INFO stats {k}:{v} (should be 0)")
    return bad


def run_cluster_workloads(args: argparse.Namespace) -> int:
    """--only cluster: GET/SET/MGET through a cluster pool against redis-benchmark --cluster on
    a 3-primary Redis Cluster (another server layout: scripts/bench_cluster.py)."""
    import bench_cluster
    argv = ["--sidecache", args.sidecache]
    if args.quick:
        argv.append("--quick")
    if args.repeat:
        argv += ["--repeat", str(args.repeat)]
    if args.requests:
        argv += ["--requests", str(args.requests)]
    if args.keep:
        argv.append("--keep")
    return bench_cluster.main(argv)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="one repetition of ~1 s runs (under a minute in all)")
    ap.add_argument("--repeat", type=int, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--requests", type=int,
                    help="requests per run for every run (default: sized per workload and "
                         "target from a calibration run so each run takes --duration)")
    ap.add_argument("--duration", type=float,
                    help=f"seconds per run (default {FULL_DURATION_S:g}, "
                         f"--quick {QUICK_DURATION_S:g})")
    ap.add_argument("--only", help="comma-separated workload ids to run (e.g. get-16-P16); "
                    "`cluster`: the Redis Cluster workloads instead (scripts/bench_cluster.py: "
                    "sidecache with a cluster pool vs redis-benchmark --cluster)")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace the results block of docs/benchmarks.md")
    ap.add_argument("--label", help="heading of the results (default: full run / quick run)")
    ap.add_argument("--sidecache", default=str(ROOT / DEFAULT_BIN),
                    help="sidecache binary")
    ap.add_argument("--out", default=str(ROOT / "build/bench"),
                    help="directory for results.md / results.json")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--compare-bin", help="another sidecache binary (e.g. an older revision; "
                    "bench.sh --compare REV builds one) run as the target sidecache_base")
    ap.add_argument("--compare-label", help="what --compare-bin is, for the report")
    ap.add_argument("--policies", type=int, default=0,
                    help="add the target sidecache_policies: sidecache with N read-through "
                         "policies whose patterns no benchmark key matches (e.g. 20)")
    ap.add_argument("--no-syscalls", action="store_true",
                    help="skip the extra run per workload that counts sidecache's system "
                         "calls per request with strace")
    ap.add_argument("--serve", action="store_true",
                    help="start the servers, populate, print their ports and wait (profiling)")
    args = ap.parse_args()
    if args.only == "cluster":
        return run_cluster_workloads(args)

    repeat = args.repeat or (1 if args.quick else 3)
    duration = args.duration or (QUICK_DURATION_S if args.quick else FULL_DURATION_S)
    budget = 120 if args.quick else 600
    wls = workloads()
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {w.name for w in wls}
        if unknown:
            ap.error(f"unknown workload(s) {', '.join(sorted(unknown))}; "
                     f"known: {', '.join(w.name for w in wls)}")
        wls = [w for w in wls if w.name in wanted]
    if os.cpu_count() and os.cpu_count() < 2:
        print("warning: fewer than 2 cores; taskset -c 1 will fail", file=sys.stderr)

    def on_signal(signum, _frame):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        raise SystemExit(128 + signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    if args.compare_bin:
        EXTRAS.append("sidecache_base")
    if args.policies > 0:
        EXTRAS.append("sidecache_policies")
    TARGETS.extend(EXTRAS)
    PROXIES.extend(EXTRAS)
    SIDECACHES.extend(EXTRAS)
    if args.compare_bin or args.policies:
        budget *= 1 + 0.25 * len(EXTRAS)

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="sidecache-bench-"))
    command = os.environ.get("BENCH_COMMAND") or shlex.join([sys.argv[0]] + sys.argv[1:])
    ok = False
    try:
        env = start_servers(work, args.sidecache, args.compare_bin, args.policies)
        machine = machine_info(env)
        print(f"servers: redis {env.ports['redis1']} {env.ports['redis2']}, twemproxy "
              f"{env.ports['twemproxy']}, sidecache {env.ports['sidecache']}, "
              f"sidecache_metrics {env.ports['sidecache_metrics']} (http "
              f"{env.ports['sidecache_metrics_http']}) (work dir {work})", flush=True)
        if args.serve:
            populate(env, 16)
            check_targets(env, 16)
            print(json.dumps({"ports": env.ports, "pids": env.pids}), flush=True)
            print("serving; Ctrl-C stops", flush=True)
            while all(p.poll() is None for p in _children):
                time.sleep(1)
            return 1
        load_start = loadavg()
        sizes = sorted({w.size for w in wls})
        requests: dict[tuple[str, str], int] = {}
        for size in sizes:
            populate(env, size)
            check_targets(env, size)
            requests.update(calibrate(env, wls, size, duration, args.requests))
        print(f"calibrated in {time.monotonic() - started:.0f} s; running {repeat} "
              f"repetition(s) of {len(wls)} workloads x {len(TARGETS)} targets", flush=True)

        m = Measurement(env, requests, repeat, duration, budget, started)
        for rep in range(repeat):
            for size in sizes:
                if m.out_of_time():
                    break
                populate(env, size)
                for wi, w in enumerate(w for w in wls if w.size == size):
                    m.workload(w, rep, wi)
        runs, failures = m.runs, m.failures
        syscalls = {}
        if not args.no_syscalls and not m.over_budget:
            for size in sizes:
                populate(env, size)
                for w in (w for w in wls if w.size == size):
                    syscalls[w.name] = count_syscalls(env, w)
                    if syscalls[w.name] is None:
                        failures.append("strace could not attach: no system call counts")
                        break
        rss = {name: (rss_kb(env.pids[name]), rss_kb(env.pids[name], "VmHWM"))
               for name in PROXIES}
        failures += sidecache_error_counters(env)
        meta = {
            "label": args.label or ("Quick run (--quick): indicative only" if args.quick
                                    else "Full run"),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "repeat": repeat,
            "duration": duration,
            "load_start": load_start,
            "load_end": loadavg(),
            "machine": machine,
            "command": command,
            "compare_label": args.compare_label,
            "policies": args.policies,
        }
        summary = summarize(runs, wls)
        for name, counts in syscalls.items():
            summary[name]["syscalls"] = counts
        text, checks = report(summary, wls, rss, meta)
        if failures:
            text += ("\n### Failed runs and other problems\n\n"
                     + "".join(f"- {f}\n" for f in failures))
        print()
        print(text)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.md").write_text(text)
        (out / "results.json").write_text(json.dumps(
            {"meta": meta, "runs": [r.__dict__ for r in runs],
             "requests": {f"{k[0]}/{k[1]}": v for k, v in requests.items()},
             "rss_kb": rss, "syscalls_per_request": syscalls, "failures": failures,
             "checks": [{"target": c[0], "goal": c[1], "measured": c[2], "met": c[3]}
                        for c in checks]}, indent=1))
        print(f"results: {out / 'results.md'}, {out / 'results.json'}; "
              f"took {time.monotonic() - started:.0f} s")
        if args.write_docs:
            print(f"wrote {write_docs(text)}")
        ok = True
        return 0
    finally:
        stop_all()
        if args.keep or not ok:
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
