"""The machinery of the differential tests (test_differential.py): steps (a command, a read, a
pipelined write, a full SCAN iteration), the normalisers that remove what is inherently
non-deterministic, and the runner that sends every step to a redis-server and to sidecache and
collects the replies that differ. The command sequences are in differential_families.py.
"""
import re

import harness
from harness import decode_reply, encode_reply

TIMEOUT_S = 5


# ---- normalisers: reply tree -> comparable tree -------------------------------------------

def unordered(node):
    """A set-like reply: its elements as a multiset."""
    kind, items = node
    if not isinstance(items, list):
        return node
    return (kind, sorted(items, key=repr))


def unordered_pairs(node):
    """A map (or a RESP2 flat field/value array) whose pair order is the server's hash order."""
    kind, items = node
    if not isinstance(items, list):
        return node
    pairs = sorted(zip(items[::2], items[1::2]), key=repr)
    return (kind, [x for pair in pairs for x in pair])


def shape(node):
    """Random picks (SPOP, SRANDMEMBER, HRANDFIELD, ...): the reply type and element count."""
    kind, items = node
    return (kind, len(items) if isinstance(items, list) else items is None)


def ttl(node):
    """TTL, PTTL, EXPIRETIME: -1 and -2 exactly, any positive value is equal."""
    kind, value = node
    if kind == ":" and int(value) > 0:
        return (kind, b"positive")
    return node


STREAM_ID = re.compile(rb"\b1\d{12}-\d+\b")


def stream_ids(raw):
    """Bytes with every time-based stream ID replaced by its order of first appearance."""
    seen = {}

    def sub(m):
        return b"ID%d" % seen.setdefault(m.group(0), len(seen))
    return STREAM_ID.sub(sub, raw)


# ---- steps ----------------------------------------------------------------------------------

class C:
    """One command; `norm` normalises the decoded reply, `raw_norm` the raw bytes; `other` runs
    it on each side's second connection (another client)."""

    def __init__(self, *args, norm=None, raw_norm=None, other=False):
        self.args = args
        self.norm = norm
        self.raw_norm = raw_norm
        self.other = other

    def label(self):
        text = " ".join(a if isinstance(a, str) else repr(a) for a in map(str, self.args))
        return text if len(text) < 120 else text[:117] + "..."


class Read:
    """Reads the next reply without sending anything: the extra replies of a multi-channel
    SUBSCRIBE, a published message, a push frame."""

    def __init__(self, other=False):
        self.norm = self.raw_norm = None
        self.other = other
        self.args = ()

    def label(self):
        return "(next message on the %s connection)" % ("second" if self.other else "first")


class Pipelined:
    """Several commands sent in one write (as client libraries send a pipeline or a
    transaction); their replies are compared together."""

    def __init__(self, *commands, extra_replies=0, unordered=False):
        self.commands = commands  # tuples of arguments
        self.extra = extra_replies  # replies beyond one per command (UNSUBSCRIBE of several)
        self.norm = self.raw_norm = None
        if unordered:  # UNSUBSCRIBE of all: confirmations in the server's hash order
            self.raw_norm = self.unordered_confirmations
        self.other = False

    def unordered_confirmations(self, raw):
        """The confirmations as a set of (kind, channel), and their counts as a multiset (each
        count depends on the order)."""
        nodes = [decode_reply(r) for r in self.split(raw)]
        pairs = sorted(repr(n[1][:2]) if isinstance(n[1], list) else repr(n) for n in nodes)
        counts = sorted(repr(n[1][2:]) if isinstance(n[1], list) else "" for n in nodes)
        return [pairs, counts, [n[0] for n in nodes]]

    @staticmethod
    def split(raw):
        replies, at = [], 0
        while at < len(raw):
            end = harness.reply_end(raw, at)
            replies.append(raw[at:end])
            at = end
        return replies

    def label(self):
        text = " | ".join(" ".join(map(str, c)) for c in self.commands)
        return "pipelined: " + (text if len(text) < 120 else text[:117] + "...")

    def run(self, conn):
        conn.send_raw(b"".join(harness.RespConnection.encode(*c) for c in self.commands))
        return b"".join(conn.read_raw() for _ in range(len(self.commands) + self.extra))


