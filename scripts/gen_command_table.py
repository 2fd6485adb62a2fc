#!/usr/bin/env python3
"""Generates src/resp/command_table_data.cpp and docs/commands.md.

Facts (names, arity, flags, key specs, subcommands) come from a throw-away redis-server 7.0.15 via
COMMAND INFO; the routing decision and the client-visible note for every command come from the
policy tables below. The script fails when Redis reports a keyless command (or subcommand) that
the policy does not decide, when the policy names something Redis does not have, or when the
numkeys error texts that key_indexes() reproduces no longer match the server's own replies.

Usage: scripts/gen_command_table.py [--check]   (--check: fail if the outputs would change)
Python 3 standard library only.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_CPP = os.path.join(ROOT, "src", "resp", "command_table_data.cpp")
DOCS_MD = os.path.join(ROOT, "docs", "commands.md")
REDIS_VERSION = "7.0.15"

# --------------------------------------------------------------------------------------------
# Routing policy. Names are lower case; a subcommand is "container|sub". A keyless command
# must appear here; a command with keys defaults to single-node unless it appears here.
# --------------------------------------------------------------------------------------------

LOCAL = {
    "ping": "",
    "echo": "",
    "quit": "",
    "select": "Only database 0 is available through sidecache.",
    "hello": "",
    "auth": "",
    "reset": "",
    "time": "",
    "info": "",
    "client|setname": "",
    "client|getname": "",
    "client|setinfo": "",
    "client|id": "",
    "command": "",
    "command|count": "",
    "command|info": "",
    "command|docs": "",
    "command|list": "",
    "config|get": "",
    "acl|whoami": "",
    "sidecache|hotkeys": "",
    "sidecache|help": "",
}

SPLIT = {name: "" for name in ("mget", "mset", "del", "unlink", "exists", "touch")}

BROADCAST = {
    "dbsize": "",
    "script|load": "",
    "script|flush": "",
    "script|exists": "",
    # Functions are loaded on every node, so FCALL works wherever its keys are; every node must
    # answer the same (library name, or OK).
    "function|load": "",
    "function|delete": "",
    "function|flush": "",
    "function|restore": "",
}

# Keyless commands that still go to one backend (a deterministic one): the reply does not depend
# on the node. Commands with keys are single-node by default and need no entry.
SINGLE_NODE_KEYLESS = {
    "eval": "", "evalsha": "", "eval_ro": "", "evalsha_ro": "", "fcall": "", "fcall_ro": "",
    "command|getkeys": "", "command|getkeysandflags": "",
    # Loads go to every node, so one node's answer stands for all (FUNCTION STATS shows only
    # that node's running script).
    "function|list": "", "function|dump": "", "function|stats": "",
}

# Commands the client session handles itself, because they need a backend connection of their
# own: transactions (pinned to the node of their keys), blocking commands, Pub/Sub.
SESSION = {name: "" for name in (
    "multi", "exec", "discard", "watch", "unwatch",
    "blpop", "brpop", "blmove", "brpoplpush", "bzpopmin", "bzpopmax", "blmpop", "bzmpop",
    "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "publish",
    "ssubscribe", "sunsubscribe", "spublish",
    "pubsub|channels", "pubsub|numpat", "pubsub|numsub", "pubsub|shardchannels",
    "pubsub|shardnumsub")}

# Whole-keyspace commands, made to work across every node by the dispatcher (a cursor over the
# nodes, a random node, concatenation); KEYS and FLUSHDB/FLUSHALL only when enabled in config.
KEYSPACE = {
    "scan": "",
    "randomkey": "",
    "keys": "KEYS would block every node while it scans; enable it with "
            "'commands.allow_keys: true' in the config.",
    "flushdb": "FLUSHDB empties every node; enable it with 'commands.allow_flush: true' in the "
               "config.",
    "flushall": "FLUSHALL empties every node; enable it with 'commands.allow_flush: true' in the "
                "config.",
}

# What the policy chain does with a command on a policy key (resp::CacheRole): the reads the
# read-through engine serves and the writes the write modes map to a row. Any command may have
# one, whatever its routing; the rest are kNone.
CACHE_ROLES = {
    "get": "kGet", "mget": "kMget", "hget": "kHget", "hmget": "kHmget", "hgetall": "kHgetall",
    "hexists": "kHexists", "hlen": "kHlen",
    "set": "kSet", "mset": "kMset", "incr": "kIncr", "decr": "kDecr", "incrby": "kIncrBy",
    "decrby": "kDecrBy", "hset": "kHset", "hmset": "kHmset", "hincrby": "kHincrBy",
    "del": "kDel", "unlink": "kUnlink",
    # Scripts whose writes would bypass the database (the _RO forms only read).
    "eval": "kScript", "evalsha": "kScript", "fcall": "kScript",
    # They change a key's TTL, not its row.
    **{n: "kTtl" for n in ("expire", "pexpire", "expireat", "pexpireat", "persist", "touch")},
}

# What the client session does with a command itself (resp::SessionRole): transactions,
# Pub/Sub, and the commands its modes treat specially.
SESSION_ROLES = {
    "multi": "kMulti", "exec": "kExec", "discard": "kDiscard", "watch": "kWatch",
    "unwatch": "kUnwatch", "reset": "kReset", "quit": "kQuit", "ping": "kPing", "echo": "kEcho",
    "subscribe": "kSubscribe", "psubscribe": "kPsubscribe", "ssubscribe": "kSsubscribe",
    "unsubscribe": "kUnsubscribe", "punsubscribe": "kPunsubscribe",
    "sunsubscribe": "kSunsubscribe",
    "publish": "kPublish", "spublish": "kPublish",
    "pubsub|numpat": "kPubsubNumpat",
    "pubsub|channels": "kPubsubChannels", "pubsub|shardchannels": "kPubsubChannels",
    "pubsub|numsub": "kPubsubNumsub", "pubsub|shardnumsub": "kPubsubNumsub",
}

_NS = " is not supported through sidecache yet."
_TRACKING = "Client-side caching (CLIENT TRACKING) is not supported until the L1 cache exists."
_CLIENT_CONN = " would act on sidecache's backend connections, not on yours."

UNSUPPORTED = {
    "wait": "WAIT" + _NS,
    "function|kill": "FUNCTION KILL" + _NS + " Run it on the busy node directly.",
    "script|kill": "SCRIPT KILL" + _NS + " Run it on the busy node directly.",
    "script|debug": "SCRIPT DEBUG" + _NS,
    "client|tracking": _TRACKING,
    "client|trackinginfo": _TRACKING,
    "client|caching": _TRACKING,
    "client|getredir": _TRACKING,
    "client|reply": "CLIENT REPLY" + _NS,
}

_ADMIN = " is an administrative command; run it on the nodes directly."
_EVERY_NODE = " would run on every node and block them."

REJECTED = {
    "shutdown": "SHUTDOWN" + _ADMIN,
    "debug": "DEBUG" + _ADMIN,
    "monitor": "MONITOR" + _ADMIN,
    "save": "SAVE" + _ADMIN,
    "bgsave": "BGSAVE" + _ADMIN,
    "bgrewriteaof": "BGREWRITEAOF" + _ADMIN,
    "lastsave": "LASTSAVE" + _ADMIN,
    "replicaof": "REPLICAOF" + _ADMIN,
    "slaveof": "SLAVEOF" + _ADMIN,
    "sync": "SYNC is used by replicas; connect them to the nodes directly.",
    "psync": "PSYNC is used by replicas; connect them to the nodes directly.",
    "replconf": "REPLCONF is used by replicas; connect them to the nodes directly.",
    "failover": "FAILOVER" + _ADMIN,
    "readonly": "READONLY is a Redis Cluster command; sidecache does the routing.",
    "readwrite": "READWRITE is a Redis Cluster command; sidecache does the routing.",
    "asking": "ASKING is a Redis Cluster command; sidecache does the routing.",
    "restore-asking": "RESTORE-ASKING is used by Redis Cluster migrations, not by clients.",
    "role": "ROLE" + _ADMIN,
    "swapdb": "SWAPDB is not available: sidecache serves database 0 only.",
    "move": "MOVE is not available: sidecache serves database 0 only.",
    "migrate": "MIGRATE" + _ADMIN,
    "lolwut": "LOLWUT is not available through sidecache.",
    "pfselftest": "PFSELFTEST" + _ADMIN,
    "pfdebug": "PFDEBUG" + _ADMIN,
    "config|set": "CONFIG SET" + _ADMIN,
    "config|resetstat": "CONFIG RESETSTAT" + _ADMIN,
    "config|rewrite": "CONFIG REWRITE" + _ADMIN,
    "memory|doctor": "MEMORY DOCTOR" + _ADMIN,
    "memory|stats": "MEMORY STATS" + _ADMIN,
    "memory|purge": "MEMORY PURGE" + _ADMIN,
    "memory|malloc-stats": "MEMORY MALLOC-STATS" + _ADMIN,
}
for _sub in ("info", "list", "kill", "pause", "unpause", "no-evict", "unblock"):
    REJECTED["client|" + _sub] = "CLIENT " + _sub.upper() + _CLIENT_CONN
# Whole containers whose subcommands are all rejected as administrative.
REJECTED_CONTAINERS = ("cluster", "acl", "module", "slowlog", "latency")

# Subcommands sidecache knows although Redis 7.0.15 does not (clients send them on connect):
# name -> (arity, flags).
EXTRA_SUBCOMMANDS = {
    "client|setinfo": (4, ["noscript", "loading", "stale"], ["slow", "connection"]),
}

# Commands of sidecache's own (Redis has no such container): name -> (arity, flags, ACL
# categories, subcommands as in EXTRA_SUBCOMMANDS). SIDECACHE HOTKEYS shows other clients' key
# names, hence @admin @dangerous like MONITOR.
EXTRA_COMMANDS = {
    "sidecache": (-2, [], ["slow"], {
        "sidecache|hotkeys": (-2, ["admin", "noscript", "loading", "stale"],
                              ["admin", "slow", "dangerous"]),
        "sidecache|help": (2, ["loading", "stale"], ["slow"]),
    }),
}

# How key_indexes() treats a command beyond the plain key-spec walk (see command_table.cpp).
QUIRKS = {
    **{n: "kScriptNumkeys" for n in ("eval", "evalsha", "eval_ro", "evalsha_ro")},
    "fcall": "kFunctionNumkeys",
    "fcall_ro": "kFunctionNumkeys",
    **{n: "kZsetNumkeys" for n in ("zunionstore", "zinterstore", "zdiffstore", "zunion",
                                   "zinter", "zdiff", "zintercard")},
    "sintercard": "kCardNumkeys",
    **{n: "kMpopNumkeys" for n in ("lmpop", "blmpop", "zmpop", "bzmpop")},
    "xread": "kStreams",
    "xreadgroup": "kStreams",
    "sort": "kSort",
    "migrate": "kMigrate",
}

# (request, expected error) pairs: the error texts key_indexes() reproduces, checked against the
# live server on every run so a Redis upgrade cannot silently change them.
NUMKEYS_ERRORS = [
    (["EVAL", "", "5", "a"], "ERR Number of keys can't be greater than number of args"),
    (["EVAL", "", "-1", "a"], "ERR Number of keys can't be negative"),
    (["EVAL", "", "x", "a"], "ERR value is not an integer or out of range"),
    (["EVAL_RO", "", "05", "a"], "ERR value is not an integer or out of range"),
    (["FCALL", "f", "x", "a"], "ERR Bad number of keys provided"),
    (["FCALL_RO", "f", "-1", "a"], "ERR Number of keys can't be negative"),
    (["FCALL", "f", "2", "a"], "ERR Number of keys can't be greater than number of args"),
    (["ZUNIONSTORE", "d", "0", "a"], "ERR at least 1 input key is needed for 'zunionstore' command"),
    (["ZUNIONSTORE", "d", "-1", "a"], "ERR at least 1 input key is needed for 'zunionstore' command"),
    (["ZUNIONSTORE", "d", "3", "a"], "ERR syntax error"),
    (["ZINTER", "x", "a"], "ERR value is not an integer or out of range"),
    (["ZINTERCARD", "0", "a"], "ERR at least 1 input key is needed for 'zintercard' command"),
    (["ZDIFF", "2", "a"], "ERR syntax error"),
    (["SINTERCARD", "3", "a"], "ERR Number of keys can't be greater than number of args"),
    (["SINTERCARD", "0", "a"], "ERR numkeys should be greater than 0"),
    (["SINTERCARD", "x", "a"], "ERR numkeys should be greater than 0"),
    (["LMPOP", "0", "a", "LEFT"], "ERR numkeys should be greater than 0"),
    (["LMPOP", "x", "a", "LEFT"], "ERR numkeys should be greater than 0"),
    (["LMPOP", "2", "a", "LEFT"], "ERR syntax error"),
    (["ZMPOP", "3", "a", "MIN"], "ERR syntax error"),
    (["BLMPOP", "0", "3", "a", "LEFT"], "ERR syntax error"),
    (["BZMPOP", "0", "-1", "a", "MIN"], "ERR numkeys should be greater than 0"),
    (["XREAD", "STREAMS", "a", "b", "c"],
     "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."),
    (["XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "b", "c"],
     "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."),
]

FLAG_NAMES = {
    "write": "kFlagWrite", "readonly": "kFlagReadOnly", "admin": "kFlagAdmin",
    "blocking": "kFlagBlocking", "pubsub": "kFlagPubSub", "noscript": "kFlagNoScript",
    "fast": "kFlagFast", "movablekeys": "kFlagMovableKeys", "denyoom": "kFlagDenyOom",
    "loading": "kFlagLoading", "stale": "kFlagStale", "no_multi": "kFlagNoMulti",
    "no_auth": "kFlagNoAuth",
}
# Redis's ACL categories (COMMAND INFO "acl categories"), bit i = ACL_CATEGORIES[i]; the order
# is the AclCategory enum's in command_table.hpp.
ACL_CATEGORIES = ["keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
                  "bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
                  "blocking", "dangerous", "connection", "transaction", "scripting"]
KEY_FLAG_NAMES = {
    "RO": "kKeyRO", "RW": "kKeyRW", "OW": "kKeyOW", "RM": "kKeyRM", "access": "kKeyAccess",
    "update": "kKeyUpdate", "insert": "kKeyInsert", "delete": "kKeyDelete",
    "not_key": "kKeyNotKey", "incomplete": "kKeyIncomplete",
    "variable_flags": "kKeyVariableFlags",
}

DOCS_INTRO = """
# Commands through sidecache

