// The one way sidecache includes Asio. Asio 1.18 (Boost 1.74) uses std::exchange in
// awaitable.hpp without including <utility>; libstdc++ 12 no longer brings it in transitively.
#pragma once

// Must come before any Asio header (its own include block, so formatting keeps it first).
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace sidecache {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
}  // namespace sidecache
