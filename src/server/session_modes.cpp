#include "server/session_modes.hpp"

#include <map>
#include <vector>

#include "resp/errors.hpp"
#include "resp/writer.hpp"

namespace sidecache::server {

namespace {

// This worker's idle dedicated connections (one worker per thread), by node address and
// protocol. Each still holds its share of pool.max_dedicated_connections.
thread_local std::map<std::string, std::vector<std::shared_ptr<backend::Link>>> idle_links;

std::string idle_key(const std::string& name, const std::string& host, std::uint16_t port,
                     bool resp3) {
  return name + '\n' + host + ':' + std::to_string(port) + (resp3 ? "/3" : "/2");
}

std::string idle_key(const backend::Link& link) {
  return idle_key(link.node().name, link.node().host, link.node().port, link.speaks_resp3());
}

void forget_idle(const std::string& key, const backend::Link* link) {
  auto found = idle_links.find(key);
  if (found == idle_links.end()) return;
  auto& list = found->second;
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (it->get() != link) continue;
    (*it)->stop();
    list.erase(it);
    return;
  }
}

void keep_idle(std::shared_ptr<backend::Link> link) {
  const std::string key = idle_key(*link);
  auto& list = idle_links[key];
  if (list.size() >= kIdleLinksPerNode) return link->stop();
  const backend::Link* raw = link.get();
  // Idle, the node has nothing to say: any frame, or the node closing it, ends it.
  link->set_handlers([key, raw](std::string_view) { forget_idle(key, raw); },
                     [key, raw](const std::string&) { forget_idle(key, raw); });
  list.push_back(std::move(link));
}

std::shared_ptr<backend::Link> take_idle(const std::string& key) {
  auto found = idle_links.find(key);
  if (found == idle_links.end()) return nullptr;
  auto& list = found->second;
  while (!list.empty()) {
    auto link = std::move(list.back());
    list.pop_back();
    if (link->stopped()) continue;
    link->set_handlers({}, {});
    return link;
  }
  return nullptr;
}

// Closes one of this worker's idle connections to the node (any protocol): its share of the
// cap goes to a client that needs one now. False when there is none.
bool evict_idle(const std::string& name) {
  const std::string prefix = name + '\n';
  for (auto it = idle_links.lower_bound(prefix);
       it != idle_links.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (it->second.empty()) continue;
    it->second.back()->stop();
    it->second.pop_back();
    return true;
  }
  return false;
}

}  // namespace

backend::Link::OnIdle keep_for_reuse() { return keep_idle; }

std::shared_ptr<backend::Link> open_link(const ModeContext& ctx, std::uint32_t node,
                                         std::string& error) {
  const auto& pool = ctx.config->pool;
  const auto& address = pool.nodes.at(node);
  if (!ctx.nodes().node_up(node)) {
    error = resp::errors::node_down(address.name);
    return nullptr;
  }
  const bool resp3 = ctx.client.protocol == 3;
  if (auto idle =
          take_idle(idle_key(address.name, address.address.host, address.address.port, resp3))) {
    return idle;
  }
  auto ticket = ctx.process.dedicated_links.acquire(address.name, pool.max_dedicated_connections);
  while (!ticket.held() && evict_idle(address.name)) {
    ticket = ctx.process.dedicated_links.acquire(address.name, pool.max_dedicated_connections);
  }
  if (!ticket.held()) {
    error = resp::errors::too_many_dedicated(address.name, pool.max_dedicated_connections);
    return nullptr;
  }
  auto link = std::make_shared<backend::Link>(
      ctx.executor,
      backend::NodeAddress{address.name, address.address.host, address.address.port,
                           ctx.nodes().node_security(node)},
      backend::LinkOptions{pool.connect_timeout, resp3}, std::move(ticket));
  return link;
}

std::function<void(std::chrono::milliseconds, std::function<void()>)> redirect_wait(
    const ModeContext& ctx) {
  return [executor = ctx.executor](std::chrono::milliseconds delay, std::function<void()> then) {
    auto timer = std::make_shared<asio::steady_timer>(executor, delay);
    timer->async_wait(
        [timer, then = std::move(then)](const boost::system::error_code&) { then(); });
  };
}

bool keys_node(const ModeContext& ctx, const resp::CommandInfo& info,
               std::span<const std::string_view> args, std::uint32_t& node, bool& has_keys,
               std::string& error) {
  thread_local std::vector<std::uint32_t> keys;
  if (!resp::key_indexes(info, args, keys, error)) return false;
  has_keys = !keys.empty();
  if (!has_keys) return true;
  auto& nodes = ctx.nodes();
  const std::uint32_t group = nodes.group_of_key(args[keys[0]]);
  for (std::size_t i = 1; i < keys.size(); ++i) {
    if (nodes.group_of_key(args[keys[i]]) != group) {
      const auto text = nodes.cross_group_error();
      error = text.empty() ? resp::errors::kCrossSlot : text;
      return false;
    }
  }
  node = nodes.node_of_group(group);
  return true;
}

}  // namespace sidecache::server
