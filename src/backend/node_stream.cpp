#include "backend/node_stream.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <vector>

#include "backend/connection.hpp"
#include "config/secret.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::backend {
namespace {

constexpr std::size_t kReadChunk = 4 * 1024;

// What each command of the opening is, to tell what its error reply means.
enum class Step { kHello, kAuth, kSelect, kReadonly };

// Clears a copy of the password before its memory is released.
struct Scrubbed {
  std::string text;
  ~Scrubbed() {
    if (!text.empty()) OPENSSL_cleanse(text.data(), text.size());
  }
};

std::string error_text(std::string_view reply) {
  std::string_view text = reply.substr(1);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  return std::string(text.substr(0, 200));
}

bool is_auth_error(std::string_view text) {
  return text.starts_with("WRONGPASS") || text.starts_with("NOAUTH") ||
         text.starts_with("NOPERM") || text.find("AUTH") != std::string_view::npos ||
         text.find("password") != std::string_view::npos;
}

OpenResult check_reply(Step step, std::string_view reply, std::uint32_t db) {
  if (!resp::is_error_reply(reply)) return {};
  const std::string text = error_text(reply);
  switch (step) {
    case Step::kAuth:
      return {OpenFailure::kAuth, "authentication failed: " + text};
    case Step::kHello:
      if (is_auth_error(text)) return {OpenFailure::kAuth, "authentication failed: " + text};
      return {OpenFailure::kProtocol, "HELLO 3 refused: " + text};
    case Step::kReadonly:
      if (text.starts_with("NOAUTH")) {
        return {OpenFailure::kAuth, "authentication failed: " + text};
      }
      return {OpenFailure::kProtocol, "READONLY refused: " + text};
    case Step::kSelect:
      if (text.starts_with("NOAUTH")) {
        return {OpenFailure::kAuth, "authentication failed: " + text};
      }
      return {OpenFailure::kSelect, "SELECT " + std::to_string(db) + " refused: " + text};
  }
  return {};
}

}  // namespace

std::shared_ptr<const NodeSecurity> make_node_security(const config::PoolConfig& pool,
                                                       std::size_t index) {
  const auto& node = pool.nodes[index];
  auto security = std::make_shared<NodeSecurity>();
  security->username = node.username ? *node.username : pool.username;
  security->password = node.password.empty() ? pool.password : node.password;
  security->db = pool.db;
  if (pool.tls.enabled) {
    security->server_name = pool.tls.server_name;
    security->verify = pool.tls.verify;
    try {
      security->tls = make_tls_context(pool.tls, TlsRole::kClient);
    } catch (const std::exception& e) {
      security->tls_error = e.what();
      spdlog::error("backend {}: {}", node.name, security->tls_error);
    }
  }
  return security;
}

