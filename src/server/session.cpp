#include "server/session.hpp"

#include <spdlog/spdlog.h>

#include "dispatch/access.hpp"
#include "resp/errors.hpp"
#include "resp/writer.hpp"
#include "server/tls_stream.hpp"

namespace sidecache::server {
namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
// A client whose reads are small (request, reply, wait) keeps a small input buffer; one that
// fills it gets kReadChunk-sized reads. Buffers above kIdleBufferBytes are given back when
// empty.
constexpr std::size_t kSmallRead = 1024;
constexpr std::size_t kIdleBufferBytes = 64 * 1024;
// Replies are written in slices of this size; a client over its output limit whose socket has
// taken no slice for kOutputStall is not reading.
constexpr std::size_t kWriteSlice = 1024 * 1024;
constexpr std::chrono::milliseconds kOutputStall{500};
constexpr std::chrono::seconds kLingerTime{2};

CommandClass command_class(const resp::CommandInfo& info) {
  switch (info.routing) {
    case resp::Routing::kLocal:
      return CommandClass::kLocal;
    case resp::Routing::kSplit:
    case resp::Routing::kBroadcast:
      return CommandClass::kMultiKey;
    case resp::Routing::kSingleNode:
      if (info.has(resp::kFlagReadOnly)) return CommandClass::kRead;
      if (info.has(resp::kFlagWrite)) return CommandClass::kWrite;
      return CommandClass::kOther;
    default:
      return CommandClass::kOther;
  }
}

resp::ParserLimits parser_limits(const config::LimitsConfig& limits) {
  resp::ParserLimits p;
  p.max_args = limits.max_args;
  p.max_bulk_bytes = limits.max_bulk_bytes;
  p.max_inline_bytes = limits.max_inline_bytes;
  return p;
}

}  // namespace

Session::Session(tcp::socket socket, SessionContext context,
                 std::shared_ptr<asio::ssl::context> tls)
    : socket_(std::move(socket)),
      tls_context_(std::move(tls)),
      ctx_(context),
      parser_(parser_limits(context.config->limits)),
      in_(kSmallRead),
      resume_(socket_.get_executor()),
      linger_(socket_.get_executor()),
      transaction_(ModeContext{socket_.get_executor(), ctx_.dispatcher, ctx_.config, ctx_.process,
                               ctx_.stats, client_, *this}),
      blocking_(ModeContext{socket_.get_executor(), ctx_.dispatcher, ctx_.config, ctx_.process,
                            ctx_.stats, client_, *this}),
      pubsub_(ModeContext{socket_.get_executor(), ctx_.dispatcher, ctx_.config, ctx_.process,
                          ctx_.stats, client_, *this}),
      auth_delay_(socket_.get_executor()) {
  if (tls_context_) tls_ = std::make_unique<TlsStream>(socket_, *tls_context_);
  dispatch::refresh_access(client_, ctx_.config);
  client_.id = ctx_.process.next_client_id.fetch_add(1, std::memory_order_relaxed);
  ctx_.stats.clients.add(1);
  ctx_.registry.add(this);
}

Session::~Session() {
  if (!stopped_) ctx_.registry.remove(this);
  ctx_.stats.output_bytes.add(-static_cast<std::int64_t>(slots_.published()));
  ctx_.stats.clients.add(-1);
  ctx_.process.clients.fetch_sub(1, std::memory_order_relaxed);
}

void Session::start() {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  asio::co_spawn(socket_.get_executor(), read_loop(),
                 [self = shared_from_this()](std::exception_ptr e) {
                   if (!e) return;
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     spdlog::error("client {}: session failed: {}", self->client_.id, ex.what());
                   }
                   self->stop();
                 });
}

void Session::drain() {
  if (stopped_ || closing_) return;
  if (unprocessed_) {
    // Requests read but waiting at the client's limits are answered too: process_input()
    // closes once they are all dispatched, and the reader reads nothing more meanwhile.
    drain_pending_ = true;
    return;
  }
  closing_ = true;  // what is read from now on is dropped; what was read is answered
  resume_.cancel();
  flush();  // closes at once when nothing is owed
}

