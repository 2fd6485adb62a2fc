#!/usr/bin/env python3
"""The cluster benchmark (issue 13): sidecache with `pool.type: cluster` against
`redis-benchmark --cluster` straight to the same 3-primary Redis Cluster, in one run.

    /usr/bin/python3 scripts/bench_cluster.py [--quick] [--repeat 3] [--requests N]
        [--only get-16-P1,...] [--sidecache build/release/src/app/sidecache] [--json FILE]
    /usr/bin/python3 scripts/bench.py --only cluster [--quick] [--repeat N] [--requests N]
    bash scripts/bench.sh --only cluster ...        (builds sidecache first)

Layout (as scripts/bench.py): the three cluster-enabled redis-servers (`cluster-replicas 0`)
and sidecache (`workers: 1`, seeded with the primaries) on core 0, redis-benchmark on core 1
(one thread on both sides: `--cluster --threads 1` for the anchor), 50 clients, keyspace
100,000 (-r). Every workload runs against each target in turn, the order
rotating per repetition; the ratio is sidecache / anchor of the medians.

Workloads and what is compared:
  get-16-P1, set-16-P1, get-16-P16, set-16-P16
      sidecache:  redis-benchmark -t get|set -d 16 -P p (keys key:NNN, no hash tag: sidecache
                  places each on its slot's primary)
      cluster:    redis-benchmark --cluster -t get|set -d 16 -P p (the client-side-cluster
                  anchor: each client connected to one primary, keys key:{tag}:NNN with a tag
                  of that primary's slots, so no request is ever redirected)
      GETs read absent keys on both sides (every primary flushed before each GET and MGET
      run): redis-benchmark --cluster picks its hash tags itself, so no key set populated in
      advance could be the one it reads; SETs write 16-byte values.
  mget10-16-P1
      sidecache:  MGET of 10 untagged keys (key:__rand_int__ x 10): about 10 slots on the 3
                  primaries, split by slot and merged by sidecache, one request per client
      cluster-per-slot: what a cluster-aware client does for the same 10 keys: one GET per key,
                  pipelined (redis-benchmark --cluster -P 10 GET key:{tag}:__rand_int__),
                  counted as MGETs (GET rate / 10). Generous to the anchor: its 10 GETs go to
                  one primary in one round trip, where a real client's go to up to 3.
      cluster-tagged: MGET of 10 keys of one hash tag (one slot) straight to its primary: the
                  best case of a client-side cluster, for keys placed together on purpose.
Targets (issue 13): sidecache >= 0.9x the anchor at -P 1 (GET and SET); MGET above
cluster-per-slot. The -P 16 ratios and cluster-tagged are reported, with no target.
Indicative only on a busy machine; --quick is a smoke test (small fixed request counts).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402  (processes pinned and stopped by PID, ports, RESP client, /proc)

CLIENTS = 50
KEYSPACE = 100_000
PRIMARIES = 3
CLUSTER_ARGS = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000"]


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    pipeline: int
    targets: tuple[str, ...]
    goal: float | None  # sidecache / first anchor at least this (None: reported only)


WORKLOADS = [
    Workload("get-16-P1", "GET 16 B, -P 1", 1, ("sidecache", "cluster"), 0.9),
    Workload("set-16-P1", "SET 16 B, -P 1", 1, ("sidecache", "cluster"), 0.9),
    Workload("get-16-P16", "GET 16 B, -P 16", 16, ("sidecache", "cluster"), None),
    Workload("set-16-P16", "SET 16 B, -P 16", 16, ("sidecache", "cluster"), None),
    Workload("mget10-16-P1", "MGET 10 keys, -P 1", 1,
             ("sidecache", "cluster-per-slot", "cluster-tagged"), 1.0),
]


def default_requests(w: Workload, quick: bool) -> int:
    n = 100_000 if w.pipeline == 1 else 800_000
    if w.name.startswith("mget"):
        n = 50_000
    return n // 20 if quick else n


def benchmark_argv(w: Workload, target: str, ports: dict, requests: int) -> list[str]:
    """redis-benchmark for one run; per-slot GETs are -P 10 (one MGET's worth per batch)."""
    anchor = target != "sidecache"
    port = ports["seed"] if anchor else ports["sidecache"]
    pipeline = 10 if target == "cluster-per-slot" else w.pipeline
    n = requests * 10 if target == "cluster-per-slot" else requests
    argv = ["taskset", "-c", "1", "redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
            "-c", str(CLIENTS), "-P", str(pipeline), "-n", str(n), "-r", str(KEYSPACE), "--csv"]
    if anchor:
        # One client thread, as on the sidecache side: --cluster otherwise starts a thread per
        # primary, and their end is noticed on a 250 ms tick (a fixed extra on every run).
        argv += ["--cluster", "--threads", "1"]
    command = w.name.split("-")[0]
    if command in ("get", "set"):
        return argv + ["-d", "16", "-t", command]
    if target == "sidecache":
        return argv + ["MGET"] + ["key:__rand_int__"] * 10
    if target == "cluster-tagged":
        return argv + ["MGET"] + ["key:{tag}:__rand_int__"] * 10
    return argv + ["GET", "key:{tag}:__rand_int__"]


def parse_csv(proc: subprocess.CompletedProcess, what: str) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) from redis-benchmark --csv; raises when the run failed."""
    row = None
    for rec in csv.reader(io.StringIO(proc.stdout)):
        if rec and rec[0] != "test":
            row = rec
    if proc.returncode != 0 or row is None or len(row) < 8:
        raise RuntimeError(f"redis-benchmark failed for {what} (status {proc.returncode}): "
                           f"{proc.stderr.strip()[-400:]}")
    if "rror" in proc.stderr:  # "Error from server: ..." (MOVED, CROSSSLOT, ...)
        raise RuntimeError(f"{what}: errors from the server: {proc.stderr.strip()[-400:]}")
    return float(row[1]), float(row[4]), float(row[6])


def free_cluster_ports(count: int) -> list[int]:
    """Free 127.0.0.1 ports whose cluster bus port (+10000) is free too, both below 32768."""
    ports: list[int] = []
    while len(ports) < count:
        port = bench.free_ports(1)[0]
        if port + 10000 >= 32768 or port in ports:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


class Servers:
    """The cluster's primaries (core 0), the cluster made with redis-cli, and sidecache."""

    def __init__(self, work: Path, sidecache_bin: str):
        ports = free_cluster_ports(PRIMARIES + 1)
        self.primaries = ports[:PRIMARIES]
        self.ports = {"seed": self.primaries[0], "sidecache": ports[-1]}
        self.pids = {}
        for port in self.primaries:
            d = work / f"redis-{port}"
            d.mkdir()
            p = bench.spawn(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(d),
                             "--daemonize", "no"] + CLUSTER_ARGS, work / f"redis-{port}.log")
            bench.wait_ready(port, p, f"redis-server {port}")
            self.pids[f"redis-{port}"] = p.pid
        subprocess.run(["redis-cli", "--cluster", "create"] +
                       [f"127.0.0.1:{p}" for p in self.primaries] +
                       ["--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_cluster_ok()
        config = work / "sidecache.yaml"
        config.write_text(
            f"listen: 127.0.0.1:{self.ports['sidecache']}\nworkers: 1\n"
            "logging: {level: warn, format: text}\n"
            "pool:\n  type: cluster\n  nodes: [" +
            ", ".join(f"127.0.0.1:{p}" for p in self.primaries) + "]\n")
        sc = bench.spawn([sidecache_bin, "-c", str(config)], work / "sidecache.log")
        bench.wait_ready(self.ports["sidecache"], sc, "sidecache")
        self.pids["sidecache"] = sc.pid

    def wait_cluster_ok(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for port in self.primaries:
                with bench.Redis(port, timeout=2) as r:
                    states.append(b"cluster_state:ok" in r.call("CLUSTER", "INFO"))
            if all(states):
                return
            time.sleep(0.1)
        raise RuntimeError("the cluster did not reach cluster_state:ok")

    def flush(self) -> None:
        for port in self.primaries:
            with bench.Redis(port) as r:
                if r.call("FLUSHALL") != "OK":
                    raise RuntimeError(f"FLUSHALL on {port} failed")

    def check(self) -> None:
        """sidecache reaches every primary: 10 untagged keys written, read back by MGET."""
        keys = [f"check:{i}" for i in range(10)]
        with bench.Redis(self.ports["sidecache"]) as r:
            for k in keys:
                if r.call("SET", k, "v" * 16) != "OK":
                    raise RuntimeError(f"SET {k} through sidecache failed")
            got = r.call("MGET", *keys)
        if got != [b"v" * 16] * 10:
            raise RuntimeError(f"MGET through sidecache returned {str(got)[:200]}")
        owners = set()
        for port in self.primaries:
            with bench.Redis(port) as r:
                if int(r.call("DBSIZE")) > 0:
                    owners.add(port)
        if len(owners) < 2:
            raise RuntimeError("the check keys did not spread over the primaries")
        self.flush()

    def backend_cpu(self) -> float:
        return sum(bench.cpu_seconds(pid) for name, pid in self.pids.items()
                   if name.startswith("redis-"))


def run_one(servers: Servers, w: Workload, target: str, requests: int, work: Path) -> dict:
    if w.name.startswith(("get", "mget")):
        servers.flush()
    argv = benchmark_argv(w, target, servers.ports, requests)
    sc_cpu = bench.cpu_seconds(servers.pids["sidecache"])
    be_cpu = servers.backend_cpu()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    with open(work / "redis-benchmark.log", "a") as log:
        log.write(f"### {w.name} {target}: {' '.join(argv)}\n{proc.stdout}{proc.stderr}\n")
    rps, p50, p99 = parse_csv(proc, f"{w.name} against {target}")
    per = 10 if target == "cluster-per-slot" else 1  # GETs counted as MGETs
    out = {"workload": w.name, "target": target, "rps": rps / per, "p50_ms": p50,
           "p99_ms": p99, "requests": requests,
           "backends_cpu_us_per_req": (servers.backend_cpu() - be_cpu) / requests * 1e6}
    if target == "sidecache":
        out["proxy_cpu_us_per_req"] = (bench.cpu_seconds(servers.pids["sidecache"]) - sc_cpu) \
            / requests * 1e6
    return out


def report(runs: list[dict], wls: list[Workload]) -> tuple[str, bool]:
    lines = ["| workload | target | req/s (median) | p50 ms | p99 ms | sidecache / anchor | goal |",
             "|---|---|---|---|---|---|---|"]
    met = True
    for w in wls:
        med = {}
        for t in w.targets:
            rs = [r for r in runs if r["workload"] == w.name and r["target"] == t]
            if rs:
                med[t] = {k: statistics.median(r[k] for r in rs)
                          for k in ("rps", "p50_ms", "p99_ms")}
        for t in w.targets:
            if t not in med:
                continue
            ratio, goal = "", ""
            if t != "sidecache" and "sidecache" in med:
                value = med["sidecache"]["rps"] / med[t]["rps"]
                ratio = f"{value:.2f}x"
                if t == w.targets[1] and w.goal is not None:
                    ok = value >= w.goal if w.goal < 1 else value > w.goal
                    met &= ok
                    goal = (f">= {w.goal:.2f}x" if w.goal < 1 else "> 1x") + \
                        (" met" if ok else " NOT met")
            m = med[t]
            lines.append(f"| {w.title} | {t} | {m['rps']:,.0f} | {m['p50_ms']:.3f} | "
                         f"{m['p99_ms']:.3f} | {ratio} | {goal} |")
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repetition, 1/20 of the requests")
    ap.add_argument("--repeat", type=int, help="repetitions (default 3, --quick 1)")
    ap.add_argument("--requests", type=int, help="requests per run (MGETs for MGET runs)")
    ap.add_argument("--only", help="comma-separated workloads: " +
                    ",".join(w.name for w in WORKLOADS))
    ap.add_argument("--sidecache", default=str(ROOT / bench.DEFAULT_BIN))
    ap.add_argument("--json", help="write every run and the table here")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = ap.parse_args(argv)
    wls = WORKLOADS
    if args.only:
        wanted = set(args.only.split(","))
        unknown = wanted - {w.name for w in WORKLOADS}
        if unknown:
            ap.error(f"unknown workload(s) {', '.join(sorted(unknown))}")
        wls = [w for w in WORKLOADS if w.name in wanted]
    repeat = args.repeat or (1 if args.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="sidecache-bench-cluster-"))
    ok = False
    try:
        started = time.monotonic()
        servers = Servers(work, args.sidecache)
        servers.check()
        print(f"cluster primaries {servers.primaries}, sidecache {servers.ports['sidecache']} "
              f"(work dir {work}); load average {bench.loadavg()}", flush=True)
        runs = []
        for rep in range(repeat):
            for wi, w in enumerate(wls):
                shift = (rep + wi) % len(w.targets)
                for target in w.targets[shift:] + w.targets[:shift]:
                    n = args.requests or default_requests(w, args.quick)
                    r = run_one(servers, w, target, n, work)
                    r["rep"] = rep
                    runs.append(r)
                    cpu = (f", sidecache {r['proxy_cpu_us_per_req']:.2f} us/req"
                           if "proxy_cpu_us_per_req" in r else "")
                    print(f"  rep {rep + 1}/{repeat} {w.title:<20} {target:<17} "
                          f"{r['rps']:>11,.0f} req/s  p50 {r['p50_ms']:.3f}  "
                          f"p99 {r['p99_ms']:.3f} ms{cpu}", flush=True)
        table, met = report(runs, wls)
        print()
        print(table)
        print(f"\nload average {bench.loadavg()}; took {time.monotonic() - started:.0f} s; "
              f"goals {'met' if met else 'NOT all met'}")
        if args.json:
            Path(args.json).write_text(json.dumps({"runs": runs, "table": table}, indent=1))
        ok = True
        return 0
    finally:
        bench.stop_all()
        if args.keep or not ok:
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    sys.exit(main())
