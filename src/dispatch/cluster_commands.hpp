// CLUSTER subcommands a single-node client may send, answered by sidecache itself when the
// pool is a Redis Cluster, so that the client sees one node (sidecache's listen address)
// serving all 16384 slots: CLUSTER INFO, SLOTS, SHARDS, MYID, KEYSLOT. On a ring pool they
// stay rejected as administrative commands. Asio-free.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace sidecache::dispatch {

// Appends the reply to `args` (a CLUSTER subcommand named `name`, "cluster|info", ...) for a
// client of RESP version `protocol`. False (nothing appended) when `config` is not a cluster
// pool's or the subcommand is not one of those answered here.
bool answer_cluster_command(std::string_view name, std::span<const std::string_view> args,
                            const config::Config& config, int protocol, std::string& out);

// The 40-hex-digit node id sidecache gives itself (stable for a listen address).
std::string cluster_node_id(const config::Endpoint& listen);

}  // namespace sidecache::dispatch
