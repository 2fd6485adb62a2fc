// What the session's modes (transaction, blocking, pubsub) share: the worker's dispatcher and
// configuration, the process-wide cap on dedicated node connections, and a way back to the
// client (unsolicited frames, closing it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "backend/link.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/process_state.hpp"
#include "resp/writer.hpp"  // resp_form()
#include "sidecache/util/asio.hpp"

namespace sidecache::server {

class ModeHost {
 public:
  virtual ~ModeHost() = default;
  // A frame the client did not ask for (a Pub/Sub message), written after the replies owed.
  virtual void push(std::string_view frame) = 0;
  // The client cannot be served any more (its subscriptions were lost): close it.
  virtual void close_client(std::string_view why) = 0;
};

struct ModeContext {
  asio::any_io_executor executor;
  dispatch::Dispatcher& dispatcher;
  const std::shared_ptr<const config::Config>& config;  // the worker's current one
  dispatch::ProcessState& process;
  dispatch::WorkerStats& stats;
  dispatch::ClientState& client;
  ModeHost& host;

  NodeSender& nodes() const { return dispatcher.nodes(); }
};

// A dedicated connection to `node` speaking the client's protocol, not started yet (set its
// handlers, then start it); null when the node is down or the process already has
// pool.max_dedicated_connections to it (`error` says so, a RESP error text without the '-').
std::shared_ptr<backend::Link> open_link(const ModeContext& ctx, std::uint32_t node,
                                         std::string& error);

// For Link::release(): keeps the released link in this worker's small cache of idle
// dedicated connections (up to kIdleLinksPerNode per node and protocol), from which open_link()
// takes it again: no connect per transaction or blocking command, and no TIME_WAIT pile-up on
// busy work queues. Only for links the node holds no client state on.
backend::Link::OnIdle keep_for_reuse();
inline constexpr std::size_t kIdleLinksPerNode = 4;

// A PinnedRedirect's wait: a timer on the session's executor.
std::function<void(std::chrono::milliseconds, std::function<void()>)> redirect_wait(
    const ModeContext& ctx);

// The node all of a command's keys map to: true and `node` set; false with `error` set (a
// malformed numkeys, or CROSSSLOT). `has_keys` false: the command has no keys (node unset).
bool keys_node(const ModeContext& ctx, const resp::CommandInfo& info,
               std::span<const std::string_view> args, std::uint32_t& node, bool& has_keys,
               std::string& error);

}  // namespace sidecache::server
