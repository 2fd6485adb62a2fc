#include "metrics/hotkeys_view.hpp"

#include <charconv>
#include <cstdio>

#include "config/config.hpp"
#include "hotkeys/key_hash.hpp"
#include "metrics/families.hpp"

namespace sidecache::metrics {
namespace {

constexpr std::size_t kDefaultCount = 10;
constexpr std::size_t kMaxCount = 10000;

bool printable(unsigned char c) { return c >= 0x20 && c < 0x7f; }

// The `count` parameter of a query string; false with `error` set when it is malformed.
bool parse_query(std::string_view query, std::size_t& count, std::string& error) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty()) continue;
    const auto eq = param.find('=');
    const auto name = param.substr(0, eq);
    if (name != "count" || eq == std::string_view::npos) {
      error = "unknown query parameter '" + std::string(name.substr(0, 64)) +
              "'; /debug/hotkeys takes count=n";
      return false;
    }
    const auto text = param.substr(eq + 1);
    std::size_t value = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || text.empty() || value < 1 ||
        value > kMaxCount) {
      error = "count must be an integer from 1 to " + std::to_string(kMaxCount);
      return false;
    }
    count = value;
  }
  return true;
}

void append_number(std::string& out, double value) {
  char text[64];
  const int n = std::snprintf(text, sizeof text, "%.2f", value);
  if (n > 0) out.append(text, static_cast<std::size_t>(n));
}

bool enabled(const ProcessStats& process) {
  const auto config = process.current_config();
  return process.hotkeys && (!config || config->hotkeys.enabled);
}

}  // namespace

void append_key_json(std::string& out, std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (printable(c)) {
      out += ch;
    } else {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  out += '"';
}

std::string key_label(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(key.size());
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (printable(c)) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string hotkeys_json(const ProcessStats& process, std::string_view query, std::string& error) {
  std::size_t count = kDefaultCount;
  if (!parse_query(query, count, error)) return {};
  if (!enabled(process)) return "{\"enabled\": false, \"keys\": []}";
  const auto keys = process.hotkeys->top(count);
  std::string out = "{\"enabled\": true, \"keys\": [";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& k = keys[i];
    out += i == 0 ? "\n  {\"key\": " : ",\n  {\"key\": ";
    append_key_json(out, k.key);
    out += ", \"key_length\": " + std::to_string(k.key_len);
    out += ", \"hash\": \"" + hotkeys::hash_hex(k.hash) + "\", \"rate\": ";
    append_number(out, k.rate);
    out += ", \"count\": " + std::to_string(k.count);
    out += ", \"error\": " + std::to_string(k.error) + "}";
  }
  out += keys.empty() ? "]}" : "\n]}";
  return out;
}

void collect_hotkey_metrics(const ProcessStats& process,
                            std::vector<prometheus::MetricFamily>& out) {
  if (!process.hotkeys) return;
  const auto config = process.current_config();
  auto& entries = add_family(out, "sidecache_hotkeys_sketch_entries",
                             "Keys tracked by the hot-key sketches, all workers together",
                             prometheus::MetricType::Gauge);
  add_value(entries, static_cast<double>(process.hotkeys->entries()));
  if (!config || !config->hotkeys.enabled || config->hotkeys.metrics_top_n == 0) return;
  const auto keys = process.hotkeys->top(config->hotkeys.metrics_top_n);
  const bool names = config->hotkeys.expose_names;
  auto& rate = add_family(out, "sidecache_hotkey_requests_per_second",
                          "Estimated requests per second of each of the hottest keys "
                          "(hotkeys.metrics_top_n); key: a hash unless hotkeys.expose_names",
                          prometheus::MetricType::Gauge);
  for (const auto& k : keys) {
    add_value(rate, k.rate, {{"key", names ? key_label(k.key) : hotkeys::hash_hex(k.hash)}});
  }
  auto& error = add_family(out, "sidecache_hotkey_requests_error",
                           "How far the count behind each hot key's rate may exceed the true "
                           "number of requests (Space-Saving error bound)",
                           prometheus::MetricType::Gauge);
  for (const auto& k : keys) {
    add_value(error, static_cast<double>(k.error),
              {{"key", names ? key_label(k.key) : hotkeys::hash_hex(k.hash)}});
  }
}

}  // namespace sidecache::metrics
