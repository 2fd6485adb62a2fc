#!/usr/bin/env python3
"""Writes deploy/grafana/sidecache.json and its copy in the Helm chart (files/sidecache.json).
Edit the panels here and run it; test_deploy_monitoring.py checks the JSON is its output."""
import json
import os


def sel(extra=""):
    return '{namespace=~"$namespace", pod=~"$pod"%s}' % ((", " + extra) if extra else "")
R = "[$__rate_interval]"
ERR = sel('result="error"')
panels = []
st = {"x": 0, "y": 0, "id": 1}
def row(title):
    panels.append({"type": "row", "title": title, "id": st["id"], "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": st["y"]}, "panels": []})
    st["id"] += 1; st["y"] += 1; st["x"] = 0
def panel(title, desc, targets, unit="short", kind="timeseries", w=8):
    if st["x"] + w > 24:
        st["x"] = 0; st["y"] += 8
    ds = {"type": "prometheus", "uid": "${datasource}"}
    p = {"type": kind, "title": title, "description": desc, "id": st["id"], "datasource": ds,
         "gridPos": {"h": 8, "w": w, "x": st["x"], "y": st["y"]},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": {},
         "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": l, "datasource": ds}
                     for i, (e, l) in enumerate(targets)]}
    if kind == "table":
        for t in p["targets"]:
            t["format"] = "table"; t["instant"] = True
    panels.append(p); st["id"] += 1; st["x"] += w
def endrow():
    st["x"] = 0; st["y"] += 8
s = sel()
row("Traffic")
panel("Commands by command and result", "Commands answered per second, by command name and ok/error.",
      [(f'sum by (command, result) (rate(sidecache_commands_total{s}{R}))', "{{command}} {{result}}")], "reqps")
panel("Error ratio", "Share of commands answered with an error (node errors, timeouts, routing errors).",
      [(f'sum(rate(sidecache_commands_total{ERR}{R})) / clamp_min(sum(rate(sidecache_commands_total{s}{R})), 1e-9)', "errors")], "percentunit")
panel("Client connections", "Client connections open now, per pod.",
      [(f'sum by (pod) (sidecache_client_connections{s})', "{{pod}}")])
endrow()
row("Latency")
panel("Latency p50 by class", "Median time from reading a command to its reply, by class (read, write, multikey, local, other).",
      [(f'histogram_quantile(0.5, sum by (class, le) (rate(sidecache_request_duration_seconds_bucket{s}{R})))', "{{class}}")], "s", w=12)
panel("Latency p99 by class", "99th percentile of the same, by class.",
      [(f'histogram_quantile(0.99, sum by (class, le) (rate(sidecache_request_duration_seconds_bucket{s}{R})))', "{{class}}")], "s", w=12)
endrow()
row("Redis nodes")
panel("Node up", "1 when the pod has a connection to the node; the minimum over the selected pods.",
      [(f'min by (node) (sidecache_node_up{s})', "{{node}}")], w=6)
panel("Node errors", "Failed requests per second by node and kind (timeout, connection, reply).",
      [(f'sum by (node, kind) (rate(sidecache_node_errors_total{s}{R}))', "{{node}} {{kind}}")], "reqps", w=6)
panel("Node connections", "Connections established to each node, summed over pods.",
      [(f'sum by (node) (sidecache_node_connections{s})', "{{node}}")], w=6)
panel("Node latency p99", "99th percentile of the time from sending a request to a node to its reply.",
      [(f'histogram_quantile(0.99, sum by (node, le) (rate(sidecache_node_request_duration_seconds_bucket{s}{R})))', "{{node}}")], "s", w=6)
endrow()
row("Read-through cache")
panel("Hit ratio per policy", "Fresh hits over hits plus misses, per caching policy.",
      [(f'sum by (policy) (rate(sidecache_cache_hits_total{s}{R})) / clamp_min(sum by (policy) (rate(sidecache_cache_hits_total{s}{R})) + sum by (policy) (rate(sidecache_cache_misses_total{s}{R})), 1e-9)', "{{policy}}")], "percentunit")
panel("Loads per policy", "Database loads per second per policy, and failed loads by reason.",
      [(f'sum by (policy) (rate(sidecache_cache_loads_total{s}{R}))', "{{policy}} loads"),
       (f'sum by (policy, reason) (rate(sidecache_cache_load_errors_total{s}{R}))', "{{policy}} {{reason}}")], "ops")
