#include "server/session_modes.hpp"

#include <vector>

#include "dispatch/errors.hpp"
#include "resp/writer.hpp"

namespace sidecache::server {

std::shared_ptr<backend::Link> open_link(const ModeContext& ctx, std::uint32_t node,
                                         std::string& error) {
  const auto& pool = ctx.config->pool;
  const auto& address = pool.nodes.at(node);
  if (!ctx.nodes().node_up(node)) {
    error = "ERR node " + address.name + " is down";
    return nullptr;
  }
  auto ticket = ctx.process.dedicated_links.acquire(address.name, pool.max_dedicated_connections);
  if (!ticket.held()) {
    error = "ERR sidecache: too many dedicated connections to node " + address.name +
            " (pool.max_dedicated_connections=" + std::to_string(pool.max_dedicated_connections) +
            ")";
    return nullptr;
  }
  auto link = std::make_shared<backend::Link>(
      ctx.executor, backend::NodeAddress{address.name, address.address.host, address.address.port},
      backend::LinkOptions{pool.connect_timeout, ctx.client.protocol == 3}, std::move(ticket));
  return link;
}

std::string_view resp_form(const resp::Command& command, std::string_view raw,
                           std::string& scratch) {
  if (!command.inline_form) return raw;
  scratch.clear();
  resp::append_command(scratch, command.args);
  return scratch;
}

bool keys_node(const ModeContext& ctx, const resp::CommandInfo& info,
               std::span<const std::string_view> args, std::uint32_t& node, bool& has_keys,
               std::string& error) {
  thread_local std::vector<std::uint32_t> keys;
  if (!resp::key_indexes(info, args, keys, error)) return false;
  has_keys = !keys.empty();
  if (!has_keys) return true;
  auto& nodes = ctx.nodes();
  node = nodes.node_for_key(args[keys[0]]);
  for (std::size_t i = 1; i < keys.size(); ++i) {
    if (nodes.node_for_key(args[keys[i]]) != node) {
      error = dispatch::errors::kCrossSlot;
      return false;
    }
  }
  return true;
}

}  // namespace sidecache::server
