#include "backend/connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "resp/errors.hpp"
#include "resp/writer.hpp"

namespace sidecache::backend {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr std::size_t kShrinkAbove = 1024 * 1024;
constexpr std::size_t kRetainedTrimBytes = 64 * 1024;
constexpr double kRetryBurst = 10;  // retries allowed beyond the budget's share, at most

}  // namespace

std::string auth_failed_reply(std::string_view node) {
  return resp::errors::frame(resp::errors::node_auth_failed(node));
}

Connection::Connection(asio::io_context& io, NodeAddress node, ConnectionOptions options,
                       std::shared_ptr<NodeStats> stats, OnFailure on_failure)
    : io_(io),
      node_(std::move(node)),
      options_(options),
      stats_(std::move(stats)),
      on_failure_(std::move(on_failure)),
      stream_(io.get_executor()),
      timeout_timer_(io),
      backoff_timer_(io),
      maintenance_timer_(io) {}

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
  if (state_ == State::kStopped) return;
  state_ = State::kStopped;
  close_socket();
  backoff_timer_.cancel();
  timeout_timer_.cancel();
  maintenance_timer_.cancel();
  fail_pending("is unavailable (sidecache is shutting down)");
}

void Connection::retire() {
  retiring_ = true;
  maybe_finish_retire();
}

void Connection::maybe_finish_retire() {
  if (retiring_ && pending_.empty()) stop();
}

