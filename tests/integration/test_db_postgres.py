#!/usr/bin/env python3
"""The PostgreSQL adapter (src/db/postgres.cpp) against a real PostgreSQL server started here:
loads tests/unit/db/schema.sql, then runs unit_db's hidden [.postgres] cases one by one (the
Database contract, ids the key type cannot hold, pg_sleep past query_timeout, the session's
statement_timeout, the server stopped and started again between calls, a connection killed
between calls (pg_terminate_backend) replaced without an error, a slow query on one
database thread beside a fast one on another). The Python side checks what only the server can
see: a timed-out statement was really cancelled on the server (not left sleeping), and the
tables are as the cases left them.
"""
import os
import shlex
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = os.path.join(harness.SOURCE_DIR, "tests", "unit", "db", "schema.sql")


class PostgresAdapterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unit = harness.find_tool("unit_db")
        cls.pg = harness.Postgres()
        try:
            with open(SCHEMA) as f:
                cls.pg.psql(f.read())
        except BaseException:
            cls.pg.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.pg.close()

    def run_case(self, name, timeout=60):
        env = dict(os.environ)
        env["SIDECACHE_TEST_PG"] = self.pg.conninfo()
        env["SIDECACHE_TEST_PG_STOP"] = shlex.join(self.pg.stop_args())
        env["SIDECACHE_TEST_PG_START"] = shlex.join(self.pg.start_args())
        out = subprocess.run([self.unit, name], capture_output=True, text=True,
                             timeout=timeout, env=env)
        self.assertEqual(out.returncode, 0, "unit_db %r failed:\n%s\n%s\n--- server log ---\n%s"
                         % (name, out.stdout, out.stderr, self.pg.log()[-3000:]))
        self.assertIn("All tests passed", out.stdout)

    def active_sleeps(self):
        return int(self.pg.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%pg_sleep(5)%' AND pid <> pg_backend_pid()")[0][0])

    def test_every_hidden_case_is_run_here(self):
        out = subprocess.run([self.unit, "[.postgres]", "--list-test-names-only"],
                             capture_output=True, text=True, timeout=30)
        names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
        self.assertEqual(sorted(names), sorted(CASES.values()))

    def test_concurrent_increments(self):
        self.run_case(CASES["increments"])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM kv"), [["0"]])

    def test_contract(self):
        self.run_case(CASES["contract"])
        # The write case cleaned up after itself: kv is empty again.
        self.assertEqual(self.pg.psql("SELECT count(*) FROM kv"), [["0"]])
        self.assertEqual(self.pg.psql("SELECT count(*) FROM products"), [["3"]])

    def test_bad_ids(self):
        self.run_case(CASES["bad_ids"])

    def test_timeout_cancels_on_the_server(self):
        started = time.monotonic()
        self.run_case(CASES["timeout"])
        self.assertLess(time.monotonic() - started, 10)
        # The unit process is gone, but a statement that was only abandoned would still sleep
        # (the server does not notice a closed client during pg_sleep): it was cancelled.
        self.assertEqual(self.active_sleeps(), 0)

    def test_statement_timeout(self):
        self.run_case(CASES["statement_timeout"])

    def test_server_stopped_and_started(self):
        self.run_case(CASES["restart"], timeout=120)
        self.assertTrue(self.pg.ready())
        self.assertEqual(self.pg.psql("SELECT count(*) FROM kv WHERE k = 'w'"), [["0"]])

    def test_killed_connection(self):
        self.run_case(CASES["killed"])

    def test_slow_query_does_not_block_another_thread(self):
        self.run_case(CASES["threads"])
        harness.wait_until(lambda: self.active_sleeps() == 0, timeout=5,
                           what="the timed-out pg_sleep to end on the server")


CASES = {
    "contract": "PostgreSQL adapter: the Database contract",
    "bad_ids": "PostgreSQL adapter: ids the key type cannot hold are absent",
    "timeout": "PostgreSQL adapter: a slow query is cancelled at query_timeout",
    "statement_timeout": "PostgreSQL adapter: the session's statement_timeout is query_timeout + 250 ms",
    "restart": "PostgreSQL adapter: a stopped server is unavailable and the next call reconnects",
    "threads": "PostgreSQL adapter: a slow query on one thread does not hold up another",
    "killed": "PostgreSQL adapter: a connection killed between calls is replaced at once",
    "increments": "PostgreSQL adapter: concurrent increments all count",
}

if __name__ == "__main__":
    unittest.main(verbosity=2)
