#!/usr/bin/env python3
"""TLS to the backends: what sidecache->Redis TLS (with AUTH) costs, next to what TLS costs
Redis itself. One run starts, on 127.0.0.1:
  redis-plain   redis-server, plain TCP
  redis-tls     redis-server, TLS only (--tls-port), an ACL user with a password
  sc-plain      sidecache -> redis-plain
  sc-tls        sidecache -> redis-tls (pool.tls + username/password_file); clients plain
and runs redis-benchmark GET/SET 16 B at -P 1 and -P 16 against: redis-plain, sc-plain,
redis-tls (redis-benchmark --tls, direct) and sc-tls, interleaved and repeated. It prints
requests/s and the ratios sc-plain/redis-plain and sc-tls/redis-tls: the target is that
sidecache keeps against direct TLS at least the ratio it has against direct plain.

  /usr/bin/python3 scripts/bench_tls_backend.py [--repeat 3] [--requests 200000] [--sidecache PATH]

Servers on core 0, redis-benchmark on core 1 (taskset), as scripts/bench.py does. Everything
is stopped by PID at the end. Certificates are made with openssl in a temp dir.
"""
import argparse
import csv
import io
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import harness  # noqa: E402  (make_certs, free_port)

CLIENTS = 50
KEYSPACE = 100000
WORKLOADS = [("get", 1), ("set", 1), ("get", 16), ("set", 16)]
procs = []


def spawn(argv, log, cpu="0"):
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", cpu] + argv
    p = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def bench_argv(port, command, pipeline, requests, tls=None):
    argv = ["taskset", "-c", "1", "redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
            "-c", str(CLIENTS), "-P", str(pipeline), "-n", str(requests), "-r", str(KEYSPACE),
            "-d", "16", "-t", command, "--csv"]
    if tls:
        argv += ["--tls", "--cacert", tls["ca.crt"], "--user", "app", "-a", tls["pw"]]
    return argv


def run(port, command, pipeline, requests, tls=None):
    out = subprocess.run(bench_argv(port, command, pipeline, requests, tls), capture_output=True,
                         text=True, timeout=300).stdout
    rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] != "test"]
    return float(rows[-1][1])


def wait_port(port, proc, what):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(what + " exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(what + " not ready")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--sidecache", default=str(ROOT / "build/release/src/app/sidecache"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sidecache-bench-tls-"))
    try:
        certs = harness.make_certs(str(work / "certs"))
        pw = "bench-%d" % random.randint(10**8, 10**9)
        (work / "pw").write_text(pw + "\n")
        certs["pw"] = pw
        ports = {n: harness.free_port() for n in ("redis-plain", "redis-tls", "sc-plain",
                                                  "sc-tls")}
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        p = spawn(["redis-server", "--port", str(ports["redis-plain"]), "--dir", str(work)] +
                  common, work / "redis-plain.log")
        wait_port(ports["redis-plain"], p, "redis-plain")
        p = spawn(["redis-server", "--port", "0", "--tls-port", str(ports["redis-tls"]),
                   "--tls-cert-file", certs["server.crt"], "--tls-key-file", certs["server.key"],
                   "--tls-ca-cert-file", certs["ca.crt"], "--tls-auth-clients", "no",
                   "--user", "default", "off", "--user"] + ("app on >%s ~* &* +@all" % pw).split() +
                  ["--dir", str(work)] + common, work / "redis-tls.log")
        wait_port(ports["redis-tls"], p, "redis-tls")
        for name, node, extra in (
                ("sc-plain", ports["redis-plain"], ""),
                ("sc-tls", ports["redis-tls"],
                 "  username: app\n  password_file: %s\n  tls:\n    ca_file: %s\n" %
                 (work / "pw", certs["ca.crt"]))):
            conf = work / (name + ".yaml")
            conf.write_text("listen: 127.0.0.1:%d\nworkers: 1\nlogging: {level: warn}\n"
                            "pool:\n%s  nodes:\n    - {name: n1, address: 127.0.0.1:%d}\n" %
                            (ports[name], extra, node))
            p = spawn([args.sidecache, "-c", str(conf)], work / (name + ".log"))
            wait_port(ports[name], p, name)
        results = {}
        for rep in range(args.repeat):
            for command, pipeline in WORKLOADS:
                order = ["redis-plain", "sc-plain", "redis-tls", "sc-tls"]
                if rep % 2:
                    order.reverse()
                for target in order:
                    tls = certs if target == "redis-tls" else None
                    rps = run(ports[target], command, pipeline, args.requests, tls)
                    results.setdefault((command, pipeline, target), []).append(rps)
        print("load average after the run: %s" % open("/proc/loadavg").read().split()[:3])
        print("| workload | direct plain | sidecache plain | ratio | direct TLS | "
              "sidecache->TLS | ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for command, pipeline in WORKLOADS:
            med = {t: sorted(results[(command, pipeline, t)])[len(results[(command, pipeline, t)])
                                                             // 2]
                   for t in ("redis-plain", "sc-plain", "redis-tls", "sc-tls")}
            print("| %s 16 B -P %d | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |" % (
                command.upper(), pipeline, med["redis-plain"], med["sc-plain"],
                med["sc-plain"] / med["redis-plain"], med["redis-tls"], med["sc-tls"],
                med["sc-tls"] / med["redis-tls"]))
        return 0
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