void Session::stop() {
  if (stopped_) return;
  stopped_ = true;
  // Done for the worker now, even if a node still holds a reference to this session for a
  // reply that timed out (it is dropped when it comes).
  ctx_.registry.remove(this);
  boost::system::error_code ignored;
  socket_.close(ignored);
  resume_.cancel();
  linger_.cancel();
  auth_delay_.cancel();
  release_output();
  in_.release(kSmallRead);  // the socket is closed: no read can land in it any more
  // Dedicated node connections close (a blocked command unblocks on the node); their pending
  // replies held references to this session.
  transaction_.reset();
  blocking_.stop();
  pubsub_.reset();
}

asio::awaitable<bool> Session::handshake() {
  boost::system::error_code ec;
  linger_.expires_after(ctx_.config->listen_tls ? ctx_.config->listen_tls->handshake_timeout
                                                : std::chrono::milliseconds(5000));
  linger_.async_wait([self = shared_from_this()](boost::system::error_code timer_ec) {
    boost::system::error_code ignored;
    if (!timer_ec) self->socket_.close(ignored);  // the handshake fails with operation_aborted
  });
  co_await tls_->async_handshake(asio::redirect_error(asio::use_awaitable, ec));
  linger_.cancel();
  if (ec) {
    ctx_.stats.tls_handshake_failures.add();
    spdlog::debug("client {}: TLS handshake failed: {}", client_.id, ec.message());
    co_return false;
  }
  ctx_.stats.tls_handshakes.add();
  co_return true;
}

asio::awaitable<void> Session::read_loop() {
  auto self = shared_from_this();
  boost::system::error_code ec;
  if (tls_ && !co_await handshake()) {
    stop();
    co_return;
  }
  while (!stopped_) {
    std::size_t free = 0;
    const bool small = in_.size() == 0 && last_read_ < kSmallRead;
    const std::size_t want =
        small ? kSmallRead
              : std::max(kReadChunk, std::min(parser_.need_hint(), in_.size() + 4 * kReadChunk));
    char* space = in_.prepare(want, free);
    // One predictable branch, no virtual call: the plain path stays a plain socket read.
    const std::size_t n =
        tls_ ? co_await tls_->async_read_some(asio::buffer(space, free),
                                              asio::redirect_error(asio::use_awaitable, ec))
             : co_await socket_.async_read_some(asio::buffer(space, free),
                                                asio::redirect_error(asio::use_awaitable, ec));
    if (stopped_) break;
    // A TLS peer that closes without close_notify ends its input all the same.
    if (ec == asio::ssl::error::stream_truncated) ec = asio::error::eof;
    last_read_ = n;
    if (ec == asio::error::eof) {
      // The client is done sending (a half-close, as `nc -q` does): answer what it sent.
      peer_closed_ = true;
      if (fin_sent_) break;           // we were lingering for exactly this
      if (blocking_.active()) break;  // as Redis: a client gone while blocked is closed
      // Requests read but not yet dispatched (paused at the limits) are still answered.
      while (!stopped_ && !closing_ && !hold_ && unprocessed_) {
        co_await wait_within_limits();
        if (stopped_ || closing_) break;
        process_input();
        flush();
      }
      if (stopped_) break;
      reader_done_ = true;  // on_reply() dispatches what is left (behind a hold or the limits)
      // Input held behind EXEC & co is still answered: process_input() closes after it.
      if (!hold_) closing_ = true;
      flush();  // closes once the last reply is written
      co_return;
    }
    if (ec) break;
    if (closing_) {
      // After QUIT, a protocol error or a drain: input is read and dropped, so that closing
      // with unread input does not reset the connection and lose replies still being sent.
      in_.consume(in_.size());
      continue;
    }
    in_.commit(n);
    ctx_.stats.bytes_in.add(n);
    process_input();
    flush();
    // Requests already read wait in in_ while the client is at its limits: they are dispatched
    // as replies drain, before anything more is read.
    do {
      co_await wait_within_limits();
      if (stopped_ || closing_ || !unprocessed_) break;
      process_input();
      flush();
    } while (unprocessed_);
    if (drain_pending_ && !closing_) {  // a drain came while input waited at the limits
      closing_ = true;
      flush();
    }
    if (in_.size() == 0) in_.shrink_to(last_read_ < kSmallRead ? kSmallRead : kIdleBufferBytes);
  }
  stop();  // the client went away (or we stopped); pending replies are dropped
}

