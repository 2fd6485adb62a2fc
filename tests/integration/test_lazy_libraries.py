#!/usr/bin/env python3
"""Libraries a configuration does not use cost nothing: the database client libraries (libpq,
MariaDB Connector/C) are not linked into sidecache but loaded the first time a database of
their kind is opened (src/db/client_library.hpp). Checked on the binary (no NEEDED entry) and
on running processes (/proc/PID/maps):
  - the sample config (config/sidecache.yaml: read-through on SQLite) and the same without its
    cache section (proxy-only) map neither library nor their chains (gnutls, krb5, ldap);
  - a read-through policy on PostgreSQL maps libpq and its chain once started (the policy is
    validated against the server at start), and not Connector/C;
  - one on MariaDB maps Connector/C, and not libpq;
  - with libpq made unloadable (/dev/null bound over it in a mount namespace of its own, when
    this user may unshare one), a PostgreSQL database fails the start like an unreachable
    server, with what to install; the same for Connector/C and a MySQL database.
"""
import os
import re
import shlex
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LIBPQ = "libpq.so.5"
LIBMARIADB = "libmariadb.so.3"
# libpq's dependency chain on Debian 12 (TLS, Kerberos, LDAP): the bulk of what it costs.
LIBPQ_CHAIN = ("libgnutls.so", "libkrb5.so", "libgssapi_krb5.so", "libldap-2.5.so")


def mapped_libraries(pid):
    """The file names of the shared objects process `pid` has mapped."""
    names = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) == 6 and ".so" in fields[5]:
                names.add(os.path.basename(fields[5].strip()))
    return names


def maps_any(libraries, prefix):
    return any(name.startswith(prefix) for name in libraries)


def library_path(soname):
    """Where the dynamic loader finds `soname` (`ldconfig -p`), symlinks resolved."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) \((.*)\) => (\S+)", line)
        if m and m.group(1) == soname and "x86-64" in m.group(2):
            return os.path.realpath(m.group(3))
    raise AssertionError("%s is not installed" % soname)


def without_library(soname, argv):
    """`argv` run where `soname` cannot be loaded: /dev/null bound over it in a private mount
    namespace (unshare -m; the host's file is untouched). Skips when unsharing is not allowed."""
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        raise unittest.SkipTest("cannot unshare a mount namespace here")
    script = "mount --bind /dev/null %s && exec %s" % (shlex.quote(library_path(soname)),
                                                        shlex.join(argv))
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                          text=True, timeout=60)


class LazyLibrariesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.redis = harness.RedisServer(cls.tmp.name)
        cls.sqlite_path = os.path.join(cls.tmp.name, "sample.db")
        harness.make_sample_db(cls.sqlite_path)

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        cls.tmp.cleanup()

    def start(self, config_text):
        side = harness.Sidecache(self.tmp.name, [], config_text=config_text)
        self.addCleanup(side.stop_checked)
        return side

    def start_sample(self, sqlite_path):
        http = harness.free_port()
        return self.start(
            lambda port: harness.sample_config_yaml(port, http, self.redis.port, sqlite_path))

    def read_through_yaml(self, port, database):
        http = harness.free_port()
        policy = ('    - name: p\n      match: "p:*"\n      table: products\n'
                  '      key_column: id\n      mapping: json\n      ttl: 60s\n')
        top = harness.cache_yaml(http, database, policy)
        return harness.config_yaml(port, [("r1", self.redis.port, 1)], top_extra=top)

    def start_read_through(self, database):
        return self.start(lambda port: self.read_through_yaml(port, database))

    def start_without(self, soname, database):
        """sidecache started where `soname` cannot be loaded: its exit code and output."""
        path = os.path.join(self.tmp.name, "without-%s.yaml" % soname)
        with open(path, "w") as f:
            f.write(self.read_through_yaml(harness.free_port(), database))
        out = without_library(soname, [harness.BIN, "-c", path])
        return out.returncode, out.stdout + out.stderr

    def test_the_binary_does_not_need_the_client_libraries(self):
        out = subprocess.run(["readelf", "-d", harness.BIN], capture_output=True, text=True,
                             check=True).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", out)
        self.assertTrue(needed)
        self.assertNotIn(LIBPQ, needed)
        self.assertNotIn(LIBMARIADB, needed)

    def test_sample_configs_map_no_client_library(self):
        for name, path in (("proxy-only", None), ("sqlite read-through", self.sqlite_path)):
            with self.subTest(config=name):
                side = self.start_sample(path)
                c = side.client(decode_responses=True)
                c.set("plain", "1")
                self.assertEqual(c.get("plain"), "1")
                if path:  # the read-through really runs: a row loaded from SQLite
                    self.assertIn("Product 7", c.get("product:7"))
                libraries = mapped_libraries(side.process.pid)
                self.assertTrue(maps_any(libraries, "libsqlite3.so"))
                for lib in (LIBPQ, LIBMARIADB) + LIBPQ_CHAIN:
                    self.assertFalse(maps_any(libraries, lib), "%s maps %s" % (name, lib))

    def test_postgres_database_maps_libpq(self):
        pg = harness.Postgres()
        self.addCleanup(pg.close)
        pg.psql("CREATE TABLE products (id int PRIMARY KEY, name text);"
                "INSERT INTO products VALUES (1, 'one');")
        side = self.start_read_through(
            '    type: postgres\n    conninfo: "%s"\n    pool_size: 2\n' % pg.conninfo())
        self.assertIn("one", side.client(decode_responses=True).get("p:1"))
        libraries = mapped_libraries(side.process.pid)
        self.assertTrue(maps_any(libraries, LIBPQ))
        for lib in LIBPQ_CHAIN:
            self.assertTrue(maps_any(libraries, lib), lib)
        self.assertFalse(maps_any(libraries, LIBMARIADB), "postgres maps " + LIBMARIADB)

    def test_mysql_database_maps_connector_c(self):
        my = harness.MariaDB()
        self.addCleanup(my.close)
        my.sql("CREATE TABLE products (id int PRIMARY KEY, name text);"
               "INSERT INTO products VALUES (1, 'one');", dbname=my.dbname)
        side = self.start_read_through(
            "    type: mysql\n    host: 127.0.0.1\n    port: %d\n    user: root\n"
            "    database: %s\n    pool_size: 2\n" % (my.port, my.dbname))
        self.assertIn("one", side.client(decode_responses=True).get("p:1"))
        libraries = mapped_libraries(side.process.pid)
        self.assertTrue(maps_any(libraries, LIBMARIADB))
        self.assertFalse(maps_any(libraries, LIBPQ), "mysql maps " + LIBPQ)

    def test_missing_libpq_fails_the_start_with_what_to_install(self):
        # No server is needed: the library is loaded before any connection is tried.
        code, out = self.start_without(
            LIBPQ, '    type: postgres\n    conninfo: "host=127.0.0.1 port=1"\n')
        self.assertEqual(code, 1, out)  # a clean start-up error, not a signal
        self.assertIn("cache policy 'p': postgres: PostgreSQL client library libpq.so.5 not "
                      "found: install libpq5 (", out)
        self.assertIsNone(harness.sanitizer_report(out))

    def test_missing_connector_c_fails_the_start_with_what_to_install(self):
        code, out = self.start_without(
            LIBMARIADB, "    type: mysql\n    host: 127.0.0.1\n    port: 1\n    user: u\n"
            "    database: d\n")
        self.assertEqual(code, 1, out)
        self.assertIn("cache policy 'p': mysql: MySQL/MariaDB client library libmariadb.so.3 not "
                      "found: install libmariadb3 (", out)
        self.assertIsNone(harness.sanitizer_report(out))


if __name__ == "__main__":
    unittest.main()
