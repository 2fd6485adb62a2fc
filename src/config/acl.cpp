#include "config/acl.hpp"

#include <stdexcept>

#include "config/secret.hpp"
#include "resp/command_table.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::config {
namespace {

constexpr std::string_view kDefaultUser = "default";

void set_bit(std::vector<std::uint64_t>& bits, std::uint16_t id, bool on) {
  if (on) {
    bits[id / 64] |= std::uint64_t{1} << (id % 64);
  } else {
    bits[id / 64] &= ~(std::uint64_t{1} << (id % 64));
  }
}

void set_category(AclUser& user, std::uint32_t category, bool on) {
  for (const auto& cmd : resp::CommandTable::instance().all()) {
    if ((cmd.acl_categories & category) != 0) set_bit(user.commands, cmd.id, on);
    for (const auto& sub : cmd.subcommands) {
      if ((sub.acl_categories & category) != 0) set_bit(user.commands, sub.id, on);
    }
  }
}

void set_command(AclUser& user, std::string_view name, bool on) {
  const auto& table = resp::CommandTable::instance();
  const auto bar = name.find('|');
  const resp::CommandInfo* cmd = table.find(name.substr(0, bar));
  if (cmd == nullptr) {
    throw std::invalid_argument("unknown command '" + std::string(name) + "'");
  }
  if (bar != std::string_view::npos) {
    const resp::CommandInfo* sub = resp::CommandTable::find_subcommand(*cmd, name.substr(bar + 1));
    if (sub == nullptr) {
      throw std::invalid_argument("unknown subcommand '" + std::string(name) + "'");
    }
    return set_bit(user.commands, sub->id, on);
  }
  set_bit(user.commands, cmd->id, on);
  for (const auto& sub : cmd->subcommands) set_bit(user.commands, sub.id, on);
}

void apply_word(AclUser& user, std::string_view word) {
  if (iequals(word, "on")) {
    user.enabled = true;
  } else if (iequals(word, "off")) {
    user.enabled = false;
  } else if (iequals(word, "allcommands")) {
    set_category(user, ~0u, true);
  } else if (iequals(word, "nocommands")) {
    set_category(user, ~0u, false);
  } else if (iequals(word, "allkeys") || word == "~*") {
    user.all_keys = true;
    user.keys.clear();
  } else if (iequals(word, "resetkeys")) {
    user.all_keys = false;
    user.keys.clear();
  } else if (iequals(word, "allchannels") || word == "&*") {
    user.all_channels = true;
    user.channels.clear();
  } else if (iequals(word, "resetchannels")) {
    user.all_channels = false;
    user.channels.clear();
  } else if (iequals(word, "reset")) {
    AclUser fresh;  // as Redis: off, no commands, keys or channels
    fresh.name = std::move(user.name);
    fresh.password = std::move(user.password);
    fresh.nopass = user.nopass;
    fresh.enabled = false;
    fresh.commands.assign(user.commands.size(), 0);
    user = std::move(fresh);
  } else if (word[0] == '~') {
    if (!user.all_keys) user.keys.emplace_back(word.substr(1));
  } else if (word[0] == '&') {
    if (!user.all_channels) user.channels.emplace_back(word.substr(1));
  } else if (word[0] == '%') {
    throw std::invalid_argument("'" + std::string(word) +
                                "': read/write key permissions (%R~, %W~) are not supported; "
                                "use ~pattern");
  } else if (word[0] == '>' || word[0] == '<' || word[0] == '#' || word[0] == '!' ||
             iequals(word, "nopass") || iequals(word, "resetpass")) {
    throw std::invalid_argument(
        "passwords are not rules: use the user's password_file, password_env or nopass");
  } else if ((word[0] == '+' || word[0] == '-') && word.size() > 1) {
    const bool on = word[0] == '+';
    const std::string_view what = word.substr(1);
    if (what[0] == '@') {
      const std::string_view cat = what.substr(1);
      const std::uint32_t bit = iequals(cat, "all") ? ~0u : resp::acl_category(cat);
      if (bit == 0)
        throw std::invalid_argument("unknown command category '" + std::string(cat) + "'");
      set_category(user, bit, on);
    } else {
      set_command(user, what, on);
    }
  } else {
    throw std::invalid_argument("unknown ACL rule '" + std::string(word) + "'");
  }
}

}  // namespace

