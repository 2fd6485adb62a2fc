#include "dispatch/access.hpp"

#include "dispatch/errors.hpp"

namespace sidecache::dispatch {
namespace {

bool key_allowed(const config::AclUser& user, std::string_view key) {
  for (const auto& pattern : user.keys) {
    if (config::glob_match(pattern, key)) return true;
  }
  return false;
}

// As Redis: a channel matches an allowed pattern; a subscription pattern (PSUBSCRIBE) must be
// one of the allowed patterns literally.
bool channel_allowed(const config::AclUser& user, std::string_view channel, bool is_pattern) {
  for (const auto& pattern : user.channels) {
    if (is_pattern ? pattern == channel : config::glob_match(pattern, channel)) return true;
  }
  return false;
}

bool channels_allowed(const config::AclUser& user, std::string_view name,
                      std::span<const std::string_view> args) {
  if (user.all_channels) return true;
  if (name == "publish" || name == "spublish") return channel_allowed(user, args[1], false);
  const bool pattern = name == "psubscribe";
  if (!pattern && name != "subscribe" && name != "ssubscribe") return true;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (!channel_allowed(user, args[i], pattern)) return false;
  }
  return true;
}

}  // namespace

bool check_access(const resp::CommandInfo& info, std::span<const std::string_view> args,
                  const ClientState& client, std::vector<std::uint32_t>& keys, std::string& error) {
  const bool no_auth = info.has(resp::kFlagNoAuth);
  if (client.config->acl && !no_auth) {
    const config::AclUser* user = client.user;
    if (user == nullptr) {
      error = errors::kNoAuth;
      return false;
    }
    if (!user->unrestricted) {
      if (!user->allows(info.id)) {
        error = errors::no_perm_command(info.name);
        return false;
      }
      // Malformed numkeys: no keys to check here; the command's own check answers it.
      std::string ignored;
      if (!user->all_keys && resp::key_indexes(info, args, keys, ignored)) {
        for (const auto index : keys) {
          if (!key_allowed(*user, args[index])) {
            error = errors::kNoPermKey;
            return false;
          }
        }
      }
      if (info.has(resp::kFlagPubSub) && !channels_allowed(*user, info.name, args)) {
        error = errors::kNoPermChannel;
        return false;
      }
    }
  }
  if (client.config->commands.denied(info.id)) {
    error = errors::disabled(info.name);
    return false;
  }
  return true;
}

bool refresh_access(ClientState& client, const std::shared_ptr<const config::Config>& config) {
  if (client.config == config) return true;
  const bool first = client.config == nullptr;
  const std::string name = client.user != nullptr ? client.user->name : std::string();
  const bool was_guarded = client.config && client.config->acl;
  client.config = config;
  client.guarded = config->acl != nullptr || !config->commands.deny_ids.empty();
  // Auth turned on by a reload: connected clients authenticate like new ones.
  if (first || !config->acl || !was_guarded || name.empty()) {
    reset_access(client);
    return true;
  }
  client.user = config->acl->find(name);
  return client.user != nullptr && client.user->enabled;
}

void reset_access(ClientState& client) {
  client.user = client.config && client.config->acl ? client.config->acl->initial_user() : nullptr;
}

}  // namespace sidecache::dispatch
