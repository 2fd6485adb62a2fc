// Who may run what: authentication (NOAUTH), ACL users (NOPERM for commands, keys, Pub/Sub
// channels) and the operator's denied commands, checked in Redis's order on every resolved
// command, wherever it runs (dispatcher, inside MULTI). Asio-free.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dispatch/process_state.hpp"
#include "resp/command_table.hpp"

namespace sidecache::dispatch {

// True when `client` may run `info` with `args`; else false with `error` set to the reply's
// text. Call only when client.guarded. `keys` is scratch.
bool check_access(const resp::CommandInfo& info, std::span<const std::string_view> args,
                  const ClientState& client, std::vector<std::uint32_t>& keys, std::string& error);

// Brings the client's access state in step with `config` (after a reload, or at connect).
// False when the client's user no longer exists or is off: Redis closes such clients.
bool refresh_access(ClientState& client, const std::shared_ptr<const config::Config>& config);

// The user a fresh connection (or RESET) is: null when it must AUTH first.
void reset_access(ClientState& client);

}  // namespace sidecache::dispatch
