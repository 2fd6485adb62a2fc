// libFuzzer target for config::load_string (YAML -> structs -> validation), without DNS lookups.
// Input: the YAML text. Invariants checked beyond "no crash":
//  - the only exception is ConfigError, and its text is "fuzz.yaml:LINE:COL: message" with a
//    line within the input (or 1) and a non-empty message;
//  - loading is deterministic: the same text gives the same digest, warnings and error;
//  - a loaded config has at least one node; every warning and origin names fuzz.yaml:LINE:COL.
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>

#include "config/config.hpp"
#include "fuzz_check.hpp"

namespace {

using sidecache::config::Config;
using sidecache::config::ConfigError;

constexpr std::string_view kSource = "fuzz.yaml";

// "fuzz.yaml:LINE:COL: ..." with LINE <= max_line; returns false when the text is not shaped so.
bool located(std::string_view text, std::size_t max_line, bool message_required) {
  if (text.substr(0, kSource.size() + 1) != "fuzz.yaml:") return false;
  text.remove_prefix(kSource.size() + 1);
  std::size_t numbers[2] = {0, 0};
  for (std::size_t& n : numbers) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9' && digits < 9) {
      n = n * 10 + static_cast<std::size_t>(text[digits] - '0');
      ++digits;
    }
    if (digits == 0 || n == 0) return false;
    text.remove_prefix(digits);
    if (&n == &numbers[0]) {
      if (text.empty() || text[0] != ':') return false;
      text.remove_prefix(1);
    }
  }
  if (numbers[0] > max_line) return false;
  if (!message_required) return true;
  return text.size() > 2 && text.substr(0, 2) == ": ";
}

struct Outcome {
  bool loaded = false;
  std::string error;
  std::string digest;
  std::vector<std::string> warnings;
  std::size_t nodes = 0;
  bool operator==(const Outcome&) const = default;
};

Outcome load(const std::string& yaml) {
  Outcome outcome;
  try {
    const Config config = sidecache::config::load_string(yaml, std::string(kSource));
    outcome.loaded = true;
    outcome.digest = config.digest;
    outcome.warnings = config.warnings;
    outcome.nodes = config.pool.nodes.size();
    for (const auto& [key, origin] : config.origins) {
      FUZZ_CHECK(!key.empty());
      FUZZ_CHECK(located(origin, SIZE_MAX, false));
    }
  } catch (const ConfigError& e) {
    outcome.error = e.what();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "unexpected exception: %s\n", e.what());
    std::abort();
  }
  return outcome;
}

}  // namespace

SIDECACHE_FUZZ_ENTRY(fuzz_config) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  std::size_t lines = 1;
  for (const char c : yaml) lines += c == '\n' || c == '\r' ? 1 : 0;
  const Outcome first = load(yaml);
  if (first.loaded) {
    FUZZ_CHECK(first.nodes > 0);
    FUZZ_CHECK(first.digest.size() == 16);
    for (const auto& warning : first.warnings) FUZZ_CHECK(located(warning, lines, true));
  } else {
    if (!located(first.error, lines, true)) {
      std::fprintf(stderr, "error not located: %s\n", first.error.c_str());
      std::abort();
    }
  }
  FUZZ_CHECK(load(yaml) == first);
  return 0;
}
