#!/usr/bin/env python3
"""The Kubernetes side of deploy/, offline: yamllint; `helm lint --strict`; values.schema.json
rejects bad values; `helm template` for Kubernetes 1.29, 1.30 and 1.31 with several values files
(sidecar through a user's chart, classic sidecar, tier, monitoring on with and without the
monitoring.coreos.com/v1 API); the kustomize base and overlay (kubectl kustomize) equal the
plain YAML; every rendered object validated by kubernetes-models and type-checked with
kubernetes-types 1.29/1.30 under tsc --strict (unknown fields fail); policy assertions on every
pod (native sidecar shape, restricted security context, no subPath on the config mount, grace
period covering drain_timeout plus a margin, probe ports declared, http.listen = metrics port,
workers cgroup-aware or set, image tag = appVersion = CMake version).
"""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import support  # noqa: E402
import yaml  # noqa: E402

MARGIN_S = 5


class Rendered:
    """Every rendering the tests look at, made once: {label: [objects]}."""
    sets = {}


def setUpModule():
    tools = support.ensure_tools()
    Rendered.tools = tools
    Rendered.tmp = tempfile.TemporaryDirectory()
    app = support.app_chart(tools, Rendered.tmp.name)
    Rendered.app = app
    sets = Rendered.sets
    for kv in support.KUBE_VERSIONS:
        sets["app-native@" + kv] = support.helm_template(tools, chart=app, kube_version=kv)
        sets["app-classic@" + kv] = support.helm_template(
            tools, chart=app, kube_version=kv, extra=["--set", "sidecache.sidecar.native=false"])
        for name in ("sidecar.yaml", "sidecar-classic.yaml", "tier.yaml", "monitoring.yaml",
                     "monitoring-sidecar.yaml"):
            sets["%s@%s" % (name, kv)] = support.helm_template(
                tools, [support.values_file(name)], kv, api_versions=[support.MONITORING_API])
        sets["monitoring.yaml-noapi@" + kv] = support.helm_template(
            tools, [support.values_file("monitoring.yaml")], kv)
    kubectl = tools["kubectl"]
    for d in ("sidecar", "sidecar-classic", "tier"):
        path = os.path.join(support.KUBE, d)
        sets["plain:" + d] = support.load_file(os.path.join(path, d + ".yaml"))
        sets["kustomize:" + d] = support.load_docs(support.run([kubectl, "kustomize", path]).stdout)


def tearDownModule():
    Rendered.tmp.cleanup()


def all_objects():
    for label, objects in Rendered.sets.items():
        for o in objects:
            yield label, o


