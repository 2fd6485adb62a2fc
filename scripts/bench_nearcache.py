#!/usr/bin/env python3
"""The near cache's benchmark (issue 15): hot-key GET through sidecache with the L1 on, against
direct Redis, in the same run with the same client.

    python3 scripts/bench_nearcache.py [--quick] [--sidecache build/release/src/app/sidecache]
        [--load build/release/tests/tools/nearcache_load] [--settings loopback,relay]
        [--zipf 1.0,1.2] [--sizes 16,1024] [--pipelines 1,16] [--seconds 5] [--repeat 1]
        [--json FILE]

Load: tests/tools/nearcache_load (C++, one thread, epoll): -c 50 connections, GET only, keys
drawn from Zipf(s) over 100,000 keys with a fixed seed (rank 0 the hottest), -P 1 or -P 16
(a batch of P GETs per write, the next batch once all are answered, as redis-benchmark -P).
Each run has a warmup (not counted: it fills the L1) and then a timed part.

Settings:
  loopback  redis-server and sidecache (workers: 1) pinned to core 0, the load to core 1.
  relay     the same, with a relay (pinned to core 1 with the load) in front of Redis that
            forwards every chunk 0.5 ms after reading it, each way (--delay-ms): sidecache reaches
            Redis (its pipelined and tracking connections) through it, and the direct runs do
            too. The relay is tests/tools/delay_relay (C++, epoll + timerfd; --relay PATH).
            `--relay python` uses tests/tools/fault_proxy.py `delay both` instead: a threaded
            Python process, whose own queueing at a few thousand requests/s (50 connections)
            adds far more than 0.5 ms, which overstates every ratio against direct.

Both sizes' keys are loaded first (nc16:%08d and nc1024:%08d, so one size's values never
invalidate the other's entries). The L1: patterns nc16:* and nc1024:*, max_memory 256mb
(--l1-memory: every key fits), max_ttl 10s (--l1-max-ttl), 16 shards.

Reported per run (direct, then sidecache, same workload, interleaved):
  - requests/s and the ratio sidecache / direct; p50 and p99 latency (client side);
  - sidecache CPU microseconds per request (user+system from /proc/PID/stat over the whole
    run, warmup included, divided by every request answered; 10 ms clock ticks);
  - the L1 hit ratio (sidecache_l1_hits_total / (hits + misses) from /metrics, over the run);
  - GETs that reached Redis per client request (INFO commandstats cmdstat_get), for direct (1.0)
    and sidecache (about 1 - hit ratio; each miss also sends a PTTL, counted apart).
And on loopback, the invalidation lag: a key read through sidecache until it is an L1 hit, then
SET directly on Redis; the time from the SET's reply until a GET through sidecache returns the new
value (polled back to back), p50 and p99 over --lag-samples samples.

Targets (issue 15) are printed next to the figures; on a busy machine they are indicative only:
the CPU per request is the more stable figure. --quick: one size (16 B), s=1.0 and 1.2, short
runs, about a minute in all.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = 100_000
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Processes: started pinned, stopped by PID, ended with this script (shared with bench.py).
sys.path.insert(0, str(ROOT / "scripts"))
from bench import free_ports, spawn, stop_all, wait_ready  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


# ---------------------------------------------------------------------------------------------
# A minimal RESP2 client (stdlib only)


class Resp:
    def __init__(self, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)


def commandstats(port: int) -> dict[str, int]:
    with Resp(port) as r:
        text = r.call("INFO", "commandstats").decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, rest = line.partition(":")
            fields = dict(f.split("=", 1) for f in rest.split(","))
            out[name[len("cmdstat_"):]] = int(fields["calls"])
    return out


def l1_counters(http_port: int) -> dict[str, float]:
    """sidecache_l1_hits_total and _misses_total from /metrics (summed over label sets)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {"hits": 0.0, "misses": 0.0}
    for line in text.splitlines():
        for key in out:
            name = f"sidecache_l1_{key}_total"
            if line.startswith(name + " ") or line.startswith(name + "{"):
                out[key] += float(line.rsplit(" ", 1)[1])
    return out


# ---------------------------------------------------------------------------------------------
# The setup


