#include "dispatch/cluster_commands.hpp"

#include <cstdint>

#include "resp/writer.hpp"
#include "route/cluster_slots.hpp"

namespace sidecache::dispatch {
namespace {

void append_map(std::string& out, int protocol, std::size_t pairs) {
  if (protocol == 3) {
    resp::append_map_header(out, pairs);
  } else {
    resp::append_array_header(out, pairs * 2);
  }
}

std::string info_text(const config::Config& config) {
  const auto& slots = config.pool.slots;
  const std::uint32_t covered = slots ? slots->covered() : 0;
  const std::uint64_t epoch = slots ? slots->epoch() : 0;
  std::string text;
  const auto field = [&text](std::string_view key, const std::string& value) {
    text.append(key).append(":").append(value).append("\r\n");
  };
  field("cluster_state", covered == route::kClusterSlots ? "ok" : "fail");
  field("cluster_slots_assigned", std::to_string(covered));
  field("cluster_slots_ok", std::to_string(covered));
  field("cluster_slots_pfail", "0");
  field("cluster_slots_fail", "0");
  field("cluster_known_nodes", "1");
  field("cluster_size", "1");
  field("cluster_current_epoch", std::to_string(epoch));
  field("cluster_my_epoch", std::to_string(epoch));
  field("cluster_stats_messages_sent", "0");
  field("cluster_stats_messages_received", "0");
  field("total_cluster_links_buffer_limit_exceeded", "0");
  return text;
}

void append_slots(const config::Config& config, std::string& out) {
  resp::append_array_header(out, 1);
  resp::append_array_header(out, 3);
  resp::append_integer(out, 0);
  resp::append_integer(out, route::kClusterSlots - 1);
  resp::append_array_header(out, 4);
  resp::append_bulk(out, config.listen.host);
  resp::append_integer(out, config.listen.port);
  resp::append_bulk(out, cluster_node_id(config.listen));
  resp::append_array_header(out, 0);
}

void append_shards(const config::Config& config, int protocol, std::string& out) {
  resp::append_array_header(out, 1);
  append_map(out, protocol, 2);
  resp::append_bulk(out, "slots");
  resp::append_array_header(out, 2);
  resp::append_integer(out, 0);
  resp::append_integer(out, route::kClusterSlots - 1);
  resp::append_bulk(out, "nodes");
  resp::append_array_header(out, 1);
  append_map(out, protocol, 7);
  resp::append_bulk(out, "id");
  resp::append_bulk(out, cluster_node_id(config.listen));
  resp::append_bulk(out, "port");
  resp::append_integer(out, config.listen.port);
  resp::append_bulk(out, "ip");
  resp::append_bulk(out, config.listen.host);
  resp::append_bulk(out, "endpoint");
  resp::append_bulk(out, config.listen.host);
  resp::append_bulk(out, "role");
  resp::append_bulk(out, "master");
  resp::append_bulk(out, "replication-offset");
  resp::append_integer(out, 0);
  resp::append_bulk(out, "health");
  resp::append_bulk(out, "online");
}

}  // namespace

std::string cluster_node_id(const config::Endpoint& listen) {
  // FNV-1a 64 of "sidecache host:port", then of itself, ... as 40 hex digits.
  const std::string seed = "sidecache " + config::format_endpoint(listen);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  std::uint64_t hash = 0xcbf29ce484222325ull;
  while (id.size() < 40) {
    for (const char c : seed) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 0x100000001b3ull;
    }
    for (int i = 0; i < 16 && id.size() < 40; ++i) id.push_back(kHex[(hash >> (i * 4)) & 0xf]);
  }
  return id;
}

bool answer_cluster_command(std::string_view name, std::span<const std::string_view> args,
                            const config::Config& config, int protocol, std::string& out) {
  if (config.pool.type != config::PoolType::kCluster) return false;
  if (name == "cluster|info") {
    resp::append_bulk(out, info_text(config));
  } else if (name == "cluster|slots") {
    append_slots(config, out);
  } else if (name == "cluster|shards") {
    append_shards(config, protocol, out);
  } else if (name == "cluster|myid") {
    resp::append_bulk(out, cluster_node_id(config.listen));
  } else if (name == "cluster|keyslot" && args.size() == 3) {
    resp::append_integer(out, route::key_slot(args[2]));
  } else {
    return false;
  }
  return true;
}

}  // namespace sidecache::dispatch
