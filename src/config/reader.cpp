// Typed, position-aware access to YAML values (stage 2 of loading: structure and directives).
#include "config/reader.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <vector>

namespace sidecache::config::detail {
namespace {

std::string join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  return std::string(path) + "." + std::string(key);
}

std::string describe_size(std::uint64_t bytes) {
  constexpr std::pair<std::uint64_t, std::string_view> kUnits[] = {
      {1ull << 30, "gb"}, {1ull << 20, "mb"}, {1ull << 10, "kb"}};
  for (const auto& [unit, name] : kUnits) {
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + std::string(name);
  }
  return std::to_string(bytes) + "b";
}

std::string describe_duration(Millis duration) {
  const auto ms = duration.count();
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string_view type_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "nothing (missing value)";
  }
}

}  // namespace

void fail_at(const std::string& source, const YAML::Mark& mark, std::string_view message) {
  const int line = mark.line < 0 ? 1 : mark.line + 1;
  const int column = mark.column < 0 ? 1 : mark.column + 1;
  throw ConfigError(source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                    std::string(message));
}

YAML::Mark Locations::find(std::string_view path) const {
  for (;;) {
    if (const auto it = marks_.find(path); it != marks_.end()) return it->second;
    if (path.empty()) return YAML::Mark::null_mark();
    const auto cut = path.find_last_of(".[");
    path = cut == std::string_view::npos ? std::string_view() : path.substr(0, cut);
  }
}

std::string Locations::where(std::string_view path) const {
  const YAML::Mark mark = find(path);
  const int line = mark.line < 0 ? 1 : mark.line + 1;
  const int column = mark.column < 0 ? 1 : mark.column + 1;
  return source_ + ":" + std::to_string(line) + ":" + std::to_string(column);
}

void Locations::fail(std::string_view path, std::string_view message) const {
  fail_at(source_, find(path), std::string(path) + ": " + std::string(message));
}

void Locations::warn(const YAML::Mark& mark, std::string_view message) {
  const int line = mark.line < 0 ? 1 : mark.line + 1;
  const int column = mark.column < 0 ? 1 : mark.column + 1;
  warnings_.push_back(source_ + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                      std::string(message));
}

Value::Value(YAML::Node node, std::string path, Locations& locations,
             std::optional<YAML::Mark> mark)
    : node_(std::move(node)),
      path_(std::move(path)),
      locations_(&locations),
      mark_(mark ? *mark : node_.Mark()) {
  locations_->add(path_, mark_);
}

void Value::fail(std::string_view message) const {
  const std::string prefix = path_.empty() ? "" : path_ + ": ";
  fail_at(locations_->source(), mark_, prefix + std::string(message));
}

void Value::warn(std::string_view message) const {
  const std::string prefix = path_.empty() ? "" : path_ + ": ";
  locations_->warn(mark_, prefix + std::string(message));
}

std::string Value::where() const {
  const int line = mark_.line < 0 ? 1 : mark_.line + 1;
  const int column = mark_.column < 0 ? 1 : mark_.column + 1;
  return locations_->source() + ":" + std::to_string(line) + ":" + std::to_string(column);
}

void set_secret(SecretSource& secret, SecretSource::Kind kind, const Value& value) {
  if (!secret.empty()) {
    value.fail("a secret comes from one of password, password_file or password_env, not several");
  }
  secret.kind = kind;
  secret.value = value.non_empty();
  secret.where = value.where();
  if (kind == SecretSource::Kind::kLiteral) {
    value.warn(
        "the password is written in the config file; prefer password_file (a mounted "
        "Secret) or password_env");
  }
}

Value Value::child(const YAML::Node& node, std::string_view key,
                   std::optional<YAML::Mark> mark) const {
  return Value(node, join(path_, key), *locations_, mark);
}

Value Value::item(const YAML::Node& node, std::size_t index) const {
  return Value(node, path_ + "[" + std::to_string(index) + "]", *locations_);
}

