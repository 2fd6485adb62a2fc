"""Certificates and the secure backend mode.

SIDECACHE_TEST_BACKEND=auth_tls runs the same tests against nodes that need TLS and an ACL
user's password: every RedisServer listens on a TLS port only, with `user app`, and every
sidecache config gets pool.username / password_file / tls. Direct test connections to such a
node (RespConnection, ping, redis-py) speak TLS and AUTH on their own.
"""
import atexit
import os
import random
import shutil
import socket
import subprocess
import tempfile

SECURE_USER = "app"
SECURE_PASSWORD = "s3cret-backend-pw-%d" % random.randint(100000, 999999)
_secure_ports = set()  # ports of TLS-only nodes: direct connections wrap TLS and AUTH
_certs = None


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def make_certs(directory, expired=False):
    """A CA and, signed by it, certificates in `directory`: server.{crt,key} for 127.0.0.1
    (IP SAN), client.{crt,key}, other.{crt,key} for the name other.example, expired.{crt,key}
    (127.0.0.1, validity over). Returns a dict of paths."""
    os.makedirs(directory, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.crt", "-days", "2", "-subj", "/CN=sidecache test CA", cwd=directory)

    def leaf(name, subject, san, days="2", start=None):
        with open(os.path.join(directory, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n" % san)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", subject, cwd=directory)
        if start is None:
            openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", name + ".crt", "-days", days, "-extfile",
                    name + ".ext", cwd=directory)
        else:
            # An expired certificate: a tiny CA database signs it with dates in the past.
            openssl("ca", "-batch", "-config", _mini_ca_conf(directory), "-in", name + ".csr",
                    "-out", name + ".crt", "-startdate", start[0], "-enddate", start[1],
                    "-extfile", name + ".ext", "-notext", cwd=directory)

    leaf("server", "/CN=127.0.0.1", "IP:127.0.0.1")
    leaf("client", "/CN=sidecache", "DNS:sidecache")
    leaf("other", "/CN=other.example", "DNS:other.example")
    if expired:
        leaf("expired", "/CN=127.0.0.1", "IP:127.0.0.1",
             start=("20200101000000Z", "20200102000000Z"))
    return {n: os.path.join(directory, n) for n in
            ("ca.crt", "server.crt", "server.key", "client.crt", "client.key", "other.crt",
             "other.key", "expired.crt", "expired.key")}


def _mini_ca_conf(directory):
    db = os.path.join(directory, "ca-db")
    os.makedirs(os.path.join(db, "new"), exist_ok=True)
    open(os.path.join(db, "index.txt"), "a").close()
    with open(os.path.join(db, "serial"), "w") as f:
        f.write("1000\n")
    path = os.path.join(directory, "mini-ca.cnf")
    with open(path, "w") as f:
        f.write("[ca]\ndefault_ca=d\n[d]\ndir=%s\ndatabase=$dir/index.txt\n"
                "new_certs_dir=$dir/new\nserial=$dir/serial\ncertificate=%s/ca.crt\n"
                "private_key=%s/ca.key\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
                "[p]\ncommonName=supplied\n" % (db, directory, directory))
    return path


def secure_certs():
    """The certificates of this test process (made once, removed at exit)."""
    global _certs
    if _certs is None:
        directory = tempfile.mkdtemp(prefix="sidecache-certs-")
        atexit.register(shutil.rmtree, directory, True)
        _certs = make_certs(directory)
        with open(os.path.join(directory, "password"), "w") as f:
            f.write(SECURE_PASSWORD + "\n")
        _certs["password"] = os.path.join(directory, "password")
    return _certs


def secure_redis_args(port, certs, password=None, user=SECURE_USER):
    """redis-server arguments: TLS only on `port`, `user` with `password`, default user off."""
    password = password or SECURE_PASSWORD
    return ["--port", "0", "--tls-port", str(port), "--tls-cert-file", certs["server.crt"],
            "--tls-key-file", certs["server.key"], "--tls-ca-cert-file", certs["ca.crt"],
            "--tls-auth-clients", "optional", "--user", "default", "off",
            "--user"] + ("%s on >%s ~* &* +@all" % (user, password)).split()


def secure_pool_yaml():
    """The pool keys that make sidecache reach secure_redis_args() nodes."""
    c = secure_certs()
    return ("  username: %s\n  password_file: %s\n  tls:\n    ca_file: %s\n"
            "    cert_file: %s\n    key_file: %s\n" % (SECURE_USER, c["password"], c["ca.crt"],
                                                     c["client.crt"], c["client.key"]))


def is_secure_port(port):
    return port in _secure_ports


def mark_secure_port(port, secure=True):
    if secure:
        _secure_ports.add(port)
    else:
        _secure_ports.discard(port)


def secure_socket(port, timeout, auth=True):
    """A TLS connection to a secure node, authenticated as SECURE_USER unless `auth` is off."""
    import ssl
    from .resp import RespConnection
    c = secure_certs()
    ctx = ssl.create_default_context(cafile=c["ca.crt"])
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock = ctx.wrap_socket(raw)
    if auth:
        conn = RespConnection(port, timeout=timeout, sock=sock)
        reply = conn.command("AUTH", SECURE_USER, SECURE_PASSWORD)
        if reply != "OK":
            raise ConnectionError("AUTH failed: %r" % (reply,))
        if conn.buf:
            raise ConnectionError("unexpected bytes after AUTH")
    return sock
