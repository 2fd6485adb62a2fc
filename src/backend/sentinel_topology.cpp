#include "backend/sentinel_topology.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <tuple>

namespace sidecache::backend {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = text.find(' ', pos);
    const auto stop = end == std::string_view::npos ? text.size() : end;
    if (stop > pos) out.push_back(text.substr(pos, stop - pos));
    pos = stop + 1;
  }
  return out;
}

void append(std::string& error, const std::string& what) {
  error += (error.empty() ? "" : "; ") + what;
}

// ROLE of `address`, asked over a connection opened like the pool's own. kUnknown with `error`
// set when it could not be asked.
Role ask_role(const config::PoolConfig& pool, const config::Endpoint& address, std::string& error) {
  config::PoolConfig one = pool;
  one.nodes.assign(1, config::NodeConfig{});
  one.nodes[0].name = config::format_endpoint(address);
  one.nodes[0].address = address;
  BlockingClient client(
      NodeAddress{one.nodes[0].name, address.host, address.port, make_node_security(one, 0)},
      pool.connect_timeout);
  const std::string args[] = {"ROLE"};
  const auto reply = client.command(args);
  if (!reply) {
    error = client.error();
    return Role::kUnknown;
  }
  const Role role = parse_role(*reply);
  if (role == Role::kUnknown) error = reply->is_error() ? reply->str : "unexpected ROLE reply";
  return role;
}

}  // namespace

std::optional<SwitchMaster> parse_switch_master(std::string_view payload) {
  const auto w = words(payload);
  if (w.size() != 5) return std::nullopt;
  const auto from_port = parse_port(w[2]);
  const auto to_port = parse_port(w[4]);
  if (!from_port || !to_port) return std::nullopt;
  return SwitchMaster{std::string(w[0]), config::Endpoint{std::string(w[1]), *from_port},
                      config::Endpoint{std::string(w[3]), *to_port}};
}

Role parse_role(const Reply& reply) {
  if (reply.type != Reply::Type::kArray || reply.items.empty() ||
      reply.items[0].type != Reply::Type::kString) {
    return Role::kUnknown;
  }
  const auto& name = reply.items[0].str;
  if (name == "master") return Role::kMaster;
  if (name == "slave" || name == "replica") return Role::kReplica;
  if (name == "sentinel") return Role::kSentinel;
  return Role::kUnknown;
}

const char* role_name(Role role) {
  switch (role) {
    case Role::kMaster:
      return "master";
    case Role::kReplica:
      return "replica";
    case Role::kSentinel:
      return "sentinel";
    case Role::kUnknown:
      break;
  }
  return "unknown";
}

std::optional<config::Endpoint> parse_master_addr(const Reply& reply) {
  if (reply.type == Reply::Type::kNil) return std::nullopt;
  if (reply.is_error()) throw std::invalid_argument(reply.str);
  if (reply.type != Reply::Type::kArray || reply.items.size() != 2 ||
      reply.items[0].type != Reply::Type::kString || reply.items[0].str.empty() ||
      reply.items[1].type != Reply::Type::kString) {
    throw std::invalid_argument("get-master-addr-by-name: not [ip, port]");
  }
  const auto port = parse_port(reply.items[1].str);
  if (!port) throw std::invalid_argument("get-master-addr-by-name: bad port");
  return config::Endpoint{reply.items[0].str, *port};
}

std::vector<config::Endpoint> parse_replicas(const Reply& reply) {
  if (reply.is_error()) throw std::invalid_argument(reply.str);
  if (reply.type != Reply::Type::kArray) throw std::invalid_argument("replicas: not an array");
  std::vector<config::Endpoint> out;
  for (const auto& entry : reply.items) {
    if (entry.type != Reply::Type::kArray) throw std::invalid_argument("replicas: not a map");
    std::string ip, port, flags;
    for (std::size_t i = 0; i + 1 < entry.items.size(); i += 2) {
      const auto& field = entry.items[i].str;
      const auto& value = entry.items[i + 1].str;
      if (field == "ip") ip = value;
      if (field == "port") port = value;
      if (field == "flags") flags = value;
    }
    const auto number = parse_port(port);
    if (ip.empty() || !number) continue;
    bool down = false;
    for (const char* bad : {"s_down", "o_down", "disconnected"}) {
      if (flags.find(bad) != std::string::npos) down = true;
    }
    if (!down) out.push_back(config::Endpoint{ip, *number});
  }
  std::sort(out.begin(), out.end(), [](const config::Endpoint& a, const config::Endpoint& b) {
    return std::tie(a.host, a.port) < std::tie(b.host, b.port);
  });
  return out;
}

std::shared_ptr<const NodeSecurity> sentinel_security(const config::SentinelConfig& sentinel) {
  auto security = std::make_shared<NodeSecurity>();
  security->username = sentinel.username;
  security->password = sentinel.password;
  if (sentinel.tls.enabled) {
    security->server_name = sentinel.tls.server_name;
    security->verify = sentinel.tls.verify;
    try {
      security->tls = make_tls_context(sentinel.tls, TlsRole::kClient);
    } catch (const std::exception& e) {
      security->tls_error = e.what();  // every connect to a Sentinel fails with it
    }
  }
  return security;
}

Resolution resolve_primary(const config::PoolConfig& pool,
                           const std::optional<config::Endpoint>& hint) {
  return resolve_primary(pool, pool.sentinel.master, hint);
}

