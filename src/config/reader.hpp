// Internal to sidecache_config: typed access to YAML values with key paths and positions for
// messages, and the directive tables each section is read with. Not part of the contract.
#pragma once

#include <yaml-cpp/yaml.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace sidecache::config::detail {

inline constexpr std::uint32_t kMinWeight = 1;
inline constexpr std::uint32_t kMaxWeight = 10000;

// Throws ConfigError "source:line:col: message" (mark is 0-based; a null mark prints 1:1).
[[noreturn]] void fail_at(const std::string& source, const YAML::Mark& mark,
                          std::string_view message);

// Where each key path was read from, so semantic checks made after parsing can point at it.
class Locations {
 public:
  explicit Locations(std::string source) : source_(std::move(source)) {}
  const std::string& source() const { return source_; }
  void add(const std::string& path, const YAML::Mark& mark) { marks_.emplace(path, mark); }
  // The mark of `path`, else of its nearest recorded parent ("a.b[1].c" -> "a.b[1]" -> "a.b").
  YAML::Mark find(std::string_view path) const;
  bool has(std::string_view path) const { return marks_.find(path) != marks_.end(); }
  // Throws "source:line:col: path: message" at find(path).
  [[noreturn]] void fail(std::string_view path, std::string_view message) const;
  // "source:line:col" of find(path).
  std::string where(std::string_view path) const;
  // Records "source:line:col: message" for Config::warnings.
  void warn(const YAML::Mark& mark, std::string_view message);
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  std::string source_;
  std::vector<std::string> warnings_;
  std::map<std::string, YAML::Mark, std::less<>> marks_;
};

// One YAML value being read, with its key path ("pool.nodes[2].weight") for messages.
class Value {
 public:
  // `mark` defaults to the node's own; a missing value (null) is better reported at its key.
  Value(YAML::Node node, std::string path, Locations& locations,
        std::optional<YAML::Mark> mark = std::nullopt);

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  Locations& locations() const { return *locations_; }

  // Throws "source:line:col: path: message" at this value.
  [[noreturn]] void fail(std::string_view message) const;
  // A warning at this value: "source:line:col: path: message" in Config::warnings.
  void warn(std::string_view message) const;
  // "source:line:col" of this value.
  std::string where() const;
  const YAML::Mark& mark() const { return mark_; }
  Value child(const YAML::Node& node, std::string_view key,
              std::optional<YAML::Mark> mark = std::nullopt) const;  // path.key
  Value item(const YAML::Node& node, std::size_t index) const;       // path[index]

  bool is_scalar() const { return node_.IsScalar(); }
  std::string scalar() const;  // fails unless a scalar (which may be "")
  std::string non_empty() const;
  std::uint64_t integer(std::uint64_t min, std::uint64_t max) const;
  std::uint64_t size(std::uint64_t min, std::uint64_t max) const;
  Millis duration(Millis min, Millis max) const;
  bool boolean() const;  // true or false
  double real(double min, double max) const;
  // The scalar if it is one of `choices`, else fails listing them.
  std::string one_of(std::span<const std::string_view> choices) const;
  void expect_map() const;
  void expect_sequence() const;

 private:
  YAML::Node node_;
  std::string path_;
  Locations* locations_;
  YAML::Mark mark_;
};

// A key of a section: its name, how it is read into the section's struct, and one line of help.
template <class T>
struct Directive {
  std::string_view name;
  void (*parse)(T& target, const Value& value);
  std::string_view help;
};

// Readers for the common kinds of key, so a table entry is one line:
//   {"workers", read_integer<&Config::workers, 0, 256>, "worker threads; 0 = cores"},
// The range is checked against the field's type at compile time.
template <class M>
struct MemberOf;
template <class C, class F>
struct MemberOf<F C::*> {
  using Class = C;
  using Field = F;
};
template <auto Member>
using ClassOf = typename MemberOf<decltype(Member)>::Class;
template <auto Member>
using FieldOf = typename MemberOf<decltype(Member)>::Field;