panel("Stale answers", "Answers served stale: swr (while one refresh runs) or error (the database failed).",
      [(f'sum by (policy, reason) (rate(sidecache_cache_stale_total{s}{R}))', "{{policy}} {{reason}}")], "ops")
endrow()
row("Database")
panel("Database latency", "p50 and p99 of database calls, connecting included.",
      [(f'histogram_quantile(0.5, sum by (le) (rate(sidecache_db_query_duration_seconds_bucket{s}{R})))', "p50"),
       (f'histogram_quantile(0.99, sum by (le) (rate(sidecache_db_query_duration_seconds_bucket{s}{R})))', "p99")], "s")
panel("Database calls by result", "Database calls per second: ok, unavailable, timeout, rejected.",
      [(f'sum by (result) (rate(sidecache_db_queries_total{s}{R}))', "{{result}}")], "ops")
panel("Database queue", "Jobs waiting for a database thread, and threads busy.",
      [(f'sum(sidecache_db_queue_depth{s})', "queued"), (f'sum(sidecache_db_busy_threads{s})', "busy threads")])
endrow()
row("Write-behind")
panel("Queue depth", "Entries in each node's write-behind stream.",
      [(f'max by (node) (sidecache_write_behind_queue_depth{s})', "{{node}}")], w=6)
panel("Lag", "Age of the oldest queued entry per node.",
      [(f'max by (node) (sidecache_write_behind_oldest_age_seconds{s})', "{{node}}")], "s", w=6)
panel("Flushed and retried", "Entries written to the database per second, and retries.",
      [(f'sum(rate(sidecache_write_behind_flushed_total{s}{R}))', "flushed"),
       (f'sum(rate(sidecache_write_behind_retries_total{s}{R}))', "retries")], "ops", w=6)
panel("Dead letters", "Entries the database rejected, moved to the dead-letter stream (over the range).",
      [(f'sum(increase(sidecache_write_behind_dead_letters_total{s}{R}))', "dead letters")], w=6)
endrow()
row("Configuration and process")
panel("Config reloads", "Reloads per result: ok, or failed (the old configuration stays).",
      [(f'sum by (result) (increase(sidecache_config_reloads_total{s}{R}))', "{{result}}")], w=6)
panel("Config digest", "Pods per configuration hash: one row when a rollout has converged.",
      [(f'count by (hash) (sidecache_config_info{s})', "{{hash}}")], kind="table", w=6)
panel("CPU", "CPU seconds per second per pod.",
      [(f'sum by (pod) (rate(process_cpu_seconds_total{s}{R}))', "{{pod}}")], w=6)
panel("Memory (RSS)", "Resident memory per pod.",
      [(f'sum by (pod) (process_resident_memory_bytes{s})', "{{pod}}")], "bytes", w=6)
ds = {"type": "prometheus", "uid": "${datasource}"}
def qvar(name, label, q):
    return {"name": name, "type": "query", "label": label, "datasource": ds,
            "query": {"query": q, "refId": name}, "includeAll": True, "multi": True,
            "allValue": ".*", "refresh": 2, "options": [], "hide": 0, "sort": 1}
dash = {
  "title": "sidecache", "uid": "sidecache",
  "description": "sidecache caching proxy: traffic, latency, Redis nodes, read-through cache, database, write-behind, configuration and process.",
  "tags": ["sidecache", "redis"], "timezone": "browser", "editable": True, "graphTooltip": 1,
  "schemaVersion": 39, "version": 1, "refresh": "30s",
  "time": {"from": "now-1h", "to": "now"}, "timepicker": {},
  "annotations": {"list": []}, "links": [],
  "templating": {"list": [
    {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source",
     "hide": 0, "refresh": 1, "options": []},
    qvar("namespace", "Namespace", "label_values(sidecache_build_info, namespace)"),
    qvar("pod", "Pod", 'label_values(sidecache_build_info{namespace=~"$namespace"}, pod)'),
  ]},
  "panels": panels,
}
HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = json.dumps(dash, indent=2) + "\n"
if __name__ == "__main__":
    for path in (os.path.join(HERE, "sidecache.json"),
                 os.path.join(HERE, "..", "helm", "sidecache", "files", "sidecache.json")):
        with open(path, "w") as f:
            f.write(TEXT)
