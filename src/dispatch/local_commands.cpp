#include "dispatch/local_commands.hpp"

#include <charconv>
#include <chrono>
#include <utility>

#include "dispatch/access.hpp"
#include "dispatch/errors.hpp"
#include "dispatch/sidecache_command.hpp"
#include "resp/writer.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::dispatch {
namespace {

using Args = std::span<const std::string_view>;
using Handler = void (*)(const LocalRequest&, std::string&);

bool parse_int(std::string_view text, long long& value) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && !text.empty();
}

void ping(const LocalRequest& r, std::string& out) {
  if (r.args.size() > 2) return resp::append_error(out, errors::wrong_arity("ping"));  // as Redis
  if (r.args.size() == 1) {
    resp::append_simple(out, "PONG");
  } else {
    resp::append_bulk(out, r.args[1]);
  }
}

void echo(const LocalRequest& r, std::string& out) { resp::append_bulk(out, r.args[1]); }

void quit(const LocalRequest& r, std::string& out) {
  r.client.quit = true;
  resp::append_simple(out, "OK");
}

void select_db(const LocalRequest& r, std::string& out) {
  long long db = 0;
  if (!parse_int(r.args[1], db)) return resp::append_error(out, errors::kNotInteger);
  if (db != 0) return resp::append_error(out, errors::kOnlyDatabaseZero);
  resp::append_simple(out, "OK");
}

// Without auth: a Redis whose default user has no password. With auth: the users of auth:.
bool check_auth(ClientState& client, Args credentials, std::string& out) {
  const config::Acl* acl = client.config ? client.config->acl.get() : nullptr;
  if (credentials.size() == 1 && (acl == nullptr || acl->default_nopass())) {
    resp::append_error(out, errors::kAuthWithoutPassword);
    return false;
  }
  const std::string_view name = credentials.size() == 1 ? "default" : credentials[0];
  const std::string_view password = credentials.back();
  if (acl == nullptr) {
    if (name == "default") return true;
    resp::append_error(out, errors::kWrongPass);
    return false;
  }
  const config::AclUser* user = acl->authenticate(name, password);
  if (user == nullptr) {
    ++client.auth_failures;
    client.auth_failed = true;
    resp::append_error(out, errors::kWrongPass);
    return false;
  }
  client.user = user;
  return true;
}

void auth(const LocalRequest& r, std::string& out) {
  if (r.args.size() > 3) return resp::append_error(out, errors::kSyntax);
  if (check_auth(r.client, r.args.subspan(1), out)) resp::append_simple(out, "OK");
}

void acl_whoami(const LocalRequest& r, std::string& out) {
  resp::append_bulk(out, r.client.user != nullptr ? std::string_view(r.client.user->name)
                                                  : std::string_view("default"));
}

bool valid_client_name(std::string_view name) {
  for (const char c : name) {
    if (c < '!' || c > '~') return false;
  }
  return true;
}

// HELLO [protover [AUTH user pass] [SETNAME name]]: without protover the protocol stays.
void hello(const LocalRequest& r, std::string& out) {
  long long version = r.client.protocol;
  if (r.args.size() >= 2) {
    if (!parse_int(r.args[1], version)) {
      return resp::append_error(out, errors::kProtocolVersion);
    }
    if (version < 2 || version > 3) {
      return resp::append_error(out, errors::kNoProto);
    }
  }
  std::string_view new_name;
  bool set_name = false;
  for (std::size_t i = 2; i < r.args.size(); ++i) {
    const bool more = i + 1 < r.args.size();
    if (iequals(r.args[i], "AUTH") && i + 2 < r.args.size()) {
      if (!check_auth(r.client, r.args.subspan(i + 1, 2), out)) return;
      i += 2;
    } else if (iequals(r.args[i], "SETNAME") && more) {
      new_name = r.args[++i];
      set_name = true;
      if (!valid_client_name(new_name)) {
        return resp::append_error(out, errors::kBadClientName);
      }
    } else {
      return resp::append_error(out, errors::hello_option(r.args[i]));
    }
  }
  if (r.client.config && r.client.config->acl && r.client.user == nullptr) {
    return resp::append_error(out, errors::kNoAuthHello);
  }
  if (set_name) r.client.name = new_name;
  r.client.protocol = static_cast<int>(version);
  // The map Redis sends: a RESP3 map, or a flat array of pairs in RESP2.
  if (version == 3) {
    resp::append_map_header(out, 7);
  } else {
    resp::append_array_header(out, 14);
  }
  resp::append_bulk(out, "server");
  resp::append_bulk(out, "redis");
  resp::append_bulk(out, "version");
  resp::append_bulk(out, "7.0.0");
  resp::append_bulk(out, "proto");
  resp::append_integer(out, version);
  resp::append_bulk(out, "id");
  resp::append_integer(out, static_cast<std::int64_t>(r.client.id));
  resp::append_bulk(out, "mode");
  resp::append_bulk(out, "standalone");
  resp::append_bulk(out, "role");
  resp::append_bulk(out, "master");
  resp::append_bulk(out, "modules");
  resp::append_array_header(out, 0);
}

