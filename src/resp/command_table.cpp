// Look-up of the generated command table and the Redis 7 key-spec walk (key_indexes).
#include "resp/command_table.hpp"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "resp/errors.hpp"

namespace sidecache::resp {
namespace {

constexpr char fold(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

// `lower` is already lower case (table names are); `s` is whatever the client sent.
bool equals_folded(std::string_view lower, std::string_view s) {
  if (lower.size() != s.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (lower[i] != fold(s[i])) return false;
  }
  return true;
}

// Both sides folded: key-spec keywords are upper case ("STREAMS").
bool equals_nocase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

// FNV-1a over the ASCII-lower-cased bytes.
std::uint32_t hash_folded(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (char c : s) {
    h ^= static_cast<unsigned char>(fold(c));
    h *= 16777619u;
  }
  return h;
}

// Strict integer parse with Redis's string2ll rules: optional '-', no '+', no leading zeros,
// no spaces, within int64.
bool parse_int64(std::string_view s, std::int64_t& value) {
  if (s.empty() || s.size() > 20) return false;
  if (s == "0") {
    value = 0;
    return true;
  }
  std::size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) i = 1;
  if (i >= s.size() || s[i] < '1' || s[i] > '9') return false;
  std::uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(s[i] - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
    v = v * 10 + digit;
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (v > kMax + 1) return false;
    value =
        v == kMax + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(v);
  } else {
    if (v > kMax) return false;
    value = static_cast<std::int64_t>(v);
  }
  return true;
}

// Validates a numkeys argument the way the command itself does. `available` is the number of
// arguments from the first key to the end. Returns false with `error` set.
bool check_numkeys(const CommandInfo& info, std::string_view arg, std::int64_t available,
                   std::int64_t& numkeys, std::string& error) {
  const bool is_int = parse_int64(arg, numkeys);
  switch (info.quirk) {
    case KeyQuirk::kZsetNumkeys:
      if (!is_int) {
        error = errors::kNotInteger;
      } else if (numkeys < 1) {
        error = errors::no_input_key(info.name);
      } else if (numkeys > available) {
        error = errors::kSyntax;
      }
      break;
    case KeyQuirk::kCardNumkeys:
      if (!is_int || numkeys < 1) {
        error = errors::kNumkeysNotPositive;
      } else if (numkeys > available) {
        error = errors::kTooManyNumkeys;
      }
      break;
    case KeyQuirk::kMpopNumkeys:  // the keys must be followed by LEFT|RIGHT or MIN|MAX
      if (!is_int || numkeys < 1) {
        error = errors::kNumkeysNotPositive;
      } else if (numkeys >= available) {
        error = errors::kSyntax;
      }
      break;
    default:  // kScriptNumkeys, kFunctionNumkeys, and any future keynum command
      if (!is_int) {
        error = info.quirk == KeyQuirk::kFunctionNumkeys ? errors::kBadFunctionNumkeys
                                                         : errors::kNotInteger;
      } else if (numkeys < 0) {
        error = errors::kNegativeNumkeys;
      } else if (numkeys > available) {
        error = errors::kTooManyNumkeys;
      }
      break;
  }
  return error.empty();
}

// Index of the first key of `spec`, or -1 when the spec finds nothing in this request.
int begin_search(const KeySpec& spec, std::span<const std::string_view> args) {
  const int argc = static_cast<int>(args.size());
  if (spec.begin == KeySpec::Begin::kIndex) return spec.begin_index;
  if (spec.begin != KeySpec::Begin::kKeyword) return -1;
  // Forwards from startfrom, or backwards from argc + startfrom; never the command name.
  const bool forward = spec.keyword_startfrom >= 0;
  const int step = forward ? 1 : -1;
  for (int i = forward ? spec.keyword_startfrom : argc + spec.keyword_startfrom; i >= 1 && i < argc;
       i += step) {
    if (equals_nocase(spec.keyword, args[i])) return i + 1;
  }
  return -1;
}

// Appends the keys of one spec. Returns false on a malformed numkeys.
bool walk_spec(const CommandInfo& info, const KeySpec& spec, std::span<const std::string_view> args,
               std::vector<std::uint32_t>& out, std::string& error) {
  const std::int64_t argc = static_cast<std::int64_t>(args.size());
  const int begin = begin_search(spec, args);
  if (begin < 0) return true;
  std::int64_t first = begin;
  std::int64_t last = 0;
  std::int64_t step = 1;
  if (spec.find == KeySpec::Find::kRange) {
    if (spec.range_lastkey >= 0) {
      last = first + spec.range_lastkey;
    } else if (spec.range_limit <= 1) {
      last = argc + spec.range_lastkey;
    } else {  // e.g. XREAD STREAMS k1 k2 id1 id2: the first 1/limit of what follows
      last = first + (argc - first) / spec.range_limit + spec.range_lastkey;
    }
    step = spec.range_keystep;
  } else if (spec.find == KeySpec::Find::kKeynum) {
    const std::int64_t numkeys_at = first + spec.keynum_index;
    if (numkeys_at >= argc) return true;  // too short: the arity check reports it
    first += spec.keynum_firstkey;
    std::int64_t numkeys = 0;
    if (!check_numkeys(info, args[numkeys_at], argc - first, numkeys, error)) return false;
    last = first + numkeys - 1;
    step = spec.keynum_keystep;
  } else {
    return true;  // "unknown": keys only a command-specific rule can find (SORT, see below)
  }
  if (step < 1) step = 1;
  for (std::int64_t i = first; i <= last && i < argc; i += step) {
    out.push_back(static_cast<std::uint32_t>(i));
  }
  return true;
}

// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA] [STORE dst]:
// the last STORE names a key no key spec describes.
void sort_store_key(std::span<const std::string_view> args, std::vector<std::uint32_t>& out) {
  std::size_t store = 0;
  for (std::size_t i = 2; i < args.size(); ++i) {
    if (equals_folded("limit", args[i])) {
      i += 2;
    } else if (equals_folded("by", args[i]) || equals_folded("get", args[i])) {
      i += 1;
    } else if (equals_folded("store", args[i]) && i + 1 < args.size()) {
      store = ++i;
    }
  }
  if (store != 0) out.push_back(static_cast<std::uint32_t>(store));
}

// MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k...]:
// with KEYS, the keys are everything after it and the key argument must be empty. A forward scan
// that skips AUTH values (Redis's own rule) instead of the incomplete backwards KEYS key spec.
void migrate_keys(std::span<const std::string_view> args, std::vector<std::uint32_t>& out) {
  if (args.size() < 4) return;
  for (std::size_t i = 6; i < args.size(); ++i) {
    if (equals_folded("keys", args[i])) {
      if (!args[3].empty()) return;  // Redis refuses this form; it has no keys
      for (std::size_t k = i + 1; k < args.size(); ++k)
        out.push_back(static_cast<std::uint32_t>(k));
      return;
    }
    if (equals_folded("auth", args[i])) {
      i += 1;
    } else if (equals_folded("auth2", args[i])) {
      i += 2;
    }
  }
  out.push_back(3);
}

// XREAD [COUNT n] [BLOCK ms] STREAMS k... id...; XREADGROUP GROUP g c [COUNT n] [BLOCK ms]
// [NOACK] STREAMS k... id...
bool check_streams(const CommandInfo& info, std::span<const std::string_view> args,
                   std::string& error) {
  const std::size_t options_from = info.name == "xreadgroup" ? 4 : 1;
  std::size_t streams = 0;
  for (std::size_t i = options_from; i < args.size(); ++i) {
    if (equals_folded("streams", args[i])) {
      streams = i;
      break;
    }
    if (equals_folded("count", args[i]) || equals_folded("block", args[i])) ++i;
  }
  if (streams != 0 && (args.size() - streams - 1) % 2 != 0) {
    error = errors::kUnbalancedStreams;
    return false;
  }
  return true;
}

}  // namespace

CommandTable::CommandTable() {
  const auto commands = all();
  assert(commands.size() * 2 <= kSlots);
  for (std::size_t i = 0; i < commands.size(); ++i) {
    const std::string_view name = commands[i].name;
    max_name_ = std::max(max_name_, name.size());
    std::size_t slot = hash_folded(name) & (kSlots - 1);
    while (slots_[slot] != 0) slot = (slot + 1) & (kSlots - 1);
    slots_[slot] = static_cast<std::uint16_t>(i + 1);
  }
}

const CommandTable& CommandTable::instance() {
  static const CommandTable table;
  return table;
}

std::span<const CommandInfo> CommandTable::all() const { return detail::generated_commands(); }

const CommandInfo* CommandTable::find(std::string_view name) const {
  if (name.empty() || name.size() > max_name_) return nullptr;
  const auto commands = all();
  for (std::size_t slot = hash_folded(name) & (kSlots - 1); slots_[slot] != 0;
       slot = (slot + 1) & (kSlots - 1)) {
    const CommandInfo& info = commands[slots_[slot] - 1];
    if (equals_folded(info.name, name)) return &info;
  }
  return nullptr;
}

const CommandInfo* CommandTable::find_subcommand(const CommandInfo& container,
                                                 std::string_view sub) {
  const std::size_t prefix = container.name.size() + 1;  // "config|"
  for (const CommandInfo& info : container.subcommands) {
    if (equals_folded(info.name.substr(prefix), sub)) return &info;
  }
  return nullptr;
}

std::uint32_t acl_category(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "keyspace", "read",   "write",       "set",       "sortedset",  "list",        "hash",
      "string",   "bitmap", "hyperloglog", "geo",       "stream",     "pubsub",      "admin",
      "fast",     "slow",   "blocking",    "dangerous", "connection", "transaction", "scripting"};
  for (std::size_t i = 0; i < std::size(kNames); ++i) {
    const std::string_view known = kNames[i];
    if (known.size() != name.size()) continue;
    bool same = true;
    for (std::size_t j = 0; j < name.size() && same; ++j) same = (name[j] | 0x20) == known[j];
    if (same) return 1u << i;
  }
  return 0;
}

