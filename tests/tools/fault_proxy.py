#!/usr/bin/env python3
"""A fault-injecting TCP proxy for tests: sits between sidecache and a redis-server (or
PostgreSQL) and, on command from the test, delays, throttles, stalls, blackholes, resets or
closes the traffic. See tests/tools/README.md.

    fault_proxy.py --listen PORT --target HOST:PORT --control PORT

Every accepted connection gets its own connection to the target (a "link"). The control port
takes one command per line and answers one line, "ok ..." or "error ...":

    ping                              -> ok pong
    delay up|down|both MS             each chunk is forwarded MS milliseconds (float) after it
                                      was read; "up" is client -> target
    bandwidth up|down|both BYTES_S    at most BYTES_S bytes a second per link (0: unlimited)
    stall up|down|both                stop forwarding (and reading: TCP backpressure builds)
    drop up|down|both                 blackhole: read and discard, connections stay open;
                                      a link that lost bytes is reset once forwarding resumes
                                      (its byte stream has a hole, as after a partition TCP
                                      gave up on)
    resume up|down|both               forward again (what a stall held back goes out)
    reset                             every open link closed with a TCP RST on both sides
    close                             every open link closed with a FIN on both sides
    accept on|off                     off: new connections are reset at once
    clear                             no delay, no limit, forwarding, accepting
    stats                             ok links=N accepted=N up_bytes=N down_bytes=N

Settings apply to open links and new ones alike. One thread per direction reads and one
forwards, so a delay is a sleep until the chunk is due: sub-millisecond delays stay accurate
(within about 0.1 ms) without spinning.
"""
import argparse
import collections
import socket
import sys
import threading
import time

DIRECTIONS = ("up", "down")
POLL_S = 0.05  # how soon a thread blocked on a socket notices a reset or close
CHUNK = 65536


