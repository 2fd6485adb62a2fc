#include "backend/connection.hpp"

#include <spdlog/spdlog.h>

#include "resp/writer.hpp"

namespace sidecache::backend {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kShrinkAbove = 1024 * 1024;

}  // namespace

Connection::Connection(asio::io_context& io, NodeAddress node, ConnectionOptions options,
                       std::shared_ptr<NodeStats> stats)
    : io_(io),
      node_(std::move(node)),
      options_(options),
      stats_(std::move(stats)),
      socket_(io),
      timeout_timer_(io),
      backoff_timer_(io) {}

void Connection::start() {
  if (state_ != State::kIdle) return;
  state_ = State::kConnecting;
  asio::co_spawn(io_, run(), [name = node_.name](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("backend {}: connection task failed: {}", name, ex.what());
    }
  });
}

void Connection::stop() {
  state_ = State::kStopped;
  close_socket();
  backoff_timer_.cancel();
  timeout_timer_.cancel();
  fail_pending("sidecache is shutting down");
}

void Connection::send(std::string_view request, ReplyTarget target) {
  stats_->requests.add();
  switch (state_) {
    case State::kStopped:
      stats_->errors_connection.add();
      reply_error(target, "is unavailable (sidecache is shutting down)");
      return;
    case State::kBackoff:
      scratch_ = "is unavailable (" + last_error_ + ")";
      stats_->errors_connection.add();
      reply_error(target, scratch_);
      return;
    case State::kIdle:
    case State::kConnecting:
    case State::kConnected:
      break;
  }
  if (pending_.size() >= options_.max_inflight) {
    stats_->errors_connection.add();
    reply_error(target, "has too many requests in flight");
    return;
  }
  pending_.push_back(Pending{std::move(target), std::chrono::steady_clock::now()});
  stats_->inflight.add(1);
  out_.append(request);
  arm_timeout();
  schedule_flush();
}

