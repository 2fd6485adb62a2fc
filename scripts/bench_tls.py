#!/usr/bin/env python3
"""TLS from clients to sidecache: redis-benchmark --tls through sidecache's listen_tls against
redis-benchmark --tls straight to a TLS redis-server, next to the same pair in plain TCP, in one
run, interleaved and repeated. Prints requests/s (median), the ratios sidecache/direct for plain
and TLS, and the load average before and after (how quiet the machine was).

    /usr/bin/python3 scripts/bench_tls.py [--repeat 3] [--requests 100000] [--write-docs]
                                           [--sidecache build/release/src/app/sidecache]
                                           [--baseline OTHER_BUILD]

GET and SET of 16-byte values at -P 1 and -P 16, 50 clients, 100,000 keys. Servers and
sidecache run on core 0, redis-benchmark on core 1 (taskset), as scripts/bench.sh does. The
backend connection from sidecache to Redis is plain TCP here: this measures the client side.
Everything listens on 127.0.0.1 below 32768 and is stopped by PID.
"""
import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (process and port helpers, RESP client)

ROOT = bench.ROOT
DOCS_BEGIN = "<!-- bench:tls:begin -->"
DOCS_END = "<!-- bench:tls:end -->"
WORKLOADS = [("get", 1), ("set", 1), ("get", 16), ("set", 16)]
TARGETS = ["direct", "sidecache", "direct-tls", "sidecache-tls"]


def openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(d: Path) -> dict:
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ca",
            "-keyout", "ca.key", "-out", "ca.crt")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
            "server.key", "-out", "server.csr")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt")
    return {"ca": str(d / "ca.crt"), "server": str(d / "server.crt"),
            "server_key": str(d / "server.key")}


def start(work: Path, sidecache_bin: str, certs: dict,
          baseline_bin: str | None = None) -> tuple[dict, dict]:
    redis_port, redis_tls, sc_port, sc_tls = bench.free_ports(4)
    redis = bench.spawn(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                         "--save", "", "--appendonly", "no", "--tls-port", str(redis_tls),
                         "--tls-cert-file", certs["server"], "--tls-key-file",
                         certs["server_key"], "--tls-ca-cert-file", certs["ca"],
                         "--tls-auth-clients", "no"], work / "redis.log")
    bench.wait_ready(redis_port, redis, "redis-server")
    config = work / "sidecache.yaml"
    config.write_text(
        f"listen: 127.0.0.1:{sc_port}\nworkers: 1\nlogging: {{level: warn}}\n"
        f"listen_tls:\n  listen: 127.0.0.1:{sc_tls}\n  cert_file: {certs['server']}\n"
        f"  key_file: {certs['server_key']}\n"
        f"pool:\n  nodes:\n    - {{name: n1, address: 127.0.0.1:{redis_port}}}\n")
    sc = bench.spawn([sidecache_bin, "-c", str(config)], work / "sidecache.log")
    bench.wait_ready(sc_port, sc, "sidecache")
    ports = {"direct": redis_port, "sidecache": sc_port, "direct-tls": redis_tls,
             "sidecache-tls": sc_tls}
    pids = {"redis": redis.pid, "sidecache": sc.pid}
    if baseline_bin:
        # Another build (e.g. the base commit's) with the same configuration on its own ports,
        # measured in the same run against the same Redis.
        base_port, base_tls = bench.free_ports(2)
        text = config.read_text().replace(f":{sc_port}\n", f":{base_port}\n")
        base_config = work / "baseline.yaml"
        base_config.write_text(text.replace(f":{sc_tls}\n", f":{base_tls}\n"))
        base = bench.spawn([baseline_bin, "-c", str(base_config)], work / "baseline.log")
        bench.wait_ready(base_port, base, "baseline sidecache")
        ports.update({"baseline": base_port, "baseline-tls": base_tls})
        pids["baseline"] = base.pid
    return ports, pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (taskset execs: the Popen pid is the server)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serving(target: str) -> list[str]:
    """The processes that serve a target's requests: Redis, and the proxy in front of it."""
    proxy = target.removesuffix("-tls")
    return ["redis"] if proxy == "direct" else ["redis", proxy]