// RESET: back to a fresh connection's state (name and library info cleared, RESP2).
void reset(const LocalRequest& r, std::string& out) {
  r.client.name.clear();
  r.client.lib_name.clear();
  r.client.lib_version.clear();
  r.client.protocol = 2;
  reset_access(r.client);
  resp::append_simple(out, "RESET");
}

// Null in the client's protocol: `_` in RESP3, the null bulk string in RESP2.
void append_null(const LocalRequest& r, std::string& out) {
  if (r.client.protocol == 3) return resp::append_null(out);
  resp::append_null_bulk(out);
}

void client_setname(const LocalRequest& r, std::string& out) {
  if (!valid_client_name(r.args[2])) {
    return resp::append_error(out, errors::kBadClientName);
  }
  r.client.name = r.args[2];
  resp::append_simple(out, "OK");
}

void client_getname(const LocalRequest& r, std::string& out) {
  if (r.client.name.empty()) return append_null(r, out);
  resp::append_bulk(out, r.client.name);
}

void client_id(const LocalRequest& r, std::string& out) {
  resp::append_integer(out, static_cast<std::int64_t>(r.client.id));
}

void client_setinfo(const LocalRequest& r, std::string& out) {
  if (iequals(r.args[2], "LIB-NAME")) {
    if (!valid_client_name(r.args[3])) {
      return resp::append_error(out, errors::kBadLibName);
    }
    r.client.lib_name = r.args[3];
  } else if (iequals(r.args[2], "LIB-VER")) {
    if (!valid_client_name(r.args[3])) {
      return resp::append_error(out, errors::kBadLibVersion);
    }
    r.client.lib_version = r.args[3];
  } else {
    return resp::append_error(out, errors::unrecognized_option(r.args[2]));
  }
  resp::append_simple(out, "OK");
}

void append_flags(std::string& out, std::uint32_t flags) {
  static constexpr std::pair<resp::CommandFlag, std::string_view> kNames[] = {
      {resp::kFlagWrite, "write"},       {resp::kFlagReadOnly, "readonly"},
      {resp::kFlagDenyOom, "denyoom"},   {resp::kFlagAdmin, "admin"},
      {resp::kFlagPubSub, "pubsub"},     {resp::kFlagNoScript, "noscript"},
      {resp::kFlagBlocking, "blocking"}, {resp::kFlagLoading, "loading"},
      {resp::kFlagStale, "stale"},       {resp::kFlagNoMulti, "no_multi"},
      {resp::kFlagFast, "fast"},         {resp::kFlagMovableKeys, "movablekeys"},
  };
  std::size_t count = 0;
  for (const auto& [flag, name] : kNames) count += (flags & flag) ? 1 : 0;
  resp::append_array_header(out, count);
  for (const auto& [flag, name] : kNames) {
    if (flags & flag) resp::append_simple(out, name);
  }
}

// One COMMAND INFO entry, Redis 7 layout (ACL categories, tips and key specs left empty).
void append_command_info(std::string& out, const resp::CommandInfo& info) {
  resp::append_array_header(out, 10);
  resp::append_bulk(out, info.name);
  resp::append_integer(out, info.arity);
  append_flags(out, info.flags);
  resp::append_integer(out, info.first_key);
  resp::append_integer(out, info.last_key);
  resp::append_integer(out, info.step);
  resp::append_array_header(out, 0);
  resp::append_array_header(out, 0);
  resp::append_array_header(out, 0);
  resp::append_array_header(out, info.subcommands.size());
  for (const auto& sub : info.subcommands) append_command_info(out, sub);
}

