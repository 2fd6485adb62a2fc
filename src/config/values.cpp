// Scalar syntaxes of the config file: durations, sizes, endpoints and twemproxy's server
// strings. Pure string functions; they throw std::invalid_argument with a reason, which the
// YAML reader prefixes with the position and key path.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/reader.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::config {
namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

// Splits "123unit" into the leading digits and the rest; fails when there are no digits.
std::pair<std::uint64_t, std::string> split_number(std::string_view text, std::string_view what,
                                                   std::string_view expected) {
  const auto digits =
      std::find_if(text.begin(), text.end(), [](unsigned char c) { return !std::isdigit(c); }) -
      text.begin();
  if (digits == 0) {
    throw std::invalid_argument("invalid " + std::string(what) + " " + quoted(text) +
                                ": expected " + std::string(expected));
  }
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec == std::errc::result_out_of_range) {
    throw std::invalid_argument(std::string(what) + " " + quoted(text) + " is too large");
  }
  (void)ptr;
  return {value, lower(text.substr(static_cast<std::size_t>(digits)))};
}

std::uint64_t scaled(std::uint64_t value, std::uint64_t unit, std::uint64_t max,
                     std::string_view what, std::string_view text) {
  if (value > max / unit) {
    throw std::invalid_argument(std::string(what) + " " + quoted(text) + " is too large");
  }
  return value * unit;
}

bool is_ipv4_like(std::string_view host) {
  return std::all_of(host.begin(), host.end(),
                     [](unsigned char c) { return std::isdigit(c) || c == '.'; });
}

// Accepts an IPv4 literal, an IPv6 literal (from inside brackets) or a hostname.
void check_host(std::string_view host, bool bracketed) {
  if (host.empty()) throw std::invalid_argument("missing host");
  const std::string text(host);
  if (bracketed) {
    const std::string addr = text.substr(0, text.find('%'));  // a zone ("%eth0") is kept
    in6_addr out{};
    if (inet_pton(AF_INET6, addr.c_str(), &out) != 1) {
      throw std::invalid_argument("invalid IPv6 address " + quoted(host));
    }
    return;
  }
  if (host.find(':') != std::string_view::npos) {
    throw std::invalid_argument("IPv6 addresses need brackets, e.g. [::1]:6379");
  }
  if (is_ipv4_like(host)) {
    in_addr out{};
    if (inet_pton(AF_INET, text.c_str(), &out) != 1) {
      throw std::invalid_argument("invalid IPv4 address " + quoted(host));
    }
    return;
  }
  const bool hostname = std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
  if (!hostname) throw std::invalid_argument("invalid host name " + quoted(host));
}

std::uint16_t parse_port(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("missing port");
  std::uint64_t port = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec == std::errc::invalid_argument || ptr != text.data() + text.size()) {
    throw std::invalid_argument("invalid port " + quoted(text));
  }
  if (ec == std::errc::result_out_of_range || port < 1 || port > 65535) {
    throw std::invalid_argument("port " + std::string(text) + " is out of range (1..65535)");
  }
  return static_cast<std::uint16_t>(port);
}

}  // namespace

Millis parse_duration(std::string_view text) {
  constexpr std::string_view kExpected =
      "an integer with unit ms, s, m, h or d (e.g. 500ms, 2s, 1m, 24h), or an integer of "
      "milliseconds";
  const auto [value, unit] = split_number(text, "duration", kExpected);
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 3600 * 1000;
  } else if (unit == "d") {
    scale = 24 * 3600 * 1000;
  } else {
    throw std::invalid_argument("invalid duration " + quoted(text) + ": expected " +
                                std::string(kExpected));
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<Millis::rep>::max());
  return Millis(static_cast<Millis::rep>(scaled(value, scale, kMax, "duration", text)));
}

std::uint64_t parse_size(std::string_view text) {
  constexpr std::string_view kExpected =
      "an integer of bytes, or with unit b, kb, mb or gb (1024-based, e.g. 64kb, 512mb)";
  const auto [value, unit] = split_number(text, "size", kExpected);
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "kb") {
    scale = 1ull << 10;
  } else if (unit == "mb") {
    scale = 1ull << 20;
  } else if (unit == "gb") {
    scale = 1ull << 30;
  } else {
    throw std::invalid_argument("invalid size " + quoted(text) + ": expected " +
                                std::string(kExpected));
  }
  return scaled(value, scale, std::numeric_limits<std::uint64_t>::max(), "size", text);
}