template <auto Member, std::uint64_t Min, std::uint64_t Max>
void read_integer(ClassOf<Member>& target, const Value& value) {
  static_assert(Min <= Max && Max <= std::numeric_limits<FieldOf<Member>>::max());
  target.*Member = static_cast<FieldOf<Member>>(value.integer(Min, Max));
}

template <auto Member, std::uint64_t Min, std::uint64_t Max>
void read_size(ClassOf<Member>& target, const Value& value) {
  static_assert(Min <= Max && Max <= std::numeric_limits<FieldOf<Member>>::max());
  target.*Member = static_cast<FieldOf<Member>>(value.size(Min, Max));
}

template <auto Member, Millis::rep MinMs, Millis::rep MaxMs>
void read_duration(ClassOf<Member>& target, const Value& value) {
  static_assert(0 <= MinMs && MinMs <= MaxMs);
  target.*Member = value.duration(Millis(MinMs), Millis(MaxMs));
}

template <auto Member>
void read_endpoint(ClassOf<Member>& target, const Value& value) {
  try {
    target.*Member = parse_endpoint(value.scalar());
  } catch (const std::invalid_argument& e) {
    value.fail(e.what());
  }
}

template <auto Member>
void read_boolean(ClassOf<Member>& target, const Value& value) {
  target.*Member = value.boolean();
}

template <auto Member>
void read_string(ClassOf<Member>& target, const Value& value) {
  target.*Member = value.non_empty();
}

// The three keys of a secret: `password` (a literal, warned about), `password_file` and
// `password_env`. At most one of them may be set; table entries:
//   {"password_file", read_secret<&NodeConfig::password, SecretSource::Kind::kFile>, "..."},
void set_secret(SecretSource& secret, SecretSource::Kind kind, const Value& value);
template <auto Member, SecretSource::Kind Kind>
void read_secret(ClassOf<Member>& target, const Value& value) {
  set_secret(target.*Member, Kind, value);
}

// Checks that `map` is a map whose keys are among `names`, each at most once, then calls
// `handle(index into names, value)` for each entry in file order. Unknown and duplicate keys
// are errors.
void read_map(const Value& map, std::span<const std::string_view> names,
              const std::function<void(std::size_t, const Value&)>& handle);

template <class T, std::size_t N>
void read_section(const Value& map, const Directive<T> (&table)[N], T& target) {
  std::array<std::string_view, N> names;
  for (std::size_t i = 0; i < N; ++i) names[i] = table[i].name;
  read_map(map, names, [&](std::size_t i, const Value& value) { table[i].parse(target, value); });
}

// The closest of `candidates` to `word` when it is a plausible typo, else "".
std::string_view closest_match(std::string_view word, std::span<const std::string_view> candidates);

// twemproxy's server string "host:port:weight [name]" (weight required, as in nutcracker).
// Throws std::invalid_argument with a reason. The name is left empty when absent.
NodeConfig parse_server_string(std::string_view text);

// The `cache:` section (cache_config.cpp).
void read_cache(Config& config, const Value& value);

// `auth:`, `listen_tls:` and `commands.deny` (auth_config.cpp); build_auth() reads the
// passwords and compiles the users into Config::acl once the file is read.
void read_auth(Config& config, const Value& value);
void read_listen_tls(Config& config, const Value& value);
void read_deny(CommandsConfig& commands, const Value& value);
void build_auth(Config& config);

// The `near_cache:` section and its checks against the pool (near_cache_config.cpp).
void read_near_cache(Config& config, const Value& value);
void validate_near_cache(const Config& config, const Locations& locations);

// Semantic checks across keys (stage 3), reporting at the recorded locations.
void validate(const Config& config, const Locations& locations);

// Warns at each node address whose host name does not resolve now (getaddrinfo; blocks).
void warn_unresolved_nodes(const Config& config, Locations& locations);

}  // namespace sidecache::config::detail