std::string_view routing_name(Routing routing) {
  switch (routing) {
    case Routing::kLocal:
      return "local";
    case Routing::kSingleNode:
      return "single-node";
    case Routing::kSplit:
      return "split";
    case Routing::kBroadcast:
      return "broadcast";
    case Routing::kSession:
      return "session";
    case Routing::kKeyspace:
      return "keyspace";
    case Routing::kRejected:
      return "rejected";
    case Routing::kUnsupported:
      return "unsupported";
  }
  return "unknown";
}

const CommandInfo* find_command(std::string_view name) {
  const auto& table = CommandTable::instance();
  const auto bar = name.find('|');
  if (bar == std::string_view::npos) return table.find(name);
  const CommandInfo* container = table.find(name.substr(0, bar));
  if (container == nullptr) return nullptr;
  return CommandTable::find_subcommand(*container, name.substr(bar + 1));
}

bool key_indexes(const CommandInfo& info, std::span<const std::string_view> args,
                 std::vector<std::uint32_t>& out, std::string& error) {
  out.clear();
  error.clear();
  if (info.quirk == KeyQuirk::kMigrate) {
    migrate_keys(args, out);
    return true;
  }
  if (info.quirk == KeyQuirk::kStreams && !check_streams(info, args, error)) return false;
  for (const KeySpec& spec : info.key_specs) {
    if ((spec.flags & kKeyNotKey) != 0) continue;
    if (!walk_spec(info, spec, args, out, error)) {
      out.clear();
      return false;
    }
  }
  if (info.quirk == KeyQuirk::kSort) sort_store_key(args, out);
  return true;
}

}  // namespace sidecache::resp
