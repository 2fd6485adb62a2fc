// HTTP/1.1 with Boost.Beast on coroutines: keep-alive, GET/HEAD only, an 8 KiB header limit, a
// deadline for each request (slow clients are closed), a shorter one for a connection that has
// not started a request, and a cap on open connections that closes the longest-idle connection
// to make room rather than refusing the new one, so idle or slow clients cannot starve the probes.
#include "metrics/http_endpoint.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace sidecache::metrics {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 8 * 1024;  // GET and HEAD have none; others get 405
constexpr std::chrono::milliseconds kMaxGrace{100};
constexpr std::chrono::milliseconds kAllAnsweringPoll{10};

tcp::endpoint resolve(const config::Endpoint& listen) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(listen.host, ec);
  if (!ec) return {address, listen.port};
  asio::io_context io;
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(listen.host, std::to_string(listen.port), ec);
  if (ec || results.empty()) {
    throw std::runtime_error("cannot resolve HTTP listen address " + listen.host + ": " +
                             ec.message());
  }
  return results.begin()->endpoint();
}

void log_failure(std::string_view what, std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("http: {} failed: {}", what, ex.what());
  }
}

// The reply to a request that could not be parsed; nothing for a client that went away.
std::optional<HttpReply> parse_error_reply(const boost::system::error_code& ec) {
  HttpReply reply;
  if (ec == http::error::header_limit) {
    reply.status = 431;
    reply.body = "request header fields too large\n";
  } else if (ec == http::error::body_limit) {
    reply.status = 413;
    reply.body = "request body too large\n";
  } else if (ec.category() == make_error_code(http::error::end_of_stream).category() &&
             ec != http::error::end_of_stream && ec != http::error::partial_message) {
    reply.status = 400;
    reply.body = "bad request: " + ec.message() + "\n";
  } else {
    return std::nullopt;  // timeout, reset, end of stream: just close
  }
  return reply;
}

// The connection is listed in the endpoint for its lifetime; its close is counted on the way out.
class Registration {
 public:
  Registration(std::list<HttpEndpoint::Connection*>& list, HttpStats& stats,
               HttpEndpoint::Connection& connection)
      : list_(list), stats_(stats), connection_(connection) {
    connection_.position = list_.insert(list_.end(), &connection_);
    connection_.listed = true;
    stats_.accepted.fetch_add(1, std::memory_order_relaxed);
    stats_.open.fetch_add(1, std::memory_order_relaxed);
  }
  ~Registration() {
    if (connection_.listed) list_.erase(connection_.position);
    stats_.open.fetch_sub(1, std::memory_order_relaxed);
    stats_.count_close(connection_.reason);
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  std::list<HttpEndpoint::Connection*>& list_;
  HttpStats& stats_;
  HttpEndpoint::Connection& connection_;
};

bool is_probe(std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  return path == "/healthz" || path == "/readyz";
}

}  // namespace

std::unique_ptr<HttpEndpoint> HttpEndpoint::create(const ProcessStats& process) {
  const auto config = process.current_config();
  if (!config || !config->http) return nullptr;
  auto endpoint = std::make_unique<HttpEndpoint>(*config->http, process);
  endpoint->listen();
  return endpoint;
}

HttpEndpoint::HttpEndpoint(const config::HttpConfig& config, const ProcessStats& process)
    : config_(config),
      grace_(std::min({std::chrono::steady_clock::duration(kMaxGrace),
                       std::chrono::steady_clock::duration(config.idle_timeout),
                       std::chrono::steady_clock::duration(config.request_timeout)})),
      probes_(process, config.ready_min_nodes_up, &stats_),
      acceptor_(io_) {}

HttpEndpoint::~HttpEndpoint() {
  stop();
  if (thread_.joinable()) thread_.join();
}

void HttpEndpoint::listen() {
  const auto endpoint = resolve(config_.listen);
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on HTTP address " +
                             config::format_endpoint(config_.listen) +
                             " (http.listen): " + ec.message());
  }
}

std::uint16_t HttpEndpoint::port() const { return acceptor_.local_endpoint().port(); }

void HttpEndpoint::start() {
  asio::co_spawn(io_, accept_loop(), [](std::exception_ptr e) { log_failure("accept loop", e); });
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::critical("http: stopped by an exception: {}", e.what());
    }
  });
  probes_.set_state(Probes::State::kServing);
  spdlog::info("http: serving /metrics, /healthz, /readyz on {}",
               config::format_endpoint({config_.listen.host, port()}));
}

void HttpEndpoint::set_draining() { probes_.set_state(Probes::State::kDraining); }

void HttpEndpoint::stop() {
  probes_.set_state(Probes::State::kDraining);
  asio::post(io_, [this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    while (!connections_.empty()) close(*connections_.front(), HttpCloseReason::kShutdown);
    io_.stop();
  });
}

void HttpEndpoint::enter(Connection& connection, Connection::State state) {
  connection.state = state;
  connection.since = std::chrono::steady_clock::now();
  if (connection.listed) {
    connections_.splice(connections_.end(), connections_, connection.position);
  }
}