asio::awaitable<void> Session::wait_within_limits() {
  boost::system::error_code ec;
  while (!stopped_ && !closing_ && over_limits()) {
    reader_waiting_ = true;
    resume_.expires_at(asio::steady_timer::time_point::max());
    co_await resume_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    reader_waiting_ = false;
  }
}

void Session::process_input() {
  // After a reload: the client's user as the new auth: defines it (gone or off: closed).
  if (client_.config != ctx_.config && !dispatch::refresh_access(client_, ctx_.config)) {
    return close_client("its ACL user was removed or turned off by a reload");
  }
  in_dispatch_ = true;
  unprocessed_ = false;
  const auto read_at = std::chrono::steady_clock::now();
  // One target for the batch (one reference taken on the session, not one per request).
  ReplyTarget target{shared_from_this(), 0, client_.id};
  while (!closing_ && !stopped_ && !auth_paused_) {
    if (hold_) {
      if (!slots_.empty()) break;
      hold_ = false;
      blocking_.done();
    }
    if (in_.size() > 0 && over_limits()) {  // paused: the rest is framed once replies drain
      unprocessed_ = true;
      break;
    }
    std::size_t consumed = 0;
    const auto status = parser_.parse(in_.readable(), command_, consumed);
    if (status == resp::ParseStatus::kNeedMore) {
      if (in_.size() > ctx_.config->limits.max_pending_bytes) {
        protocol_error("request exceeds limits.max_pending_bytes");
      }
      break;
    }
    if (status == resp::ParseStatus::kError) {
      protocol_error(parser_.error());
      break;
    }
    const std::uint64_t tag = slots_.open(Request{read_at, {}});
    sync_tag_ = tag;
    sync_replied_ = false;
    target.tag = tag;
    const dispatch::Dispatched done =
        handle(in_.readable().substr(command_.start, consumed - command_.start), target);
    sync_tag_ = kNoTag;
    if (stopped_) break;
    if (deferred_ != nullptr) {  // read again once the replies owed are ready
      slots_.drop_last();
      hold_ = true;
      break;
    }
    if (sync_replied_) {
      sync_records_.push_back(SyncRecord{done, sync_error_});
    } else {
      slots_.request(tag).dispatched = done;
    }
    in_.consume(consumed);
    if (client_.quit) closing_ = true;
    if (client_.auth_failed && after_auth_failure()) break;
  }
  // The client half-closed (or a drain began): once all its input is dispatched, nothing more
  // is taken.
  if ((peer_closed_ || drain_pending_) && !hold_ && !unprocessed_) closing_ = true;
  in_dispatch_ = false;
  // Replies given during the batch: their statistics with one clock read (they leave together,
  // when the batch is flushed), and the output accounted once.
  if (!sync_records_.empty()) {
    const auto now = std::chrono::steady_clock::now();
    for (const SyncRecord& r : sync_records_) record(r.dispatched, r.error, now - read_at);
    sync_records_.clear();
  }
  if (std::exchange(output_changed_, false)) {
    account_output();
    wake_reader();  // replies left the slots: a reader waiting at the limits may go on
  }
}

