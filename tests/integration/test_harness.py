"""The test harness itself: port reservations hold across test processes, a server whose port
was taken by another program starts again on a new one, and waits are bounded with a message
naming what they waited for."""
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import processes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# A second test process: reserves N ports, prints them, holds them until stdin closes.
HOLDER = """
import sys
sys.path.insert(0, %r)
import harness
ports = [harness.free_port() for _ in range(int(sys.argv[1]))]
print(" ".join(map(str, ports)), flush=True)
sys.stdin.read()
""" % HERE


def holder(n):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(n)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    return proc, [int(p) for p in proc.stdout.readline().split()]


def occupied_port():
    """A listening socket on a port outside the reservation scheme (another program)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for _ in range(100):
        port = harness.free_port()
        harness.release_port(port)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        s.listen()
        return s, port
    raise RuntimeError("no port to occupy")


class PortReservationTest(unittest.TestCase):
    def test_ports_are_below_the_ephemeral_range_with_their_bus_port(self):
        for _ in range(50):
            port = harness.free_port()
            self.assertTrue(1024 < port and port + 10000 < 32768, port)

    def test_parallel_processes_never_share_a_port(self):
        procs = [holder(150) for _ in range(2)]
        try:
            mine = {harness.free_port() for _ in range(150)}
            theirs = [set(ports) for _, ports in procs]
            self.assertEqual([len(t) for t in theirs], [150, 150])
            self.assertEqual(mine & theirs[0], set())
            self.assertEqual(mine & theirs[1], set())
            self.assertEqual(theirs[0] & theirs[1], set())
            # A port another process holds cannot be reserved here.
            self.assertIsNone(processes._lock(next(iter(theirs[0]))))
        finally:
            for proc, _ in procs:
                proc.communicate("", timeout=10)

    def test_a_reservation_ends_with_its_process(self):
        proc, ports = holder(1)
        self.assertIsNone(processes._lock(ports[0]))
        proc.communicate("", timeout=10)
        held = processes._lock(ports[0])
        self.assertIsNotNone(held)
        held.close()


class TakenPortTest(unittest.TestCase):
    """Another program binds the reserved port before the server does: the harness notices
    EADDRINUSE and starts the server on a new port."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sidecache-harness-")
        self.blocker, self.taken = occupied_port()
        self.addCleanup(self.blocker.close)

    def arm(self):
        """The next reservation hands out the taken port (as a race would)."""
        real = processes.free_port
        handed = []

        def taken_first():
            if not handed:
                handed.append(self.taken)
                return self.taken
            return real()
        processes.free_port = taken_first
        self.addCleanup(setattr, processes, "free_port", real)

    def tearDown(self):
        import shutil
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_redis_server_moves_to_a_new_port(self):
        self.arm()
        r = harness.RedisServer(self.tmp, secure=False)
        try:
            self.assertNotEqual(r.port, self.taken)
            self.assertTrue(r.alive())
            self.assertTrue(harness.ping(r.port))
            with open(os.path.join(self.tmp, "redis-%d" % self.taken, "redis.log")) as f:
                self.assertIn("Address already in use", f.read())
        finally:
            r.stop()

    def test_redis_server_on_a_given_taken_port_fails_clearly(self):
        with self.assertRaises(harness.AddressInUse):
            harness.RedisServer(self.tmp, port=self.taken, secure=False)

    def test_sidecache_moves_to_a_new_port(self):
        r = harness.RedisServer(self.tmp, secure=False)
        try:
            self.arm()
            sc = harness.Sidecache(self.tmp, [("n", r.port, 1)])
            try:
                self.assertNotEqual(sc.port, self.taken)
                self.assertTrue(sc.client().ping())
                with open(os.path.join(self.tmp, "sidecache-%d.log" % self.taken)) as f:
                    self.assertIn("Address already in use", f.read())
            finally:
                sc.stop_checked()
        finally:
            r.stop()

    def test_postgres_moves_to_a_new_port(self):
        self.arm()
        pg = harness.Postgres()
        try:
            self.assertNotEqual(pg.port, self.taken)
            self.assertIn("Address already in use", pg.log())
            self.assertEqual(pg.psql("SELECT 1"), [["1"]])
        finally:
            pg.close()


class WaitUntilTest(unittest.TestCase):
    def test_returns_the_value(self):
        self.assertEqual(harness.wait_until(lambda: 42, timeout=1), 42)

    def test_times_out_naming_the_condition(self):
        start = time.monotonic()
        with self.assertRaises(TimeoutError) as e:
            harness.wait_until(lambda: False, timeout=0.2, what="the moon")
        self.assertLess(time.monotonic() - start, 2)
        self.assertIn("the moon", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