Endpoint parse_endpoint(std::string_view text) {
  if (text.empty()) throw std::invalid_argument("empty address: expected host:port or [v6]:port");
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) {
      throw std::invalid_argument("missing ']' in " + quoted(text));
    }
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      throw std::invalid_argument("expected ':port' after ']' in " + quoted(text));
    }
    const auto host = text.substr(1, close - 1);
    check_host(host, true);
    return Endpoint{std::string(host), parse_port(text.substr(close + 2))};
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    throw std::invalid_argument("missing port in " + quoted(text) +
                                ": expected host:port or [v6]:port");
  }
  const auto host = text.substr(0, colon);
  check_host(host, false);
  return Endpoint{std::string(host), parse_port(text.substr(colon + 1))};
}

namespace detail {

NodeConfig parse_server_string(std::string_view text) {
  const std::string form = "expected \"host:port:weight [name]\" (twemproxy's form) or a map";
  if (!text.empty() && text.front() == '/') {
    throw std::invalid_argument("unix socket servers are not supported");
  }
  NodeConfig node;
  auto address = text;
  if (const auto space = text.find_first_of(" \t"); space != std::string_view::npos) {
    address = text.substr(0, space);
    auto name = text.substr(space);
    name.remove_prefix(std::min(name.find_first_not_of(" \t"), name.size()));
    name.remove_suffix(name.size() - (name.find_last_not_of(" \t") + 1));
    if (name.empty() || name.find_first_of(" \t") != std::string_view::npos) {
      throw std::invalid_argument("invalid server " + quoted(text) + ": " + form);
    }
    node.name = std::string(name);
  }
  // Split from the end as twemproxy does, so an unbracketed IPv6 host is accepted here too.
  const auto weight_colon = address.rfind(':');
  const auto port_colon = weight_colon == std::string_view::npos || weight_colon == 0
                              ? std::string_view::npos
                              : address.rfind(':', weight_colon - 1);
  if (port_colon == std::string_view::npos) {
    throw std::invalid_argument("invalid server " + quoted(text) + ": " + form);
  }
  auto host = address.substr(0, port_colon);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  check_host(host, bracketed || host.find(':') != std::string_view::npos);
  node.address = Endpoint{
      std::string(host), parse_port(address.substr(port_colon + 1, weight_colon - port_colon - 1))};

  const auto weight_text = address.substr(weight_colon + 1);
  std::uint64_t weight = 0;
  const auto [ptr, ec] =
      std::from_chars(weight_text.data(), weight_text.data() + weight_text.size(), weight);
  if (weight_text.empty() || ec == std::errc::invalid_argument ||
      ptr != weight_text.data() + weight_text.size()) {
    throw std::invalid_argument("invalid weight " + quoted(weight_text) + " in " + quoted(text));
  }
  if (ec == std::errc::result_out_of_range || weight < kMinWeight || weight > kMaxWeight) {
    throw std::invalid_argument("weight " + std::string(weight_text) + " is out of range (" +
                                std::to_string(kMinWeight) + ".." + std::to_string(kMaxWeight) +
                                ")");
  }
  node.weight = static_cast<std::uint32_t>(weight);
  return node;
}

std::string_view closest_match(std::string_view word,
                               std::span<const std::string_view> candidates) {
  // Optimal string alignment distance: edits plus adjacent transpositions ("hahs" -> "hash").
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
      for (std::size_t j = 1; j <= b.size(); ++j) {
        const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
          d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.size()][b.size()];
  };
  std::string_view best;
  std::size_t best_distance = std::min<std::size_t>(2, (word.size() + 1) / 3) + 1;
  for (const auto candidate : candidates) {
    const auto dist = distance(lower(word), candidate);
    if (dist < best_distance) {
      best = candidate;
      best_distance = dist;
    }
  }
  return best;
}

}  // namespace detail
}  // namespace sidecache::config
