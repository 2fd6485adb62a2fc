#include "dispatch/sidecache_command.hpp"

#include <charconv>
#include <cstdio>

#include "dispatch/errors.hpp"
#include "hotkeys/board.hpp"
#include "hotkeys/key_hash.hpp"
#include "resp/writer.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::dispatch {
namespace {

constexpr long long kDefaultCount = 10;
constexpr long long kMaxCount = 10000;

// A double: RESP3's `,` type, or in RESP2 the bulk string Redis uses for doubles.
void append_rate(std::string& out, double rate, int protocol) {
  char text[64];
  const int n = std::snprintf(text, sizeof text, "%.2f", rate);
  const std::string_view value(text, n > 0 ? static_cast<std::size_t>(n) : 0);
  if (protocol != 3) return resp::append_bulk(out, value);
  out += ',';
  out += value;
  out += "\r\n";
}

void append_hot_key(std::string& out, const hotkeys::HotKey& key, int protocol) {
  if (protocol == 3) {
    resp::append_map_header(out, 6);
  } else {
    resp::append_array_header(out, 12);
  }
  resp::append_bulk(out, "key");
  resp::append_bulk(out, key.key);
  resp::append_bulk(out, "key_length");
  resp::append_integer(out, key.key_len);
  resp::append_bulk(out, "hash");
  resp::append_bulk(out, hotkeys::hash_hex(key.hash));
  resp::append_bulk(out, "rate");
  append_rate(out, key.rate, protocol);
  resp::append_bulk(out, "count");
  resp::append_integer(out, static_cast<std::int64_t>(key.count));
  resp::append_bulk(out, "error");
  resp::append_integer(out, static_cast<std::int64_t>(key.error));
}

}  // namespace

void sidecache_hotkeys(const LocalRequest& r, std::string& out) {
  long long count = kDefaultCount;
  for (std::size_t i = 2; i < r.args.size(); ++i) {
    if (!iequals(r.args[i], "COUNT") || i + 1 >= r.args.size()) {
      return resp::append_error(out, errors::kSyntax);
    }
    const std::string_view text = r.args[++i];
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, count);
    if (ec != std::errc() || ptr != end || text.empty()) {
      return resp::append_error(out, errors::kNotInteger);
    }
    if (count < 1 || count > kMaxCount) return resp::append_error(out, errors::kHotKeysCount);
  }
  const auto config = r.process.current_config();
  if (!r.process.hotkeys || (config && !config->hotkeys.enabled)) {
    return resp::append_error(out, errors::kHotKeysOff);
  }
  const auto keys = r.process.hotkeys->top(static_cast<std::size_t>(count));
  resp::append_array_header(out, keys.size());
  for (const auto& key : keys) append_hot_key(out, key, r.client.protocol);
}

void sidecache_help(const LocalRequest&, std::string& out) {
  static constexpr std::string_view kLines[] = {
      "SIDECACHE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "HOTKEYS [COUNT <count>]",
      "    The hottest keys of every worker, merged: key, key_length, hash, rate (requests",
      "    per second), count and error (count may exceed the true number by this much).",
      "    COUNT: how many (1 to 10000, default 10).",
      "HELP",
      "    Print this help.",
  };
  resp::append_array_header(out, std::size(kLines));
  for (const auto line : kLines) resp::append_simple(out, line);
}

}  // namespace sidecache::dispatch