class Setting:
    """redis-server, optionally a delaying relay in front of it, and sidecache with the L1 on."""

    def __init__(self, name: str, work: Path, args: argparse.Namespace):
        self.name = name
        self.args = args
        work.mkdir()
        redis_port, self.side_port, self.http_port, relay_port, control = free_ports(5)
        self.redis_port = redis_port
        self.redis = spawn(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--dir", str(work),
                            "--daemonize", "no"], work / "redis.log", args.server_cpu)
        wait_ready(redis_port, self.redis, "redis-server", timeout=15)
        # Where Redis is reached: through the relay in the relay setting.
        self.backend_port = redis_port
        if name == "relay":
            if args.relay == "python":
                relay = spawn([sys.executable, str(ROOT / "tests" / "tools" / "fault_proxy.py"),
                               "--listen", str(relay_port), "--target",
                               f"127.0.0.1:{redis_port}", "--control", str(control)],
                              work / "relay.log", args.client_cpu)
                self._relay_command(control, relay, f"delay both {args.delay_ms}")
            else:
                relay = spawn([args.relay, "--listen", str(relay_port), "--target",
                               f"127.0.0.1:{redis_port}", "--delay-ms", str(args.delay_ms)],
                              work / "relay.log", args.client_cpu)
                wait_ready(relay_port, relay, "delay_relay", timeout=15)
            self.backend_port = relay_port
        conf = work / "sidecache.yaml"
        patterns = ", ".join(f'"nc{size}:*"' for size in args.sizes)
        conf.write_text(
            f"listen: 127.0.0.1:{self.side_port}\n"
            "workers: 1\n"
            "pool:\n"
            "  nodes:\n"
            f"    - {{name: r1, address: 127.0.0.1:{self.backend_port}, weight: 1}}\n"
            "logging: {level: warn, format: text}\n"
            f"http:\n  listen: 127.0.0.1:{self.http_port}\n"
            "near_cache:\n"
            "  enabled: true\n"
            f"  patterns: [{patterns}]\n"
            f"  max_memory: {args.l1_memory}\n"
            f"  max_ttl: {args.l1_max_ttl}\n"
            "  shards: 16\n")
        self.side = spawn([args.sidecache, "-c", str(conf)], work / "sidecache.log",
                          args.server_cpu)
        wait_ready(self.side_port, self.side, "sidecache", timeout=15)
        for size in args.sizes:
            load_tool(args, ["--port", str(redis_port), "--keys", str(args.keys), "--prefix",
                             f"nc{size}:", "--preload", str(size)])

    def _relay_command(self, control: int, proc: subprocess.Popen, command: str) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", control), timeout=2) as s:
                    s.sendall(command.encode() + b"\n")
                    answer = s.makefile().readline().strip()
                if not answer.startswith("ok"):
                    raise RuntimeError(f"relay: {command}: {answer}")
                return
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the relay did not start (see relay.log)")
                time.sleep(0.05)

    def run(self, target: str, zipf: float, size: int, pipeline: int) -> dict:
        """One timed load run against `target` (direct: Redis, through the relay if any)."""
        port = self.backend_port if target == "direct" else self.side_port
        stats0 = commandstats(self.redis_port)
        l1_0 = l1_counters(self.http_port)
        cpu0 = cpu_seconds(self.side.pid)
        out = load_tool(self.args, [
            "--port", str(port), "--connections", str(self.args.connections),
            "--pipeline", str(pipeline), "--keys", str(self.args.keys), "--zipf", str(zipf),
            "--prefix", f"nc{size}:", "--seconds", str(self.args.seconds),
            "--warmup", str(self.args.warmup), "--seed", str(self.args.seed)],
            cpu=self.args.client_cpu)
        cpu1 = cpu_seconds(self.side.pid)
        l1_1 = l1_counters(self.http_port)
        stats1 = commandstats(self.redis_port)
        total = out["total"]
        hits = l1_1["hits"] - l1_0["hits"]
        misses = l1_1["misses"] - l1_0["misses"]
        if out["errors"] or out["nil"]:
            raise RuntimeError(f"{target}: {out['errors']} errors, {out['nil']} nil replies "
                               "(every key is loaded)")
        return {
            "target": target, "rps": out["rps"], "p50_us": out["p50_us"],
            "p99_us": out["p99_us"], "requests": out["requests"], "total": total,
            "side_cpu_us": (cpu1 - cpu0) / total * 1e6 if target == "sidecache" else None,
            "hit_ratio": hits / (hits + misses) if target == "sidecache" and hits + misses
            else None,
            "redis_gets_per_request": (stats1.get("get", 0) - stats0.get("get", 0)) / total,
            "redis_pttls_per_request": (stats1.get("pttl", 0) - stats0.get("pttl", 0)) / total,
        }

    def invalidation_lag(self, samples: int) -> list[float]:
        """Milliseconds from a SET's reply at Redis until sidecache returns the new value."""
        lags = []
        key = "nc%d:lag" % self.args.sizes[0]
        with Resp(self.redis_port) as redis, Resp(self.side_port) as side:
            for i in range(samples):
                old, new = b"old%d" % i, b"new%d" % i
                redis.call("SET", key, old)
                l1_before = l1_counters(self.http_port)["hits"]
                for _ in range(1000):  # read until it is an L1 hit (the fill is stored)
                    if side.call("GET", key) == old and \
                            l1_counters(self.http_port)["hits"] > l1_before:
                        break
                else:
                    raise RuntimeError("the lag key never became an L1 hit")
                redis.call("SET", key, new)
                t0 = time.perf_counter()
                while side.call("GET", key) != new:
                    if time.perf_counter() - t0 > 5:
                        raise RuntimeError("sidecache kept the old value for 5 s")
                lags.append((time.perf_counter() - t0) * 1000)
        return lags