void Connection::schedule_flush() {
  if (flush_posted_ || writing_ || state_ != State::kConnected) return;
  flush_posted_ = true;
  asio::post(io_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void Connection::flush() {
  if (writing_ || out_.empty() || state_ != State::kConnected) return;
  writing_buf_.swap(out_);
  writing_ = true;
  asio::async_write(
      socket_, asio::buffer(writing_buf_),
      [self = shared_from_this(), gen = generation_](boost::system::error_code ec, std::size_t) {
        self->writing_ = false;
        self->writing_buf_.clear();
        if (gen != self->generation_) {
          self->flush();  // a write of an earlier connection ended; use the new one
          return;
        }
        if (ec) {
          self->last_error_ = "write failed: " + ec.message();
          self->close_socket();  // the reader sees it and reconnects
          return;
        }
        self->flush();
      });
}

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  auto backoff = options_.backoff_min;
  bool logged_failure = false;
  while (state_ != State::kStopped) {
    state_ = State::kConnecting;
    if (co_await connect()) {
      if (state_ == State::kStopped) break;
      state_ = State::kConnected;
      backoff = options_.backoff_min;
      logged_failure = false;
      spdlog::info("backend {}: connected to {}:{}", node_.name, node_.host, node_.port);
      stats_->connects.add();
      stats_->connections.add(1);
      flush();
      co_await read_replies();
      stats_->connections.add(-1);
      if (state_ == State::kStopped) break;
      spdlog::warn("backend {}: connection lost: {}", node_.name, last_error_);
      fail_pending("connection lost (" + last_error_ + "), outcome unknown");
      continue;  // reconnect at once; back off only when connecting fails
    }
    if (state_ == State::kStopped) break;
    stats_->connect_failures.add();
    state_ = State::kBackoff;
    fail_pending("is unavailable (" + last_error_ + ")");
    if (!logged_failure) {
      spdlog::warn("backend {}: cannot connect to {}:{}: {} (retrying with backoff up to {} ms)",
                   node_.name, node_.host, node_.port, last_error_, options_.backoff_max.count());
      logged_failure = true;
    } else {
      spdlog::debug("backend {}: reconnect failed: {}", node_.name, last_error_);
    }
    backoff_timer_.expires_after(backoff);
    boost::system::error_code ec;
    co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

asio::awaitable<bool> Connection::connect() {
  boost::system::error_code ec;
  tcp::resolver resolver(io_);
  auto endpoints = co_await resolver.async_resolve(node_.host, std::to_string(node_.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    last_error_ = "cannot resolve " + node_.host + ": " + ec.message();
    co_return false;
  }
  ++generation_;
  socket_ = tcp::socket(io_);
  in_.consume(in_.size());
  framer_.reset();
  bool timed_out = false;
  asio::steady_timer watchdog(io_);
  watchdog.expires_after(options_.connect_timeout);
  watchdog.async_wait([this, &timed_out](boost::system::error_code wec) {
    if (wec) return;
    timed_out = true;
    close_socket();
  });
  co_await asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  watchdog.cancel();
  if (ec) {
    last_error_ = timed_out ? "connect timed out after " +
                                  std::to_string(options_.connect_timeout.count()) + " ms"
                            : ec.message();
    close_socket();
    co_return false;
  }
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.set_option(asio::socket_base::keep_alive(true), ec);
  co_return true;
}

asio::awaitable<void> Connection::read_replies() {
  boost::system::error_code ec;
  for (;;) {
    std::size_t free = 0;
    char* space = in_.prepare(kReadChunk, free);
    const std::size_t n = co_await socket_.async_read_some(
        asio::buffer(space, free), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec != asio::error::operation_aborted || last_error_.empty()) {
        last_error_ = ec == asio::error::eof ? "closed by the node" : ec.message();
      }
      break;
    }
    in_.commit(n);
    for (;;) {
      std::size_t length = 0;
      const auto status = framer_.frame(in_.readable(), length);
      if (status == resp::FrameStatus::kNeedMore) break;
      if (status == resp::FrameStatus::kError || pending_.empty()) {
        last_error_ = status == resp::FrameStatus::kError
                          ? "protocol error from node: " + std::string(framer_.error())
                          : std::string("reply without a request");
        close_socket();
        co_return;
      }
      Pending done = std::move(pending_.front());
      pending_.pop_front();
      stats_->inflight.add(-1);
      if (timed_out_ > 0) {
        --timed_out_;  // answered already with a timeout error
      } else {
        const std::string_view reply = in_.readable().substr(0, length);
        stats_->latency.observe(std::chrono::steady_clock::now() - done.sent);
        if (resp::is_error_reply(reply)) stats_->errors_reply.add();
        done.target.deliver(reply);
      }
      in_.consume(length);
    }
    if (in_.size() == 0 && in_.capacity() > kShrinkAbove) in_.shrink_to(kReadChunk * 4);
  }
  close_socket();
}

void Connection::arm_timeout() {
  if (timer_armed_ || options_.request_timeout.count() == 0) return;
  const std::size_t first = timed_out_;
  if (first >= pending_.size()) return;
  timer_armed_ = true;
  timeout_timer_.expires_at(pending_[first].sent + options_.request_timeout);
  timeout_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->timer_armed_ = false;
    if (ec || self->state_ == State::kStopped) return;
    self->on_timeout();
  });
}

void Connection::on_timeout() {
  const auto now = std::chrono::steady_clock::now();
  scratch_ = "timed out after " + std::to_string(options_.request_timeout.count()) + " ms";
  while (timed_out_ < pending_.size() &&
         pending_[timed_out_].sent + options_.request_timeout <= now) {
    // The reply slot stays (replies come in order); the client is answered now.
    const ReplyTarget target = pending_[timed_out_].target;
    ++timed_out_;
    stats_->errors_timeout.add();
    reply_error(target, scratch_);
  }
  arm_timeout();
}

void Connection::fail_pending(std::string_view reason) {
  out_.clear();
  std::deque<Pending> failed;
  failed.swap(pending_);
  const std::size_t skip = timed_out_;
  timed_out_ = 0;
  stats_->inflight.add(-static_cast<std::int64_t>(failed.size()));
  const std::string text(reason);
  for (std::size_t i = skip; i < failed.size(); ++i) {
    stats_->errors_connection.add();
    reply_error(failed[i].target, text);
  }
}

void Connection::reply_error(const ReplyTarget& target, std::string_view what) {
  std::string reply;
  reply.reserve(32 + node_.name.size() + what.size());
  reply.append("-ERR backend '").append(node_.name).append("' ").append(what).append("\r\n");
  target.deliver(reply);
}

void Connection::close_socket() {
  boost::system::error_code ignored;
  socket_.close(ignored);
}

}  // namespace sidecache::backend
