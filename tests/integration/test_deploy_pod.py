#!/usr/bin/env python3
"""The binary against the manifests, the way the kubelet would run it: the rendered ConfigMap
laid out on disk as the kubelet does (a `..<timestamp>` directory, the `..data` symlink, and
`sidecache.yaml -> ..data/sidecache.yaml`), the container's args run as its numeric
runAsUser/runAsGroup with no capabilities, no_new_privs and a read-only root filesystem
(setpriv inside `unshare -m`, `/` remounted read-only in that namespace); the probes' paths answer as
the kubelet expects (startup and liveness 200 at once, readiness 503 until the Redis nodes are
up, then 200); a `..data` swap to a changed ConfigMap is reloaded, counted
(sidecache_config_reloads_total{result="ok"}), reported (sidecache_config_info hash) and
applied; SIGTERM exits 0 within terminationGracePeriodSeconds with every in-flight request
answered. Run for the plain native-sidecar example and the chart's tier mode.

What cannot be kept from the pod: its network namespace. The listen addresses are rewritten to
127.0.0.1 and free ports, the nodes to local redis-servers, and the mount path in the args to
the directory standing for it; every other key and argument is the manifest's.
"""
import datetime
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import harness  # noqa: E402
import support  # noqa: E402
import yaml  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    except OSError:
        return None, ""
    finally:
        conn.close()


def metric(text, name, **labels):
    total = None
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total = (total or 0) + float(m.group(3))
    return total


def fnv1a_64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


class KubeletVolume:
    """A ConfigMap volume as the kubelet writes it: files in a timestamped directory, `..data`
    pointing at it, and one symlink per key through `..data`. update() swaps atomically."""

    def __init__(self, path, data):
        self.path = path
        os.makedirs(path)
        os.chmod(path, 0o755)
        self.current = None
        self.update(data)
        for key in data:
            os.symlink(os.path.join("..data", key), os.path.join(path, key))

    def update(self, data):
        stamp = "..%s.%d" % (datetime.datetime.utcnow().strftime("%Y_%m_%d_%H_%M_%S"),
                             time.monotonic_ns())
        new = os.path.join(self.path, stamp)
        os.makedirs(new)
        os.chmod(new, 0o755)
        for key, text in data.items():
            with open(os.path.join(new, key), "w") as f:
                f.write(text)
            os.chmod(os.path.join(new, key), 0o644)
        tmp_link = os.path.join(self.path, "..data_tmp")
        os.symlink(stamp, tmp_link)
        os.rename(tmp_link, os.path.join(self.path, "..data"))
        if self.current:
            shutil.rmtree(os.path.join(self.path, self.current))
        self.current = stamp


