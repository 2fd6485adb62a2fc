"""Tools built with sidecache that tests run (route_probe: where the ring puts keys)."""
import os
import subprocess
import unittest

from . import env


def find_tool(name):
    """A tool built under SIDECACHE_BUILD_DIR (tests/<name> first, then anywhere)."""
    if not env.BUILD_DIR:
        raise unittest.SkipTest("SIDECACHE_BUILD_DIR not set")
    candidate = os.path.join(env.BUILD_DIR, "tests", name)
    if os.path.isfile(candidate):
        return candidate
    for root, _, files in os.walk(env.BUILD_DIR):
        if name in files:
            return os.path.join(root, name)
    raise RuntimeError("%s not found under %s" % (name, env.BUILD_DIR))


def route_probe(keys, nodes, hash_kind="fnv1a_64", tag="{}", timeout=60):
    """Node names route_probe gives `keys` (str or bytes) on a ring of (name, weight) nodes."""
    keys = [k.encode() if isinstance(k, str) else k for k in keys]
    args = [find_tool("route_probe"), "--hex", "--hash", hash_kind]
    if tag:
        args += ["--tag", tag]
    args += ["%s:%d" % (name, weight) for name, weight in nodes]
    out = subprocess.run(args, input="".join(k.hex() + "\n" for k in keys), capture_output=True,
                         text=True, timeout=timeout, check=True)
    names = out.stdout.splitlines()
    if len(names) != len(keys):
        raise RuntimeError("route_probe answered %d lines for %d keys" % (len(names), len(keys)))
    return names