def run_one(ports: dict, target: str, command: str, pipeline: int, requests: int,
            ca: str) -> float:
    argv = ["taskset", "-c", "1", "redis-benchmark", "-h", "127.0.0.1", "-p", str(ports[target]),
            "-c", str(bench.CLIENTS), "-P", str(pipeline), "-n", str(requests), "-r",
            str(bench.KEYSPACE), "-d", "16", "-t", command, "--csv"]
    if target.endswith("tls"):
        argv += ["--tls", "--cacert", ca]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    rows = [r for r in csv.reader(io.StringIO(out.stdout)) if r and r[0] != "test"]
    if out.returncode != 0 or not rows:
        raise RuntimeError(f"redis-benchmark {target} {command} -P {pipeline} failed: "
                           f"{out.stderr.strip()[-300:]}")
    return float(rows[-1][1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--sidecache", default=str(ROOT / "build/release/src/app/sidecache"))
    ap.add_argument("--baseline", help="another sidecache binary, measured in the same run "
                    "(targets baseline and baseline-tls; a before/after of a change)")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    targets = TARGETS + (["baseline", "baseline-tls"] if args.baseline else [])
    results: dict = {(w, t): [] for w in WORKLOADS for t in targets}
    cpu_us: dict = {(w, t): [] for w in WORKLOADS for t in targets}
    with tempfile.TemporaryDirectory(prefix="sidecache-bench-tls-") as tmp:
        work = Path(tmp)
        try:
            certs = make_certs(work)
            ports, pids = start(work, args.sidecache, certs, args.baseline)
            for rep in range(args.repeat):
                for wi, (command, pipeline) in enumerate(WORKLOADS):
                    # Rotate the order so no target always runs first (warm caches, turbo).
                    shift = (rep + wi) % len(targets)
                    for target in targets[shift:] + targets[:shift]:
                        before = {p: cpu_seconds(pids[p]) for p in serving(target)}
                        rps = run_one(ports, target, command, pipeline, args.requests,
                                      certs["ca"])
                        cpu = sum(cpu_seconds(pids[p]) - before[p] for p in serving(target))
                        results[((command, pipeline), target)].append(rps)
                        cpu_us[((command, pipeline), target)].append(1e6 * cpu / args.requests)
                        print(f"rep {rep + 1} {command.upper()} -P {pipeline:<2} {target:<14} "
                              f"{rps:>11,.0f} req/s", flush=True)
        finally:
            bench.stop_all()
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    med = {k: statistics.median(v) for k, v in results.items()}
    lines = [f"TLS client side, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
             f"`/usr/bin/python3 scripts/bench_tls.py --repeat {args.repeat} --requests "
             f"{args.requests}`; median of {args.repeat}, 50 clients, 16-byte values; load "
             f"average before {' '.join(load_before)}, after {' '.join(load_after)} "
             f"(2 cores).", "",
             "| workload | direct | sidecache | ratio | direct TLS | sidecache TLS | ratio TLS |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for command, pipeline in WORKLOADS:
        w = (command, pipeline)
        d, s, dt, st = (med[(w, t)] for t in TARGETS)
        lines.append(f"| {command.upper()} -P {pipeline} | {d:,.0f} | {s:,.0f} | {s / d:.2f} | "
                     f"{dt:,.0f} | {st:,.0f} | {st / dt:.2f} |")
    # On a busy machine the throughput of each run depends on what else ran; the CPU time
    # the servers spent per request hardly does. Its ratio is the throughput ratio the targets
    # would have if the servers' core were the bottleneck (it is on a quiet machine at -P 1).
    cpu = {k: statistics.median(v) for k, v in cpu_us.items()}
    lines += ["", "Server CPU per request (us, median; sidecache's rows include its Redis), and "
              "the ratio direct/sidecache of those:", "",
              "| workload | direct | sidecache | ratio | direct TLS | sidecache TLS | ratio TLS |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for command, pipeline in WORKLOADS:
        w = (command, pipeline)
        d, s, dt, st = (cpu[(w, t)] for t in TARGETS)
        lines.append(f"| {command.upper()} -P {pipeline} | {d:.2f} | {s:.2f} | {d / s:.2f} | "
                     f"{dt:.2f} | {st:.2f} | {dt / st:.2f} |")
    if args.baseline:
        lines += ["", "Baseline CPU per request (us, with its Redis) and its CPU ratios:", "",
                  "| workload | baseline | ratio | baseline TLS | ratio TLS |",
                  "|---|---:|---:|---:|---:|"]
        for command, pipeline in WORKLOADS:
            w = (command, pipeline)
            b, bt = cpu[(w, "baseline")], cpu[(w, "baseline-tls")]
            lines.append(f"| {command.upper()} -P {pipeline} | {b:.2f} | "
                         f"{cpu[(w, 'direct')] / b:.2f} | {bt:.2f} | "
                         f"{cpu[(w, 'direct-tls')] / bt:.2f} |")
    if args.baseline:
        lines += ["", f"Baseline `{Path(args.baseline).name}` in the same run:", "",
                  "| workload | baseline ratio | baseline ratio TLS | this build's ratio TLS |",
                  "|---|---:|---:|---:|"]
        for command, pipeline in WORKLOADS:
            w = (command, pipeline)
            lines.append(f"| {command.upper()} -P {pipeline} | "
                         f"{med[(w, 'baseline')] / med[(w, 'direct')]:.2f} | "
                         f"{med[(w, 'baseline-tls')] / med[(w, 'direct-tls')]:.2f} | "
                         f"{med[(w, 'sidecache-tls')] / med[(w, 'direct-tls')]:.2f} |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if args.write_docs:
        path = ROOT / "docs" / "benchmarks.md"
        doc = path.read_text()
        block = f"{DOCS_BEGIN}\n{text}{DOCS_END}"
        if DOCS_BEGIN in doc:
            head, rest = doc.split(DOCS_BEGIN, 1)
            doc = head + block + rest.split(DOCS_END, 1)[1]
        else:
            doc = doc.rstrip("\n") + "\n\n## TLS from clients\n\n" + block + "\n"
        path.write_text(doc)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
