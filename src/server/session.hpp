// One client connection: reads and frames requests (pipelined), hands each to the dispatcher
// with a reply slot, and writes replies strictly in request order as they become ready.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/dispatcher.hpp"
#include "dispatch/process_state.hpp"
#include "resp/parser.hpp"
#include "server/blocking.hpp"
#include "server/pubsub.hpp"
#include "server/reply_queue.hpp"
#include "server/session_modes.hpp"
#include "server/transaction.hpp"
#include "sidecache/node_sender.hpp"
#include "sidecache/util/asio.hpp"
#include "sidecache/util/byte_buffer.hpp"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace sidecache::server {

class Session;
class TlsStream;  // server/tls_stream.hpp

// Sessions tell their worker when they start and end (for graceful drain).
class SessionRegistry {
 public:
  virtual ~SessionRegistry() = default;
  virtual void add(Session* session) = 0;
  virtual void remove(Session* session) = 0;
};

struct SessionContext {
  dispatch::Dispatcher& dispatcher;
  dispatch::ProcessState& process;
  dispatch::WorkerStats& stats;
  // The worker's current configuration (replaced on reload; read, never kept).
  const std::shared_ptr<const config::Config>& config;
  SessionRegistry& registry;
};

class Session final : public ReplySink,
                      public ModeHost,
                      public std::enable_shared_from_this<Session> {
 public:
  // With `tls`, the session speaks TLS (listen_tls) and starts with the handshake.
  Session(tcp::socket socket, SessionContext context,
          std::shared_ptr<asio::ssl::context> tls = nullptr);
  ~Session() override;

  void start();
  void stop();
  // Graceful shutdown: read nothing more, answer what was read, then close.
  void drain();
  void on_reply(std::uint64_t tag, std::string_view reply) override;
  // ModeHost: Pub/Sub messages, and closing a client whose subscriptions were lost.
  void push(std::string_view frame) override;
  void close_client(std::string_view why) override;
  // ReplySink: bytes a split command's merge holds for this client before its reply.
  void hold(std::int64_t bytes) override;
  bool gone() const override { return stopped_; }
  // Reply bytes buffered for this client in every form: written, queued, parked out of order,
  // held by merges. Bounded by limits.max_output_bytes.
  std::size_t output_bytes() const { return slots_.output_bytes(); }
  // Closed by the worker because the process's buffered output exceeded
  // limits.max_total_output_bytes and this client was among the largest consumers.
  void close_for_total_output();
  // Closes the client if it is over limits.max_output_bytes and not reading (called
  // periodically by the worker: a client that stopped reading may get no more replies).
  void check_output();

 private:
  // What a reply slot keeps of its request, for the statistics recorded when the reply comes.
  struct Request {
    std::chrono::steady_clock::time_point start;  // when the request was read
    dispatch::Dispatched dispatched;
  };

  asio::awaitable<void> read_loop();
  asio::awaitable<bool> handshake();
  // Sleeps while the client is over its pipeline or output limits (woken as replies drain).
  asio::awaitable<void> wait_within_limits();
  void process_input();
  // After a failed AUTH: closes the client past auth.max_failures, else pauses its input for
  // auth.failure_delay. True when processing must stop for now.
  bool after_auth_failure();
  template <class Handler>
  void write_out(asio::const_buffer buffer, Handler&& handler);
  // One framed request: to the transaction (inside MULTI), the dispatcher, or a session mode.
  dispatch::Dispatched handle(std::string_view raw, const ReplyTarget& target);
  dispatch::Dispatched session_command(const resp::CommandInfo& info, std::string_view raw,
                                       const ReplyTarget& target);
  // RESP2 subscribed mode: only the subscribe commands, PING, QUIT and RESET.
  bool subscribed_mode_reply(const ReplyTarget& target, dispatch::Dispatched& done);
  void schedule_resume();
  void protocol_error(std::string_view text);
  void flush();
  void write_slice();
  void schedule_flush();
  bool over_limits() const;
  // After output_bytes() changed: publishes it to the worker's gauge and closes the client
  // when it is over limits.max_output_bytes.
  void account_output();
  void release_output();
  void wake_reader();
  // Command statistics, latency and the slow log for one reply.
  void record(const dispatch::Dispatched& dispatched, bool error,
              std::chrono::steady_clock::duration elapsed);
  void finish_close();

  tcp::socket socket_;
  std::shared_ptr<asio::ssl::context> tls_context_;  // kept alive for tls_
  std::unique_ptr<TlsStream> tls_;                   // null on the plain listener
  SessionContext ctx_;
  dispatch::ClientState client_;
  resp::RequestParser parser_;
  resp::Command command_;
  dispatch::Resolved resolved_;  // command_'s command, looked up once per request
  ByteBuffer in_;
  // Replies owed, in request order, and the bytes buffered for this client.
  ReplyQueue<Request> slots_;
  std::size_t last_read_ = 0;  // bytes of the last socket read: small reads use a small buffer
  bool flush_posted_ = false;
  bool in_dispatch_ = false;
  bool closing_ = false;        // QUIT or protocol error: stop reading, close after the last reply
  bool drain_pending_ = false;  // drain() while read input waited at the limits
  bool stopped_ = false;
  bool reader_waiting_ = false;
  bool unprocessed_ = false;  // complete requests left in in_ while over the limits
  bool reader_done_ = false;  // the client half-closed: the read loop has ended
  // A reply delivered while its request is being dispatched is recorded after dispatch()
  // returns, when the session knows what the request was.
  static constexpr std::uint64_t kNoTag = ~std::uint64_t{0};
  std::uint64_t sync_tag_ = kNoTag;
  bool sync_replied_ = false;
  bool sync_error_ = false;
  // Requests of the batch being dispatched that were answered during it: recorded when it ends.
  struct SyncRecord {
    dispatch::Dispatched dispatched;
    bool error;
  };
  std::vector<SyncRecord> sync_records_;
  bool output_changed_ = false;  // a reply was given during the batch: account_output() after
  asio::steady_timer resume_;    // the reader sleeps on it while over the pipeline limits
  asio::steady_timer linger_;    // after our FIN: how long to wait for the client's
  bool peer_closed_ = false;     // the client half-closed (EOF read)
  bool fin_sent_ = false;
  // Session modes on dedicated node connections (transactions, blocking commands, Pub/Sub).
  Transaction transaction_;
  Blocking blocking_;
  PubSub pubsub_;
  // Process no request until every reply owed is ready: after EXEC/DISCARD/UNWATCH and
  // blocking commands (later requests must not overtake them), and before MULTI, WATCH and
  // blocking commands while earlier replies are outstanding (`deferred_`: re-read, not
  // dispatched again).
  bool hold_ = false;
  bool resume_posted_ = false;
  const resp::CommandInfo* deferred_ = nullptr;
  // Brute-force brake: no request is processed while a failed AUTH's delay runs.
  bool auth_paused_ = false;
  asio::steady_timer auth_delay_;
};

}  // namespace sidecache::server