class ScanAll:
    """SCAN-like iteration to the end (cursor 0); the keys seen are compared as a set."""

    def __init__(self, *args, key=None):
        self.args = args  # after the cursor: MATCH ..., COUNT ..., TYPE ...
        self.key = key    # HSCAN/SSCAN/ZSCAN key, or None for SCAN
        self.norm = self.raw_norm = None
        self.other = False

    def label(self):
        return "%s ... %s (full iteration)" % ("SCAN" if self.key is None else "xSCAN",
                                               " ".join(map(str, self.args)))


def scan_all(conn, step):
    seen, cursor = set(), b"0"
    for _ in range(10000):
        if step.key is None:
            raw = conn.command_raw("SCAN", cursor, *step.args)
        else:
            raw = conn.command_raw(step.args[0], step.key, cursor, *step.args[1:])
        node = decode_reply(raw)
        if node[0] != "*" or len(node[1]) != 2:
            return raw  # an error or a bad reply: compared as it is
        cursor = node[1][0][1]
        for item in node[1][1][1]:
            seen.add(encode_reply(item))
        if cursor == b"0":
            return sorted(seen)
    raise AssertionError("SCAN did not finish in 10000 calls: %s" % step.label())


# ---- the runner -----------------------------------------------------------------------------

class Side:
    """One side of the comparison: a connection, a second one (another client), the name."""

    def __init__(self, name, port, protocol):
        self.name = name
        self.main = harness.RespConnection(port, timeout=TIMEOUT_S)
        self.other = harness.RespConnection(port, timeout=TIMEOUT_S)
        self.hello = None
        if protocol == 3:
            self.hello = [conn.command_raw("HELLO", 3) for conn in (self.main, self.other)]

    def close(self):
        self.main.close()
        self.other.close()


def hello_proto(raw):
    node = decode_reply(raw)
    if node[0] != "%":
        return raw
    items = node[1]
    for key, value in zip(items[::2], items[1::2]):
        if key[1] == b"proto":
            return int(value[1])
    return raw


def compared(step, raw):
    """What is compared for one reply: the raw bytes, or a normalised form of them."""
    if isinstance(raw, list):  # a full SCAN iteration
        return raw
    if step.raw_norm is not None:
        raw = step.raw_norm(raw)
    if step.norm is not None:
        return step.norm(decode_reply(raw))
    return raw


def run_steps(test, steps, direct_port, proxy_port, protocol):
    """Runs every step on both sides; returns the differing replies. A side whose connection
    fails (a timeout: no reply) is noted, then both sides start over on new connections, so one
    stuck reply does not hide the rest (later replies may differ because of it)."""
    def open_sides():
        return Side("redis", direct_port, protocol), Side("sidecache", proxy_port, protocol)
    direct, proxy = open_sides()
    mismatches = []
    try:
        if protocol == 3:
            for d, s in zip(direct.hello, proxy.hello):
                if hello_proto(d) != 3 or hello_proto(s) != 3:
                    test.fail("HELLO 3: redis answered %r, sidecache %r" % (d[:200], s[:200]))
        for step in steps:
            replies = []
            for side in (direct, proxy):
                conn = side.other if getattr(step, "other", False) else side.main
                try:
                    if isinstance(step, ScanAll):
                        replies.append(scan_all(conn, step))
                    elif isinstance(step, Pipelined):
                        replies.append(step.run(conn))
                    elif isinstance(step, Read):
                        replies.append(conn.read_raw())
                    else:
                        replies.append(conn.command_raw(*step.args))
                except (OSError, ConnectionError) as e:
                    replies.append("%s connection failed: %r" % (side.name, e))
            if isinstance(replies[0], str) or isinstance(replies[1], str):
                mismatches.append((step.label(), replies[0], replies[1]))
                direct.close()
                proxy.close()
                direct, proxy = open_sides()
                continue
            if compared(step, replies[0]) != compared(step, replies[1]):
                mismatches.append((step.label(), replies[0], replies[1]))
    finally:
        direct.close()
        proxy.close()
    return mismatches


def report(mismatches, protocol):
    def short(r):
        text = repr(r)
        return text if len(text) < 300 else text[:297] + "..."
    lines = ["%d replies differ (RESP%d):" % (len(mismatches), protocol)]
    for label, d, s in mismatches:
        lines.append("  %s\n    redis:     %s\n    sidecache: %s" % (label, short(d), short(s)))
    return "\n".join(lines)
