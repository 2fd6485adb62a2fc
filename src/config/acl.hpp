// The users of `auth:` compiled for the data path: which commands (by command-table id), keys
// and Pub/Sub channels each may use, and their passwords (read from files or the environment
// when the config is loaded). Rules are a subset of Redis's ACL SETUSER syntax:
//   on | off                     the user may (not) authenticate
//   +@cat -@cat +@all -@all      command categories, as COMMAND INFO reports them
//   allcommands | nocommands     same as +@all / -@all
//   +cmd -cmd +cmd|sub -cmd|sub  one command (a container with all its subcommands) or one
//                                subcommand
//   ~pattern allkeys resetkeys   key patterns (glob: * ? [a-z] \x)
//   &pattern allchannels resetchannels   Pub/Sub channel patterns
//   reset                        back to: off, no commands, no keys, no channels
// Rules apply left to right. Passwords are not rules: they come from password_file,
// password_env or password.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace sidecache::config {

struct AclUser {
  std::string name;
  std::string password;  // empty with nopass
  bool nopass = false;
  bool enabled = true;
  std::vector<std::uint64_t> commands;  // bit per resp::CommandInfo::id
  bool all_keys = false;
  std::vector<std::string> keys;
  bool all_channels = false;
  std::vector<std::string> channels;
  // Every command, key and channel: nothing to check per request.
  bool unrestricted = false;

  bool allows(std::uint16_t id) const {
    return id / 64 < commands.size() && ((commands[id / 64] >> (id % 64)) & 1) != 0;
  }
};

class Acl {
 public:
  explicit Acl(std::vector<AclUser> users);
  const AclUser* find(std::string_view name) const;
  // The user when `password` is right and the user is on; nullptr otherwise. The comparison
  // takes the same time wherever the password differs.
  const AclUser* authenticate(std::string_view name, std::string_view password) const;
  // The user a new connection is: "default" when it is on and has nopass; nullptr when the
  // client must AUTH first.
  const AclUser* initial_user() const { return initial_; }
  // AUTH <password> alone when the default user needs no password is an error in Redis.
  bool default_nopass() const;

 private:
  std::vector<AclUser> users_;
  const AclUser* initial_ = nullptr;
};

// Applies rule words to `user`. Throws std::invalid_argument naming the bad word.
void apply_acl_rules(AclUser& user, std::string_view rules);

// Compiles `auth:` (reading the passwords). Throws ConfigError "file:line:col: ..." naming the
// user; null when auth is off.
std::shared_ptr<const Acl> build_acl(const AuthConfig& auth);

// Redis-style glob match (* ? [abc] [^a] [a-z] \x), case-sensitive.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace sidecache::config
