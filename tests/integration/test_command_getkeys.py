#!/usr/bin/env python3
"""Differential test: resp::key_indexes() against redis-server's own COMMAND GETKEYS.

Builds a few hundred requests (hand-written tricky ones, plus generated ones for every command
and subcommand redis-server reports), asks the command_keys_probe tool for the key indexes and
redis-server for the keys, and compares. Where key_indexes() refuses a request (bad numkeys,
unbalanced STREAMS), the command itself is sent to redis-server and its error text must match.

Needs SIDECACHE_BUILD_DIR (a build dir with command_keys_probe built). Python 3 stdlib only.
"""

import os
import shutil
import subprocess
import sys
import tempfile


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

RedisError = harness.RespError


class Resp:
    """harness.RespConnection with bulk strings decoded (COMMAND INFO is text)."""

    def __init__(self, port):
        self.conn = harness.RespConnection(port, timeout=10)

    def call(self, *args):
        return self._decode(self.conn.command(*args))

    def _decode(self, reply):
        if isinstance(reply, bytes):
            return reply.decode()
        if isinstance(reply, list):
            return [self._decode(r) for r in reply]
        return reply


def find_probe():
    build = os.environ.get("SIDECACHE_BUILD_DIR")
    if not build:
        sys.exit("SIDECACHE_BUILD_DIR is not set")
    for root, _dirs, files in os.walk(build):
        if "command_keys_probe" in files:
            return os.path.join(root, "command_keys_probe")
    sys.exit("command_keys_probe not found under " + build)


