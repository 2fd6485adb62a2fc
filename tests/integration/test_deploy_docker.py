#!/usr/bin/env python3
"""docker/Dockerfile, without a container engine (none here, and no base images): it passes
dockerfile-utils' validate(); its build stage runs the same package script and the same CMake
configuration as CI (scripts/deps.sh, scripts/test.sh); its runtime packages are exactly the
Debian packages owning the libraries the built binary links (readelf NEEDED resolved by ldd,
owned per dpkg -S, less what debian:12-slim has); USER, EXPOSE, ENTRYPOINT/CMD and the OCI
version label agree with the chart, the manifests, CMake's project VERSION and `--version`;
the libraries the binary dlopen()s (the database client libraries declared in
src/db/client_library.hpp) are runtime packages too;
.dockerignore keeps build trees and node_modules out of the context.
"""
import os
import re
import shlex
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import harness  # noqa: E402
import support  # noqa: E402
import yaml  # noqa: E402

DOCKERFILE = os.path.join(support.SOURCE, "docker", "Dockerfile")
# Packages every debian:12-slim image has (essential, or needed by apt itself).
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
# Runtimes a sanitizer build links; the image holds a Release build.
SANITIZER_PACKAGES = re.compile(r"^lib(asan|ubsan|lsan|tsan)[0-9]+$")
# The allocator the Release build links (SIDECACHE_JEMALLOC); sanitizer builds keep glibc's.
JEMALLOC_PACKAGE = "libjemalloc2"


def instructions():
    """[(stage index, INSTRUCTION, argument text)] with continuations joined and comments
    dropped."""
    out, stage, buf = [], -1, ""
    with open(DOCKERFILE) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not buf and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            text = (buf + line).strip()
            buf = ""
            word, _, rest = text.partition(" ")
            word = word.upper()
            if word == "FROM":
                stage += 1
            out.append((stage, word, rest.strip()))
    return out


# The client libraries sidecache loads on demand (dlopen), declared once in the source:
#   inline constexpr ClientLibrary kPostgresLibrary{"PostgreSQL", "libpq.so.5", "libpq5"};
CLIENT_LIBRARIES = os.path.join(support.SOURCE, "src", "db", "client_library.hpp")
CLIENT_LIBRARY_RE = re.compile(
    r'ClientLibrary\s+k\w+\{\s*"[^"]*",\s*"([^"]+)",\s*"([^"]+)"\s*\}')


def dlopened_libraries():
    """{SONAME: Debian package} of the libraries the binary loads on demand."""
    with open(CLIENT_LIBRARIES) as f:
        return dict(CLIENT_LIBRARY_RE.findall(f.read()))


def owner_of(lib, path):
    """The Debian package that owns shared library `lib` found at `path`."""
    candidates = [os.path.realpath(path), path]
    # merged /usr: dpkg knows some files under /lib, others under /usr/lib
    candidates += [p.replace("/usr/lib/", "/lib/", 1) for p in candidates if p.startswith("/usr/lib/")]
    candidates += ["/usr" + p for p in candidates if p.startswith("/lib/")]
    for c in candidates:
        r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    raise AssertionError("no Debian package owns %s (%s)" % (lib, candidates))


def dlopened_packages():
    """The packages owning the libraries the binary dlopen()s, as the dynamic loader finds them
    here (`ldconfig -p`); each must be the package the source names in its error message."""
    found = {}
    for line in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) \((.*)\) => (\S+)", line)
        if m and "x86-64" in m.group(2):
            found.setdefault(m.group(1), m.group(3))
    packages = set()
    for soname, declared in dlopened_libraries().items():
        assert soname in found, "%s (loaded on demand) is not installed here" % soname
        owner = owner_of(soname, found[soname])
        assert owner == declared, "%s belongs to %s, the source names %s" % (soname, owner,
                                                                             declared)
        packages.add(owner)
    return packages