asio::awaitable<OpenResult> open_node(NodeStream& stream, const NodeAddress& node, bool resp3,
                                      std::chrono::milliseconds timeout, ByteBuffer& in) {
  const NodeSecurity* security = node.security.get();
  if (security != nullptr && !security->tls_error.empty()) {
    co_return OpenResult{OpenFailure::kTls, security->tls_error};
  }
  stream.reset(security != nullptr ? security->tls.get() : nullptr);
  std::string error = co_await dial(stream.socket(), node, timeout);
  if (!error.empty()) co_return OpenResult{OpenFailure::kConnect, std::move(error)};

  // One watchdog for the rest of the opening: a node that accepts and then says nothing
  // (a TLS port spoken to in plain text, a stuck server) does not hold the connection.
  // `finished` stops a watchdog whose expiry was already queued when the opening ended.
  auto timed_out = std::make_shared<bool>(false);
  auto finished = std::make_shared<bool>(false);
  asio::steady_timer watchdog(stream.get_executor());
  watchdog.expires_after(timeout);
  watchdog.async_wait([&stream, timed_out, finished](boost::system::error_code wec) {
    if (wec || *finished) return;
    *timed_out = true;
    stream.close();
  });
  const std::string limit = std::to_string(timeout.count()) + " ms";
  auto fail = [&](OpenFailure failure, std::string reason) {
    *finished = true;
    watchdog.cancel();
    stream.close();
    return OpenResult{failure, std::move(reason)};
  };

  boost::system::error_code ec;
  if (auto* tls = stream.tls()) {
    expect_peer_name(*tls, security->server_name.empty() ? node.host : security->server_name,
                     security->verify);
    co_await tls->async_handshake(asio::ssl::stream_base::client,
                                  asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      co_return fail(OpenFailure::kTls,
                     *timed_out
                         ? "TLS handshake not completed within " + limit + " (is the port TLS?)"
                         : "TLS handshake failed: " + describe_tls_failure(*tls, ec));
    }
  }

  std::string request;
  std::vector<Step> steps;
  {
    Scrubbed password;
    if (security != nullptr && !security->password.empty()) {
      try {
        password.text = config::read_secret(security->password);
      } catch (const std::exception& e) {
        co_return fail(OpenFailure::kAuth, std::string("cannot read the password: ") + e.what());
      }
    }
    const std::string user = security == nullptr || security->username.empty()
                                 ? std::string("default")
                                 : security->username;
    if (resp3) {
      std::vector<std::string_view> args{"HELLO", "3"};
      if (!password.text.empty()) args.insert(args.end(), {"AUTH", user, password.text});
      resp::append_command(request, args);
      steps.push_back(Step::kHello);
    } else if (!password.text.empty()) {
      std::vector<std::string_view> args{"AUTH"};
      if (!security->username.empty()) args.push_back(security->username);
      args.push_back(password.text);
      resp::append_command(request, args);
      steps.push_back(Step::kAuth);
    }
    if (security != nullptr && security->db != 0) {
      const std::string db = std::to_string(security->db);
      const std::string_view args[] = {"SELECT", db};
      resp::append_command(request, args);
      steps.push_back(Step::kSelect);
    }
    if (security != nullptr && security->readonly) {
      const std::string_view args[] = {"READONLY"};
      resp::append_command(request, args);
      steps.push_back(Step::kReadonly);
    }
  }
  struct ScrubRequest {
    std::string& r;
    ~ScrubRequest() {
      if (!r.empty()) OPENSSL_cleanse(r.data(), r.size());
    }
  } scrub_request{request};
  if (steps.empty()) {
    *finished = true;
    watchdog.cancel();
    co_return OpenResult{};
  }

  co_await asio::async_write(stream, asio::buffer(request),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail(OpenFailure::kConnect, "write failed: " + ec.message());
  resp::ReplyFramer framer;
  for (const Step step : steps) {
    std::size_t length = 0;
    for (;;) {
      const auto status = framer.frame(in.readable(), length);
      if (status == resp::FrameStatus::kComplete) break;
      if (status == resp::FrameStatus::kError) {
        co_return fail(OpenFailure::kProtocol,
                       "protocol error from node: " + std::string(framer.error()));
      }
      std::size_t free = 0;
      char* space = in.prepare(kReadChunk, free);
      const std::size_t n = co_await stream.async_read_some(
          asio::buffer(space, free), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        co_return fail(OpenFailure::kConnect,
                       *timed_out               ? "no answer to AUTH/HELLO/SELECT within " + limit
                       : ec == asio::error::eof ? std::string("closed by the node")
                                                : ec.message());
      }
      in.commit(n);
    }
    OpenResult result =
        check_reply(step, in.readable().substr(0, length), security != nullptr ? security->db : 0);
    in.consume(length);
    if (!result.ok()) co_return fail(result.failure, std::move(result.reason));
  }
  *finished = true;
  watchdog.cancel();
  co_return OpenResult{};
}

}  // namespace sidecache::backend
