"""redis-server processes for tests, plain or secure (tls.py), on reserved loopback ports."""
import os
import signal

from . import env, tls
from .processes import (AddressInUse, Process, free_port, says_address_in_use, start_on_free_port,
                        wait_until)
from .resp import ping


class RedisServer:
    def __init__(self, workdir, port=None, extra=(), start=True, secure=None, password=None):
        """`secure` (default: SIDECACHE_TEST_BACKEND=auth_tls): TLS only, ACL user `app`.
        `password`: plain TCP with requirepass. Without `port` a reserved one is used (another
        one if a program outside the test took it first)."""
        self.workdir = workdir
        self.password = password
        self.secure = env.BACKEND_MODE == "auth_tls" if secure is None else secure
        self.extra = list(extra)
        self.process = None
        self.port = None
        if start:
            start_on_free_port(self._start_on, port)
        else:
            self._use_port(port or free_port())

    def _use_port(self, port):
        if self.port is not None and self.port != port:
            tls.mark_secure_port(self.port, False)
        self.port = port
        if self.secure:
            tls.mark_secure_port(port)
        self.dir = os.path.join(self.workdir, "redis-%d" % port)
        os.makedirs(self.dir, exist_ok=True)

    def _start_on(self, port):
        self._use_port(port)
        self.start()

    def start(self):
        """Starts redis-server on self.port; returns once it answers PING (bounded). Raises
        AddressInUse when the port was taken."""
        listen = (tls.secure_redis_args(self.port, tls.secure_certs()) if self.secure
                  else ["--port", str(self.port)])
        args = ["redis-server"] + listen + [
                "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", self.dir,
                "--protected-mode", "no"] + self.extra
        if self.password is not None:
            args += ["--requirepass", self.password]
        self.process = Process(args, os.path.join(self.dir, "redis.log"))
        wait_until(lambda: ping(self.port, password=self.password) or not self.process.alive(),
                   timeout=10, what="redis-server on %d" % self.port)
        if not self.process.alive():
            output = self.process.output()
            self.process.stop()
            if says_address_in_use(output):
                raise AddressInUse("redis-server: port %d taken" % self.port)
            raise RuntimeError("redis-server on %d exited:\n%s" % (self.port, output[-2000:]))

    def stop(self, sig=signal.SIGTERM):
        if self.process:
            self.process.stop(sig)

    def kill9(self):
        self.process.signal(signal.SIGKILL)
        self.process.proc.wait(timeout=10)
        self.process.log.close()

    def alive(self):
        return self.process is not None and self.process.alive()

    def client(self, **kw):
        import redis
        kw.setdefault("socket_timeout", 5)
        if self.secure:
            c = tls.secure_certs()
            kw.update(ssl=True, ssl_ca_certs=c["ca.crt"], ssl_cert_reqs="required",
                      ssl_check_hostname=False, username=tls.SECURE_USER,
                      password=tls.SECURE_PASSWORD)
        elif self.password is not None:
            kw.setdefault("password", self.password)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def cli(self):
        """redis-cli arguments that reach this server (TLS and AUTH when secure)."""
        args = ["redis-cli", "-p", str(self.port)]
        if self.secure:
            c = tls.secure_certs()
            args += ["--tls", "--cacert", c["ca.crt"], "--user", tls.SECURE_USER, "--pass",
                     tls.SECURE_PASSWORD, "--no-auth-warning"]
        return args


def redis_client_for(port, password=None, db=0, username=None):
    """A plain redis-py client of a node started by hand (requirepass / db)."""
    import redis
    return redis.Redis(host="127.0.0.1", port=port, password=password, username=username, db=db,
                       socket_timeout=5)