class ChartTest(unittest.TestCase):
    def test_yamllint(self):
        deploy = os.path.join(support.SOURCE, "deploy")
        support.run(["yamllint", "-s", "-c", os.path.join(deploy, ".yamllint"), ".",
                     os.path.join(support.HERE, "values")], cwd=deploy)

    def test_helm_lint_strict(self):
        helm = Rendered.tools["helm"]
        support.run([helm, "lint", "--strict", support.CHART])
        for name in os.listdir(os.path.join(support.HERE, "values")):
            support.run([helm, "lint", "--strict", support.CHART, "-f", support.values_file(name)])
        support.run([helm, "lint", "--strict", Rendered.app])

    def test_schema_rejects_bad_values(self):
        helm = Rendered.tools["helm"]
        bad = {
            "mode=proxy": "mode must be one of",
            "ports.http=0": "ports.http",
            "bogus=1": "Additional property bogus",
            "image.pullPolicy=Sometimes": "image.pullPolicy",
            "securityContext.runAsUser=0": "securityContext.runAsUser",
            "config.sidecache.listen=0.0.0.0:1": "config.sidecache",
            "config.sidecache.pool.nodes[0].address=nohostport": "address",
            "shutdown.drainTimeoutSeconds=0": "shutdown.drainTimeoutSeconds",
            "tier.hpa.targetCPUUtilizationPercentage=150": "targetCPUUtilizationPercentage",
        }
        for setting, message in bad.items():
            result = support.run([helm, "template", "r", support.CHART, "--set", setting],
                                 check=False)
            self.assertNotEqual(result.returncode, 0, setting)
            self.assertIn(message, result.stderr, setting)

    def test_monitoring_objects_gated_on_the_api(self):
        for kv in support.KUBE_VERSIONS:
            kinds = {o["kind"] for o in Rendered.sets["monitoring.yaml@" + kv]}
            self.assertTrue({"ServiceMonitor", "PrometheusRule"} <= kinds, kinds)
            kinds = {o["kind"] for o in Rendered.sets["monitoring-sidecar.yaml@" + kv]}
            self.assertTrue({"PodMonitor", "PrometheusRule"} <= kinds, kinds)
            kinds = {o["kind"] for o in Rendered.sets["monitoring.yaml-noapi@" + kv]}
            self.assertFalse({"ServiceMonitor", "PodMonitor", "PrometheusRule"} & kinds, kinds)
            kinds = {o["kind"] for o in Rendered.sets["tier.yaml@" + kv]}
            self.assertFalse({"ServiceMonitor", "PodMonitor", "PrometheusRule"} & kinds, kinds)

    def test_chart_files_equal_deploy_sources(self):
        pairs = [("files/rules.yaml", "deploy/prometheus/rules.yaml"),
                 ("files/sidecache.json", "deploy/grafana/sidecache.json")]
        for chart_file, source in pairs:
            with open(os.path.join(support.CHART, chart_file)) as a, \
                    open(os.path.join(support.SOURCE, source)) as b:
                self.assertEqual(a.read(), b.read(), "%s differs from %s" % (chart_file, source))
        rule = [o for o in Rendered.sets["monitoring.yaml@1.30.0"] if o["kind"] == "PrometheusRule"][0]
        self.assertEqual(rule["spec"], support.load_file(
            os.path.join(support.SOURCE, "deploy", "prometheus", "rules.yaml"))[0])
        board = [o for o in Rendered.sets["monitoring.yaml@1.30.0"]
                 if o["kind"] == "ConfigMap" and "sidecache.json" in o.get("data", {})][0]
        self.assertEqual(board["metadata"]["labels"].get("grafana_dashboard"), "1")
        with open(os.path.join(support.SOURCE, "deploy", "grafana", "sidecache.json")) as f:
            self.assertEqual(json.loads(board["data"]["sidecache.json"]), json.load(f))

    def test_native_sidecar_refused_before_1_29(self):
        helm = Rendered.tools["helm"]
        result = support.run([helm, "template", "r", support.CHART, "--kube-version", "1.28.0"],
                             check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("sidecar.native=false", result.stderr)
        objects = support.helm_template(Rendered.tools, kube_version="1.28.0",
                                        extra=["--set", "sidecar.native=false"])
        self.assertEqual([o["kind"] for o in objects], ["ConfigMap"])
        support.helm_template(Rendered.tools, [support.values_file("tier.yaml")], "1.27.0")

    def test_existing_config_map(self):
        objects = support.helm_template(Rendered.tools, [support.values_file("tier.yaml")],
                                        extra=["--set", "config.existingConfigMap=team-config"])
        self.assertNotIn("ConfigMap", [o["kind"] for o in objects])
        (_, spec), = support.pod_specs(objects)
        volume = [v for v in spec["volumes"] if v["name"] == "sidecache-config"][0]
        self.assertEqual(volume["configMap"]["name"], "team-config")

    def test_notes_render_for_both_modes(self):
        """NOTES.txt through the template engine (a copy of the chart with a template that
        includes it: `helm template` does not print notes, `helm install` needs a cluster)."""
        chart = os.path.join(Rendered.tmp.name, "notes-chart")
        if not os.path.exists(chart):
            support.shutil.copytree(support.CHART, chart)
            with open(os.path.join(chart, "templates", "zz-notes.yaml"), "w") as f:
                f.write("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n"
                        '  notes: {{ include "sidecache/templates/NOTES.txt" . | toJson }}\n')

        def notes(*settings):
            extra = ["--show-only", "templates/zz-notes.yaml"]
            for setting in settings:
                extra += ["--set", setting]
            (cm,) = support.helm_template(Rendered.tools, chart=chart, release="cache", extra=extra)
            return cm["data"]["notes"]
        sidecar = notes()
        self.assertIn("terminationGracePeriodSeconds: 35", sidecar)
        self.assertIn("initContainers:", sidecar)
        self.assertIn('include "sidecache.sidecar.container"', sidecar)
        self.assertIn("127.0.0.1:6380", sidecar)
        self.assertIn("  containers:", notes("sidecar.native=false"))
        tier = notes("mode=tier", "monitoring.enabled=true")
        self.assertIn("cache-sidecache.default.svc:6380", tier)
        self.assertIn("no monitoring.coreos.com/v1 API", tier)
        self.assertIn("sidecache_config_info", tier)

    def test_no_config_checksum_by_default(self):
        for label, o in all_objects():
            if o.get("kind") != "Deployment" or label.startswith("tier.yaml"):
                continue
            annotations = o["spec"]["template"]["metadata"].get("annotations") or {}
            self.assertNotIn("checksum/config", annotations, label)
        tier = [o for o in Rendered.sets["tier.yaml@1.30.0"] if o["kind"] == "Deployment"][0]
        self.assertIn("checksum/config", tier["spec"]["template"]["metadata"]["annotations"])

    def test_kustomize_equals_plain_yaml(self):
        for d in ("sidecar", "sidecar-classic", "tier"):
            key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
            self.assertEqual(sorted(Rendered.sets["kustomize:" + d], key=key),
                             sorted(Rendered.sets["plain:" + d], key=key), d)

    def test_versions_agree(self):
        version = support.cmake_version()
        with open(os.path.join(support.CHART, "Chart.yaml")) as f:
            chart = yaml.safe_load(f)
        self.assertEqual(chart["appVersion"], version)
        self.assertEqual(chart["version"], version)
        for label, o in all_objects():
            for where, spec in support.pod_specs([o]):
                c, _ = support.sidecache_container(spec)
                if c is not None:
                    self.assertEqual(c["image"].rsplit(":", 1)[1], version, label + " " + where)


class ValidationTest(unittest.TestCase):
    def test_models_validate_and_strict_types(self):
        objects = [{"source": label, "object": o} for label, o in all_objects()]
        self.assertGreater(len(objects), 50)
        work = support.scratch_dir()
        try:
            path = os.path.join(work, "objects.json")
            with open(path, "w") as f:
                json.dump(objects, f)
            problems = support.node_check("k8s", path, work)
            self.assertEqual(problems, [], "\n".join(problems))
            files = [os.path.join(work, n) for n in ("k8s_1_29.ts", "k8s_1_30.ts")]
            result = support.tsc(files)
            self.assertEqual(result.returncode, 0, result.stdout[-6000:] + result.stderr[-2000:])
        finally:
            support.shutil.rmtree(work, ignore_errors=True)

    def test_typing_catches_unknown_fields(self):
        """The strict typing is not vacuous: a misspelt field and a bad enum fail."""
        bad = yaml.safe_load("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers:
        - name: c
          image: i
          readinesProbe: {httpGet: {path: /readyz, port: 1}}
""")
        work = support.scratch_dir()
        try:
            path = os.path.join(work, "objects.json")
            with open(path, "w") as f:
                json.dump([{"source": "bad", "object": bad}], f)
            support.node_check("k8s", path, work)
            result = support.tsc([os.path.join(work, "k8s_1_30.ts")])
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("readinesProbe", result.stdout)
        finally:
            support.shutil.rmtree(work, ignore_errors=True)


class PolicyTest(unittest.TestCase):
    def pods(self):
        """(label, where, spec, container, native, config dict) of every sidecache pod."""
        out = []
        for label, objects in Rendered.sets.items():
            maps = support.config_maps(objects)
            for where, spec in support.pod_specs(objects):
                c, native = support.sidecache_container(spec)
                self.assertIsNotNone(c, "%s %s has no sidecache container" % (label, where))
                volume = [v for v in spec["volumes"] if v["name"] == "sidecache-config"][0]
                cm = maps[volume["configMap"]["name"]]
                config = yaml.safe_load(cm["data"]["sidecache.yaml"])
                out.append((label, where, spec, c, native, config))
        self.assertGreater(len(out), 20)
        return out

    def test_native_sidecar_shape(self):
        for label, where, spec, c, native, config in self.pods():
            name = label + " " + where
            expect_native = label.startswith("app-native") or label in ("plain:sidecar",
                                                                         "kustomize:sidecar")
            self.assertEqual(native, expect_native, name)
            if native:
                self.assertEqual(c.get("restartPolicy"), "Always", name)
                self.assertNotIn("lifecycle", c, name)
            else:
                self.assertNotIn("restartPolicy", c, name)
                if "classic" in label:
                    # Both containers get SIGTERM at once: sidecache outlives the app's shutdown.
                    self.assertIn("preStop", c.get("lifecycle", {}), name)

    def test_security_context(self):
        for label, where, spec, c, native, config in self.pods():
            name = label + " " + where
            sc = c["securityContext"]
            self.assertTrue(sc["runAsNonRoot"], name)
            self.assertIsInstance(sc["runAsUser"], int, name)
            self.assertGreater(sc["runAsUser"], 0, name)
            self.assertTrue(sc["readOnlyRootFilesystem"], name)
            self.assertFalse(sc["allowPrivilegeEscalation"], name)
            self.assertEqual(sc["capabilities"]["drop"], ["ALL"], name)
            self.assertNotIn("add", sc["capabilities"], name)
            self.assertEqual(sc["seccompProfile"]["type"], "RuntimeDefault", name)
            self.assertIs(spec.get("automountServiceAccountToken"), False, name)
            self.assertIn("limits", c["resources"], name)
            self.assertIn("requests", c["resources"], name)

    def test_config_mounted_as_a_directory(self):
        for label, where, spec, c, native, config in self.pods():
            mount = [m for m in c["volumeMounts"] if m["name"] == "sidecache-config"][0]
            self.assertNotIn("subPath", mount, label + " " + where)
            self.assertNotIn("subPathExpr", mount, label + " " + where)
            self.assertEqual(c["args"], ["-c", mount["mountPath"] + "/sidecache.yaml"])
            self.assertTrue(config["process"]["watch_config"], label)

    def test_grace_period_covers_the_drain(self):
        for label, where, spec, c, native, config in self.pods():
            drain = support.duration_seconds(config["process"]["drain_timeout"])
            pre_stop = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
            sleep = int(pre_stop[1]) if pre_stop else 0
            self.assertGreaterEqual(spec["terminationGracePeriodSeconds"], sleep + drain + MARGIN_S,
                                    label + " " + where)

    def test_probes_and_ports(self):
        for label, where, spec, c, native, config in self.pods():
            name = label + " " + where
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            probes = {k: c[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")}
            self.assertEqual(probes["startupProbe"]["httpGet"]["path"], "/healthz", name)
            self.assertEqual(probes["livenessProbe"]["httpGet"]["path"], "/healthz", name)
            self.assertEqual(probes["readinessProbe"]["httpGet"]["path"], "/readyz", name)
            for probe in probes.values():
                port = probe["httpGet"]["port"]
                self.assertIn(port if isinstance(port, str) else port,
                              list(ports) + list(ports.values()), name)
            http_host, http_port = config["http"]["listen"].rsplit(":", 1)
            self.assertEqual(http_host, "0.0.0.0", name)
            self.assertEqual(int(http_port), ports["metrics"], name)
            host, port = config["listen"].rsplit(":", 1)
            self.assertEqual(int(port), ports["resp"], name)
            tier = "tier" in label or "monitoring.yaml" in label
            self.assertEqual(host, "0.0.0.0" if tier else "127.0.0.1", name)
            workers = config.get("workers", 0)
            self.assertTrue(workers == 0 or 1 <= workers <= 256, name)

    def test_tier_objects_point_at_the_deployment(self):
        for label, objects in Rendered.sets.items():
            deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
            for o in objects:
                if o["kind"] == "Service" or o["kind"] == "PodDisruptionBudget":
                    selector = o["spec"]["selector"]
                    selector = selector.get("matchLabels", selector)
                    matched = [d for d in deployments.values()
                               if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
                    self.assertEqual(len(matched), 1, label + " " + o["kind"])
                if o["kind"] == "Service":
                    c, _ = support.sidecache_container(matched[0]["spec"]["template"]["spec"])
                    names = {p["name"] for p in c["ports"]}
                    for p in o["spec"]["ports"]:
                        self.assertIn(p["targetPort"], names, label)
                if o["kind"] == "HorizontalPodAutoscaler":
                    self.assertIn(o["spec"]["scaleTargetRef"]["name"], deployments, label)
                    self.assertNotIn("replicas", deployments[o["spec"]["scaleTargetRef"]["name"]]["spec"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
