// ACL users: rule words (categories from the command table, commands, subcommands, keys,
// channels, on/off, reset), the default user, password checks, glob patterns and the config
// errors of auth:, listen_tls: and commands.deny.
#include <catch2/catch.hpp>

#include "config/acl.hpp"
#include "error_of.hpp"
#include "resp/command_table.hpp"

namespace sidecache::config {
namespace {

using testing::error_of;

std::uint16_t id_of(std::string_view name) {
  const auto& table = resp::CommandTable::instance();
  const auto bar = name.find('|');
  const resp::CommandInfo* cmd = table.find(name.substr(0, bar));
  REQUIRE(cmd != nullptr);
  if (bar == std::string_view::npos) return cmd->id;
  const resp::CommandInfo* sub = resp::CommandTable::find_subcommand(*cmd, name.substr(bar + 1));
  REQUIRE(sub != nullptr);
  return sub->id;
}

AclUser user_with(std::string_view rules) {
  AclUser user;
  user.name = "u";
  apply_acl_rules(user, rules);
  return user;
}

constexpr std::string_view kBase =
    "listen: 127.0.0.1:7000\npool:\n  nodes: [{address: 127.0.0.1:7001}]\n";

TEST_CASE("categories come from the command table and apply left to right", "[acl]") {
  const AclUser user = user_with("+@all -@dangerous +debug -set ~*");
  CHECK(user.allows(id_of("get")));
  CHECK(user.allows(id_of("object|encoding")));   // @keyspace @read @slow
  CHECK_FALSE(user.allows(id_of("config|get")));  // @admin commands are @dangerous too
  CHECK_FALSE(user.allows(id_of("flushall")));
  CHECK_FALSE(user.allows(id_of("config|set")));
  CHECK(user.allows(id_of("debug")));
  CHECK_FALSE(user.allows(id_of("set")));
  CHECK_FALSE(user.unrestricted);

  const AclUser reader = user_with("+@read");
  CHECK(reader.allows(id_of("get")));
  CHECK(reader.allows(id_of("object|encoding")));
  CHECK_FALSE(reader.allows(id_of("set")));
  CHECK_FALSE(reader.allows(id_of("ping")));  // @fast @connection, not @read
}

TEST_CASE("a container names all its subcommands; container|sub names one", "[acl]") {
  const AclUser user = user_with("+config -config|set");
  CHECK(user.allows(id_of("config|get")));
  CHECK(user.allows(id_of("config|rewrite")));
  CHECK_FALSE(user.allows(id_of("config|set")));
}

TEST_CASE("keys, channels, on/off and reset", "[acl]") {
  AclUser user = user_with("allcommands ~product:* ~cart:? &news:*");
  CHECK(user.keys == std::vector<std::string>{"product:*", "cart:?"});
  CHECK(user.channels == std::vector<std::string>{"news:*"});
  CHECK_FALSE(user.all_keys);
  CHECK(user.enabled);
  apply_acl_rules(user, "allkeys allchannels off");
  CHECK(user.all_keys);
  CHECK(user.all_channels);
  CHECK_FALSE(user.enabled);
  CHECK(user.unrestricted);
  apply_acl_rules(user, "reset");
  CHECK_FALSE(user.enabled);
  CHECK_FALSE(user.allows(id_of("get")));
  CHECK(user.keys.empty());
  CHECK_FALSE(user.all_keys);
}

TEST_CASE("bad rule words are errors naming the word", "[acl]") {
  AclUser user;
  CHECK_THROWS_WITH(apply_acl_rules(user, "+@nosuch"), "unknown command category 'nosuch'");
  CHECK_THROWS_WITH(apply_acl_rules(user, "+nosuch"), "unknown command 'nosuch'");
  CHECK_THROWS_WITH(apply_acl_rules(user, "+config|nosuch"), "unknown subcommand 'config|nosuch'");
  CHECK_THROWS_WITH(apply_acl_rules(user, "bogus"), "unknown ACL rule 'bogus'");
  CHECK_THROWS_WITH(apply_acl_rules(user, ">secret"), Catch::Contains("passwords are not rules"));
  CHECK_THROWS_WITH(apply_acl_rules(user, "%R~a*"), Catch::Contains("not supported"));
}

TEST_CASE("glob patterns as Redis matches them", "[acl]") {
  CHECK(glob_match("product:*", "product:1"));
  CHECK(glob_match("product:*", "product:"));
  CHECK_FALSE(glob_match("product:*", "produc"));
  CHECK(glob_match("a?c", "abc"));
  CHECK_FALSE(glob_match("a?c", "ac"));
  CHECK(glob_match("h[ae]llo", "hello"));
  CHECK_FALSE(glob_match("h[^e]llo", "hello"));
  CHECK(glob_match("h[a-c]llo", "hbllo"));
  CHECK(glob_match("a\\*b", "a*b"));
  CHECK_FALSE(glob_match("a\\*b", "axb"));
  CHECK(glob_match("*a*b*", "xxaxxbxx"));
  CHECK_FALSE(glob_match("*a*b", "xxbxxa"));
  CHECK(glob_match("*", ""));
  CHECK_FALSE(glob_match("", "a"));
}

TEST_CASE("auth.password is requirepass: default needs it; users authenticate by name", "[acl]") {
  const auto config = load_string(std::string(kBase) +
                                      "auth:\n  password: pw\n  users:\n"
                                      "    - {name: app, password: apw, rules: \"+get ~p:*\"}\n"
                                      "    - {name: open, nopass: true, rules: \"+ping\"}\n",
                                  "t.yaml");
  REQUIRE(config.acl != nullptr);
  const Acl& acl = *config.acl;
  CHECK(acl.initial_user() == nullptr);
  CHECK_FALSE(acl.default_nopass());
  CHECK(acl.authenticate("default", "pw") == acl.find("default"));
  CHECK(acl.find("default")->unrestricted);
  CHECK(acl.authenticate("default", "pwx") == nullptr);
  CHECK(acl.authenticate("default", "p") == nullptr);
  CHECK(acl.authenticate("app", "apw") == acl.find("app"));
  CHECK(acl.authenticate("app", "pw") == nullptr);
  CHECK(acl.authenticate("nobody", "pw") == nullptr);
  CHECK(acl.authenticate("open", "anything") == acl.find("open"));
  // A literal password is warned about, and the warning does not repeat it.
  REQUIRE_FALSE(config.warnings.empty());
  for (const auto& warning : config.warnings) CHECK(warning.find("apw") == std::string::npos);
}

TEST_CASE("users only: the default user is off; a nopass default lets clients in", "[acl]") {
  const auto users_only = load_string(
      std::string(kBase) + "auth:\n  users:\n    - {name: a, password: x, rules: \"+@all\"}\n",
      "t.yaml");
  CHECK(users_only.acl->initial_user() == nullptr);
  CHECK(users_only.acl->authenticate("default", "") == nullptr);
  const auto open_default = load_string(
      std::string(kBase) +
          "auth:\n  users:\n    - {name: default, nopass: true, rules: \"+@read ~*\"}\n",
      "t.yaml");
  REQUIRE(open_default.acl->initial_user() != nullptr);
  CHECK(open_default.acl->default_nopass());
  const auto off = load_string(std::string(kBase), "t.yaml");
  CHECK(off.acl == nullptr);
}

TEST_CASE("auth, listen_tls and commands.deny config errors", "[acl][config]") {
  CHECK(error_of(std::string(kBase) + "auth:\n  users:\n    - {name: a, rules: \"+@all\"}\n") ==
        "t.yaml:6:7: auth.users[0]: user 'a' needs password_file, password_env, password or "
        "nopass");
  CHECK(error_of(std::string(kBase) +
                 "auth:\n  users:\n    - {name: a, nopass: true, rules: \"+@bad\"}\n") ==
        "t.yaml:6:38: auth.users[0].rules: unknown command category 'bad'");
  CHECK(error_of(std::string(kBase) + "auth:\n  users:\n    - {name: a, nopass: true}\n"
                                      "    - {name: a, nopass: true}\n") ==
        "t.yaml:7:7: auth.users[1]: duplicate user 'a'");
  CHECK(error_of(std::string(kBase) + "auth:\n  password: x\n  users:\n"
                                      "    - {name: default, nopass: true}\n")
            .find("set twice") != std::string::npos);
  CHECK(error_of(std::string(kBase) + "auth:\n  password_file: /nonexistent/pw\n")
            .find("cannot read password file /nonexistent/pw") != std::string::npos);
  CHECK(error_of(std::string(kBase) + "commands:\n  deny: [FLUSHALL, nosuch]\n") ==
        "t.yaml:5:20: commands.deny[1]: unknown command 'nosuch'");
  CHECK(error_of(std::string(kBase) + "listen_tls:\n  listen: 127.0.0.1:7002\n") ==
        "t.yaml:5:3: listen_tls: listen_tls needs cert_file and key_file");
  CHECK(error_of(std::string(kBase) +
                 "listen_tls: {listen: 127.0.0.1:7000, cert_file: c, key_file: k}\n")
            .find("is also the plain listen address") != std::string::npos);
  CHECK(error_of(std::string(kBase) + "listen_tls: {listen: 127.0.0.1:7002, cert_file: c, "
                                      "key_file: k, verify_clients: true}\n")
            .find("verify_clients needs ca_file") != std::string::npos);
}

TEST_CASE("commands.deny: a container covers its subcommands, CONFIG SET names one", "[acl]") {
  const auto config = load_string(
      std::string(kBase) + "commands:\n  deny: [flushall, CONFIG SET, client]\n", "t.yaml");
  CHECK(config.commands.denied(id_of("flushall")));
  CHECK(config.commands.denied(id_of("config|set")));
  CHECK_FALSE(config.commands.denied(id_of("config|get")));
  CHECK(config.commands.denied(id_of("client|setname")));
  CHECK_FALSE(config.commands.denied(id_of("get")));
  CHECK(config.commands.deny == std::vector<std::string>{"flushall", "config|set", "client"});
}

}  // namespace
}  // namespace sidecache::config