dispatch::Dispatched Session::handle(std::string_view raw, const ReplyTarget& target) {
  // The command is looked up once, here; the transaction, the subscribed mode and the
  // dispatcher all go by what it is (its session role), never by its name.
  dispatch::resolve(command_.args, resolved_);
  const resp::SessionRole role =
      resolved_.known != nullptr ? resolved_.known->session_role : resp::SessionRole::kNone;
  if (role == resp::SessionRole::kReset) {  // leaves every mode (then answered as usual)
    transaction_.reset();
    pubsub_.reset();
  }
  if (transaction_.in_multi() && role != resp::SessionRole::kReset &&
      role != resp::SessionRole::kQuit) {
    const auto done = transaction_.queue(resolved_, command_, raw, target);
    if (!transaction_.in_multi()) hold_ = true;  // EXEC or DISCARD: nothing overtakes them
    if (transaction_.take_hold()) hold_ = true;  // a cluster node may redirect it
    return done;
  }
  dispatch::Dispatched done;
  if (client_.protocol == 2 && pubsub_.subscriptions() > 0 && subscribed_mode_reply(target, done)) {
    return done;
  }
  if (deferred_ != nullptr) {  // dispatched already, then deferred
    done.info = std::exchange(deferred_, nullptr);
    done.where = dispatch::Where::session();
  } else {
    done = ctx_.dispatcher.dispatch(resolved_, command_, raw, client_, target);
  }
  if (done.where.outcome != dispatch::Outcome::kSession) return done;
  return session_command(*done.info, raw, target);
}

dispatch::Dispatched Session::session_command(const resp::CommandInfo& info, std::string_view raw,
                                              const ReplyTarget& target) {
  using resp::SessionRole;
  dispatch::Dispatched done;
  done.info = &info;
  const SessionRole role = info.session_role;
  const bool blocking = info.has(resp::kFlagBlocking);
  // Earlier requests still in flight on the shared connections must reach their nodes before
  // a dedicated connection starts: wait for their replies, then read this request again.
  if ((blocking || role == SessionRole::kMulti || role == SessionRole::kWatch) &&
      slots_.size() > 1) {
    deferred_ = &info;
    return done;
  }
  if (blocking) {
    done.where = blocking_.run(info, command_, raw, target);
    hold_ = true;  // like Redis: nothing after it runs before its reply
    return done;
  }
  switch (role) {
    case SessionRole::kMulti:
    case SessionRole::kExec:
    case SessionRole::kDiscard:
    case SessionRole::kWatch:
      done.where = transaction_.command(info, command_, raw, target);
      if (transaction_.take_hold()) hold_ = true;  // a cluster node may redirect it
      break;
    case SessionRole::kUnwatch:
      done.where = transaction_.command(info, command_, raw, target);
      hold_ = true;
      break;
    default:
      done.where = pubsub_.command(info, command_, raw, target);
      break;
  }
  return done;
}

bool Session::subscribed_mode_reply(const ReplyTarget& target, dispatch::Dispatched& done) {
  using resp::SessionRole;
  const auto& args = command_.args;
  // What was recognised, arity aside (the dispatcher answers unknown commands and, for PING,
  // a wrong arity).
  const resp::CommandInfo* info = resolved_.known;
  if (info == nullptr) return false;
  switch (info->session_role) {
    case SessionRole::kSubscribe:
    case SessionRole::kPsubscribe:
    case SessionRole::kSsubscribe:
    case SessionRole::kUnsubscribe:
    case SessionRole::kPunsubscribe:
    case SessionRole::kSunsubscribe:
    case SessionRole::kQuit:
    case SessionRole::kReset:
      return false;
    default:
      break;
  }
  std::string reply;
  if (info->session_role == SessionRole::kPing) {
    if (args.size() > 2) return false;  // wrong arity: the dispatcher says so
    ctx_.stats.commands.add();
    done.info = info;
    reply = "*2\r\n";
    resp::append_bulk(reply, "pong");
    resp::append_bulk(reply, args.size() == 2 ? args[1] : std::string_view());
    target.deliver(reply);
    return true;
  }
  ctx_.stats.commands.add();
  done.info = info;
  resp::append_error(reply, resp::errors::subscribed_context(info->name));
  target.deliver(reply);
  return true;
}

