"""A real PostgreSQL server for tests, in a temp dir on a reserved 127.0.0.1 port."""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

from . import env
from .processes import AddressInUse, free_port, says_address_in_use, start_on_free_port, wait_until


def _postgres_bin():
    """The newest /usr/lib/postgresql/<version>/bin (Debian's server binaries)."""
    root = "/usr/lib/postgresql"
    versions = sorted((d for d in os.listdir(root) if d.isdigit()), key=int) \
        if os.path.isdir(root) else []
    if not versions:
        raise unittest.SkipTest("PostgreSQL server not installed (scripts/deps.sh test)")
    return os.path.join(root, versions[-1], "bin")


class Postgres:
    """A real PostgreSQL server in a temp dir on a free 127.0.0.1 port (trust auth, user
    postgres). As root the server runs as the postgres user (runuser), as PLATFORM.md shows.
    close() stops it (pg_ctl, then by PID) and removes the temp dir."""

    def __init__(self, port=None, start=True):
        self.bin = _postgres_bin()
        self.port = port
        self.tmp = tempfile.mkdtemp(prefix="sidecache-pg-")
        os.chmod(self.tmp, 0o755)  # the server user must traverse it
        self.data = os.path.join(self.tmp, "pgdata")
        os.makedirs(self.data, mode=0o700)
        try:
            if os.getuid() == 0:
                shutil.chown(self.data, "postgres", "postgres")
            subprocess.run(self._as_server([os.path.join(self.bin, "initdb"), "-D", self.data,
                                            "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                            "--locale=C.UTF-8", "--no-sync"]),
                           check=True, capture_output=True, timeout=120)
            if start:
                start_on_free_port(self._start_on, port)
            else:
                self.port = port or free_port()
        except BaseException:
            self.close()
            raise

    def _as_server(self, args):
        return ["runuser", "-u", "postgres", "--"] + args if os.getuid() == 0 else args

    def _pg_ctl(self, *args):
        return self._as_server([os.path.join(self.bin, "pg_ctl"), "-D", self.data] + list(args))

    def start_args(self):
        return self._pg_ctl("-l", os.path.join(self.data, "log"), "-w", "-t", "30", "-o",
                            "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off" %
                            (self.port, self.data), "start")

    def stop_args(self, mode="fast"):
        return self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")

    def _start_on(self, port):
        self.port = port
        self.start()

    def start(self):
        """Starts the server on self.port (pg_ctl -w waits until it accepts connections);
        AddressInUse when the port was taken."""
        log_start = len(self.log())
        out = subprocess.run(self.start_args(), capture_output=True, timeout=60)
        if out.returncode != 0:
            log = self.log()[log_start:]
            if says_address_in_use(log):
                raise AddressInUse("PostgreSQL: port %d taken" % self.port)
            raise RuntimeError("pg_ctl start failed (%d): %s\n%s" % (
                out.returncode, out.stderr.decode(errors="replace"), log[-2000:]))
        wait_until(self.ready, timeout=30, what="PostgreSQL on %d" % self.port)

    def ready(self):
        return subprocess.run([os.path.join(self.bin, "pg_isready"), "-q", "-h", "127.0.0.1",
                               "-p", str(self.port)], timeout=10).returncode == 0

    def pid(self):
        """The postmaster's PID, or None when it is not running."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self, mode="fast"):
        if self.pid() is None:
            return
        subprocess.run(self.stop_args(mode), capture_output=True, timeout=60)

    def close(self):
        try:
            if self.pid() is not None:
                self.stop()
            pid = self.pid()
            if pid is not None:  # pg_ctl could not stop it: by PID
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            if not env.keep_tmp():
                shutil.rmtree(self.tmp, ignore_errors=True)

    def conninfo(self, dbname="postgres"):
        return "host=127.0.0.1 port=%d user=postgres dbname=%s" % (self.port, dbname)

    def psql(self, sql, dbname="postgres", timeout=60):
        """Runs `sql` (one or more statements); the rows of the last one as lists of str
        (NULL is ''). Raises on any SQL error."""
        out = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-F",
                              "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                              str(self.port), "-U", "postgres", "-d", dbname],
                             input=sql, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("psql failed (%d): %s" % (out.returncode, out.stderr))
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def log(self):
        try:
            with open(os.path.join(self.data, "log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""
