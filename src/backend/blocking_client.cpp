#include "backend/blocking_client.hpp"

#include <charconv>

#include "resp/writer.hpp"

namespace sidecache::backend {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

std::int64_t to_int(std::string_view text) {
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// Decodes the value at `pos` of an already framed (hence well-formed) reply.
Reply decode_at(std::string_view in, std::size_t& pos) {
  Reply r;
  const char type = in[pos];
  const std::size_t eol = in.find("\r\n", pos);
  const std::string_view line = in.substr(pos + 1, eol - pos - 1);
  pos = eol + 2;
  switch (type) {
    case '+':
      r.type = Reply::Type::kStatus;
      r.str = line;
      break;
    case '-':
      r.type = Reply::Type::kError;
      r.str = line;
      break;
    case ':':
      r.type = Reply::Type::kInteger;
      r.integer = to_int(line);
      break;
    case '$':
    case '=':
    case '!': {
      const std::int64_t len = to_int(line);
      if (len < 0) break;  // nil
      r.type = type == '!' ? Reply::Type::kError : Reply::Type::kString;
      r.str = in.substr(pos, static_cast<std::size_t>(len));
      pos += static_cast<std::size_t>(len) + 2;
      break;
    }
    case '*':
    case '~':
    case '>':
    case '%': {
      std::int64_t count = to_int(line);
      if (count < 0) break;  // nil array
      if (type == '%') count *= 2;
      r.type = Reply::Type::kArray;
      r.items.reserve(static_cast<std::size_t>(std::min<std::int64_t>(count, 1024)));
      for (std::int64_t i = 0; i < count; ++i) r.items.push_back(decode_at(in, pos));
      break;
    }
    case '_':
      break;
    default:  // , ( # : their text as a status
      r.type = Reply::Type::kStatus;
      r.str = line;
      break;
  }
  return r;
}

}  // namespace

Reply decode_reply(std::string_view framed) {
  std::size_t pos = 0;
  return decode_at(framed, pos);
}

BlockingClient::BlockingClient(NodeAddress node, std::chrono::milliseconds timeout)
    : node_(std::move(node)), timeout_(timeout), stream_(io_.get_executor()) {}

// Runs `op` (an awaitable factory) on the private io_context for at most `limit`; on timeout
// the connection is closed, which ends the operation.
template <class Op>
bool BlockingClient::run_for(Op op, std::chrono::milliseconds limit) {
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io_, op(), [&](std::exception_ptr e) {
    done = true;
    failure = e;
  });
  io_.restart();
  io_.run_for(limit);
  if (!done) {
    stream_.close();
    io_.restart();
    io_.run();  // the operation ends with operation_aborted
  }
  if (failure) std::rethrow_exception(failure);
  return done;
}

bool BlockingClient::connect() {
  if (stream_.is_open()) return true;
  in_.consume(in_.size());
  framer_.reset();
  OpenResult result;
  run_for(
      [&]() -> asio::awaitable<void> {
        result = co_await open_node(stream_, node_, false, timeout_, in_);
      },
      timeout_ * 3);
  failure_ = result.failure;
  error_ = result.reason;
  if (!result.ok()) stream_.close();
  return result.ok();
}

asio::awaitable<void> BlockingClient::exchange(std::string request, std::optional<Reply>& out) {
  boost::system::error_code ec;
  co_await asio::async_write(stream_, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    error_ = "write failed: " + ec.message();
    co_return;
  }
  for (;;) {
    std::size_t length = 0;
    const auto status = framer_.frame(in_.readable(), length);
    if (status == resp::FrameStatus::kComplete) {
      out = decode_reply(in_.readable().substr(0, length));
      in_.consume(length);
      co_return;
    }
    if (status == resp::FrameStatus::kError) {
      error_ = "protocol error from node: " + std::string(framer_.error());
      co_return;
    }
    std::size_t free = 0;
    char* space = in_.prepare(kReadChunk, free);
    const std::size_t n = co_await stream_.async_read_some(
        asio::buffer(space, free), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      error_ = ec == asio::error::eof ? "closed by the node" : ec.message();
      co_return;
    }
    in_.commit(n);
  }
}

std::optional<Reply> BlockingClient::command(std::span<const std::string> args,
                                             std::chrono::milliseconds extra) {
  if (!connect()) return std::nullopt;
  std::vector<std::string_view> views(args.begin(), args.end());
  std::string request;
  resp::append_command(request, views);
  std::optional<Reply> out;
  error_.clear();
  const bool finished =
      run_for([&]() { return exchange(std::move(request), out); }, timeout_ + extra);
  if (!finished) error_ = "no reply within " + std::to_string((timeout_ + extra).count()) + " ms";
  if (!out) {
    stream_.close();
    in_.consume(in_.size());
    framer_.reset();
  }
  return out;
}

}  // namespace sidecache::backend