bool Session::after_auth_failure() {
  client_.auth_failed = false;
  ctx_.stats.auth_failures.add();
  const auto& auth = ctx_.config->auth;
  if (client_.auth_failures >= auth.max_failures) {
    ctx_.stats.auth_closed.add();
    spdlog::warn("client {}: authentication failed {} times: closing the connection", client_.id,
                 client_.auth_failures);
    closing_ = true;  // after the WRONGPASS reply
    return true;
  }
  spdlog::info("client {}: authentication failed ({} of {} allowed on this connection)", client_.id,
               client_.auth_failures, auth.max_failures);
  if (auth.failure_delay.count() == 0) return false;
  auth_paused_ = true;
  auth_delay_.expires_after(auth.failure_delay);
  auth_delay_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->auth_paused_ = false;
    if (ec || self->stopped_) return;
    self->process_input();
    self->flush();
    self->wake_reader();
  });
  return true;
}

void Session::push(std::string_view frame) {
  if (stopped_) return;
  // After the replies owed: a message never lands between a command and its confirmation.
  slots_.push(frame);
  // Like Redis's pubsub client-output-buffer-limit: a subscriber that does not read is closed
  // rather than buffered without bound.
  account_output();
  if (stopped_) return;
  if (!in_dispatch_) schedule_flush();
}

void Session::close_client(std::string_view why) {
  spdlog::warn("client {}: closed: {}", client_.id, why);
  stop();
}

void Session::hold(std::int64_t bytes) {
  slots_.hold(bytes);
  account_output();
}

void Session::account_output() {
  ctx_.stats.output_bytes.add(slots_.publish());
  const std::uint64_t limit = ctx_.config->limits.max_output_bytes;
  // A client over its limit whose socket took nothing for kOutputStall does not read: closed.
  // (One that reads, however slowly, drains what it asked for.)
  if (stopped_ || !slots_.over_output_limit(limit)) return;
  if (std::chrono::steady_clock::now() - slots_.write_progress() < kOutputStall) return;
  ctx_.stats.clients_closed_output.add();
  spdlog::warn(
      "client {}: closed: {} bytes of replies buffered ({} replies) exceed "
      "limits.max_output_bytes ({} bytes); the client is not reading its replies",
      client_.id, slots_.output_bytes(), slots_.buffered_replies(), limit);
  // Stopping happens after the caller returns (a node connection or a dedicated link may be
  // delivering this reply); until then stopped_ drops whatever else arrives, and the posted
  // task clears it only to run the real stop().
  stopped_ = true;
  release_output();
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->stopped_ = false;
    self->stop();
  });
}

void Session::close_for_total_output() {
  if (stopped_) return;
  ctx_.stats.clients_closed_total_output.add();
  spdlog::warn(
      "client {}: closed: {} bytes of replies buffered; the process total exceeds "
      "limits.max_total_output_bytes ({} bytes) and this client is among the largest",
      client_.id, output_bytes(), ctx_.config->limits.max_total_output_bytes);
  stop();
}

// Frees what is buffered for a client that is gone (the write in flight, if any, ends with an
// error and frees its buffer then).
void Session::release_output() {
  slots_.release();
  ctx_.stats.output_bytes.add(slots_.publish());
}

void Session::schedule_resume() {
  if (resume_posted_ || stopped_) return;
  resume_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->resume_posted_ = false;
    if (self->stopped_) return;
    self->process_input();
    self->flush();
  });
}

void Session::protocol_error(std::string_view text) {
  ctx_.stats.protocol_errors.add();
  spdlog::debug("client {}: protocol error: {}", client_.id, text);
  std::string reply;
  resp::append_error(reply, resp::errors::protocol_error(text));
  sync_tag_ = slots_.open(Request{});  // not a command: no command statistics
  on_reply(sync_tag_, reply);
  sync_tag_ = kNoTag;
  closing_ = true;
}

