#!/usr/bin/env python3
"""Alerts and dashboard of deploy/, offline: `promtool check rules` and `promtool test rules`
(every alert has a case where it fires; the cases' healthy series stay quiet because promtool
matches the firing set exactly); the Grafana dashboard type-checks against @grafana/schema's
Dashboard under tsc --strict and is templated by namespace and pod; every PromQL expression in
the rules and the dashboard parses (lezer-promql, and promtool as a rule) and every metric name
it uses appears in a real /metrics scrape of sidecache with read-through caching, write-through
and write-behind on (redis-server and SQLite started here).
"""
import json
import os
import re
import sqlite3
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "deploy"))
import harness  # noqa: E402
import support  # noqa: E402
import yaml  # noqa: E402

PROM = os.path.join(support.SOURCE, "deploy", "prometheus")
DASHBOARD = os.path.join(support.SOURCE, "deploy", "grafana", "sidecache.json")

SCHEMA = """
CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT);
CREATE TABLE users (id TEXT PRIMARY KEY, v TEXT);
CREATE TABLE events (id TEXT PRIMARY KEY, v TEXT);
INSERT INTO products VALUES ('1', 'lamp'), ('2', 'desk');
"""
POLICIES = """    - {name: products, match: "product:*", table: products, key_column: id, value_column: name,
       ttl: 60s, stale_if_error: 1m}
    - {name: users, match: "user:*", table: users, key_column: id, value_column: v, write: through}
    - {name: events, match: "event:*", table: events, key_column: id, value_column: v,
       write: behind}"""
QUEUE = "  write_behind: {flush_interval: 20ms}\n"


def rule_exprs():
    groups = support.load_file(os.path.join(PROM, "rules.yaml"))[0]["groups"]
    return [("rules.yaml " + r["alert"], r["expr"]) for g in groups for r in g["rules"]]


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def grafana_to_promql(expr):
    """A dashboard query as plain PromQL: Grafana's variables replaced by values."""
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
            .replace("$namespace", ".*").replace("$pod", ".*"))


def dashboard_exprs():
    out = []
    for p in dashboard()["panels"]:
        for t in p.get("targets", []):
            out.append(("dashboard %r %s" % (p["title"], t["refId"]), grafana_to_promql(t["expr"])))
    for v in dashboard()["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.*),\s*\w+\)", v["query"]["query"])
            out.append(("dashboard variable " + v["name"], grafana_to_promql(m.group(1))))
    return out


class RulesTest(unittest.TestCase):
    def test_promtool_check_and_unit_tests(self):
        support.run(["promtool", "check", "rules", "rules.yaml"], cwd=PROM)
        result = support.run(["promtool", "test", "rules", "rules_test.yaml"], cwd=PROM)
        self.assertIn("SUCCESS", result.stdout)

    def test_every_alert_has_a_firing_case_and_a_quiet_one(self):
        alerts = {name.split(" ", 1)[1] for name, _ in rule_exprs()}
        tests = support.load_file(os.path.join(PROM, "rules_test.yaml"))[0]["tests"]
        fired, quiet = set(), set()
        for t in tests:
            firing_series = set()
            for case in t.get("alert_rule_test", []):
                if case["exp_alerts"]:
                    fired.add(case["alertname"])
                    firing_series |= {json.dumps(a["exp_labels"], sort_keys=True)
                                      for a in case["exp_alerts"]}
                else:
                    quiet.add(case["alertname"])
            # A group with more input series than firing alerts shows healthy series staying
            # quiet (promtool compares the firing set exactly).
            if len(t["input_series"]) > 0 and firing_series:
                for case in t.get("alert_rule_test", []):
                    if case["exp_alerts"] and len(t["input_series"]) > len(case["exp_alerts"]):
                        quiet.add(case["alertname"])
        self.assertEqual(alerts - fired, set(), "alerts without a firing test")
        self.assertEqual(alerts - quiet, set(), "alerts without a quiet case")


