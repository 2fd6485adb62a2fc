"""Process control for tests: bounded waits, port reservation, processes stopped by PID.

Ports: `free_port()` reserves a port below the ephemeral range (and its +10000 cluster bus
port) by holding an exclusive flock on /tmp/sidecache-test-ports/<port>.lock for the life of
the test process, so parallel test processes never hand out the same port; the lock goes with
the process (no cleanup needed after a crash). A port can still be taken by a program that
does not use this scheme between the check and the server's bind: `start_on_free_port()`
starts a server again on a new port when it failed with EADDRINUSE.
"""
import errno
import fcntl
import os
import random
import signal
import socket
import subprocess
import time

PORT_RANGE = (20000, 22767)  # +10000 (cluster bus) stays below 32768, the ephemeral range
PORT_LOCK_DIR = "/tmp/sidecache-test-ports"

_reserved = {}  # port -> the open lock file holding its reservation


def wait_until(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Polls `predicate` until it is true; TimeoutError naming `what` after `timeout` s.
    Returns the predicate's (true) value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def _bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _lock(port):
    """The open, exclusively locked reservation file of `port`, or None when another test
    process holds it."""
    os.makedirs(PORT_LOCK_DIR, mode=0o777, exist_ok=True)
    f = open(os.path.join(PORT_LOCK_DIR, "%d.lock" % port), "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        f.close()
        if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            return None
        raise
    return f


def free_port():
    """Reserves a port on 127.0.0.1 below the ephemeral range, with its +10000 bus port free
    too. The reservation holds until release_port() or the end of this process."""
    for _ in range(1000):
        port = random.randint(*PORT_RANGE)
        if port in _reserved:
            continue
        held = _lock(port)
        if held is None:
            continue
        if _bindable(port) and _bindable(port + 10000):
            _reserved[port] = held
            return port
        held.close()
    raise RuntimeError("no free port found in %d-%d" % PORT_RANGE)


def release_port(port):
    """Gives a reservation back (other test processes may then reserve the port)."""
    held = _reserved.pop(port, None)
    if held is not None:
        held.close()


def reserved_ports():
    return sorted(_reserved)


class AddressInUse(RuntimeError):
    """A server could not bind its port: another program took it after it was reserved."""


def start_on_free_port(start, port=None, attempts=5):
    """Runs `start(port)` on `port`, or on reserved ports until one binds when `port` is None
    (start raises AddressInUse when the port was taken). Returns the port used."""
    if port is not None:
        start(port)
        return port
    for attempt in range(attempts):
        candidate = free_port()
        try:
            start(candidate)
            return candidate
        except AddressInUse:
            release_port(candidate)
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


ADDRESS_IN_USE_MARKERS = ("Address already in use", "EADDRINUSE", "address in use")


def says_address_in_use(text):
    return any(m in text for m in ADDRESS_IN_USE_MARKERS)


class Process:
    """A child process with its output in `log_path`, stopped by PID."""

    def __init__(self, args, log_path, env=None):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.stopped = False  # stop() was called: an exit is expected
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)

    def stop(self, sig=None, timeout=10.0):
        """Stops the process by PID (SIGTERM unless `sig`); returns its exit code."""
        sig = sig if sig is not None else signal.SIGTERM
        self.stopped = True
        if self.alive():
            try:
                os.kill(self.proc.pid, signal.SIGCONT)  # in case a test stopped it
            except ProcessLookupError:
                pass
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)
        self.log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def tail(self, lines=40):
        return "\n".join(self.output().splitlines()[-lines:])


def pid_gone(pid, child=None):
    """True when `pid` no longer runs (a zombie child counts as gone once reaped: `child` is its
    Popen, if it is ours)."""
    if child is not None and child.pid == pid and child.poll() is not None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_pid(pid, child=None, timeout=20.0):
    """SIGTERM to `pid`, a bounded wait for it to go, SIGKILL otherwise."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        wait_until(lambda: pid_gone(pid, child), timeout=timeout, interval=0.05,
                   what="pid %d to exit on SIGTERM" % pid)
    except TimeoutError:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
