"""tests/tools/fault_proxy.py driven from a test: delay, throttle, stall, drop or cut the
traffic between sidecache (or a client) and a node."""
import os
import socket
import sys

from . import env
from .processes import (AddressInUse, Process, free_port, says_address_in_use, start_on_free_port,
                        wait_until)


FAULT_PROXY = os.path.join(env.SOURCE_DIR, "tests", "tools", "fault_proxy.py")


class FaultProxy:
    """tests/tools/fault_proxy.py on a free port in front of 127.0.0.1:`target_port`, driven
    from the test: point sidecache (or a client) at `port`, then delay, throttle, stall, drop,
    reset or close its traffic (tests/tools/README.md). Stopped by PID."""

    def __init__(self, workdir, target_port, port=None):
        self.target_port = target_port
        self._control = None

        def start(candidate):
            self.port = candidate
            self.control_port = free_port()
            self.process = Process(
                [sys.executable, FAULT_PROXY, "--listen", str(self.port),
                 "--target", "127.0.0.1:%d" % target_port, "--control", str(self.control_port)],
                os.path.join(workdir, "fault-proxy-%d.log" % self.port))
            wait_until(lambda: self._connect() or not self.process.alive(), timeout=10,
                       what="fault proxy on %d" % self.port)
            if not self.process.alive():
                output = self.process.output()
                self.process.stop()
                if says_address_in_use(output):
                    raise AddressInUse("fault proxy: port %d or %d taken" %
                                       (self.port, self.control_port))
                raise RuntimeError("fault proxy exited: " + output)

        start_on_free_port(start, port)

    def _connect(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.control_port), timeout=5)
        except OSError:
            return False
        self._control = sock.makefile("rw", encoding="ascii", newline="\n")
        self._sock = sock
        return self.command("ping") == "pong"

    def command(self, *words):
        """Sends one control command; its answer after "ok", or RuntimeError on "error"."""
        self._control.write(" ".join(str(w) for w in words) + "\n")
        self._control.flush()
        answer = self._control.readline().strip()
        if not answer.startswith("ok"):
            raise RuntimeError("fault proxy: %s: %s" % (" ".join(map(str, words)), answer))
        return answer[3:]

    def delay(self, ms, direction="both"):
        self.command("delay", direction, ms)

    def bandwidth(self, bytes_per_s, direction="both"):
        self.command("bandwidth", direction, bytes_per_s)

    def stall(self, direction="both"):
        self.command("stall", direction)

    def drop(self, direction="both"):
        self.command("drop", direction)

    def resume(self, direction="both"):
        self.command("resume", direction)

    def reset(self):
        self.command("reset")

    def close_links(self):
        self.command("close")

    def accept(self, on):
        self.command("accept", "on" if on else "off")

    def clear(self):
        self.command("clear")

    def stats(self):
        """{"links": n, "accepted": n, "up_bytes": n, "down_bytes": n}"""
        return {k: int(v) for k, v in (kv.split("=") for kv in self.command("stats").split())}

    def stop(self):
        if self._control is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._control = None
        return self.process.stop()