HAND = [
    ["GET", "k"], ["SET", "k", "v", "EX", "1"], ["MGET", "a", "b", "c"],
    ["MSET", "a", "1", "b", "2"], ["MSETNX", "a", "1", "b", "2", "c", "3"], ["DEL", "a", "b"],
    ["EVAL", "return 1", "0"], ["EVAL", "return 1", "2", "a", "b", "x"],
    ["EVAL", "return 1", "5", "a"], ["EVAL", "return 1", "-1", "a"], ["EVAL", "return 1", "x"],
    ["EVAL_RO", "return 1", "1", "a", "b"], ["FCALL", "f", "2", "a", "b"], ["FCALL", "f", "3", "a"],
    ["FCALL_RO", "f", "0", "x"],
    ["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"], ["ZUNIONSTORE", "d", "0", "a"],
    ["ZUNIONSTORE", "d", "-1", "a"], ["ZUNIONSTORE", "d", "3", "a"], ["ZINTERSTORE", "d", "x", "a"],
    ["ZDIFFSTORE", "d", "1", "a"], ["ZUNION", "2", "a", "b"], ["ZINTER", "0", "a"],
    ["ZINTERCARD", "2", "a", "b", "LIMIT", "1"], ["ZINTERCARD", "3", "a"],
    ["SINTERCARD", "3", "a"], ["SINTERCARD", "2", "a", "b"], ["SINTERCARD", "0", "a"],
    ["LMPOP", "2", "a", "b", "LEFT"], ["LMPOP", "2", "a", "LEFT"], ["LMPOP", "0", "a", "LEFT"],
    ["ZMPOP", "1", "a", "MIN", "COUNT", "2"], ["BLMPOP", "0", "2", "a", "b", "LEFT"],
    ["BZMPOP", "0", "1", "a", "MAX"], ["XREAD", "STREAMS", "a", "0"],
    ["XREAD", "COUNT", "5", "STREAMS", "a", "b", "0", "0"], ["XREAD", "STREAMS", "a", "b", "c"],
    ["XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "a", "b", ">", ">"],
    ["XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", "c"],
    ["GEORADIUS", "s", "0", "0", "1", "km", "STORE", "d"],
    ["GEORADIUS", "s", "0", "0", "1", "km", "STOREDIST", "d"],
    ["GEORADIUSBYMEMBER", "s", "m", "1", "km", "STORE", "d"],
    ["GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"],
    ["SORT", "a"], ["SORT", "a", "BY", "w", "GET", "#", "STORE", "d"],
    ["SORT", "a", "LIMIT", "0", "1", "STORE", "d", "STORE", "e"], ["SORT_RO", "a", "BY", "w"],
    ["OBJECT", "ENCODING", "k"], ["MEMORY", "USAGE", "k", "SAMPLES", "1"],
    ["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"], ["XINFO", "STREAM", "s"],
    ["MIGRATE", "h", "1", "k", "0", "5"], ["MIGRATE", "h", "1", "", "0", "5", "KEYS", "a", "b"],
    ["MIGRATE", "h", "1", "", "0", "5", "AUTH", "keys", "KEYS", "a"],
    ["MIGRATE", "h", "1", "k", "0", "5", "KEYS", "a"], ["BITOP", "AND", "d", "a", "b"],
    ["BLPOP", "a", "b", "0"], ["LCS", "a", "b"], ["COPY", "a", "b"], ["RENAME", "a", "b"],
    ["SMOVE", "a", "b", "m"], ["LMOVE", "a", "b", "LEFT", "RIGHT"], ["PFMERGE", "d", "a", "b"],
    ["SINTERSTORE", "d", "a", "b"], ["WATCH", "a", "b"], ["PING"], ["CONFIG", "GET", "x"],
]

# Requests where sidecache deliberately differs from Redis 7.0's key extraction.
KNOWN_DIVERGENCES = {
    # Redis treats the empty source range as an invalid spec and finds no key; PFMERGE still
    # writes the destination, so sidecache routes by it.
    (("pfmerge", "a1"), ("a1",)),
}

FIRST_ARG = {"eval": "return 1", "eval_ro": "return 1", "fcall": "f", "fcall_ro": "f"}
TIMEOUT_AT_1 = {"blmpop", "bzmpop"}


def pairs(flat):
    return dict(zip(flat[::2], flat[1::2]))


def generated(info, sha):
    """Requests for every command and subcommand: fillers of valid arity, numkeys varied."""
    first_arg = dict(FIRST_ARG, evalsha=sha, evalsha_ro=sha)
    entries = []
    for e in info:
        entries += e[9] if e[9] else [e]
    out = []
    for e in entries:
        name, arity, specs = e[0], e[1], e[8]
        words = name.split("|")
        counts = [abs(arity)] if arity > 0 else [-arity, -arity + 1, -arity + 3]
        keynum_at = None
        for raw in specs:
            spec = pairs(raw)
            bs, fk = pairs(spec["begin_search"]), pairs(spec["find_keys"])
            if pairs(bs["spec"]).get("index") is not None and fk["type"] == "keynum":
                keynum_at = pairs(bs["spec"])["index"] + pairs(fk["spec"])["keynumidx"]
        for argc in counts:
            base = words + ["a%d" % i for i in range(len(words), argc)]
            if len(base) != argc:
                continue
            if name in first_arg and argc > 1:
                base[1] = first_arg[name]
            if name in TIMEOUT_AT_1:
                base[1] = "0.01"
            if keynum_at is None or keynum_at >= argc:
                out.append(base)
                continue
            for numkeys in ("1", str(argc - keynum_at - 1), str(argc), "0", "-1", "x"):
                req = list(base)
                req[keynum_at] = numkeys
                out.append(req)
    return out


def main():
    probe = find_probe()
    workdir = tempfile.mkdtemp(prefix="sidecache-getkeys-")
    redis = harness.RedisServer(workdir)
    port = redis.port
    failures, compared = [], 0
    try:
        r = Resp(port)
        sha = r.call("SCRIPT", "LOAD", "return 1")
        lib = "#!lua name=t\nredis.register_function('f', function(k, a) return 1 end)"
        assert r.call("FUNCTION", "LOAD", lib) == "t"
        info = r.call("COMMAND", "INFO")
        requests = HAND + generated(info, sha)
        assert all("\t" not in a and "\n" not in a for req in requests for a in req)
        text = "".join("\t".join(req) + "\n" for req in requests)
        answers = subprocess.run([probe], input=text, capture_output=True, text=True,
                                 check=True).stdout.splitlines()
        assert len(answers) == len(requests)
        for req, answer in zip(requests, answers):
            if answer in ("UNKNOWN", "ARITY"):
                failures.append("%s: probe says %s" % (req, answer))
                continue
            compared += 1
            if answer.startswith("ERROR "):
                ours = answer[len("ERROR "):]
                if "sidecache" in ours:
                    continue
                theirs = r.call(*req)
                if theirs != ours:
                    failures.append("%s: ours %r, redis %r" % (req, ours, theirs))
                continue
            ours = [req[int(i)] for i in answer.split()[1:]]
            theirs = r.call("COMMAND", "GETKEYS", *req)
            if isinstance(theirs, RedisError):
                theirs = []  # "no key arguments" / "Invalid arguments specified"
            if ours != theirs and (tuple(req), tuple(ours)) not in KNOWN_DIVERGENCES:
                failures.append("%s: ours %r, redis %r" % (req, ours, theirs))
    finally:
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("compared %d requests, %d mismatches" % (compared, len(failures)))
    for f in failures:
        print("  " + f)
    return 1 if failures or compared < 300 else 0


if __name__ == "__main__":
    sys.exit(main())