Resolution resolve_primary(const config::PoolConfig& pool, const std::string& master,
                           const std::optional<config::Endpoint>& hint) {
  Resolution out;
  const auto& sentinel = pool.sentinel;
  // True when `address` answers ROLE master (out.primary is then set).
  auto verify = [&](const config::Endpoint& address, const std::string& named_by) {
    std::string error;
    const Role role = ask_role(pool, address, error);
    if (role == Role::kMaster) {
      out.primary = address;
      return true;
    }
    const auto name = config::format_endpoint(address);
    if (role == Role::kReplica) out.replicas.push_back(address);
    append(out.error,
           named_by + " names " + name + ", which " +
               (role == Role::kUnknown ? "cannot be asked ROLE: " + error
                                       : std::string("answers ROLE as a ") + role_name(role)));
    return false;
  };
  const auto security = sentinel_security(sentinel);
  // The primary's replicas, from the first Sentinel that lists them (read_from only).
  const auto with_replicas = [&]() -> Resolution& {
    if (sentinel.read_from == config::ReadFrom::kPrimary || !out.primary) return out;
    const std::string args[] = {"SENTINEL", "replicas", master};
    for (const auto& address : sentinel.sentinels) {
      const auto name = config::format_endpoint(address);
      BlockingClient client(NodeAddress{name, address.host, address.port, security},
                            pool.connect_timeout);
      const auto reply = client.command(args);
      if (!reply) continue;
      try {
        out.readable = parse_replicas(*reply);
      } catch (const std::invalid_argument&) {
        continue;
      }
      std::erase(out.readable, *out.primary);
      break;
    }
    return out;
  };
  if (hint && verify(*hint, "+switch-master")) return with_replicas();
  const std::string args[] = {"SENTINEL", "get-master-addr-by-name", master};
  for (const auto& address : sentinel.sentinels) {
    const auto name = config::format_endpoint(address);
    BlockingClient client(NodeAddress{name, address.host, address.port, security},
                          pool.connect_timeout);
    const auto reply = client.command(args);
    if (!reply) {
      append(out.error, "Sentinel " + name + ": " + client.error());
      continue;
    }
    std::optional<config::Endpoint> named;
    try {
      named = parse_master_addr(*reply);
    } catch (const std::invalid_argument& e) {
      append(out.error, "Sentinel " + name + ": " + e.what());
      continue;
    }
    if (!named) {
      append(out.error, "Sentinel " + name + " does not know master '" + master + "'");
      continue;
    }
    if (verify(*named, "Sentinel " + name)) return with_replicas();
  }
  return out;
}

config::Config with_primary(const config::Config& config, const config::Endpoint& primary,
                            const std::vector<config::Endpoint>& replicas) {
  config::Config out = config;
  config::NodeConfig node;
  node.name = config::format_endpoint(primary);
  node.address = primary;
  out.pool.nodes.assign(1, std::move(node));
  out.pool.replicas.clear();
  for (const auto& address : replicas) {
    config::NodeConfig replica;
    replica.name = config::format_endpoint(address);
    replica.address = address;
    out.pool.replicas.push_back(std::move(replica));
  }
  out.pool.unresolved.clear();
  return out;
}

std::vector<config::Endpoint> replicas_of(const config::PoolConfig& pool) {
  std::vector<config::Endpoint> out;
  if (pool.type != config::PoolType::kSentinel) return out;
  for (const auto& replica : pool.replicas) out.push_back(replica.address);
  return out;
}

config::Config without_primary(const config::Config& config, std::string why) {
  config::Config out = config;
  config::NodeConfig node;
  node.name = config.pool.sentinel.master;
  out.pool.nodes.assign(1, std::move(node));
  out.pool.replicas.clear();
  out.pool.unresolved = why.empty() ? std::string("no Sentinel answered") : std::move(why);
  return out;
}

std::optional<config::Endpoint> primary_of(const config::PoolConfig& pool) {
  if (pool.type != config::PoolType::kSentinel || !pool.unresolved.empty() || pool.nodes.empty()) {
    return std::nullopt;
  }
  return pool.nodes[0].address;
}

void set_group_primary(config::PoolConfig& pool, std::size_t index,
                       const config::Endpoint& primary) {
  auto& node = pool.nodes.at(index);
  node.address = primary;
  node.unresolved.clear();
}

void clear_group_primary(config::PoolConfig& pool, std::size_t index, std::string why) {
  auto& node = pool.nodes.at(index);
  node.address = config::Endpoint{};
  node.unresolved = why.empty() ? std::string("no Sentinel answered") : std::move(why);
}

std::optional<config::Endpoint> group_primary(const config::PoolConfig& pool, std::size_t index) {
  if (index >= pool.nodes.size()) return std::nullopt;
  const auto& node = pool.nodes[index];
  if (node.master.empty() || !node.unresolved.empty() || node.address.port == 0) {
    return std::nullopt;
  }
  return node.address;
}

std::size_t group_of(const config::PoolConfig& pool, const std::string& master) {
  for (std::size_t i = 0; i < pool.nodes.size(); ++i) {
    if (pool.nodes[i].master == master) return i;
  }
  return pool.nodes.size();
}

std::vector<std::string> followed_masters(const config::PoolConfig& pool) {
  std::vector<std::string> out;
  if (pool.type == config::PoolType::kSentinel) {
    out.push_back(pool.sentinel.master);
  } else if (pool.sentinel_groups()) {
    for (const auto& node : pool.nodes) out.push_back(node.master);
  }
  return out;
}

}  // namespace sidecache::backend