void command_all(const LocalRequest&, std::string& out) {
  const auto all = resp::CommandTable::instance().all();
  resp::append_array_header(out, all.size());
  for (const auto& info : all) append_command_info(out, info);
}

void command_count(const LocalRequest&, std::string& out) {
  resp::append_integer(out, static_cast<std::int64_t>(resp::CommandTable::instance().all().size()));
}

void command_list(const LocalRequest&, std::string& out) {
  const auto all = resp::CommandTable::instance().all();
  resp::append_array_header(out, all.size());
  for (const auto& info : all) resp::append_bulk(out, info.name);
}

void command_info(const LocalRequest& r, std::string& out) {
  const auto& table = resp::CommandTable::instance();
  if (r.args.size() == 2) return command_all(r, out);
  resp::append_array_header(out, r.args.size() - 2);
  for (std::size_t i = 2; i < r.args.size(); ++i) {
    const resp::CommandInfo* info = table.find(r.args[i]);
    if (info == nullptr) {
      if (r.client.protocol == 3) {
        resp::append_null(out);
      } else {
        resp::append_null_array(out);
      }
    } else {
      append_command_info(out, *info);
    }
  }
}

void command_docs(const LocalRequest& r, std::string& out) {
  if (r.client.protocol == 3) return resp::append_map_header(out, 0);  // a map, as Redis
  resp::append_array_header(out, 0);
}

void command_getkeys(const LocalRequest& r, std::string& out) {
  const auto args = r.args.subspan(2);
  const resp::CommandInfo* info = resp::CommandTable::instance().find(args[0]);
  if (info == nullptr) return resp::append_error(out, errors::kInvalidCommand);
  if (!info->subcommands.empty() && args.size() > 1) {
    if (const auto* sub = resp::CommandTable::find_subcommand(*info, args[1])) info = sub;
  }
  if (!info->arity_ok(args.size())) {
    return resp::append_error(out, errors::kInvalidCommandArity);
  }
  std::vector<std::uint32_t> keys;
  std::string error;
  if (!resp::key_indexes(*info, args, keys, error)) return resp::append_error(out, error);
  if (keys.empty()) return resp::append_error(out, errors::kNoKeyArguments);
  resp::append_array_header(out, keys.size());
  for (const auto k : keys) resp::append_bulk(out, args[k]);
}

void info(const LocalRequest& r, std::string& out) {
  const std::string text = info_text(r.process, r.nodes, r.args.subspan(1));
  if (r.client.protocol == 3) return resp::append_verbatim(out, "txt", text);  // as Redis 7
  resp::append_bulk(out, text);
}

void config_get(const LocalRequest& r, std::string& out) {
  // sidecache has no Redis settings to show; an empty answer keeps tools such as
  // redis-benchmark (which asks for "save" and "appendonly") going. RESP3: a map.
  if (r.client.protocol == 3) return resp::append_map_header(out, 0);
  resp::append_array_header(out, 0);
}

void time_now(const LocalRequest&, std::string& out) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
  resp::append_array_header(out, 2);
  resp::append_bulk(out, std::to_string(us / 1000000));
  resp::append_bulk(out, std::to_string(us % 1000000));
}

constexpr std::pair<std::string_view, Handler> kHandlers[] = {
    {"ping", ping},
    {"echo", echo},
    {"quit", quit},
    {"select", select_db},
    {"auth", auth},
    {"acl|whoami", acl_whoami},
    {"reset", reset},
    {"hello", hello},
    {"client|setname", client_setname},
    {"client|getname", client_getname},
    {"client|id", client_id},
    {"client|setinfo", client_setinfo},
    {"command", command_all},
    {"command|count", command_count},
    {"command|list", command_list},
    {"command|info", command_info},
    {"command|docs", command_docs},
    {"command|getkeys", command_getkeys},
    {"info", info},
    {"config|get", config_get},
    {"time", time_now},
    {"sidecache|hotkeys", sidecache_hotkeys},
    {"sidecache|help", sidecache_help},
};

Handler find_handler(std::string_view name) {
  for (const auto& [n, h] : kHandlers) {
    if (n == name) return h;
  }
  return nullptr;
}

}  // namespace

bool has_local_handler(std::string_view full_name) { return find_handler(full_name) != nullptr; }

bool run_local(const LocalRequest& request, std::string& out) {
  const Handler handler = find_handler(request.info.name);
  if (handler == nullptr) return false;
  handler(request, out);
  return true;
}

}  // namespace sidecache::dispatch
