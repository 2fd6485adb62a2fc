#include "backend/link.hpp"

#include <spdlog/spdlog.h>

#include "resp/errors.hpp"

namespace sidecache::backend {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;

}  // namespace

Link::Link(asio::any_io_executor executor, NodeAddress node, LinkOptions options,
           LinkLimiter::Ticket ticket)
    : executor_(std::move(executor)),
      node_(std::move(node)),
      options_(options),
      ticket_(std::move(ticket)),
      stream_(executor_) {}

Link::~Link() { ticket_.release(); }

void Link::set_handlers(OnFrame on_frame, OnClose on_close) {
  on_frame_ = std::move(on_frame);
  on_close_ = std::move(on_close);
}

void Link::start() {
  if (started_) return;
  started_ = true;
  // The completion handler holds the link until its task ends: its owner may let go of it
  // before the task first runs (a released link still delivers its replies).
  asio::co_spawn(executor_, run(), [self = shared_from_this()](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("backend {}: dedicated connection failed: {}", self->node_.name, ex.what());
    }
    self->stop();
  });
}

void Link::send(std::string_view request, ReplyTarget target) {
  if (stopped_) return;
  pending_.push_back(std::move(target));
  out_.append(request);
  flush();
}

void Link::send_quiet(std::string_view request) { send(request, ReplyTarget{}); }

void Link::send_unmatched(std::string_view request) {
  if (stopped_) return;
  out_.append(request);
  flush();
}

void Link::release(OnIdle on_idle) {
  releasing_ = true;
  on_idle_ = std::move(on_idle);
  if (pending_.empty()) finish_release();
}

void Link::finish_release() {
  releasing_ = false;
  OnIdle on_idle = std::move(on_idle_);
  on_idle_ = nullptr;
  if (!on_idle || stopped_) return stop();
  on_frame_ = nullptr;
  on_close_ = nullptr;
  on_idle(shared_from_this());
}

void Link::stop() {
  if (stopped_) return;
  stopped_ = true;
  ticket_.release();
  close_socket();
  // The targets may hold the last reference to their client session, which may be the caller:
  // they go when the link's task ends.
  for (auto& target : pending_) dropped_.push_back(std::move(target));
  pending_.clear();
}

asio::awaitable<void> Link::run() {
  auto self = shared_from_this();
  if (!co_await connect()) {
    fail("cannot connect: " + error_);
    dropped_.clear();
    co_return;
  }
  if (stopped_) {
    dropped_.clear();
    co_return;
  }
  connected_ = true;
  flush();
  co_await read_frames();
  if (!stopped_) fail(error_);
  dropped_.clear();
}

// TLS, AUTH (HELLO 3 AUTH when RESP3) and SELECT run before anything queued is written.
asio::awaitable<bool> Link::connect() {
  OpenResult opened =
      co_await open_node(stream_, node_, options_.resp3, options_.connect_timeout, in_);
  error_ = opened.failure == OpenFailure::kAuth ? "authentication failed" : opened.reason;
  if (!opened.ok()) {
    spdlog::warn("backend {}: dedicated connection not opened: {}", node_.name, opened.reason);
  }
  co_return opened.ok();
}

void Link::flush() {
  if (!connected_ || writing_ || out_.empty() || stopped_) return;
  writing_buf_.swap(out_);
  writing_ = true;
  asio::async_write(stream_, asio::buffer(writing_buf_),
                    [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                      self->writing_ = false;
                      self->writing_buf_.clear();
                      if (ec) {
                        if (self->error_.empty()) self->error_ = "write failed: " + ec.message();
                        self->close_socket();  // the reader ends and reports
                        return;
                      }
                      self->flush();
                    });
}

asio::awaitable<void> Link::read_frames() {
  boost::system::error_code ec;
  while (!stopped_) {
    std::size_t free = 0;
    char* space = in_.prepare(kReadChunk, free);
    const std::size_t n = co_await stream_.async_read_some(
        asio::buffer(space, free), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (error_.empty()) error_ = ec == asio::error::eof ? "closed by the node" : ec.message();
      co_return;
    }
    in_.commit(n);
    while (!stopped_) {
      std::size_t length = 0;
      const auto status = framer_.frame(in_.readable(), length);
      if (status == resp::FrameStatus::kNeedMore) break;
      if (status == resp::FrameStatus::kError) {
        error_ = "protocol error from node: " + std::string(framer_.error());
        close_socket();
        co_return;
      }
      on_frame(in_.readable().substr(0, length));
      in_.consume(length);
    }
  }
}

void Link::on_frame(std::string_view frame) {
  // Pushes (RESP3) and frames nobody asked for (RESP2 Pub/Sub) go to the frame handler.
  if (frame[0] == '>' || pending_.empty()) {
    if (on_frame_) on_frame_(frame);
    return;
  }
  const ReplyTarget target = std::move(pending_.front());
  pending_.pop_front();
  if (target.sink) target.deliver(frame);
  if (releasing_ && pending_.empty()) finish_release();
}

void Link::fail(const std::string& reason) {
  if (stopped_) return;
  spdlog::debug("backend {}: dedicated connection lost: {}", node_.name, reason);
  std::string reply = resp::errors::frame(resp::errors::dedicated_link_lost(node_.name, reason));
  std::deque<ReplyTarget> failed;
  failed.swap(pending_);
  const bool releasing = releasing_;
  stopped_ = true;
  ticket_.release();
  close_socket();
  for (const auto& target : failed) {
    if (target.sink) target.deliver(reply);
  }
  if (!releasing && on_close_) on_close_(reason);
}

void Link::close_socket() { stream_.close(); }

}  // namespace sidecache::backend