class Pod:
    """sidecache as the container in `spec` would run, with the ConfigMap `config_map`."""

    def __init__(self, test, workdir, spec, config_map):
        self.test = test
        self.spec = spec
        self.container, _ = support.sidecache_container(spec)
        self.ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        mount = [m for m in self.container["volumeMounts"] if m["name"] == "sidecache-config"][0]
        self.mount_path = mount["mountPath"]
        self.config = yaml.safe_load(config_map["data"]["sidecache.yaml"])
        # A backend password from a mounted Secret: the Secret volume laid out as the kubelet
        # does (same ..data layout as a ConfigMap), the nodes with that requirepass.
        self.password = None
        self.secret_dir = None
        password_file = self.config["pool"].get("password_file")
        if password_file:
            mount = [m for m in self.container["volumeMounts"]
                     if password_file.startswith(m["mountPath"].rstrip("/") + "/")]
            test.assertEqual(len(mount), 1, "password_file is not on a mounted volume")
            self.secret_mount = mount[0]["mountPath"].rstrip("/")
            self.password = "pod-secret-%d" % os.getpid()
            self.secret_dir = os.path.join(workdir, "secret")
            KubeletVolume(self.secret_dir,
                          {os.path.relpath(password_file, self.secret_mount): self.password})
        self.redis = [harness.RedisServer(workdir, start=False, password=self.password)
                      for _ in self.config["pool"]["nodes"]]
        self.resp_port = harness.free_port()
        self.http_port = harness.free_port()
        self.volume_dir = os.path.join(workdir, "volume")
        self.data = {"sidecache.yaml": self.localize(self.config)}
        self.volume = KubeletVolume(self.volume_dir, self.data)
        self.log_path = os.path.join(workdir, "sidecache.log")
        self.log = None
        self.proc = None

    def localize(self, config):
        """The manifest's config with only the addresses replaced (see the module's doc)."""
        c = yaml.safe_load(yaml.safe_dump(config))
        self.test.assertEqual(int(c["listen"].rsplit(":", 1)[1]), self.ports["resp"])
        self.test.assertEqual(int(c["http"]["listen"].rsplit(":", 1)[1]), self.ports["metrics"])
        c["listen"] = "127.0.0.1:%d" % self.resp_port
        c["http"]["listen"] = "127.0.0.1:%d" % self.http_port
        for node, server in zip(c["pool"]["nodes"], self.redis):
            node["address"] = "127.0.0.1:%d" % server.port
        if self.secret_dir:
            c["pool"]["password_file"] = c["pool"]["password_file"].replace(self.secret_mount,
                                                                            self.secret_dir, 1)
        return yaml.safe_dump(c, sort_keys=False)

    def argv(self):
        args = [a.replace(self.mount_path, self.volume_dir) for a in self.container["args"]]
        sc = self.container["securityContext"]
        inner = ["setpriv", "--reuid", str(sc["runAsUser"]), "--regid", str(sc["runAsGroup"]),
                 "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
                 "--", harness.BIN] + args
        # A private mount namespace in which / is read-only (the host's stays as it is).
        script = 'mount -o remount,bind,ro / && exec "$@"'
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"] + inner

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def probe(self, which):
        get = self.container[which]["httpGet"]
        port = get["port"]
        self.test.assertEqual(self.ports.get(port, port), self.ports["metrics"])
        return http_get(self.http_port, get["path"])

    def scrape(self):
        status, body = http_get(self.http_port, "/metrics")
        self.test.assertEqual(status, 200)
        return body

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.log:
            self.log.close()
        for r in self.redis:
            r.stop()


class PodTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tools = support.ensure_tools()

    def run_pod(self, objects):
        (where, spec), = [p for p in support.pod_specs(objects)
                          if support.sidecache_container(p[1])[0] is not None]
        container, _ = support.sidecache_container(spec)
        volume = [v for v in spec["volumes"] if v["name"] == "sidecache-config"][0]
        config_map = support.config_maps(objects)[volume["configMap"]["name"]]
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            pod = Pod(self, tmp, spec, config_map)
            try:
                self.scenario(pod, spec)
            except BaseException:
                print("--- sidecache log ---\n" + pod.output()[-4000:], file=sys.stderr)
                raise
            finally:
                pod.stop()

    def scenario(self, pod, spec):
        pod.start()
        # Startup and liveness: 200 as soon as it serves HTTP, nodes or not.
        harness.wait_until(lambda: pod.probe("startupProbe")[0] == 200 or pod.proc.poll() is not None,
                           timeout=15, what="startup probe")
        self.assertIsNone(pod.proc.poll(), "sidecache exited")
        self.assertEqual(pod.probe("livenessProbe")[0], 200)
        # Readiness follows the nodes: none is running yet.
        status, body = pod.probe("readinessProbe")
        self.assertEqual(status, 503, body)
        self.assertIn("nodes up", body)
        for r in pod.redis:
            r.start()
        harness.wait_until(lambda: pod.probe("readinessProbe")[0] == 200, timeout=15,
                           what="readiness once the nodes are up")
        # The health checker readmits each node after its success_threshold probes.
        nodes = len(pod.redis)
        harness.wait_until(lambda: metric(pod.scrape(), "sidecache_node_healthy") == nodes,
                           timeout=15, what="every node healthy")

        self.check_confinement(pod)
        self.check_workers(pod)
        self.check_reload(pod)
        self.check_sigterm(pod, spec["terminationGracePeriodSeconds"])

    def check_confinement(self, pod):
        with open("/proc/%d/status" % pod.proc.pid) as f:
            status = f.read()
        sc = pod.container["securityContext"]
        self.assertRegex(status, r"\nUid:\s+%d\s+%d\s+%d\s+%d\n" % ((sc["runAsUser"],) * 4))
        self.assertRegex(status, r"\nGid:\s+%d\s" % sc["runAsGroup"])
        for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            self.assertRegex(status, r"\n%s:\s+0+\n" % cap)
        self.assertRegex(status, r"\nNoNewPrivs:\s+1\n")
        with open("/proc/%d/mountinfo" % pod.proc.pid) as f:
            root = [line.split() for line in f if line.split()[4] == "/"]
        self.assertTrue(root and all("ro" in fields[5].split(",") for fields in root), root)
        self.assertIn(os.path.basename(harness.BIN), os.readlink("/proc/%d/exe" % pod.proc.pid))

    def check_workers(self, pod):
        if pod.config.get("workers", 0) == 0:
            self.assertRegex(pod.output(), r"workers: 0: \d+ workers \(\d+ cores, cgroup CPU limit")

    def check_reload(self, pod):
        c = harness.RespConnection(pod.resp_port)
        refused = c.command("KEYS", "*")  # off until the reload turns it on
        self.assertIsInstance(refused, harness.RespError)
        self.assertIn("KEYS", refused)
        text = pod.scrape()
        before_ok = metric(text, "sidecache_config_reloads_total", result="ok") or 0
        old_hash = fnv1a_64(pod.data["sidecache.yaml"].encode())
        self.assertEqual(metric(text, "sidecache_config_info", hash=old_hash), 1)

        changed = yaml.safe_load(pod.data["sidecache.yaml"])
        changed.setdefault("commands", {})["allow_keys"] = True
        new_text = yaml.safe_dump(changed, sort_keys=False)
        pod.volume.update({"sidecache.yaml": new_text})
        new_hash = fnv1a_64(new_text.encode())
        harness.wait_until(
            lambda: metric(pod.scrape(), "sidecache_config_info", hash=new_hash) == 1,
            timeout=15, what="the new config hash in sidecache_config_info")
        text = pod.scrape()
        self.assertEqual(metric(text, "sidecache_config_reloads_total", result="ok"), before_ok + 1)
        self.assertFalse(metric(text, "sidecache_config_reloads_total", result="failed"))
        pod.redis[0].client().set("reload-probe", "1")
        self.assertIsInstance(c.command("KEYS", "reload-probe"), list)
        c.close()

    def check_sigterm(self, pod, grace_s):
        # Hold the nodes' replies (CLIENT PAUSE) so that requests are in flight at SIGTERM.
        conns = [harness.RespConnection(pod.resp_port, timeout=15) for _ in range(4)]
        for r in pod.redis:
            r.client().execute_command("CLIENT", "PAUSE", "1500", "ALL")
        sent = 0
        for i, c in enumerate(conns):
            c.send_raw(b"".join(c.encode("SET", "drain:%d:%d" % (i, j), str(j)) for j in range(25)))
            sent += 25
        harness.wait_until(lambda: (metric(pod.scrape(), "sidecache_node_inflight_requests") or 0) > 0,
                           timeout=5, what="requests in flight")
        started = time.monotonic()
        pod.proc.send_signal(signal.SIGTERM)
        answered = 0
        for c in conns:
            for _ in range(25):
                self.assertEqual(c.read_reply(), "OK")
                answered += 1
            c.close()
        code = pod.proc.wait(timeout=grace_s)
        elapsed = time.monotonic() - started
        self.assertEqual(answered, sent)
        self.assertEqual(code, 0, pod.output()[-2000:])
        self.assertLess(elapsed, grace_s)
        self.assertIsNone(harness.sanitizer_report(pod.output()))
        for r in pod.redis:
            r.client().execute_command("CLIENT", "UNPAUSE")

    def test_plain_native_sidecar_example(self):
        self.run_pod(support.load_file(os.path.join(support.KUBE, "sidecar", "sidecar.yaml")))

    def test_chart_tier(self):
        self.run_pod(support.helm_template(self.tools, [support.values_file("tier.yaml")]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
