#!/usr/bin/env python3
"""sidecache benchmark: direct Redis vs twemproxy (nutcracker) vs sidecache, in one run.

Started by scripts/bench.sh (which installs the tools and builds sidecache); usable alone:

    python3 scripts/bench.py --sidecache build/release/src/app/sidecache [--quick] ...

Layout on a 2-core machine: both redis-server backends, nutcracker and sidecache on core 0
(taskset -c 0), redis-benchmark on core 1. "direct" is redis-benchmark against backend 1.
Every workload runs against the three targets interleaved (for each repetition, for each
workload, each target, in an order that rotates), so slow drift of a noisy machine hits all
three alike. Standard library only; talks to Redis over plain sockets.
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
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYSPACE = 100_000  # redis-benchmark -r: keys key:000000000000 .. key:000000099999
CLIENTS = 50
NODE_NAMES = ("node-a", "node-b")
TARGETS = ("direct", "twemproxy", "sidecache")
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


# Targets from the issue, each compared within one run. (kind, workload filter, threshold)
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


class Redis:
    def __init__(self, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _fill(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("connection closed")
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RuntimeError(rest.decode())
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
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError(f"bad reply line {line!r}")

    def call(self, *args):
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(parts))
        return self._read()


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


def run_benchmark(env: Env, w: Workload, target: str, requests: int, rep: int, order: int,
                  timeout: float) -> Run:
    port = env.ports["redis1" if target == "direct" else target]
    proxy_pid = env.pids.get(target)
    backends = [env.pids["redis1"], env.pids["redis2"]]
    bports = [env.ports["redis1"], env.ports["redis2"]]
    counters_before = [backend_counters(p) for p in bports]
    proxy_cpu0 = cpu_seconds(proxy_pid) if proxy_pid else 0.0
    back_cpu0 = sum(cpu_seconds(p) for p in backends)
    t0 = time.monotonic()
    argv = ["taskset", "-c", "1"] + benchmark_argv(w, port, requests)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - t0
    proxy_cpu1 = cpu_seconds(proxy_pid) if proxy_pid else 0.0
    back_cpu1 = sum(cpu_seconds(p) for p in backends)
    counters_after = [backend_counters(p) for p in bports]
    with open(env.work / "redis-benchmark.log", "a") as log:
        log.write(f"### rep {rep} {w.name} {target}: {shlex.join(argv)}\n{proc.stdout}"
                  f"{proc.stderr}\n")
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
    rps = float(row[1]) if row[1] != "inf" else float("nan")
    avg, mn, p50, p95, p99, mx = (float(x) for x in row[2:8])
    del mn
    cmds = sum(a["total_commands_processed"] - b["total_commands_processed"]
               for a, b in zip(counters_after, counters_before))
    misses = sum(a["keyspace_misses"] - b["keyspace_misses"]
                 for a, b in zip(counters_after, counters_before))
    return Run(
        workload=w.name, target=target, rep=rep, order=order, requests=requests, rps=rps,
        avg_ms=avg, p50_ms=p50, p95_ms=p95, p99_ms=p99, max_ms=mx, wall_s=wall,
        proxy_cpu_us_per_req=(proxy_cpu1 - proxy_cpu0) / requests * 1e6 if proxy_pid else None,
        backends_cpu_us_per_req=(back_cpu1 - back_cpu0) / requests * 1e6,
        backend_cmds_per_req=cmds / requests,
        backend_misses=misses,
        proxy_rss_kb=rss_kb(proxy_pid) if proxy_pid else None,
    )


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
        port = env.ports["redis1" if target == "direct" else target]
        with Redis(port) as r:
            got = r.call("MGET", *keys)
            one = r.call("GET", keys[0])
        if not isinstance(got, list) or len(got) != 10 or any(
                not isinstance(v, bytes) or len(v) != size for v in got) or len(one or b"") != size:
            raise RuntimeError(f"{target}: MGET/GET through it did not return the populated "
                               f"values: {str(got)[:200]}")


def start_servers(work: Path, sidecache_bin: str) -> Env:
    names = ["redis1", "redis2", "twemproxy", "twemproxy_stats", "sidecache"]
    ports = dict(zip(names, free_ports(len(names))))
    pids: dict[str, int] = {}
    procs = {}
    for name in ("redis1", "redis2"):
        d = work / name
        d.mkdir()
        procs[name] = spawn(["redis-server", "--port", str(ports[name]), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(d),
                             "--daemonize", "no"], work / f"{name}.log")
    servers = [(f"127.0.0.1:{ports['redis1']}", NODE_NAMES[0]),
               (f"127.0.0.1:{ports['redis2']}", NODE_NAMES[1])]
    # twemproxy: ketama, fnv1a_64, the same named servers, no hash_tag.
    nut_conf = work / "nutcracker.yml"
    nut_conf.write_text(
        "bench:\n"
        f"  listen: 127.0.0.1:{ports['twemproxy']}\n"
        "  hash: fnv1a_64\n"
        "  distribution: ketama\n"
        "  redis: true\n"
        "  preconnect: true\n"
        "  auto_eject_hosts: false\n"
        "  servers:\n" + "".join(f"    - {addr}:1 {name}\n" for addr, name in servers))
    # sidecache: one worker (one core for everything server-side), same ring, tags off.
    sc_conf = work / "sidecache.yaml"
    sc_conf.write_text(
        f"listen: 127.0.0.1:{ports['sidecache']}\n"
        "workers: 1\n"
        "pool:\n"
        "  hash: fnv1a_64\n"
        "  distribution: ketama\n"
        "  hash_tag: \"\"\n"
        "  nodes:\n" + "".join(f"    - {{name: {name}, address: {addr}, weight: 1}}\n"
                               for addr, name in servers) +
        "logging: {level: warn, format: text}\n")
    for name in ("redis1", "redis2"):
        wait_ready(ports[name], procs[name], name)
    procs["twemproxy"] = spawn(["nutcracker", "-c", str(nut_conf), "-s",
                                str(ports["twemproxy_stats"]), "-a", "127.0.0.1",
                                "-o", str(work / "nutcracker.log")], work / "nutcracker.out")
    procs["sidecache"] = spawn([sidecache_bin, "-c", str(sc_conf)], work / "sidecache.log")
    wait_ready(ports["twemproxy"], procs["twemproxy"], "nutcracker")
    wait_ready(ports["sidecache"], procs["sidecache"], "sidecache")
    for name, p in procs.items():
        pids[name] = p.pid
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


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def summarize(runs: list[Run], wls: list[Workload]) -> dict:
    by = {}
    for r in runs:
        by.setdefault((r.workload, r.target), []).append(r)
    summary = {}
    for w in wls:
        s = {"workload": w, "targets": {}}
        for t in TARGETS:
            rs = by.get((w.name, t), [])
            s["targets"][t] = {
                "runs": len(rs),
                "rps": med([r.rps for r in rs]),
                "rps_min": min((r.rps for r in rs), default=float("nan")),
                "rps_max": max((r.rps for r in rs), default=float("nan")),
                "p50": med([r.p50_ms for r in rs]),
                "p99": med([r.p99_ms for r in rs]),
                "cpu": med([r.proxy_cpu_us_per_req for r in rs]) if t != "direct" else None,
                "backend_cpu": med([r.backends_cpu_us_per_req for r in rs]),
                "backend_cmds": med([r.backend_cmds_per_req for r in rs]),
                "misses": sum(r.backend_misses for r in rs),
            }
        # Ratios: median over repetitions of the paired (same repetition) ratio.
        def paired(a: str, b: str) -> float:
            ra = {r.rep: r.rps for r in by.get((w.name, a), [])}
            rb = {r.rep: r.rps for r in by.get((w.name, b), [])}
            return med([ra[k] / rb[k] for k in ra if k in rb and rb[k]])
        s["sc_direct"] = paired("sidecache", "direct")
        s["sc_twem"] = paired("sidecache", "twemproxy")
        s["twem_direct"] = paired("twemproxy", "direct")
        summary[w.name] = s
    return summary


def report(summary: dict, wls: list[Workload], rss: dict, meta: dict) -> tuple[str, list]:
    lines: list[str] = []
    checks: list[tuple[str, str, str, bool | None]] = []
    add = lines.append
    add(f"**{meta['label']}** — {meta['date']}, {meta['repeat']} repetition(s), "
        f"{CLIENTS} clients, keyspace {KEYSPACE:,}, ~{meta['duration']:g} s per run; "
        f"load average {meta['load_start']} at start, {meta['load_end']} at end.")
    add("")
    add("Machine: " + f"{meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
        f"{meta['machine']['os']}, kernel {meta['machine']['kernel']}.  ")
    add(f"Versions: {meta['machine']['redis']}; {meta['machine']['twemproxy']}; "
        f"{meta['machine']['sidecache']}.  ")
    add(f"Command: `{meta['command']}`")
    add("")
    add("### Throughput (median requests/s over the repetitions)")
    add("")
    add("| workload | direct | twemproxy | sidecache | twemproxy/direct | sidecache/direct "
        "| sidecache/twemproxy | target sidecache/direct | |")
    add("|---|--:|--:|--:|--:|--:|--:|--:|---|")
    for w in wls:
        s = summary[w.name]
        t = s["targets"]
        goal = ratio_target(w)
        ok = None if s["sc_direct"] != s["sc_direct"] else s["sc_direct"] >= goal
        checks.append((f"{w.title}: sidecache/direct req/s", f"≥ {goal:.2f}x",
                       fmt_x(s["sc_direct"]), ok))
        add(f"| {w.title} | {fmt_rps(t['direct']['rps'])} | {fmt_rps(t['twemproxy']['rps'])} | "
            f"{fmt_rps(t['sidecache']['rps'])} | {fmt_x(s['twem_direct'])} | "
            f"{fmt_x(s['sc_direct'])} | {fmt_x(s['sc_twem'])} | ≥ {goal:.2f}x | {verdict(ok)} |")
    add("")
    add("### Latency (median over the repetitions of redis-benchmark's p50 / p99, ms)")
    add("")
    add("| workload | direct p50 | direct p99 | twemproxy p50 | twemproxy p99 | sidecache p50 "
        "| sidecache p99 | sidecache p99 / direct p99 | target | |")
    add("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for w in wls:
        t = summary[w.name]["targets"]
        d99, s99 = t["direct"]["p99"], t["sidecache"]["p99"]
        ratio = s99 / d99 if d99 and d99 == d99 and s99 == s99 else float("nan")
        ok = None if ratio != ratio else ratio <= P99_FACTOR
        checks.append((f"{w.title}: sidecache p99 / direct p99", f"≤ {P99_FACTOR:.1f}x",
                       fmt_x(ratio), ok))
        add(f"| {w.title} | {fmt_ms(t['direct']['p50'])} | {fmt_ms(d99)} | "
            f"{fmt_ms(t['twemproxy']['p50'])} | {fmt_ms(t['twemproxy']['p99'])} | "
            f"{fmt_ms(t['sidecache']['p50'])} | {fmt_ms(s99)} | {fmt_x(ratio)} | "
            f"≤ {P99_FACTOR:.1f}x | {verdict(ok)} |")
    add("")
    add("### CPU per request (µs of the process's own user+system CPU, /proc/PID/stat)")
    add("")
    add("The proxy's own CPU divided by the requests of the run (median over repetitions); "
        "the target applies to the pipelined runs. \"backends\" is both redis-servers together, "
        "for the same run.")
    add("")
    add("| workload | twemproxy | sidecache | target sidecache | | backends (direct) "
        "| backends (twemproxy) | backends (sidecache) |")
    add("|---|--:|--:|--:|---|--:|--:|--:|")
    for w in wls:
        t = summary[w.name]["targets"]
        sc = t["sidecache"]["cpu"]
        if w.pipeline > 1:
            goal = cpu_target_us(w)
            ok = None if sc != sc else sc <= goal
            checks.append((f"{w.title}: sidecache CPU per request", f"≤ {goal:.1f} µs",
                           f"{sc:.2f} µs", ok))
            goal_s, v = f"≤ {goal:.1f}", verdict(ok)
        else:
            goal_s, v = "", ""
        add(f"| {w.title} | {t['twemproxy']['cpu']:.2f} | {sc:.2f} | {goal_s} | {v} | "
            f"{t['direct']['backend_cpu']:.2f} | {t['twemproxy']['backend_cpu']:.2f} | "
            f"{t['sidecache']['backend_cpu']:.2f} |")
    add("")
    add("### Memory (resident set after the last run)")
    add("")
    add("| process | VmRSS after the run | VmHWM (peak) | target | |")
    add("|---|--:|--:|--:|---|")
    for name in ("twemproxy", "sidecache"):
        cur, peak = rss[name]
        if name == "sidecache":
            ok = cur / 1024 <= RSS_TARGET_MB
            checks.append(("sidecache RSS after the run", f"≤ {RSS_TARGET_MB:g} MB",
                           f"{cur / 1024:.1f} MB", ok))
            goal_s, v = f"≤ {RSS_TARGET_MB:g} MB", verdict(ok)
        else:
            goal_s, v = "", ""
        add(f"| {name} | {cur / 1024:.1f} MB | {peak / 1024:.1f} MB | {goal_s} | {v} |")
    add("")
    met = sum(1 for c in checks if c[3])
    decided = sum(1 for c in checks if c[3] is not None)
    add(f"### Targets: {met} of {decided} met")
    add("")
    add("| target | goal | measured | |")
    add("|---|--:|--:|---|")
    for name, goal, measured, ok in checks:
        add(f"| {name} | {goal} | {measured} | {verdict(ok)} |")
    add("")
    add("### Sanity checks")
    add("")
    add("Backend commands per request and key misses, from the backends' `INFO stats` around "
        "each run (GET: 1 command and no miss per request; MGET through a proxy: one command per "
        "node touched, so ~2). A proxy answering errors instead of forwarding would show here.")
    add("")
    add("| workload | direct cmds/req | twemproxy cmds/req | sidecache cmds/req | misses |")
    add("|---|--:|--:|--:|--:|")
    for w in wls:
        t = summary[w.name]["targets"]
        misses = sum(t[x]["misses"] for x in TARGETS)
        add(f"| {w.title} | {t['direct']['backend_cmds']:.2f} | "
            f"{t['twemproxy']['backend_cmds']:.2f} | {t['sidecache']['backend_cmds']:.2f} | "
            f"{misses} |")
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="one repetition of ~1 s runs (under a minute in all)")
    ap.add_argument("--repeat", type=int, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--requests", type=int,
                    help="requests per run for every run (default: sized per workload and "
                         "target from a calibration run so each run takes --duration)")
    ap.add_argument("--duration", type=float, help="seconds per run (default 3, --quick 0.6)")
    ap.add_argument("--only", help="comma-separated workload ids to run (e.g. get-16-P16)")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace the results block of docs/benchmarks.md")
    ap.add_argument("--label", help="heading of the results (default: full run / quick run)")
    ap.add_argument("--sidecache", default=str(ROOT / DEFAULT_BIN),
                    help="sidecache binary")
    ap.add_argument("--out", default=str(ROOT / "build/bench"),
                    help="directory for results.md / results.json")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--serve", action="store_true",
                    help="start the servers, populate, print their ports and wait (profiling)")
    args = ap.parse_args()

    repeat = args.repeat or (1 if args.quick else 3)
    duration = args.duration or (1.0 if args.quick else 3.0)
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

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="sidecache-bench-"))
    command = os.environ.get("BENCH_COMMAND") or shlex.join([sys.argv[0]] + sys.argv[1:])
    ok = False
    try:
        env = start_servers(work, args.sidecache)
        machine = machine_info(env)
        print(f"servers: redis {env.ports['redis1']} {env.ports['redis2']}, twemproxy "
              f"{env.ports['twemproxy']}, sidecache {env.ports['sidecache']} (work dir {work})",
              flush=True)
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

        # Calibration, which also warms up every connection: a short run per workload and
        # target gives its rate; -n is then sized for `duration` seconds per run.
        for size in sizes:
            populate(env, size)
            check_targets(env, size)
            for w in (w for w in wls if w.size == size):
                for t in TARGETS:
                    if args.requests:
                        requests[(w.name, t)] = args.requests
                        continue
                    n = 5000 if w.pipeline == 1 else 40000
                    r = run_benchmark(env, w, t, n, rep=-1, order=0, timeout=60)
                    rate = r.rps if r.rps == r.rps else n / r.wall_s
                    step = 1000 if w.pipeline == 1 else 16000
                    requests[(w.name, t)] = max(step, int(rate * duration / step) * step)
        print(f"calibrated in {time.monotonic() - started:.0f} s; running {repeat} "
              f"repetition(s) of {len(wls)} workloads x {len(TARGETS)} targets", flush=True)

        runs: list[Run] = []
        failures: list[str] = []
        over_budget = False
        for rep in range(repeat):
            for size in sizes:
                populate(env, size)
                for wi, w in enumerate(w for w in wls if w.size == size):
                    shift = (rep + wi) % len(TARGETS)
                    order = TARGETS[shift:] + TARGETS[:shift]
                    for pos, t in enumerate(order):
                        if time.monotonic() - started > budget and not over_budget:
                            over_budget = True
                            failures.append(f"time budget ({budget} s) used up: the remaining "
                                            f"runs were skipped (a loaded machine?)")
                            print(f"  {failures[-1]}", flush=True)
                        if over_budget:
                            continue
                        n = requests[(w.name, t)]
                        try:
                            r = run_benchmark(env, w, t, n, rep, pos,
                                              timeout=max(60, duration * 20))
                        except (RuntimeError, subprocess.TimeoutExpired) as e:
                            # Recorded and reported; the run goes on unless a server died.
                            failures.append(f"rep {rep + 1}, {w.title}, {t}: {e}")
                            print(f"  FAILED: {failures[-1]}", flush=True)
                            if any(p.poll() is not None for p in _children):
                                raise
                            continue
                        runs.append(r)
                        cpu = (f", proxy {r.proxy_cpu_us_per_req:.2f} us/req"
                               if r.proxy_cpu_us_per_req is not None else "")
                        print(f"  rep {rep + 1}/{repeat} {w.title:<26} {t:<10} "
                              f"{r.rps:>11,.0f} req/s  p50 {r.p50_ms:.3f}  p99 {r.p99_ms:.3f} ms"
                              f"{cpu}", flush=True)
        rss = {name: (rss_kb(env.pids[name]), rss_kb(env.pids[name], "VmHWM"))
               for name in ("twemproxy", "sidecache")}
        # sidecache's own error counters (a protocol error closes the client's connection).
        sc_info = {k: info_field(env.ports["sidecache"], "stats", k)
                   for k in ("total_error_replies_protocol", "rejected_connections")}
        for k, v in sc_info.items():
            if v not in (None, "0"):
                failures.append(f"sidecache INFO stats {k}:{v} (should be 0)")
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
        }
        summary = summarize(runs, wls)
        text, checks = report(summary, wls, rss, meta)
        if failures:
            text += ("\n### Failed runs (left out of the medians)\n\n"
                     + "".join(f"- {f}\n" for f in failures))
        print()
        print(text)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.md").write_text(text)
        (out / "results.json").write_text(json.dumps(
            {"meta": meta, "runs": [r.__dict__ for r in runs],
             "requests": {f"{k[0]}/{k[1]}": v for k, v in requests.items()},
             "rss_kb": rss, "failures": failures,
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
