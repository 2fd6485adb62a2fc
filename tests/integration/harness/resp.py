"""RESP2/RESP3: a minimal client for byte-exact tests and raw protocol input, and a reply
codec (reply bytes <-> a tree of (type, value) nodes) shared with the differential tests."""
import socket

from . import tls


class RespConnection:
    """A minimal RESP client over a socket, for byte-exact tests and raw protocol input."""

    def __init__(self, port, timeout=5.0, sock=None):
        if sock is None and tls.is_secure_port(port):
            sock = tls.secure_socket(port, timeout)
        self.sock = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.types_seen = set()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def command(self, *args):
        self.send_raw(self.encode(*args))
        return self.read_reply()

    def command_raw(self, *args):
        """Sends one command; returns its reply's exact bytes (RESP2 or RESP3)."""
        self.send_raw(self.encode(*args))
        return self.read_raw()

    def read_raw(self):
        """The exact bytes of the next reply, RESP2 or RESP3 (an attribute with the reply it
        precedes); decode_reply() turns them into a tree."""
        while True:
            end = reply_end(self.buf)
            if end is not None:
                raw, self.buf = self.buf[:end], self.buf[end:]
                return raw
            self._fill()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by peer")
        self.buf += chunk

    def read_reply(self):
        """One reply, decoded. RESP3 types: `_` None, `,` float, `#` bool, `(` int, `=`
        Verbatim, `%` dict, `~` RespSet, `>` Push, `|` attribute (dropped: the value it
        describes is returned). `types_seen` collects every type byte read (see reset_types)."""
        return _to_value(decode_reply(self.read_raw()), self.types_seen)

    def reset_types(self):
        self.types_seen = set()

    def is_closed(self, timeout=5.0):
        """True when the peer closes the connection within the timeout (after any data)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ConnectionAbortedError):
            return True
        except OSError as e:  # a TLS socket closed under an unfinished record
            if "EOF" in str(e) or "UNEXPECTED" in str(e).upper():
                return True
            raise


class RespError(str):
    """An error reply (a str holding the error text)."""


# RESP2 and RESP3 reply types by their first byte: a line, a length-prefixed blob, an aggregate
# of N elements (a map or attribute has N pairs).
_LINE_TYPES = frozenset(b"+-:_,#(")
_BLOB_TYPES = frozenset(b"$=!")
_AGGREGATE_TYPES = frozenset(b"*~>")
_PAIR_TYPES = frozenset(b"%|")


def _parse_reply(buf, pos):
    """(node, end) for the reply starting at buf[pos], or None when buf holds only part of it.
    A node is (type_byte_as_str, value): bytes for lines and blobs (None for nulls), a list of
    nodes for aggregates (maps: keys and values alternating; an attribute: its pairs, then the
    reply it precedes)."""
    eol = buf.find(b"\r\n", pos)
    if eol < 0:
        return None
    kind, head, after = buf[pos], buf[pos + 1:eol], eol + 2
    if kind in _LINE_TYPES:
        return (chr(kind), head), after
    if kind in _BLOB_TYPES:
        n = int(head)
        if n < 0:
            return (chr(kind), None), after
        if len(buf) < after + n + 2:
            return None
        return (chr(kind), buf[after:after + n]), after + n + 2
    if kind in _AGGREGATE_TYPES or kind in _PAIR_TYPES:
        n = int(head)
        if n < 0:
            return (chr(kind), None), after
        count = n * 2 if kind in _PAIR_TYPES else n
        if kind == ord("|"):
            count += 1  # the attributed reply follows the pairs
        items = []
        for _ in range(count):
            parsed = _parse_reply(buf, after)
            if parsed is None:
                return None
            node, after = parsed
            items.append(node)
        return (chr(kind), items), after
    raise ValueError("bad reply type byte %r at %d in %r" % (chr(kind), pos, buf[pos:pos + 40]))


def _to_value(node, seen):
    """The Python value of a reply tree (see RespConnection.read_reply); adds every type byte
    to `seen`."""
    kind, value = node
    seen.add(kind)
    if kind == "+":
        return value.decode()
    if kind == "-":
        return RespError(value.decode())
    if kind in ":(":
        return int(value)
    if kind == "_" or value is None:
        return None
    if kind == ",":
        return float(value)
    if kind == "#":
        return value == b"t"
    if kind == "$":
        return value
    if kind == "=":
        return Verbatim(value[4:], value[:3].decode())
    if kind == "!":
        return RespError(value.decode())
    items = [_to_value(v, seen) for v in value]
    if kind == "%":
        return dict(zip(items[0::2], items[1::2]))
    if kind == "|":
        return items[-1]
    return RespSet(items) if kind == "~" else Push(items) if kind == ">" else items


def reply_end(buf, pos=0):
    """Where the reply starting at buf[pos] ends, or None when it is incomplete."""
    parsed = _parse_reply(buf, pos)
    return None if parsed is None else parsed[1]


def decode_reply(raw):
    """The tree of one complete reply's bytes (see _parse_reply); raises on trailing bytes."""
    parsed = _parse_reply(raw, 0)
    if parsed is None or parsed[1] != len(raw):
        raise ValueError("not exactly one reply: %r" % raw[:200])
    return parsed[0]


def encode_reply(node):
    """The bytes of a reply tree (the inverse of decode_reply)."""
    kind, value = node
    tag = kind.encode()
    if value is None:
        return tag + b"-1\r\n"
    if kind in "+-:_,#(":
        return tag + value + b"\r\n"
    if kind in "$=!":
        return tag + b"%d\r\n" % len(value) + value + b"\r\n"
    count = len(value)
    if kind in "%|":
        count = (count - (1 if kind == "|" else 0)) // 2
    return tag + b"%d\r\n" % count + b"".join(encode_reply(v) for v in value)


class Verbatim(bytes):
    """A RESP3 verbatim string; `format` is its three-letter format ("txt", "mkd")."""

    def __new__(cls, data, fmt):
        obj = super().__new__(cls, data)
        obj.format = fmt
        return obj


class RespSet(list):
    """A RESP3 set (`~`), elements in the order received."""


class Push(list):
    """A RESP3 push (`>`)."""


def ping(port, timeout=0.5, password=None):
    try:
        c = RespConnection(port, timeout=timeout)
        try:
            if password is not None and c.command("AUTH", password) != "OK":
                return False
            return c.command("PING") == "PONG"
        finally:
            c.close()
    except OSError:
        return False
