// The `auth:`, `listen_tls:` and `commands.deny` keys: who may use sidecache's own port, over
// which transport, and which commands nobody may.
#include <algorithm>

#include "config/acl.hpp"
#include "config/reader.hpp"
#include "resp/command_table.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::config::detail {
namespace {

constexpr std::uint64_t kMaxTimeoutMs = 24ull * 3600 * 1000;

void read_user_name(AclUserConfig& user, const Value& value) {
  user.name = value.non_empty();
  for (const char c : user.name) {
    if (c <= ' ' || c > '~') value.fail("a user name is printable ASCII without spaces");
  }
}

void read_rules(AclUserConfig& user, const Value& value) {
  user.rules = value.scalar();
  AclUser probe;  // checked here, so the error points at the rules
  try {
    apply_acl_rules(probe, user.rules);
  } catch (const std::invalid_argument& e) {
    value.fail(e.what());
  }
}

constexpr Directive<AclUserConfig> kUserDirectives[] = {
    {"name", read_user_name, "the user name clients AUTH with"},
    {"password", read_secret<&AclUserConfig::password, SecretSource::Kind::kLiteral>,
     "the password in the config file (warned about)"},
    {"password_file", read_secret<&AclUserConfig::password, SecretSource::Kind::kFile>,
     "file holding the password (a mounted Secret); re-read on reload"},
    {"password_env", read_secret<&AclUserConfig::password, SecretSource::Kind::kEnv>,
     "environment variable holding the password"},
    {"nopass", read_boolean<&AclUserConfig::nopass>, "no password needed (any password works)"},
    {"rules", read_rules, "Redis ACL rules: +@read -@dangerous +get ~product:* &news:* on|off"},
};

void read_users(AuthConfig& auth, const Value& value) {
  value.expect_sequence();
  auth.users.clear();
  std::size_t index = 0;
  for (const auto& node : value.node()) {
    const Value item = value.item(node, index++);
    AclUserConfig user;
    user.where = item.where();
    read_section(item, kUserDirectives, user);
    if (user.name.empty()) item.fail("a user needs a name");
    if (user.nopass != user.password.empty()) {
      item.fail(user.nopass ? "user '" + user.name + "' has both nopass and a password"
                            : "user '" + user.name +
                                  "' needs password_file, password_env, password or nopass");
    }
    for (const auto& other : auth.users) {
      if (other.name == user.name) item.fail("duplicate user '" + user.name + "'");
    }
    auth.users.push_back(std::move(user));
  }
}

constexpr Directive<AuthConfig> kAuthDirectives[] = {
    {"password", read_secret<&AuthConfig::password, SecretSource::Kind::kLiteral>,
     "the default user's password (Redis requirepass), in the config file (warned about)"},
    {"password_file", read_secret<&AuthConfig::password, SecretSource::Kind::kFile>,
     "file holding the default user's password; re-read on reload"},
    {"password_env", read_secret<&AuthConfig::password, SecretSource::Kind::kEnv>,
     "environment variable holding the default user's password"},
    {"users", read_users, "ACL users: name, password_file/password_env, rules"},
    {"failure_delay", read_duration<&AuthConfig::failure_delay, 0, 10000>,
     "after a failed AUTH, that connection's next command waits this long"},
    {"max_failures", read_integer<&AuthConfig::max_failures, 1, 1000000>,
     "failed AUTH attempts on one connection before it is closed"},
};

void read_tls_file(std::string& target, const Value& value) { target = value.non_empty(); }

constexpr Directive<TlsListenConfig> kTlsDirectives[] = {
    {"listen", read_endpoint<&TlsListenConfig::listen>, "host:port of the TLS listener"},
    {"cert_file", [](TlsListenConfig& t, const Value& v) { read_tls_file(t.cert_file, v); },
     "server certificate chain (PEM); re-read on reload"},
    {"key_file", [](TlsListenConfig& t, const Value& v) { read_tls_file(t.key_file, v); },
     "server private key (PEM); re-read on reload"},
    {"ca_file", [](TlsListenConfig& t, const Value& v) { read_tls_file(t.ca_file, v); },
     "CA certificates (PEM) that client certificates are verified against"},
    {"verify_clients", read_boolean<&TlsListenConfig::verify_clients>,
     "mutual TLS: require a client certificate signed by ca_file"},
    {"handshake_timeout", read_duration<&TlsListenConfig::handshake_timeout, 1, kMaxTimeoutMs>,
     "time allowed for a client's TLS handshake"},
};

}  // namespace

void read_auth(Config& config, const Value& value) {
  read_section(value, kAuthDirectives, config.auth);
  const bool named_default = std::any_of(config.auth.users.begin(), config.auth.users.end(),
                                         [](const auto& u) { return u.name == "default"; });
  if (named_default && !config.auth.password.empty()) {
    value.fail("the default user's password is set twice: auth.password* and a user 'default'");
  }
}

void read_listen_tls(Config& config, const Value& value) {
  TlsListenConfig tls;
  read_section(value, kTlsDirectives, tls);
  if (tls.listen.port == 0) value.fail("listen_tls needs listen: host:port");
  if (tls.cert_file.empty() || tls.key_file.empty())
    value.fail("listen_tls needs cert_file and key_file");
  if (tls.verify_clients && tls.ca_file.empty()) value.fail("verify_clients needs ca_file");
  config.listen_tls = std::move(tls);
}

void read_deny(CommandsConfig& commands, const Value& value) {
  value.expect_sequence();
  const auto& table = resp::CommandTable::instance();
  commands.deny.clear();
  commands.deny_ids.assign((resp::CommandTable::id_count() + 63) / 64, 0);
  std::size_t index = 0;
  for (const auto& node : value.node()) {
    const Value item = value.item(node, index++);
    std::string name = lower(item.non_empty());
    for (char& c : name) {
      if (c == ' ') c = '|';  // "CONFIG SET" names the subcommand too
    }
    const auto bar = name.find('|');
    const resp::CommandInfo* cmd = table.find(std::string_view(name).substr(0, bar));
    const resp::CommandInfo* sub = nullptr;
    if (cmd != nullptr && bar != std::string::npos) {
      sub = resp::CommandTable::find_subcommand(*cmd, std::string_view(name).substr(bar + 1));
    }
    if (cmd == nullptr || (bar != std::string::npos && sub == nullptr)) {
      item.fail("unknown command '" + name + "'");
    }
    auto set = [&](std::uint16_t id) {
      commands.deny_ids[id / 64] |= std::uint64_t{1} << (id % 64);
    };
    if (sub != nullptr) {
      set(sub->id);
    } else {
      set(cmd->id);
      for (const auto& s : cmd->subcommands) set(s.id);
    }
    commands.deny.push_back(std::move(name));
  }
}

void build_auth(Config& config) { config.acl = build_acl(config.auth); }

}  // namespace sidecache::config::detail
