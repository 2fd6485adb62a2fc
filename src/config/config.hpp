// sidecache's configuration: plain structs, loaded from YAML and validated in one pass.
// Errors are thrown as ConfigError with "file:line:column: message" (control plane only).
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "route/router.hpp"

namespace sidecache::config {

using Millis = std::chrono::milliseconds;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Endpoint {
  std::string host;  // IPv4/IPv6 literal or hostname
  std::uint16_t port = 0;
};

struct NodeConfig {
  std::string name;  // hashed on the ring; default "host:port" ("host" for 11211) like twemproxy
  Endpoint address;
  std::uint32_t weight = 1;
};

struct PoolConfig {
  route::HashKind hash = route::HashKind::kFnv1a64;
  route::HashTag hash_tag;  // "{}" by default; `hash_tag: ""` turns it off
  std::vector<NodeConfig> nodes;
  std::uint32_t connections_per_node = 1;  // per worker
  Millis connect_timeout{1000};
  Millis request_timeout{2000};  // 0 disables
  Millis reconnect_backoff_min{8};
  Millis reconnect_backoff_max{512};
  std::uint32_t max_inflight_per_connection = 65536;  // requests waiting for a reply
};

struct LimitsConfig {
  std::uint32_t max_clients = 10000;
  std::uint64_t max_args = 1024 * 1024;
  std::uint64_t max_bulk_bytes = 512ull * 1024 * 1024;
  std::uint64_t max_inline_bytes = 64 * 1024;
  std::uint64_t max_pending_bytes = 1024ull * 1024 * 1024;  // one client's unparsed input
  // Requests of one client awaiting replies before reading pauses.
  std::uint32_t max_pipeline = 4096;
  // One client's unsent replies before reading pauses.
  std::uint64_t max_output_bytes = 256ull * 1024 * 1024;
};

enum class LogFormat { kText, kJson };

struct LoggingConfig {
  std::string level = "info";  // trace, debug, info, warn, error, critical, off
  LogFormat format = LogFormat::kText;
  Millis slow_request_threshold{0};  // 0: no slow-request log
};

struct Config {
  std::string source;  // file the config came from (for messages)
  Endpoint listen{"127.0.0.1", 6380};
  std::uint32_t workers = 0;  // 0: number of cores
  PoolConfig pool;
  LimitsConfig limits;
  LoggingConfig logging;
};

// Reads, parses and validates. Throws ConfigError ("file:line:col: message").
Config load_file(const std::string& path);
// Same for YAML text; `source` names it in messages.
Config load_string(std::string_view yaml, const std::string& source);

// "host:port" / "[v6]:port" -> Endpoint; throws std::invalid_argument with a reason.
Endpoint parse_endpoint(std::string_view text);
// Endpoint -> "host:port", or "[v6]:port" when the host holds a ':'.
std::string format_endpoint(const Endpoint& endpoint);

// "500ms", "2s", "1m" (case-insensitive) or a bare integer of milliseconds; overflow-checked.
// Throws std::invalid_argument with a reason.
Millis parse_duration(std::string_view text);
// "100b", "64kb", "512mb", "1gb" (1024-based, case-insensitive) or a bare integer of bytes;
// overflow-checked. Throws std::invalid_argument with a reason.
std::uint64_t parse_size(std::string_view text);

}  // namespace sidecache::config