def runtime_packages_of(binary):
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                        subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                                       check=True).stdout)
    paths = {}
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            paths[m.group(1)] = m.group(2)
    return {owner_of(lib, paths[lib]) for lib in needed}


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.steps = instructions()
        cls.stages = sorted({s for s, _, _ in cls.steps})
        with open(os.path.join(support.CHART, "values.yaml")) as f:
            cls.values = yaml.safe_load(f)

    def final(self, word):
        last = self.stages[-1]
        return [arg for s, w, arg in self.steps if s == last and w == word]

    def test_dockerfile_utils_validate(self):
        support.ensure_tools()
        self.assertEqual(support.node_check("dockerfile", DOCKERFILE), [])

    def test_stages(self):
        froms = [arg for _, w, arg in self.steps if w == "FROM"]
        self.assertEqual(froms, ["debian:12 AS build", "debian:12-slim"])

    def test_build_stage_is_ci_build(self):
        build = [(w, arg) for s, w, arg in self.steps if s == 0]
        runs = [" ".join(arg.split()) for w, arg in build if w == "RUN"]
        self.assertTrue(any(r.startswith("bash scripts/deps.sh run") for r in runs), runs)
        with open(os.path.join(support.SOURCE, "scripts", "test.sh")) as f:
            test_sh = f.read()
        configure = re.search(r"^(cmake -G Ninja -S \. -B build/release [^>\n]*?)\s*(>|$)", test_sh,
                              re.M).group(1)
        self.assertTrue(any(r.startswith(configure + " &&") for r in runs),
                        "the build stage must configure exactly as scripts/test.sh: %s" % configure)
        self.assertTrue(any("ninja -C build/release sidecache" in r for r in runs), runs)

    def test_runtime_packages_match_the_binary(self):
        install = [r for r in self.final("RUN") if "apt-get install" in r]
        self.assertEqual(len(install), 1)
        words = shlex.split(install[0].split("apt-get install", 1)[1].split("&&")[0])
        listed = {w for w in words if not w.startswith("-")}
        linked = runtime_packages_of(harness.BIN) | dlopened_packages()
        wanted = {p for p in linked - BASE_IMAGE_PACKAGES if not SANITIZER_PACKAGES.match(p)}
        if not harness.jemalloc_build():
            wanted.add(JEMALLOC_PACKAGE)
        self.assertEqual(listed, wanted)

    def test_dlopened_libraries_are_declared_and_not_linked(self):
        libraries = dlopened_libraries()
        self.assertEqual(libraries, {"libpq.so.5": "libpq5", "libmariadb.so.3": "libmariadb3"})
        needed = subprocess.run(["readelf", "-d", harness.BIN], capture_output=True, text=True,
                                check=True).stdout
        for soname in libraries:
            self.assertNotIn("[%s]" % soname, needed)

    def test_binary_copied_from_the_build_tree_path(self):
        copy, = self.final("COPY")
        src, dst = copy.split()[1:]
        self.assertEqual(copy.split()[0], "--from=build")
        rel = os.path.relpath(harness.BIN, support.BUILD)
        self.assertEqual(src, "/src/build/release/" + rel)
        self.assertEqual(dst, "/usr/local/bin/sidecache")

    def test_user_ports_entrypoint_agree_with_the_chart(self):
        user, = self.final("USER")
        sc = self.values["securityContext"]
        self.assertEqual(user, "%d:%d" % (sc["runAsUser"], sc["runAsGroup"]))
        expose, = self.final("EXPOSE")
        self.assertEqual(sorted(int(p) for p in expose.split()),
                         sorted([self.values["ports"]["resp"], self.values["ports"]["http"]]))
        entry, = self.final("ENTRYPOINT")
        cmd, = self.final("CMD")
        self.assertEqual(yaml.safe_load(entry), ["sidecache"])
        for _, spec in support.pod_specs(support.load_file(
                os.path.join(support.KUBE, "sidecar", "sidecar.yaml"))):
            c, _ = support.sidecache_container(spec)
            self.assertNotIn("command", c)  # the image's ENTRYPOINT
            self.assertEqual(c["args"], yaml.safe_load(cmd))
            self.assertEqual(c["securityContext"]["runAsUser"], sc["runAsUser"])

    def test_version_label_and_binary(self):
        version = support.cmake_version()
        labels = " ".join(self.final("LABEL"))
        self.assertIn('org.opencontainers.image.version="%s"' % version, labels)
        out = subprocess.run([harness.BIN, "--version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(out.stdout.strip(), "sidecache " + version)

    def test_dockerignore(self):
        with open(os.path.join(support.SOURCE, ".dockerignore")) as f:
            patterns = {line.strip() for line in f if line.strip() and not line.startswith("#")}
        for p in (".git", "build*/", "**/node_modules/", ".run/"):
            self.assertIn(p, patterns)


if __name__ == "__main__":
    unittest.main(verbosity=2)
