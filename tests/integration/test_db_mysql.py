#!/usr/bin/env python3
"""The MySQL / MariaDB adapter (src/db/mysql.cpp) against a real MariaDB server started here:
loads tests/unit/db/schema_mysql.sql, then runs unit_db's hidden [.mysql] cases one by one (the
Database contract, concurrent increments under row locks, typed values from the result
metadata, SLEEP() past query_timeout stopped with KILL QUERY, the session's max_statement_time,
the server stopped and started again between calls, a connection killed between calls replaced
without an error, a slow query on one database thread beside a fast one on another). The Python
side checks what only the server can see: a timed-out statement was really killed on the
server (not left sleeping), and the tables are as the cases left them.
"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SCHEMA = os.path.join(harness.SOURCE_DIR, "tests", "unit", "db", "schema_mysql.sql")


class MysqlAdapterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unit = harness.find_tool("unit_db")
        started = time.monotonic()
        cls.my = harness.MariaDB()
        cls.startup = time.monotonic() - started
        try:
            with open(SCHEMA) as f:
                cls.my.sql(f.read())
        except BaseException:
            cls.my.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.my.close()

    def run_case(self, name, timeout=60):
        env = dict(os.environ)
        env["SIDECACHE_TEST_MYSQL_PORT"] = str(self.my.port)
        env["SIDECACHE_TEST_MYSQL_STOP"] = self.my.stop_command()
        env["SIDECACHE_TEST_MYSQL_START"] = self.my.start_command()
        out = subprocess.run([self.unit, name], capture_output=True, text=True,
                             timeout=timeout, env=env)
        self.assertEqual(out.returncode, 0, "unit_db %r failed:\n%s\n%s\n--- server log ---\n%s"
                         % (name, out.stdout, out.stderr, self.my.log()[-3000:]))
        self.assertIn("All tests passed", out.stdout)

    def active_sleeps(self):
        return int(self.my.sql(
            "SELECT COUNT(*) FROM information_schema.processlist "
            "WHERE info LIKE '%SLEEP(5)%' AND id <> CONNECTION_ID()")[0][0])

    def test_server_starts_quickly(self):
        self.assertLess(self.startup, 15)

    def test_every_hidden_case_is_run_here(self):
        out = subprocess.run([self.unit, "[.mysql]", "--list-test-names-only"],
                             capture_output=True, text=True, timeout=30)
        names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
        self.assertEqual(sorted(names), sorted(CASES.values()))

    def test_concurrent_increments(self):
        self.run_case(CASES["increments"])
        self.assertEqual(self.my.sql("SELECT COUNT(*) FROM kv"), [["0"]])

    def test_contract(self):
        self.run_case(CASES["contract"])
        # The write case cleaned up after itself: kv is empty again.
        self.assertEqual(self.my.sql("SELECT COUNT(*) FROM kv"), [["0"]])
        self.assertEqual(self.my.sql("SELECT COUNT(*) FROM products"), [["3"]])

    def test_typed_values(self):
        self.run_case(CASES["typed"])

    def test_timeout_kills_on_the_server(self):
        started = time.monotonic()
        self.run_case(CASES["timeout"])
        self.assertLess(time.monotonic() - started, 10)
        # A statement that was only abandoned would still sleep on the server: it was killed.
        harness.wait_until(lambda: self.active_sleeps() == 0, timeout=2,
                           what="no SLEEP(5) left on the server")

    def test_max_statement_time(self):
        self.run_case(CASES["statement_time"])

    def test_server_stopped_and_started(self):
        self.run_case(CASES["restart"], timeout=120)
        self.assertTrue(self.my.ready())
        self.assertEqual(self.my.sql("SELECT COUNT(*) FROM kv WHERE k = 'w'"), [["0"]])

    def test_killed_connection(self):
        self.run_case(CASES["killed"])

    def test_slow_query_does_not_block_another_thread(self):
        self.run_case(CASES["threads"])
        harness.wait_until(lambda: self.active_sleeps() == 0, timeout=5,
                           what="the timed-out SLEEP to end on the server")


CASES = {
    "contract": "MySQL adapter: the Database contract",
    "increments": "MySQL adapter: concurrent increments all count",
    "typed": "MySQL adapter: values are typed from the result metadata",
    "timeout": "MySQL adapter: a slow query is stopped with KILL QUERY at query_timeout",
    "statement_time": "MySQL adapter: the session's max_statement_time is query_timeout + 250 ms",
    "restart": "MySQL adapter: a stopped server is unavailable and the next call reconnects",
    "killed": "MySQL adapter: a connection killed between calls is replaced at once",
    "threads": "MySQL adapter: a slow query on one thread does not hold up another",
}

if __name__ == "__main__":
    unittest.main(verbosity=2)
