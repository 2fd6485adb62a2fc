// Commands sidecache answers itself, without a node: connection handshake (HELLO, AUTH,
// CLIENT SETNAME...), PING/ECHO/QUIT/SELECT, COMMAND, INFO, CONFIG GET, TIME, SIDECACHE.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "dispatch/process_state.hpp"
#include "resp/command_table.hpp"
#include "sidecache/node_sender.hpp"

namespace sidecache::dispatch {

struct LocalRequest {
  const resp::CommandInfo& info;
  std::span<const std::string_view> args;
  ClientState& client;
  const ProcessState& process;
  const NodeSender& nodes;  // this worker's view of the nodes (INFO)
};

// Appends the reply to `out`. False when no local handler exists for the command.
bool run_local(const LocalRequest& request, std::string& out);

// True when run_local knows the command (by its full name, e.g. "client|setname").
bool has_local_handler(std::string_view full_name);

// The INFO text for the given section names (empty: the default sections).
std::string info_text(const ProcessState& process, const NodeSender& nodes,
                      std::span<const std::string_view> sections);

}  // namespace sidecache::dispatch