void apply_acl_rules(AclUser& user, std::string_view rules) {
  const std::size_t words = resp::CommandTable::id_count();
  if (user.commands.size() * 64 < words) user.commands.resize((words + 63) / 64, 0);
  std::size_t i = 0;
  while (i < rules.size()) {
    while (i < rules.size() && (rules[i] == ' ' || rules[i] == '\t')) ++i;
    std::size_t end = i;
    while (end < rules.size() && rules[end] != ' ' && rules[end] != '\t') ++end;
    if (end > i) apply_word(user, rules.substr(i, end - i));
    i = end;
  }
  bool all = true;
  for (std::uint16_t id = 0; id < words && all; ++id) all = user.allows(id);
  user.unrestricted = all && user.all_keys && user.all_channels;
}

Acl::Acl(std::vector<AclUser> users) : users_(std::move(users)) {
  const AclUser* def = find(kDefaultUser);
  if (def != nullptr && def->enabled && def->nopass) initial_ = def;
}

const AclUser* Acl::find(std::string_view name) const {
  for (const auto& user : users_) {
    if (user.name == name) return &user;
  }
  return nullptr;
}

const AclUser* Acl::authenticate(std::string_view name, std::string_view password) const {
  const AclUser* user = find(name);
  if (user == nullptr || !user->enabled) return nullptr;
  if (user->nopass) return user;
  // Constant time over the supplied password's length, whatever the stored one is.
  const std::string& want = user->password;
  unsigned char diff = want.size() == password.size() ? 0 : 1;
  for (std::size_t i = 0; i < password.size(); ++i) {
    const unsigned char w = i < want.size() ? static_cast<unsigned char>(want[i]) : 0;
    diff |= static_cast<unsigned char>(w ^ static_cast<unsigned char>(password[i]));
  }
  return diff == 0 ? user : nullptr;
}

bool Acl::default_nopass() const {
  const AclUser* def = find(kDefaultUser);
  return def != nullptr && def->nopass;
}

std::shared_ptr<const Acl> build_acl(const AuthConfig& auth) {
  if (!auth.enabled()) return nullptr;
  std::vector<AclUser> users;
  bool has_default = false;
  for (const auto& config : auth.users) {
    AclUser user;
    user.name = config.name;
    user.nopass = config.nopass;
    if (!config.nopass) user.password = read_secret(config.password);
    try {
      apply_acl_rules(user, config.rules);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(config.where + ": auth.users '" + config.name + "': rules: " + e.what());
    }
    has_default = has_default || user.name == kDefaultUser;
    users.push_back(std::move(user));
  }
  if (!has_default) {
    // auth.password alone is Redis's requirepass: the default user may do anything once
    // authenticated. Without it (users only) the default user is off.
    AclUser def;
    def.name = std::string(kDefaultUser);
    def.password = read_secret(auth.password);
    apply_acl_rules(def, auth.password.empty() ? "off" : "on allcommands allkeys allchannels");
    users.push_back(std::move(def));
  }
  return std::make_shared<const Acl>(std::move(users));
}

bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      const char c = pattern[p];
      if (c == '*') {
        star = p++;
        star_t = t;
        continue;
      }
      if (c == '?') {
        ++p;
        ++t;
        continue;
      }
      if (c == '[') {
        std::size_t q = p + 1;
        const bool negate = q < pattern.size() && pattern[q] == '^';
        if (negate) ++q;
        bool match = false;
        while (q < pattern.size() && pattern[q] != ']') {
          if (pattern[q] == '\\' && q + 1 < pattern.size()) {
            match = match || pattern[q + 1] == text[t];
            q += 2;
          } else if (q + 2 < pattern.size() && pattern[q + 1] == '-' && pattern[q + 2] != ']') {
            char lo = pattern[q], hi = pattern[q + 2];
            if (lo > hi) std::swap(lo, hi);
            match = match || (text[t] >= lo && text[t] <= hi);
            q += 3;
          } else {
            match = match || pattern[q] == text[t];
            ++q;
          }
        }
        if (match != negate) {
          p = q < pattern.size() ? q + 1 : q;
          ++t;
          continue;
        }
      } else {
        const bool escaped = c == '\\' && p + 1 < pattern.size();
        const char want = escaped ? pattern[p + 1] : c;
        if (want == text[t]) {
          p += escaped ? 2 : 1;
          ++t;
          continue;
        }
      }
    }
    if (star == std::string_view::npos) return false;
    p = star + 1;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace sidecache::config
