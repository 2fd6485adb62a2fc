"""A real MariaDB server for tests, in a temp dir on a reserved 127.0.0.1 port."""
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import unittest

from . import env
from .processes import AddressInUse, says_address_in_use, start_on_free_port, stop_pid, wait_until


class MariaDB:
    """A real MariaDB server (Debian mariadb-server) in a temp dir: its own datadir made by
    mariadb-install-db, TCP on a free 127.0.0.1 port, its socket in the temp dir, root without a
    password (unix_socket auth is for the socket only; TCP root has an empty password). Runs as
    root with --user=root. A database `dbname` is created. close() stops it by PID and removes
    the temp dir. Start-up takes ~4 s (install-db) + ~0.5 s."""

    def __init__(self, port=None, dbname="sidecache_test"):
        self.server = shutil.which("mariadbd") or shutil.which("mysqld") or \
            ("/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None)
        self.install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        self.client = shutil.which("mariadb") or shutil.which("mysql")
        if not (self.server and self.install and self.client):
            raise unittest.SkipTest("MariaDB server not installed (scripts/deps.sh test)")
        self.port = port
        self.dbname = dbname
        self.tmp = tempfile.mkdtemp(prefix="sidecache-my-")
        os.chmod(self.tmp, 0o755)
        self.data = os.path.join(self.tmp, "data")
        self.socket = os.path.join(self.tmp, "mysqld.sock")
        self.proc = None
        try:
            subprocess.run([self.install, "--no-defaults", "--datadir=" + self.data,
                            "--user=" + self._user(), "--auth-root-authentication-method=normal",
                            "--skip-test-db", "--skip-name-resolve"],
                           check=True, capture_output=True, timeout=120)
            start_on_free_port(self._start_on, port)
            self.sql("CREATE DATABASE `%s`" % dbname, dbname=None)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _user():
        import pwd
        return pwd.getpwuid(os.getuid()).pw_name

    def start_args(self):
        return [self.server, "--no-defaults", "--datadir=" + self.data, "--user=" + self._user(),
                "--port=%d" % self.port, "--bind-address=127.0.0.1", "--socket=" + self.socket,
                "--pid-file=" + os.path.join(self.tmp, "mysqld.pid"), "--skip-log-bin",
                "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=8M", "--innodb-flush-log-at-trx-commit=0",
                "--log-error=" + os.path.join(self.tmp, "error.log")]

    def _start_on(self, port):
        self.port = port
        self.start()

    def start(self):
        """Starts mariadbd on self.port; returns once it answers (bounded). AddressInUse when
        the port was taken."""
        log_start = len(self.log())
        self.proc = subprocess.Popen(self.start_args(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: self.ready() or self.proc.poll() is not None, timeout=30,
                   what="MariaDB on %d" % self.port)
        if self.proc.poll() is not None:
            log = self.log()[log_start:]
            if says_address_in_use(log):
                raise AddressInUse("mariadbd: port %d taken" % self.port)
            raise RuntimeError("mariadbd exited: %s" % log[-2000:])

    def stop_command(self):
        """A shell command that stops the server and returns once it is down."""
        admin = shutil.which("mariadb-admin") or shutil.which("mysqladmin")
        base = "%s --no-defaults -h 127.0.0.1 -P %d -u root" % (shlex.quote(admin), self.port)
        # Down means the listener refuses connections, not only that the server was asked to go
        # (the process itself may linger as the harness's unreaped child).
        return ("%s shutdown && for i in $(seq 300); do %s ping >/dev/null 2>&1 || exit 0; "
                "sleep 0.1; done; exit 1" % (base, base))

    def start_command(self):
        """A shell command that starts the server again and returns once it answers."""
        admin = shutil.which("mariadb-admin") or shutil.which("mysqladmin")
        ping = "%s --no-defaults -h 127.0.0.1 -P %d -u root ping" % (shlex.quote(admin), self.port)
        return ("setsid %s >/dev/null 2>&1 < /dev/null & "
                "for i in $(seq 300); do %s >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1"
                % (shlex.join(self.start_args()), ping))

    def ready(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return subprocess.run([self.client, "--no-defaults", "-h", "127.0.0.1", "-P",
                               str(self.port), "-u", "root", "-e", "SELECT 1"],
                              capture_output=True, timeout=10).returncode == 0

    def pid(self):
        try:
            with open(os.path.join(self.tmp, "mysqld.pid")) as f:
                return int(f.readline())
        except (OSError, ValueError):
            return None

    def stop(self):
        """SIGTERM by PID, waits until it exited (bounded), SIGKILL otherwise."""
        pid = self.pid() or (self.proc.pid if self.proc else None)
        if pid is None:
            return
        # Our child is reaped by poll(); a server restarted by start_command is not our child.
        stop_pid(pid, child=self.proc, timeout=20)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def close(self):
        try:
            self.stop()
        finally:
            if not env.keep_tmp():
                shutil.rmtree(self.tmp, ignore_errors=True)

    def sql(self, text, dbname="", timeout=60):
        """Runs `text` (one or more statements) with the mariadb client; the rows of the last
        result as lists of str (NULL is 'NULL'). Raises on any SQL error."""
        args = [self.client, "--no-defaults", "--default-character-set=utf8mb4", "-h",
                "127.0.0.1", "-P", str(self.port), "-u", "root", "-N", "-B"]
        if dbname is not None:
            args.append(dbname or self.dbname)
        out = subprocess.run(args, input=text, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("mariadb failed (%d): %s" % (out.returncode, out.stderr))
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def log(self):
        try:
            with open(os.path.join(self.tmp, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""