void Connection::send(std::string_view request, ReplyTarget target, bool retryable) {
  stats_->requests.add();
  switch (state_) {
    case State::kStopped:
      stats_->errors_connection.add();
      reply_error(target, "is unavailable (sidecache is shutting down)");
      return;
    case State::kBackoff:
      stats_->errors_connection.add();
      if (last_failure_ == OpenFailure::kAuth) {
        target.deliver(auth_failed_reply(node_.name));
        return;
      }
      scratch_ = "is unavailable (" + last_error_ + ")";
      reply_error(target, scratch_);
      return;
    case State::kIdle:  // closed for idleness: connect again, the request waits for it
      state_ = State::kConnecting;
      backoff_timer_.cancel();
      break;
    case State::kConnecting:
    case State::kConnected:
      break;
  }
  if (pending_.size() >= options_.max_inflight) {
    stats_->errors_connection.add();
    reply_error(target, "has too many requests in flight");
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  last_used_ = now;
  Pending p{std::move(target), now, retained_base_ + retained_.size(), 0};
  if (retryable && options_.retry_budget_percent > 0) {
    retry_tokens_ = std::min(kRetryBurst, retry_tokens_ + options_.retry_budget_percent / 100.0);
    retained_.append(request);
    p.retained_len = static_cast<std::uint32_t>(request.size());
  }
  pending_.push_back(std::move(p));
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
  if (writing_ || out_.empty() || state_ != State::kConnected || hold_writes_) return;
  writing_buf_.swap(out_);
  writing_ = true;
  written_ = pending_.size();  // everything queued is in this write
  asio::async_write(
      stream_, asio::buffer(writing_buf_),
      [self = shared_from_this(), gen = generation_](boost::system::error_code ec, std::size_t) {
        self->writing_ = false;
        self->writing_buf_.clear();
        // A large request (a big SET) leaves no copy behind once written.
        if (self->writing_buf_.capacity() > kShrinkAbove) std::string().swap(self->writing_buf_);
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
    if (recycle_ == Recycle::kIdle) {
      state_ = State::kIdle;
      co_await wait_for_work();
      if (state_ == State::kStopped) break;
    }
    recycle_ = Recycle::kNone;
    state_ = State::kConnecting;
    if (co_await connect()) {
      if (state_ == State::kStopped) break;
      state_ = State::kConnected;
      backoff = options_.backoff_min;
      logged_failure = false;
      connected_at_ = last_used_ = std::chrono::steady_clock::now();
      hold_writes_ = false;
      spdlog::info("backend {}: connected to {}:{}{}", node_.name, node_.host, node_.port,
                   stream_.tls() != nullptr ? " (TLS)" : "");
      stats_->connects.add();
      stats_->connections.add(1);
      arm_maintenance();
      flush();
      co_await read_replies();
      stats_->connections.add(-1);
      maintenance_timer_.cancel();
      if (state_ == State::kStopped) break;
      if (recycle_ != Recycle::kNone) {
        spdlog::debug("backend {}: closed the connection ({})", node_.name,
                      recycle_ == Recycle::kIdle ? "idle" : "max_connection_age reached");
        continue;  // nothing was in flight: reconnect now (aged) or on demand (idle)
      }
      spdlog::warn("backend {}: connection lost: {}", node_.name, last_error_);
      report("connection lost: " + last_error_);
      requeue_or_fail("connection lost (" + last_error_ + "), outcome unknown");
      continue;  // reconnect at once; back off only when connecting fails
    }
    if (state_ == State::kStopped) break;
    stats_->connect_failures.add();
    state_ = State::kBackoff;
    report("connect failed: " + last_error_);
    fail_pending("is unavailable (" + last_error_ + ")");
    if (!logged_failure) {
      spdlog::warn("backend {}: cannot connect to {}:{}: {} (retrying with backoff up to {} ms)",
                   node_.name, node_.host, node_.port, last_error_, options_.backoff_max.count());
      logged_failure = true;
    } else {
      spdlog::debug("backend {}: reconnect failed: {}", node_.name, last_error_);
    }
    if (retiring_) break;
    backoff_timer_.expires_after(backoff);
    boost::system::error_code ec;
    co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
  maybe_finish_retire();
}

asio::awaitable<void> Connection::wait_for_work() {
  // send() moves the state to kConnecting and cancels the timer; stop() cancels it too.
  while (state_ == State::kIdle) {
    backoff_timer_.expires_at(asio::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<std::string> dial(tcp::socket& socket, const NodeAddress& node,
                                  std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  tcp::resolver resolver(socket.get_executor());
  auto endpoints = co_await resolver.async_resolve(node.host, std::to_string(node.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return "cannot resolve " + node.host + ": " + ec.message();
  // The flag outlives this frame: a watchdog that fired just before cancel() still runs.
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer watchdog(socket.get_executor());
  watchdog.expires_after(timeout);
  watchdog.async_wait([&socket, timed_out](boost::system::error_code wec) {
    if (wec) return;
    *timed_out = true;
    boost::system::error_code ignored;
    socket.close(ignored);
  });
  co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  watchdog.cancel();
  if (ec) {
    boost::system::error_code ignored;
    socket.close(ignored);
    co_return *timed_out ? "connect timed out after " + std::to_string(timeout.count()) + " ms"
                         : ec.message();
  }
  socket.set_option(tcp::no_delay(true), ec);
  socket.set_option(asio::socket_base::keep_alive(true), ec);
  co_return std::string();
}

asio::awaitable<bool> Connection::connect() {
  ++generation_;
  in_.consume(in_.size());
  framer_.reset();
  // Requests wait in out_ while kConnecting: nothing is written before the opening (TLS, AUTH,
  // HELLO 3, SELECT) has been answered.
  OpenResult opened =
      co_await open_node(stream_, node_, options_.resp3, options_.connect_timeout, in_);
  last_failure_ = opened.failure;
  last_error_ = std::move(opened.reason);
  if (opened.failure == OpenFailure::kAuth) stats_->auth_failures.add();
  if (opened.failure == OpenFailure::kTls) stats_->tls_failures.add();
  co_return opened.ok();
}

asio::awaitable<void> Connection::read_replies() {
  boost::system::error_code ec;
  for (;;) {
    std::size_t free = 0;
    char* space = in_.prepare(kReadChunk, free);
    const std::size_t n = co_await stream_.async_read_some(
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
      if (status == resp::FrameStatus::kComplete && options_.drop_pushes &&
          in_.readable()[0] == '>') {
        // A RESP3 push is never the reply to a request sent on a shared connection (tracking
        // and Pub/Sub do not run here): drop it rather than hand it to the wrong request.
        spdlog::debug("backend {}: dropped an unsolicited RESP3 push", node_.name);
        in_.consume(length);
        continue;
      }
      if (status == resp::FrameStatus::kError || pending_.empty()) {
        last_error_ = status == resp::FrameStatus::kError
                          ? "protocol error from node: " + std::string(framer_.error())
                          : std::string("reply without a request");
        close_socket();
        co_return;
      }
      deliver_front(in_.readable().substr(0, length));
      in_.consume(length);
      if (state_ == State::kStopped) co_return;
    }
    if (in_.size() == 0 && in_.capacity() > kShrinkAbove) in_.shrink_to(kReadChunk * 4);
  }
  close_socket();
}

void Connection::deliver_front(std::string_view reply) {
  Pending done = std::move(pending_.front());
  pending_.pop_front();
  if (written_ > 0) --written_;
  stats_->inflight.add(-1);
  if (timed_out_ > 0) {
    --timed_out_;  // answered already with a timeout error
  } else {
    stats_->latency.observe(std::chrono::steady_clock::now() - done.sent);
    if (resp::is_error_reply(reply)) {
      stats_->errors_reply.add();
      if (options_.on_readonly && reply.starts_with("-READONLY")) options_.on_readonly();
    }
    done.target.deliver(reply);
  }
  trim_retained();
  if (hold_writes_ && written_ == 0 && !writing_) {
    recycle_ = Recycle::kAged;  // the held requests go out on the new connection
    close_socket();
  }
  maybe_finish_retire();
}

std::string_view Connection::retained(const Pending& p) const {
  return std::string_view(retained_).substr(p.retained_at - retained_base_, p.retained_len);
}

void Connection::trim_retained() {
  if (pending_.empty()) {
    retained_base_ += retained_.size();
    retained_.clear();
    return;
  }
  const std::uint64_t dead = pending_.front().retained_at - retained_base_;
  if (dead >= kRetainedTrimBytes && dead * 2 >= retained_.size()) {
    retained_.erase(0, dead);
    retained_base_ += dead;
  }
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
  bool any = false;
  while (timed_out_ < pending_.size() &&
         pending_[timed_out_].sent + options_.request_timeout <= now) {
    // The reply slot stays (replies come in order); the client is answered now.
    const ReplyTarget target = pending_[timed_out_].target;
    ++timed_out_;
    stats_->errors_timeout.add();
    reply_error(target, scratch_);
    any = true;
  }
  if (any) report("request " + scratch_);
  arm_timeout();
}

void Connection::arm_maintenance() {
  using Clock = std::chrono::steady_clock;
  auto next = Clock::time_point::max();
  if (options_.idle_timeout.count() > 0) next = last_used_ + options_.idle_timeout;
  if (options_.max_connection_age.count() > 0) {
    next = std::min(next, connected_at_ + options_.max_connection_age);
  }
  if (next == Clock::time_point::max()) return;
  maintenance_timer_.expires_at(next);
  maintenance_timer_.async_wait(
      [self = shared_from_this(), gen = generation_](boost::system::error_code ec) {
        if (ec || gen != self->generation_ || self->state_ != State::kConnected) return;
        self->on_maintenance();
      });
}

void Connection::on_maintenance() {
  const auto now = std::chrono::steady_clock::now();
  if (options_.idle_timeout.count() > 0 && pending_.empty() && out_.empty() &&
      now - last_used_ >= options_.idle_timeout) {
    recycle_ = Recycle::kIdle;
    close_socket();
    return;
  }
  if (options_.max_connection_age.count() > 0 && !hold_writes_ &&
      now - connected_at_ >= options_.max_connection_age) {
    hold_writes_ = true;  // new requests wait in out_ for the next connection
    if (written_ == 0 && !writing_) {
      recycle_ = Recycle::kAged;
      close_socket();
    }
    return;
  }
  arm_maintenance();
}

void Connection::requeue_or_fail(std::string_view reason) {
  // The connection broke: every request still pending has no reply. Read-only ones are sent
  // again on the next connection (once, within their timeout and the retry budget).
  std::deque<Pending> broken;
  broken.swap(pending_);
  const std::size_t skip = timed_out_;
  timed_out_ = 0;
  written_ = 0;
  stats_->inflight.add(-static_cast<std::int64_t>(broken.size()));
  out_.clear();
  const auto now = std::chrono::steady_clock::now();
  const std::string text(reason);
  for (std::size_t i = skip; i < broken.size(); ++i) {
    Pending& p = broken[i];
    const bool in_time =
        options_.request_timeout.count() == 0 || now < p.sent + options_.request_timeout;
    if (p.retained_len > 0 && in_time && retry_tokens_ >= 1 && !retiring_) {
      retry_tokens_ -= 1;
      stats_->retries.add();
      out_.append(retained(p));
      pending_.push_back(Pending{std::move(p.target), p.sent, 0, 0});  // not retried twice
      continue;
    }
    stats_->errors_connection.add();
    reply_error(p.target, text);
  }
  retained_base_ += retained_.size();
  retained_.clear();
  for (auto& p : pending_) p.retained_at = retained_base_;
  stats_->inflight.add(static_cast<std::int64_t>(pending_.size()));
  arm_timeout();
}

void Connection::fail_pending(std::string_view reason) {
  if (last_failure_ == OpenFailure::kAuth && state_ != State::kStopped) {
    reason = {};  // every client is told the same: authentication failed
  }
  out_.clear();
  std::deque<Pending> failed;
  failed.swap(pending_);
  const std::size_t skip = timed_out_;
  timed_out_ = 0;
  written_ = 0;
  retained_base_ += retained_.size();
  retained_.clear();
  stats_->inflight.add(-static_cast<std::int64_t>(failed.size()));
  const std::string text(reason);
  for (std::size_t i = skip; i < failed.size(); ++i) {
    stats_->errors_connection.add();
    if (text.empty()) {
      failed[i].target.deliver(auth_failed_reply(node_.name));
    } else {
      reply_error(failed[i].target, text);
    }
  }
}

void Connection::reply_error(const ReplyTarget& target, std::string_view what) {
  target.deliver(resp::errors::frame(resp::errors::backend_failed(node_.name, what)));
}

void Connection::report(const std::string& reason) {
  if (on_failure_) on_failure_(reason);
}

void Connection::close_socket() { stream_.close(); }

}  // namespace sidecache::backend
