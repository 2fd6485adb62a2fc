// HTTP/1.1 with Boost.Beast on coroutines: keep-alive, GET/HEAD only, an 8 KiB header limit, a
// deadline for each request (slow clients are closed), and a cap on open connections.
#include "metrics/http_endpoint.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace sidecache::metrics {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::uint32_t kMaxHeaderBytes = 8 * 1024;
constexpr std::uint64_t kMaxBodyBytes = 8 * 1024;  // GET and HEAD have none; others get 405

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

// Connection is in the endpoint's open set for its lifetime.
class Registration {
 public:
  Registration(std::unordered_set<beast::tcp_stream*>& set, beast::tcp_stream* stream)
      : set_(set), stream_(stream) {
    set_.insert(stream_);
  }
  ~Registration() { set_.erase(stream_); }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  std::unordered_set<beast::tcp_stream*>& set_;
  beast::tcp_stream* stream_;
};

}  // namespace

std::unique_ptr<HttpEndpoint> HttpEndpoint::create(const dispatch::ProcessState& process) {
  const auto config = process.current_config();
  if (!config || !config->http) return nullptr;
  auto endpoint = std::make_unique<HttpEndpoint>(*config->http, process);
  endpoint->listen();
  return endpoint;
}

HttpEndpoint::HttpEndpoint(const config::HttpConfig& config, const dispatch::ProcessState& process)
    : config_(config), probes_(process, config.ready_min_nodes_up), acceptor_(io_) {}

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
    for (auto* stream : connections_) stream->close();
    io_.stop();
  });
}

asio::awaitable<void> HttpEndpoint::accept_loop() {
  boost::system::error_code ec;
  asio::steady_timer pause(io_);
  while (acceptor_.is_open()) {
    tcp::socket socket(io_);
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
    if (ec) {
      spdlog::warn("http: accept failed: {}", ec.message());
      pause.expires_after(std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (connections_.size() >= config_.max_connections) {
      spdlog::debug("http: {} connections open (http.max_connections), closing a new one",
                    connections_.size());
      socket.close(ec);
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)),
                   [](std::exception_ptr e) { log_failure("connection", e); });
  }
}

asio::awaitable<void> HttpEndpoint::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  const Registration registration(connections_, &stream);
  beast::flat_buffer buffer(kMaxHeaderBytes + kMaxBodyBytes);
  boost::system::error_code ec;
  for (;;) {
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
      if (!error) break;
      reply = std::move(*error);
    } else {
      const auto& request = parser.get();
      const auto method = request.method_string();
      const auto target = request.target();
      reply = probes_.respond({method.data(), method.size()}, {target.data(), target.size()});
      keep_alive = request.keep_alive();
      head = request.method() == http::verb::head;
      version = request.version();
    }
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
    if (ec || !keep_alive) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream.close();
}

}  // namespace sidecache::metrics