class DashboardTest(unittest.TestCase):
    def test_types_against_grafana_schema(self):
        support.ensure_tools()
        work = support.scratch_dir()
        try:
            path = os.path.join(work, "dashboard.ts")
            with open(path, "w") as f:
                f.write('import type { Dashboard } from "@grafana/schema";\n'
                        "export const dashboard: Dashboard = %s;\n" % json.dumps(dashboard(), indent=2))
            result = support.tsc([path])
            self.assertEqual(result.returncode, 0, result.stdout[-4000:])
        finally:
            support.shutil.rmtree(work, ignore_errors=True)

    def test_json_is_the_generators_output(self):
        result = support.run([sys.executable, "-c",
                              "import sys; sys.path.insert(0, %r); import generate; "
                              "sys.stdout.write(generate.TEXT)" % os.path.dirname(DASHBOARD)])
        with open(DASHBOARD) as f:
            self.assertEqual(f.read(), result.stdout, "run deploy/grafana/generate.py")

    def test_templated_by_namespace_and_pod(self):
        names = [v["name"] for v in dashboard()["templating"]["list"]]
        self.assertEqual(names, ["datasource", "namespace", "pod"])
        for p in dashboard()["panels"]:
            for t in p.get("targets", []):
                self.assertIn('namespace=~"$namespace"', t["expr"], p["title"])
                self.assertIn('pod=~"$pod"', t["expr"], p["title"])
                self.assertEqual(p["datasource"]["uid"], "${datasource}")

    def test_panels_do_not_overlap(self):
        cells = set()
        for p in dashboard()["panels"]:
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    self.assertNotIn((x, y), cells, p["title"])
                    cells.add((x, y))


class PromqlTest(unittest.TestCase):
    """Every expression parses, and every metric it names is in a real scrape."""

    @classmethod
    def setUpClass(cls):
        support.ensure_tools()
        cls.exprs = rule_exprs() + dashboard_exprs()
        work = support.scratch_dir()
        try:
            path = os.path.join(work, "exprs.json")
            with open(path, "w") as f:
                json.dump([{"source": s, "expr": e} for s, e in cls.exprs], f)
            cls.parsed = support.node_check("promql", path)
        finally:
            support.shutil.rmtree(work, ignore_errors=True)
        cls.scrape_text = scrape_with_cache_and_writes()

    def test_expressions_parse(self):
        self.assertGreater(len(self.parsed), 35)
        for p in self.parsed:
            self.assertEqual(p["errors"], [], p["source"] + ": " + p["expr"])
            self.assertTrue(p["metrics"], p["source"])

    def test_dashboard_expressions_pass_promtool(self):
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": "dashboard:expr:%d" % i, "expr": e}
            for i, (_, e) in enumerate(dashboard_exprs())]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump(rules, f)
            f.flush()
            support.run(["promtool", "check", "rules", f.name])

    def test_metric_names_exist_in_a_real_scrape(self):
        names = set()
        for line in self.scrape_text.splitlines():
            m = re.match(r"# TYPE (\S+) ", line) or re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
            if m:
                names.add(m.group(1))
        for wanted in ("sidecache_cache_hits_total", "sidecache_write_behind_queue_depth",
                       "sidecache_db_queries_total", "sidecache_node_up"):
            self.assertIn(wanted, names, "the scrape lacks the cache/write families")
        missing = {}
        for p in self.parsed:
            for metric in p["metrics"]:
                if metric not in names:
                    missing.setdefault(metric, []).append(p["source"])
        self.assertEqual(missing, {}, "metrics not in a real scrape")


def scrape_with_cache_and_writes():
    """/metrics of a sidecache (2 workers) over one redis-server with a read-through policy,
    a write-through one and a write-behind one, after traffic that exercises each."""
    with tempfile.TemporaryDirectory() as tmp:
        db_path = os.path.join(tmp, "app.db")
        db = sqlite3.connect(db_path)
        db.executescript(SCHEMA)
        db.commit()
        db.close()
        redis_server = harness.RedisServer(tmp)
        sc = None
        try:
            http_port = harness.free_port()
            database = "    type: sqlite\n    path: %s" % db_path
            sc = harness.Sidecache(tmp, [("a", redis_server.port, 1)], workers=2,
                                   top_extra=harness.cache_yaml(http_port, database, POLICIES, QUEUE))
            c = sc.client(decode_responses=True)
            assert c.get("product:1") == "lamp"
            assert c.get("product:1") == "lamp"
            assert c.get("product:404") is None
            c.set("user:1", "ann")
            for i in range(20):
                c.set("event:%d" % i, "e%d" % i)
            c.incr("plain-counter")

            def flushed():
                with sqlite3.connect(db_path, timeout=5) as conn:
                    return conn.execute("SELECT count(*) FROM events").fetchone()[0] == 20
            harness.wait_until(flushed, timeout=20, what="write-behind flushed")
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http_port, timeout=10) as r:
                text = r.read().decode()
            sc.stop_checked()
            sc = None
            return text
        finally:
            if sc is not None:
                sc.stop()
            redis_server.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
