"""Where the binaries under test are and which backend mode the tests run in.

ctest sets SIDECACHE_BIN, SIDECACHE_BUILD_DIR and SIDECACHE_SOURCE_DIR. Scripts may assign
`harness.BIN` after import: code that starts sidecache reads it through `binary()`, so the
assignment on the package is what counts.
"""
import importlib
import os

BIN = os.environ.get("SIDECACHE_BIN", "")
BUILD_DIR = os.environ.get("SIDECACHE_BUILD_DIR", "")
SOURCE_DIR = os.environ.get(
    "SIDECACHE_SOURCE_DIR",
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

# SIDECACHE_TEST_BACKEND=auth_tls runs the same tests against nodes that need TLS and an ACL
# user's password (see tls.py).
BACKEND_MODE = os.environ.get("SIDECACHE_TEST_BACKEND", "plain")


def binary():
    """The sidecache binary to start: the package's BIN (a script may have replaced it)."""
    return importlib.import_module(__package__).BIN


def build_option(name):
    """The value of a CMake cache entry of the build under test ("" when unknown)."""
    cache = os.path.join(BUILD_DIR, "CMakeCache.txt")
    if not BUILD_DIR or not os.path.exists(cache):
        return ""
    with open(cache) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if key.split(":")[0] == name:
                return value
    return ""


def jemalloc_build():
    """True when the sidecache under test links jemalloc (SIDECACHE_JEMALLOC, on in Release)."""
    return build_option("SIDECACHE_JEMALLOC") == "ON"


def keep_tmp():
    """SIDECACHE_KEEP_TMP set: temp dirs stay for a post-mortem."""
    return os.environ.get("SIDECACHE_KEEP_TMP") is not None
