// The hot keys outside RESP: /debug/hotkeys (JSON) and the sidecache_hotkey* metrics, both from
// the workers' merged sketches (hotkeys/board.hpp). Asio-free.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

#include "hotkeys/board.hpp"
#include "sidecache/process_stats.hpp"

namespace sidecache::metrics {

// The body of /debug/hotkeys for the query string `query` (without '?'): `count=n` (1 to
// 10000, default 10). Empty `error` and a JSON object, or `error` set to why the query is bad:
//   {"enabled": true, "keys": [{"key": "...", "key_length": 3, "hash": "16 hex digits",
//    "rate": 12.5, "count": 25, "error": 0}, ...]}
// hottest first. A key is written one JSON character per byte: printable ASCII as itself (with
// '"' and '\' escaped), every other byte as \u00XX, so the bytes come back exactly by taking
// each character's code point (Python: s.encode("latin-1")).
std::string hotkeys_json(const ProcessStats& process, std::string_view query, std::string& error);

// `key` as a JSON string literal, one character per byte (see above).
void append_key_json(std::string& out, std::string_view key);

// A label value for `key` when hotkeys.expose_names is set: printable ASCII as itself, every
// other byte as the four characters \xHH, so a label is always valid UTF-8.
std::string key_label(std::string_view key);

// sidecache_hotkeys_sketch_entries, and with hotkeys.metrics_top_n > 0 the per-key gauges
// sidecache_hotkey_requests_per_second{key} and sidecache_hotkey_requests_error{key} (key: the
// hash in hex, or the name with hotkeys.expose_names), appended to `out`.
void collect_hotkey_metrics(const ProcessStats& process,
                            std::vector<prometheus::MetricFamily>& out);

}  // namespace sidecache::metrics