std::string Value::scalar() const {
  if (!node_.IsScalar()) fail("expected a single value, got " + std::string(type_name(node_)));
  return node_.Scalar();
}

std::string Value::non_empty() const {
  auto text = scalar();
  if (text.empty()) fail("must not be empty");
  return text;
}

std::uint64_t Value::integer(std::uint64_t min, std::uint64_t max) const {
  const auto text = scalar();
  const auto range = " (" + std::to_string(min) + ".." + std::to_string(max) + ")";
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool negative = text.size() > 1 && text.front() == '-' &&
                        std::all_of(text.begin() + 1, text.end(),
                                    [](unsigned char c) { return c >= '0' && c <= '9'; });
  if (negative || ec == std::errc::result_out_of_range) fail(text + " is out of range" + range);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    fail("expected an integer, got '" + text + "'");
  }
  if (value < min || value > max) fail(text + " is out of range" + range);
  return value;
}

std::uint64_t Value::size(std::uint64_t min, std::uint64_t max) const {
  const auto text = scalar();
  std::uint64_t value = 0;
  try {
    value = parse_size(text);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  if (value < min || value > max) {
    fail(text + " is out of range (" + describe_size(min) + ".." + describe_size(max) + ")");
  }
  return value;
}

Millis Value::duration(Millis min, Millis max) const {
  const auto text = scalar();
  Millis value{};
  try {
    value = parse_duration(text);
  } catch (const std::invalid_argument& e) {
    fail(e.what());
  }
  if (value < min || value > max) {
    fail(text + " is out of range (" + describe_duration(min) + ".." + describe_duration(max) +
         ")");
  }
  return value;
}

bool Value::boolean() const {
  static constexpr std::string_view kBools[] = {"true", "false"};
  return one_of(kBools) == "true";
}

double Value::real(double min, double max) const {
  const auto text = scalar();
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    fail("expected a number, got '" + text + "'");
  }
  if (!(value >= min && value <= max)) {
    fail(text + " is out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
  }
  return value;
}

std::string Value::one_of(std::span<const std::string_view> choices) const {
  const auto text = scalar();
  if (std::find(choices.begin(), choices.end(), text) != choices.end()) return text;
  std::string list;
  for (const auto choice : choices) list += (list.empty() ? "" : ", ") + std::string(choice);
  fail("unknown value '" + text + "' (expected one of: " + list + ")");
}

void Value::expect_map() const {
  if (!node_.IsMap()) fail("expected a map of keys, got " + std::string(type_name(node_)));
}

void Value::expect_sequence() const {
  if (!node_.IsSequence()) fail("expected a list, got " + std::string(type_name(node_)));
}

void read_map(const Value& map, std::span<const std::string_view> names,
              const std::function<void(std::size_t, const Value&)>& handle) {
  map.expect_map();
  const auto& source = map.locations().source();
  std::vector<std::optional<YAML::Mark>> seen(names.size());
  for (const auto& entry : map.node()) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      fail_at(source, key.Mark(),
              "expected a plain key" + std::string(map.path().empty() ? "" : " in ") + map.path());
    }
    const std::string& name = key.Scalar();
    const auto found = std::find(names.begin(), names.end(), name);
    if (found == names.end()) {
      std::string message = "unknown key '" + join(map.path(), name) + "'";
      if (const auto guess = closest_match(name, names); !guess.empty()) {
        message += " (did you mean '" + std::string(guess) + "'?)";
      }
      fail_at(source, key.Mark(), message);
    }
    const auto index = static_cast<std::size_t>(found - names.begin());
    if (seen[index]) {
      fail_at(source, key.Mark(),
              "duplicate key '" + join(map.path(), name) + "' (first at line " +
                  std::to_string(seen[index]->line + 1) + ")");
    }
    seen[index] = key.Mark();
    // A missing value's own mark is wherever the next token starts: point at its key instead.
    const auto mark = entry.second.IsNull() ? std::optional(key.Mark()) : std::nullopt;
    handle(index, map.child(entry.second, name, mark));
  }
}

}  // namespace sidecache::config::detail