void Session::on_reply(std::uint64_t tag, std::string_view reply) {
  if (stopped_) return;
  const bool error = !reply.empty() && reply[0] == '-';
  if (tag == sync_tag_) {
    sync_replied_ = true;
    sync_error_ = error;
  } else {
    const Request& request = slots_.request(tag);
    record(request.dispatched, error, std::chrono::steady_clock::now() - request.start);
  }
  const bool in_order = slots_.deliver(tag, reply);
  if (in_dispatch_) {  // accounted once when the batch is dispatched (process_input())
    output_changed_ = true;
    return;
  }
  account_output();
  // An earlier reply is still outstanding: this one is parked.
  if (!in_order || stopped_) return;
  if ((hold_ && slots_.empty()) || (unprocessed_ && reader_done_ && !over_limits())) {
    schedule_resume();
  }
  schedule_flush();
  wake_reader();
}

void Session::schedule_flush() {
  if (flush_posted_ || slots_.writing()) return;
  flush_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
  });
}

void Session::flush() {
  if (stopped_ || slots_.writing()) return;
  if (!slots_.start_write()) {  // nothing to write
    if (closing_ && slots_.empty()) finish_close();
    return;
  }
  write_slice();
  wake_reader();
}

// The write buffer goes out in slices: each one written is progress, so a client that reads a
// large backlog slowly is told from one that does not read at all.
void Session::write_slice() {
  const std::string_view slice = slots_.next_slice(kWriteSlice, std::chrono::steady_clock::now());
  write_out(asio::buffer(slice.data(), slice.size()),
            [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
              if (!ec) self->ctx_.stats.bytes_out.add(n);
              const bool more = self->slots_.wrote(n);
              if (!ec && !self->stopped_ && more) return self->write_slice();
              self->slots_.finish_write(ec ? 0 : kIdleBufferBytes);
              self->account_output();
              if (ec) return self->stop();
              self->wake_reader();
              self->flush();
            });
}

void Session::check_output() {
  if (!stopped_ && output_bytes() > ctx_.config->limits.max_output_bytes) account_output();
}

template <class Handler>
void Session::write_out(asio::const_buffer buffer, Handler&& handler) {
  if (tls_) {
    tls_->async_write(buffer, std::forward<Handler>(handler));
  } else {
    asio::async_write(socket_, buffer, std::forward<Handler>(handler));
  }
}

// Everything owed is written: send FIN and close. With unread input, closing would reset the
// connection and the client could lose the last replies: then wait (reading and dropping) for
// the client to close too, or a grace period.
void Session::finish_close() {
  if (fin_sent_) return;
  fin_sent_ = true;
  if (tls_) tls_->shutdown();  // close_notify before the FIN
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  // Nothing unread: the kernel delivers what is queued and closes cleanly.
  if (peer_closed_ || socket_.available(ignored) == 0) return stop();
  linger_.expires_after(kLingerTime);
  linger_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->stop();
  });
}

void Session::record(const dispatch::Dispatched& dispatched, bool error,
                     std::chrono::steady_clock::duration elapsed) {
  const resp::CommandInfo* info = dispatched.info;
  if (info == nullptr) {
    ctx_.stats.commands_unknown.add();
    return;
  }
  (error ? ctx_.stats.commands_error : ctx_.stats.commands_ok)[info->id].add();
  ctx_.stats.latency[static_cast<std::size_t>(command_class(*info))].observe(elapsed);
  const auto threshold = ctx_.config->logging.slow_request_threshold;
  // Blocking commands wait on purpose: not slow requests.
  if (threshold.count() > 0 && elapsed >= threshold && !info->has(resp::kFlagBlocking)) {
    const std::string where = ctx_.dispatcher.where_name(dispatched.where);
    spdlog::warn("slow request: {} on {} took {:.3f} ms (client {}{})", info->name, where,
                 std::chrono::duration<double, std::milli>(elapsed).count(), client_.id,
                 error ? ", error reply" : "");
  }
}

bool Session::over_limits() const {
  const auto& limits = ctx_.config->limits;
  return slots_.over_limits(limits.max_pipeline, limits.max_output_bytes) ||
         // input waiting behind a hold or a failed AUTH's delay
         ((hold_ || auth_paused_) && in_.size() >= limits.max_pending_bytes);
}

void Session::wake_reader() {
  if (reader_waiting_ && !over_limits()) resume_.cancel();
}

}  // namespace sidecache::server