def load_tool(args: argparse.Namespace, argv: list[str], cpu: str | None = None) -> dict:
    full = ([] if cpu is None else ["taskset", "-c", cpu]) + [args.load] + argv
    out = subprocess.run(full, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(full)} failed ({out.returncode}): {out.stderr[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# Report


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * (len(s) - 1) + 0.5))]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def report(results: list[dict], lags: list[float] | None, meta: dict) -> str:
    lines = [f"# nearcache benchmark ({meta['started']})", "",
             f"- machine: {meta['cpus']} CPUs; load average before {meta['load_before']}, "
             f"after {meta['load_after']}",
             f"- sidecache: {meta['sidecache']}; load: nearcache_load -c {meta['connections']}, "
             f"{meta['keys']} keys, {meta['seconds']} s timed + {meta['warmup']} s warmup per "
             f"run, {meta['repeat']} repetition(s) (medians)", "",
             "| setting | zipf s | value | -P | direct rps | sidecache rps | ratio | target | "
             "p50 direct / side (us) | p99 direct / side (us) | side CPU us/req | L1 hit ratio |"
             " Redis GETs/req direct / side |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = []
    for r in results:
        k = (r["setting"], r["zipf"], r["size"], r["pipeline"])
        if k not in keys:
            keys.append(k)
    for k in keys:
        d = [r for r in results if (r["setting"], r["zipf"], r["size"], r["pipeline"]) == k and
             r["target"] == "direct"]
        s = [r for r in results if (r["setting"], r["zipf"], r["size"], r["pipeline"]) == k and
             r["target"] == "sidecache"]
        ratio = med([b["rps"] / a["rps"] for a, b in zip(d, s)])
        if k[0] == "loopback":
            target = ">= 1.2x, <= 0.3 us" if k[3] > 1 else ">= 1.0x"
        else:
            target = ">= 3x, p50/p99 5x lower" if k[3] == 1 else "p50/p99 5x lower"
        lines.append(
            f"| {k[0]} | {k[1]} | {k[2]} B | {k[3]} | {med([r['rps'] for r in d]):.0f} | "
            f"{med([r['rps'] for r in s]):.0f} | {ratio:.2f}x | {target} | "
            f"{med([r['p50_us'] for r in d]):.0f} / {med([r['p50_us'] for r in s]):.0f} | "
            f"{med([r['p99_us'] for r in d]):.0f} / {med([r['p99_us'] for r in s]):.0f} | "
            f"{med([r['side_cpu_us'] for r in s]):.2f} | {med([r['hit_ratio'] for r in s]):.3f} |"
            f" {med([r['redis_gets_per_request'] for r in d]):.2f} / "
            f"{med([r['redis_gets_per_request'] for r in s]):.3f} |")
    if lags:
        lines += ["", f"Invalidation lag on loopback ({len(lags)} samples): p50 "
                  f"{pct(lags, 0.5):.3f} ms, p99 {pct(lags, 0.99):.3f} ms (target p99 < 1 ms)"]
    return "\n".join(lines)


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def csv_floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def csv_ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sidecache", default=str(ROOT / "build/release/src/app/sidecache"))
    ap.add_argument("--load", default=str(ROOT / "build/release/tests/tools/nearcache_load"))
    ap.add_argument("--quick", action="store_true", help="16 B only, short runs (~1 minute)")
    ap.add_argument("--settings", default="loopback,relay")
    ap.add_argument("--zipf", default="1.0,1.2")
    ap.add_argument("--sizes", default=None, help="value bytes (default 16,1024; quick: 16)")
    ap.add_argument("--pipelines", default="1,16")
    ap.add_argument("--keys", type=int, default=KEYS)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=None, help="timed part (default 5; quick 1.5)")
    ap.add_argument("--warmup", type=float, default=None, help="default 2; quick 1")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--delay-ms", type=float, default=0.5)
    ap.add_argument("--relay", default=str(ROOT / "build/release/tests/tools/delay_relay"),
                    help="delay_relay binary, or `python` for tests/tools/fault_proxy.py")
    ap.add_argument("--l1-memory", default="256mb")
    ap.add_argument("--l1-max-ttl", default="10s")
    ap.add_argument("--lag-samples", type=int, default=None, help="default 300; quick 50; 0 off")
    ap.add_argument("--server-cpu", default="0", help="core of redis-server and sidecache")
    ap.add_argument("--client-cpu", default="1", help="core of the load (and the relay)")
    ap.add_argument("--no-pin", action="store_true", help="no taskset")
    ap.add_argument("--json", help="write every run's figures here")
    args = ap.parse_args()
    args.sizes = csv_ints(args.sizes or ("16" if args.quick else "16,1024"))
    args.seconds = args.seconds if args.seconds is not None else (1.5 if args.quick else 5.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    if args.lag_samples is None:
        args.lag_samples = 50 if args.quick else 300
    if args.no_pin:
        args.server_cpu = args.client_cpu = None
    elif (os.cpu_count() or 1) < 2:
        print("fewer than 2 cores: running unpinned", file=sys.stderr)
        args.server_cpu = args.client_cpu = None
    needs_relay = "relay" in args.settings.split(",") and args.relay != "python"
    for path in (args.sidecache, args.load) + ((args.relay,) if needs_relay else ()):
        if not os.access(path, os.X_OK):
            print(f"not found: {path} (build first)", file=sys.stderr)
            return 2
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "cpus": os.cpu_count(), "load_before": loadavg(), "sidecache": args.sidecache,
            "connections": args.connections, "keys": args.keys, "seconds": args.seconds,
            "warmup": args.warmup, "repeat": args.repeat}
    results: list[dict] = []
    lags = None
    tmp = tempfile.TemporaryDirectory(prefix="bench_nearcache.")
    try:
        for name in args.settings.split(","):
            setting = Setting(name, Path(tmp.name) / name, args)
            for _ in range(args.repeat):
                for size in args.sizes:
                    for zipf in csv_floats(args.zipf):
                        for pipeline in csv_ints(args.pipelines):
                            for target in ("direct", "sidecache"):
                                r = setting.run(target, zipf, size, pipeline)
                                r.update(setting=name, zipf=zipf, size=size, pipeline=pipeline)
                                results.append(r)
                                print(json.dumps(r), flush=True)
            if name == "loopback" and args.lag_samples:
                lags = setting.invalidation_lag(args.lag_samples)
            stop_all()
    finally:
        stop_all()
        tmp.cleanup()
    meta["load_after"] = loadavg()
    print()
    print(report(results, lags, meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "runs": results, "lag_ms": lags},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