class Settings:
    """What the proxy does to each direction, shared by every link. Written by the control
    thread, read by the pipes (each attribute swap is atomic); pipes are woken on a change."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.delay_s = {d: 0.0 for d in DIRECTIONS}
        self.rate = {d: 0 for d in DIRECTIONS}  # bytes a second, 0: unlimited
        self.mode = {d: "pass" for d in DIRECTIONS}  # pass, stall, drop
        self.accepting = True


RST_LINGER = b"\x01\x00\x00\x00\x00\x00\x00\x00"  # SO_LINGER on, 0 s: close sends an RST


class Pipe:
    """One direction of a link: a reader thread queues (time read, bytes), a forwarder thread
    writes each chunk out once due."""

    def __init__(self, link, direction, source, sink):
        self.link = link
        self.settings = link.proxy.settings
        self.direction = direction
        self.source = source
        self.sink = sink
        self.cond = threading.Condition()
        self.queue = collections.deque()
        self.eof = False
        self.lost = False  # bytes were dropped: this stream cannot go on once resumed

    def start(self):
        for target in (self._read, self._forward):
            threading.Thread(target=self._run, args=(target,), daemon=True).start()

    def wake(self):
        with self.cond:
            self.cond.notify_all()

    def _run(self, target):
        try:
            target()
        except OSError:
            self.link.abort(reset=True)  # a reset on one side is passed on to the other
        finally:
            self.link.thread_done()

    def _read(self):
        while not self.link.closing:
            mode = self.settings.mode[self.direction]
            if mode == "stall":
                with self.cond:
                    self.cond.wait(POLL_S)
                continue
            try:
                data = self.source.recv(CHUNK)
            except socket.timeout:
                continue
            now = time.monotonic()
            with self.cond:
                if not data:
                    self.eof = True
                    self.cond.notify_all()
                    return
                if self.settings.mode[self.direction] == "drop":
                    self.lost = True
                else:
                    self.queue.append((now, data))
                    self.cond.notify_all()

    def _next_chunk(self):
        """The next (due time, bytes) to send once forwarding is allowed; None at EOF or close."""
        with self.cond:
            while not self.link.closing:
                mode = self.settings.mode[self.direction]
                if mode == "drop" and self.queue:
                    self.queue.clear()
                    self.lost = True
                if mode == "pass" and self.lost:
                    break  # resumed after losing bytes: reset below
                if self.queue and mode == "pass":
                    read_at, data = self.queue.popleft()
                    return read_at + self.settings.delay_s[self.direction], data
                if self.eof and not self.queue:
                    return None
                self.cond.wait(POLL_S)
        return None

    def _forward(self):
        while True:
            chunk = self._next_chunk()
            if chunk is None:
                if self.lost:
                    self.link.abort(reset=True)
                break
            due, data = chunk
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._send(memoryview(data))
        if not self.link.closing:
            self.sink.shutdown(socket.SHUT_WR)

    def _send(self, view):
        while view and not self.link.closing:
            rate = self.settings.rate[self.direction]
            # Throttled: send in slices of a hundredth of a second's worth, sleeping after each.
            piece = view if rate <= 0 else view[:max(1, rate // 100)]
            try:
                sent = self.sink.send(piece)
            except socket.timeout:
                continue
            self.link.proxy.count(self.direction, sent)
            view = view[sent:]
            if rate > 0:
                time.sleep(sent / rate)


class Link:
    """One client connection and its own connection to the target; four threads (a reader and
    a forwarder each way); the sockets close when the last thread ends."""

    def __init__(self, proxy, client, upstream):
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closing = False
        self.lock = threading.Lock()
        self.threads = 4
        for s in (client, upstream):
            s.settimeout(POLL_S)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pipes = [Pipe(self, "up", client, upstream), Pipe(self, "down", upstream, client)]

    def start(self):
        for pipe in self.pipes:
            pipe.start()

    def wake(self):
        for pipe in self.pipes:
            pipe.wake()

    def thread_done(self):
        with self.lock:
            self.threads -= 1
            last = self.threads == 0
        if last:
            for s in (self.client, self.upstream):
                s.close()
            self.proxy.forget(self)

    def abort(self, reset=False):
        """Ends the link: with an RST on both sides when `reset`, else with a FIN."""
        with self.lock:
            if self.closing:
                return
            self.closing = True
        for s in (self.client, self.upstream):
            try:
                if reset:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST_LINGER)
                else:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        self.wake()


class FaultProxy:
    def __init__(self, listen_port, target, control_port, host="127.0.0.1"):
        self.target = target
        self.settings = Settings()
        self.links = set()
        self.lock = threading.Lock()
        self.accepted = 0
        self.bytes = {d: 0 for d in DIRECTIONS}
        self.listener = socket.create_server((host, listen_port), backlog=512)
        self.control = socket.create_server((host, control_port), backlog=16)

    def count(self, direction, n):
        with self.lock:
            self.bytes[direction] += n

    def forget(self, link):
        with self.lock:
            self.links.discard(link)

    def serve_forever(self):
        threading.Thread(target=self._control_loop, daemon=True).start()
        while True:
            client, _ = self.listener.accept()
            upstream = None
            if self.settings.accepting:
                try:
                    upstream = socket.create_connection(self.target, timeout=5)
                except OSError:
                    pass  # the target is down: the client sees a reset, as it would
            if upstream is None:
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RST_LINGER)
                client.close()
                continue
            link = Link(self, client, upstream)
            with self.lock:
                self.accepted += 1
                self.links.add(link)
            link.start()

    def _control_loop(self):
        while True:
            conn, _ = self.control.accept()
            threading.Thread(target=self._control_session, args=(conn,), daemon=True).start()

    def _control_session(self, conn):
        with conn, conn.makefile("rw", encoding="ascii", newline="\n") as f:
            for line in f:
                try:
                    answer = "ok " + self.command(line.split())
                except (ValueError, IndexError, KeyError) as e:
                    answer = "error " + str(e)
                f.write(answer.rstrip() + "\n")
                f.flush()

    def command(self, words):
        if not words:
            raise ValueError("empty command")
        verb, args = words[0].lower(), words[1:]
        s = self.settings
        if verb == "ping":
            return "pong"
        if verb == "stats":
            with self.lock:
                return "links=%d accepted=%d up_bytes=%d down_bytes=%d" % (
                    len(self.links), self.accepted, self.bytes["up"], self.bytes["down"])
        if verb in ("reset", "close"):
            with self.lock:
                links = list(self.links)
            for link in links:
                link.abort(reset=verb == "reset")
            return "%d links" % len(links)
        if verb == "clear":
            s.clear()
        elif verb == "accept":
            s.accepting = {"on": True, "off": False}[args[0]]
        elif verb in ("delay", "bandwidth", "stall", "drop", "resume"):
            directions = self._directions(args[0])
            for d in directions:
                if verb == "delay":
                    s.delay_s[d] = self._non_negative(float(args[1])) / 1000.0
                elif verb == "bandwidth":
                    s.rate[d] = self._non_negative(int(args[1]))
                else:
                    s.mode[d] = {"stall": "stall", "drop": "drop", "resume": "pass"}[verb]
        else:
            raise ValueError("unknown command %r" % verb)
        with self.lock:
            links = list(self.links)
        for link in links:
            link.wake()
        return verb

    @staticmethod
    def _non_negative(number):
        if number < 0:
            raise ValueError("%s is negative" % number)
        return number

    @staticmethod
    def _directions(word):
        if word == "both":
            return DIRECTIONS
        if word not in DIRECTIONS:
            raise ValueError("direction must be up, down or both, not %r" % word)
        return (word,)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=int, required=True, help="port for clients")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--control", type=int, required=True, help="port for commands")
    args = parser.parse_args()
    host, _, port = args.target.rpartition(":")
    # Threads hand chunks to each other: switch often so a due chunk is not held up.
    sys.setswitchinterval(0.0002)
    proxy = FaultProxy(args.listen, (host, int(port)), args.control)
    print("fault_proxy: %d -> %s, control %d" % (args.listen, args.target, args.control),
          flush=True)
    proxy.serve_forever()


if __name__ == "__main__":
    main()