<!-- generated by scripts/gen_command_table.py from redis-server @REDIS_VERSION@; do not edit. -->

sidecache knows every command of redis-server @REDIS_VERSION@ (`src/resp/command_table.hpp`):
arity, flags, Redis 7 key specs, and a routing decision. The facts come from the server's own
`COMMAND INFO`; the decisions come from the policy tables at the top of
`scripts/gen_command_table.py`, which regenerates `src/resp/command_table_data.cpp` and this page.
Unknown commands are rejected, so a command added to Redis is never forwarded by accident: the
generator fails until a keyless newcomer gets a decision (keyed ones default to single-node).

Unsupported commands are answered with `-ERR <note>`; rejected ones with `-ERR '<name>' is not allowed through sidecache: <note>`, the notes shown below.

## Routing kinds

| kind | what sidecache does | commands |
|---|---|---|
| local | answers itself; nothing goes to a node | PING, ECHO, QUIT, SELECT (database 0 only), HELLO, AUTH, RESET, TIME, INFO, CLIENT SETNAME/GETNAME/SETINFO/ID, COMMAND and COMMAND COUNT/INFO/DOCS/LIST, CONFIG GET |
| split | splits the keys per node, sends one sub-request per node, merges the replies | MGET, MSET, DEL, UNLINK, EXISTS, TOUCH |
| broadcast | sends to every node and combines the replies | DBSIZE (summed), SCRIPT LOAD/FLUSH/EXISTS (EVALSHA's NOSCRIPT is healed: see docs/resp3-and-keyspace.md), FUNCTION LOAD/DELETE/FLUSH/RESTORE (every node must answer the same) |
| single-node | forwards the client's bytes untouched to the node owning the keys; all keys must map to one node (use hash tags), else the dispatcher answers a CROSSSLOT-style error | every other command with keys: strings, hashes, lists, sets, sorted sets, streams, geo, HyperLogLog, bitmaps, multi-key commands such as MSETNX, RENAME, SMOVE, SINTER, LMOVE, COPY, ZUNIONSTORE; key-taking subcommands (OBJECT ENCODING, MEMORY USAGE, XINFO, XGROUP) |
| single-node, keyless | one deterministic node answers | EVAL/EVALSHA/FCALL (and the _RO variants) with numkeys 0, COMMAND GETKEYS/GETKEYSANDFLAGS, FUNCTION LIST/DUMP/STATS (functions are loaded on every node; STATS shows that node's running script only) |
| session | the client's session handles it on a backend connection of its own | transactions (MULTI/EXEC/WATCH), blocking commands, Pub/Sub |
| keyspace | made to work across every node (docs/resp3-and-keyspace.md) | SCAN (one cursor walks the nodes in turn), RANDOMKEY, KEYS (`commands.allow_keys`) and FLUSHDB/FLUSHALL (`commands.allow_flush`), the last three off by default |
| unsupported | not supported yet | WAIT, FUNCTION KILL, SCRIPT KILL/DEBUG, client-side caching |
| rejected | cannot be routed meaningfully or would harm every node | administration, replication, Redis Cluster commands, other databases (MOVE, SWAPDB), all HELP subcommands |

A container command (CONFIG, CLIENT, OBJECT, ...) is routed by its subcommand. The container's
own entry says "rejected: needs a subcommand"; an unknown subcommand is answered like Redis does
(`ERR unknown subcommand '<sub>'. Try <CONTAINER> HELP.`).

## Finding the keys

`key_indexes()` walks the Redis 7 key specs like redis-server's own key extraction: begin by
index or by keyword (searched forwards from `startfrom`, or backwards from the end when
`startfrom` is negative), then a range (`lastkey` -1 = last argument, other negatives relative
to the end, `keystep`, and `limit` = keep 1/limit of the remaining arguments, XREAD's STREAMS
list) or a numkeys argument. Specs are merged in order; channel specs (`not_key`, SPUBLISH) are
skipped. Special cases, all in `command_table.cpp`:

- numkeys checks reply with the same text redis-server @REDIS_VERSION@ gives, per family:
  EVAL/FCALL ("Number of keys can't be negative", "... greater than number of args"; a
  non-integer is "Bad number of keys provided" for FCALL; FCALL checks numkeys before Redis
  would report a missing function),
  ZUNION/ZINTER/ZDIFF(STORE)/ZINTERCARD ("at least 1 input key is needed for '<cmd>' command",
  "syntax error"), SINTERCARD and LMPOP/ZMPOP and their blocking forms ("numkeys should be
  greater than 0", ...). A non-integer numkeys gives "value is not an integer or out of range"
  where Redis does. The generator re-checks these texts against the live server on every run.
- XREAD/XREADGROUP: an odd number of arguments after STREAMS gets Redis's "Unbalanced XREAD
  list of streams" error; the BLOCK option is refused because it would stall a backend
  connection shared by many clients.
- SORT: the STORE destination is a key that no key spec describes (Redis marks that spec
  "unknown"); sidecache scans the options (skipping LIMIT's two values and BY/GET patterns) and
  adds the last STORE argument. BY/GET patterns name keys derived from data; SORT with BY/GET is
  forwarded like any single-node command and only works when those keys share the node.
  SORT_RO has no STORE and needs nothing special.
- MIGRATE (rejected anyway): the KEYS list is found by a forward scan from argument 6 that skips
  AUTH and AUTH2 values, as Redis does, rather than by the incomplete backwards KEYS spec.
- PFMERGE with only a destination: Redis 7.0's own key extraction finds no key at all (it
  treats the empty source range as invalid); sidecache routes by the destination it writes.
- GEORADIUS/GEORADIUSBYMEMBER STORE/STOREDIST are plain keyword specs and need nothing special.

Only the arity check is left to the caller (`CommandInfo::arity_ok`).
"""


# --------------------------------------------------------------------------------------------
# A minimal RESP2 client.
# --------------------------------------------------------------------------------------------

class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.rfile = self.sock.makefile("rb")

    def close(self):
        self.rfile.close()
        self.sock.close()

    def call(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode() if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.rfile.readline()
        if not line.endswith(b"\r\n"):
            raise RuntimeError("connection closed by redis-server")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.rfile.read(n + 2)[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("unexpected reply line %r" % line)


class RedisError(str):
    pass


class RedisServer:
    """redis-server on a free 127.0.0.1 port below 32768, stopped by PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sidecache-gen-")
        self.proc = None
        self.port = 0

    def start(self):
        for _ in range(20):
            port = random.randint(20000, 32000)
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self.dir, "--logfile", "redis.log"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_ready(port):
                self.port = port
                return self
            self.stop()
        raise RuntimeError("could not start redis-server")

    def _wait_ready(self, port):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                c = Resp(port)
                ok = c.call("PING") == "PONG"
                c.close()
                if ok:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Facts from COMMAND INFO.
# --------------------------------------------------------------------------------------------

def pairs(flat):
    return dict(zip(flat[::2], flat[1::2]))


def parse_command(entry):
    name, arity, flags, first, last, step, acl, _tips, specs, subs = entry
    cats = [c.lstrip("@") for c in acl]
    unknown = sorted(set(cats) - set(ACL_CATEGORIES))
    if unknown:
        sys.exit("%s: unknown ACL categories %s" % (name, ", ".join(unknown)))
    cmd = {"name": name, "arity": arity, "flags": list(flags), "acl": cats, "first": first,
           "last": last,
           "step": step, "specs": [], "subs": [parse_command(s) for s in subs]}
    for raw in specs:
        spec = pairs(raw)
        begin, find = pairs(spec["begin_search"]), pairs(spec["find_keys"])
        cmd["specs"].append({"flags": list(spec.get("flags", [])),
                             "begin": begin["type"], "bs": pairs(begin["spec"]),
                             "find": find["type"], "fk": pairs(find["spec"])})
    return cmd


def fetch_commands(client):
    reply = client.call("COMMAND", "INFO")
    if isinstance(reply, RedisError):
        raise RuntimeError("COMMAND INFO failed: " + reply)
    return sorted((parse_command(e) for e in reply), key=lambda c: c["name"])


def check_numkeys_errors(client):
    bad = []
    for request, expected in NUMKEYS_ERRORS:
        got = client.call(*request)
        if got != expected:
            bad.append("%s: redis says %r, table says %r" % (" ".join(request), got, expected))
    if bad:
        sys.exit("numkeys error texts changed:\n  " + "\n  ".join(bad))


# --------------------------------------------------------------------------------------------
# Policy application.
# --------------------------------------------------------------------------------------------

def has_keys(cmd):
    return any("not_key" not in s["flags"] for s in cmd["specs"])


def decide(cmd, container=None):
    """Returns (routing, note) for one command or subcommand; None when undecided."""
    name = cmd["name"]
    tables = (("kLocal", LOCAL), ("kSplit", SPLIT), ("kBroadcast", BROADCAST),
              ("kSingleNode", SINGLE_NODE_KEYLESS), ("kSession", SESSION), ("kKeyspace", KEYSPACE),
              ("kUnsupported", UNSUPPORTED),
              ("kRejected", REJECTED))
    found = [(kind, t[name]) for kind, t in tables if name in t]
    if len(found) > 1:
        sys.exit("%s is in more than one policy table" % name)
    if found:
        return found[0]
    if container is not None and name.endswith("|help"):
        return ("kRejected", "%s HELP is not available through sidecache; see docs/commands.md."
                % container.upper())
    if container in REJECTED_CONTAINERS:
        return ("kRejected", container.upper() + _ADMIN)
    if has_keys(cmd):
        return ("kSingleNode", "")
    return None


def extra_command(name, arity, flags, acl, subs=()):
    return {"name": name, "arity": arity, "flags": flags, "acl": acl, "first": 0, "last": 0,
            "step": 0, "specs": [], "subs": list(subs), "extra": True}


def apply_policy(commands):
    by_name = {c["name"]: c for c in commands}
    for name, (arity, flags, acl, subs) in EXTRA_COMMANDS.items():
        if name in by_name:
            sys.exit("%s now exists in Redis; drop it from EXTRA_COMMANDS" % name)
        cmd = extra_command(name, arity, flags, acl,
                            [extra_command(n, *spec) for n, spec in subs.items()])
        commands.append(cmd)
        by_name[name] = cmd
    commands.sort(key=lambda c: c["name"])
    for full, (arity, flags, acl) in EXTRA_SUBCOMMANDS.items():
        parent, _ = full.split("|")
        if any(s["name"] == full for s in by_name[parent]["subs"]):
            sys.exit("%s now exists in Redis; drop it from EXTRA_SUBCOMMANDS" % full)
        by_name[parent]["subs"].append({"name": full, "arity": arity, "flags": flags, "acl": acl,
                                        "first": 0,
                                        "last": 0, "step": 0, "specs": [], "subs": [],
                                        "extra": True})
    undecided, seen = [], set()
    for cmd in commands:
        cmd["subs"].sort(key=lambda s: s["name"])
        if cmd["subs"] and decide(cmd) is None:
            cmd["routing"], cmd["note"] = "kRejected", "%s needs a subcommand." % cmd[
                "name"].upper()
        else:
            decision = decide(cmd)
            if decision is None:
                undecided.append(cmd["name"])
            else:
                cmd["routing"], cmd["note"] = decision
        seen.add(cmd["name"])
        for sub in cmd["subs"]:
            decision = decide(sub, cmd["name"])
            if decision is None:
                undecided.append(sub["name"])
            else:
                sub["routing"], sub["note"] = decision
            seen.add(sub["name"])
    if undecided:
        sys.exit("no routing decision for keyless command(s): " + ", ".join(undecided))
    named = set(LOCAL) | set(SPLIT) | set(BROADCAST) | set(SINGLE_NODE_KEYLESS) | set(
        UNSUPPORTED) | set(REJECTED) | set(QUIRKS) | set(CACHE_ROLES) | set(SESSION_ROLES)
    unknown = sorted(named - seen)
    if unknown:
        sys.exit("policy names command(s) redis-server does not have: " + ", ".join(unknown))


# --------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------

def ident(name):
    return name.replace("|", "_").replace("-", "_")


def cpp_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def emit_spec(s):
    # Every member, in declaration order (g++ -Wextra warns about omitted ones).
    begin = {"index": "kIndex", "keyword": "kKeyword"}.get(s["begin"], "kUnknown")
    find = {"range": "kRange", "keynum": "kKeynum"}.get(s["find"], "kUnknown")
    bs, fk = s["bs"], s["fk"]
    rng = s["find"] == "range"
    num = s["find"] == "keynum"
    flags = " | ".join(KEY_FLAG_NAMES[f] for f in s["flags"] if f in KEY_FLAG_NAMES) or "0"
    parts = [".begin = KeySpec::Begin::%s" % begin,
             ".begin_index = %d" % bs.get("index", 0),
             ".keyword = %s" % cpp_str(bs.get("keyword", "")),
             ".keyword_startfrom = %d" % bs.get("startfrom", 0),
             ".find = KeySpec::Find::%s" % find,
             ".range_lastkey = %d" % (fk["lastkey"] if rng else 0),
             ".range_keystep = %d" % (fk["keystep"] if rng else 1),
             ".range_limit = %d" % (fk["limit"] if rng else 0),
             ".keynum_index = %d" % (fk["keynumidx"] if num else 0),
             ".keynum_firstkey = %d" % (fk["firstkey"] if num else 1),
             ".keynum_keystep = %d" % (fk["keystep"] if num else 1),
             ".flags = %s" % flags]
    return "{" + ", ".join(parts) + "}"


def emit_info(cmd):
    flags = " | ".join(FLAG_NAMES[f] for f in cmd["flags"] if f in FLAG_NAMES) or "0"
    name = ident(cmd["name"])
    acl = " | ".join("kAcl" + c.capitalize() for c in cmd["acl"]) or "0"
    parts = [".name = %s" % cpp_str(cmd["name"]), ".arity = %d" % cmd["arity"],
             ".flags = %s" % flags, ".acl_categories = %s" % acl,
             ".first_key = %d" % cmd["first"],
             ".last_key = %d" % cmd["last"], ".step = %d" % cmd["step"],
             ".key_specs = %s" % ("kSpecs_" + name if cmd["specs"] else "{}"),
             ".routing = Routing::%s" % cmd["routing"],
             ".cache_role = CacheRole::%s" % CACHE_ROLES.get(cmd["name"], "kNone"),
             ".session_role = SessionRole::%s" % SESSION_ROLES.get(cmd["name"], "kNone"),
             ".note = %s" % cpp_str(cmd["note"]),
             ".subcommands = %s" % ("kSub_" + name if cmd["subs"] else "{}"),
             ".quirk = KeyQuirk::%s" % QUIRKS.get(cmd["name"], "kNone"),
             ".id = %d" % cmd["id"]]
    return "    {" + ", ".join(parts) + "},"


def render_cpp(commands):
    out = ["// clang-format off",
           "// generated by scripts/gen_command_table.py from redis-server %s; do not edit."
           % REDIS_VERSION,
           "#include <cstdint>", "#include <span>", "", '#include "resp/command_table.hpp"', "",
           "namespace sidecache::resp {", "namespace {", ""]
    everything = [c for cmd in commands for c in cmd["subs"]] + commands
    # Dense ids (containers, then their subcommands) index per-command statistics.
    next_id = 0
    for cmd in commands:
        for c in [cmd] + cmd["subs"]:
            c["id"] = next_id
            next_id += 1
    for cmd in everything:
        if cmd["specs"]:
            out.append("constexpr KeySpec kSpecs_%s[] = {" % ident(cmd["name"]))
            out += ["    %s," % emit_spec(s) for s in cmd["specs"]]
            out.append("};")
    out.append("")
    for cmd in commands:
        if cmd["subs"]:
            out.append("constexpr CommandInfo kSub_%s[] = {" % ident(cmd["name"]))
            out += [emit_info(s) for s in cmd["subs"]]
            out.append("};")
    out.append("")
    out.append("constexpr CommandInfo kCommands[] = {")
    out += [emit_info(c) for c in commands]
    out += ["};", "", "}  // namespace", "",
            "std::span<const CommandInfo> detail::generated_commands() { return kCommands; }", "",
            "std::size_t CommandTable::id_count() { return %d; }" % next_id, "",
            "}  // namespace sidecache::resp", ""]
    return "\n".join(out)


KIND_TITLES = [("kLocal", "Answered by sidecache (local)"),
               ("kSplit", "Split per node and merged"),
               ("kBroadcast", "Broadcast to every node"),
               ("kSingleNode", "Forwarded to one node"),
               ("kSession", "Handled by the session on a connection of its own"),
               ("kKeyspace", "Across the whole keyspace"),
               ("kUnsupported", "Not supported yet"),
               ("kRejected", "Rejected")]


def render_docs(commands):
    flat = []
    for cmd in commands:
        if not cmd["subs"] or decide(cmd) is not None:
            flat.append(cmd)  # a container usable alone (COMMAND) counts too
        flat += cmd["subs"]
    counts = {k: sum(1 for c in flat if c["routing"] == k) for k, _ in KIND_TITLES}
    out = [DOCS_INTRO.strip("\n").replace("@REDIS_VERSION@", REDIS_VERSION), ""]
    out += ["## Counts", "",
            "%d top-level commands and %d subcommands (including %d sidecache additions); "
            "%d routing decisions (commands without subcommands, COMMAND alone, subcommands)."
            % (len(commands), sum(len(c["subs"]) for c in commands),
               sum(1 for c in flat if c.get("extra")), len(flat)), "",
            "| routing | count |", "|---|---|"]
    out += ["| %s (`%s`) | %d |" % (title, kind, counts[kind]) for kind, title in KIND_TITLES]
    out.append("")
    for kind, title in KIND_TITLES:
        rows = [c for c in flat if c["routing"] == kind]
        out += ["## %s (`%s`, %d)" % (title, kind, len(rows)), ""]
        if kind == "kSingleNode":
            out.append(", ".join("`%s`" % display(c) for c in rows))
            out.append("")
            continue
        out += ["| command | note |", "|---|---|"]
        out += ["| `%s` | %s |" % (display(c), c["note"] or "") for c in rows]
        out.append("")
    out += render_roles()
    return "\n".join(out)


def render_roles():
    """The cache and session roles (CACHE_ROLES, SESSION_ROLES), role by role."""
    out = ["## Cache and session roles", "",
           "Beside its routing kind, a command may have a cache role (`resp::CacheRole`: what the "
           "policy chain, read-through and write modes, does with it on a policy key) and a "
           "session role (`resp::SessionRole`: what the client session does with it itself). "
           "Every other command has neither (`kNone`).", ""]
    for title, table, enum in (("cache role", CACHE_ROLES, "CacheRole"),
                               ("session role", SESSION_ROLES, "SessionRole")):
        out += ["| %s | commands |" % title, "|---|---|"]
        roles = []
        for role in table.values():
            if role not in roles:
                roles.append(role)
        for role in roles:
            names = [n.upper().replace("|", " ") for n, r in table.items() if r == role]
            out.append("| `%s::%s` | %s |" % (enum, role, ", ".join(names)))
        out.append("")
    return out


def display(cmd):
    name = cmd["name"].upper().replace("|", " ")
    return name + (" (sidecache addition)" if cmd.get("extra") else "")


def write_or_check(path, text, check):
    old = open(path).read() if os.path.exists(path) else None
    if old == text:
        return True
    if check:
        print("out of date: " + os.path.relpath(path, ROOT), file=sys.stderr)
        return False
    with open(path, "w") as f:
        f.write(text)
    print("wrote " + os.path.relpath(path, ROOT))
    return True


def main():
    check = "--check" in sys.argv[1:]
    server = RedisServer()
    try:
        server.start()
        client = Resp(server.port)
        version = pairs_info(client.call("INFO", "server")).get("redis_version")
        if version != REDIS_VERSION:
            sys.exit("expected redis-server %s, found %s" % (REDIS_VERSION, version))
        commands = fetch_commands(client)
        lib = "#!lua name=gen\nredis.register_function('f', function(k, a) return 1 end)"
        if client.call("FUNCTION", "LOAD", lib) != "gen":
            sys.exit("FUNCTION LOAD failed")
        check_numkeys_errors(client)
        client.close()
    finally:
        server.cleanup()
    apply_policy(commands)
    ok = write_or_check(DATA_CPP, render_cpp(commands), check)
    ok = write_or_check(DOCS_MD, render_docs(commands), check) and ok
    return 0 if ok else 1


def pairs_info(text):
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


if __name__ == "__main__":
    sys.exit(main())