void HttpEndpoint::close(Connection& connection, HttpCloseReason reason) {
  connection.reason = reason;
  connection.closed_by_endpoint = true;
  if (connection.listed) {
    connections_.erase(connection.position);
    connection.listed = false;
  }
  connection.stream->close();  // its pending operation ends with operation_aborted
}

std::chrono::steady_clock::duration HttpEndpoint::make_room() {
  // The list is in order of entering the current state, so the first connection not answering
  // is the one that has waited longest for (or on) a request.
  using State = Connection::State;
  Connection* victim = nullptr;
  for (auto* connection : connections_) {
    if (connection->state != State::kAnswering) {
      victim = connection;
      break;
    }
  }
  if (victim == nullptr) {
    for (auto* connection : connections_) {
      if (!connection->probe) {
        victim = connection;
        break;
      }
    }
  }
  if (victim == nullptr) return kAllAnsweringPoll;
  const auto due = victim->since + grace_;
  const auto now = std::chrono::steady_clock::now();
  if (due > now) return due - now;
  close(*victim, HttpCloseReason::kEvicted);
  return std::chrono::steady_clock::duration::zero();
}

asio::awaitable<void> HttpEndpoint::accept_loop() {
  boost::system::error_code ec;
  asio::steady_timer pause(io_);
  while (acceptor_.is_open()) {
    // At the limit, room is made before accepting: new connections wait in the listen backlog,
    // in arrival order, while every open one is within its grace; so a flood, however fast,
    // cannot cycle a new connection out before it has sent its request.
    while (connections_.size() >= config_.max_connections && acceptor_.is_open()) {
      const auto wait = make_room();
      if (wait == std::chrono::steady_clock::duration::zero()) break;
      pause.expires_after(wait);
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    tcp::socket socket(io_);
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      spdlog::warn("http: accept failed: {}", ec.message());
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)),
                   [](std::exception_ptr e) { log_failure("connection", e); });
  }
}

asio::awaitable<void> HttpEndpoint::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  Connection connection;
  connection.stream = &stream;
  const Registration registration(connections_, stats_, connection);
  beast::flat_buffer buffer(kMaxHeaderBytes + kMaxBodyBytes);
  boost::system::error_code ec;
  // The reason this connection ends, unless the endpoint closed it (eviction, shutdown).
  const auto end = [&connection](HttpCloseReason reason) {
    if (!connection.closed_by_endpoint) connection.reason = reason;
  };
  for (;;) {
    if (buffer.size() == 0) {
      // Nothing of the next request yet: idle, the first to go when room is needed.
      enter(connection, Connection::State::kIdle);
      stream.expires_after(config_.idle_timeout);
      const auto n = co_await stream.async_read_some(buffer.prepare(buffer.max_size()),
                                                     asio::redirect_error(asio::use_awaitable, ec));
      buffer.commit(n);
      if (ec) {
        end(ec == beast::error::timeout ? HttpCloseReason::kIdleTimeout : HttpCloseReason::kClient);
        break;
      }
    }
    enter(connection, Connection::State::kReading);
    http::request_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBodyBytes);
    // One deadline for the whole request: a client trickling bytes is closed all the same.
    stream.expires_after(config_.request_timeout);
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    HttpReply reply;
    bool keep_alive = false;
    bool head = false;
    unsigned version = 11;
    if (ec) {
      auto error = parse_error_reply(ec);
      if (!error) {
        end(ec == beast::error::timeout ? HttpCloseReason::kRequestTimeout
                                        : HttpCloseReason::kClient);
        break;
      }
      end(HttpCloseReason::kBadRequest);
      reply = std::move(*error);
    } else {
      const auto& request = parser.get();
      const auto method = request.method_string();
      const auto target = request.target();
      connection.probe = is_probe({target.data(), target.size()});
      reply = probes_.respond({method.data(), method.size()}, {target.data(), target.size()});
      keep_alive = request.keep_alive();
      head = request.method() == http::verb::head;
      version = request.version();
    }
    enter(connection, Connection::State::kAnswering);
    http::response<http::string_body> response{static_cast<http::status>(reply.status), version};
    response.set(http::field::server, "sidecache");
    response.set(http::field::content_type, reply.content_type);
    if (!reply.allow.empty()) response.set(http::field::allow, reply.allow);
    response.keep_alive(keep_alive);
    response.content_length(reply.body.size());
    if (!head) response.body() = std::move(reply.body);
    stream.expires_after(config_.request_timeout);
    http::response_serializer<http::string_body> serializer(response);
    co_await http::async_write(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
    connection.probe = false;
    if (ec) {
      end(ec == beast::error::timeout ? HttpCloseReason::kRequestTimeout
                                      : HttpCloseReason::kClient);
      break;
    }
    if (!keep_alive) break;
  }
  boost::system::error_code ignored;
  if (!connection.closed_by_endpoint) {
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
  }
}

}  // namespace sidecache::metrics
