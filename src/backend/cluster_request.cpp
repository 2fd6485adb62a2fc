#include "backend/cluster_request.hpp"

#include <spdlog/spdlog.h>

#include "backend/pool.hpp"
#include "route/cluster_slots.hpp"

namespace sidecache::backend {
namespace {

// ASKING's own +OK is not the client's: dropped.
class DiscardSink final : public ReplySink {
 public:
  void on_reply(std::uint64_t, std::string_view) override {}
};

constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";

std::string_view error_text(std::string_view reply) {
  reply.remove_prefix(1);  // '-'
  while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) reply.remove_suffix(1);
  return reply;
}

}  // namespace

ClusterRequest::ClusterRequest(std::shared_ptr<Pool> pool, std::string request, ReplyTarget client,
                               bool retryable)
    : pool_(std::move(pool)),
      request_(std::move(request)),
      client_(std::move(client)),
      retryable_(retryable) {}

void ClusterRequest::start(Pool& pool, std::uint32_t node, std::string fallback) {
  first_node_ = node;
  fallback_ = std::move(fallback);
  started_ = std::chrono::steady_clock::now();
  pool.send_on(node, request_, ReplyTarget{shared_from_this(), 0, client_.lane, client_.protocol},
               retryable_);
}

std::shared_ptr<Pool> ClusterRequest::current_pool() {
  while (pool_ && pool_->successor_) pool_ = pool_->successor_;
  return pool_;
}

void ClusterRequest::on_reply(std::uint64_t, std::string_view reply) {
  if (reply.empty() || reply[0] != '-') return client_.deliver(reply);
  const std::string_view text = error_text(reply);
  route::Redirect redirect;
  const bool is_redirect = route::parse_redirect(text, redirect);
  const bool is_retry =
      !is_redirect && (text.starts_with("TRYAGAIN") || text.starts_with("CLUSTERDOWN"));
  if (!is_redirect && !is_retry) {
    if (!fallback_.empty() && fall_back(text)) return;
    return client_.deliver(reply);
  }
  if (target_.empty()) {  // the node first sent to, by name (indexes change with the pool)
    if (pool_) target_ = pool_->node_name(first_node_);
  }
  auto pool = current_pool();
  if (!pool) return client_.deliver(reply);
  last_error_.assign(reply);
  if (is_retry) {
    // The cluster says the slot is briefly unavailable (a migration, or a failover between a
    // primary marked FAIL and its replica promoted): wait within the request's time.
    std::chrono::milliseconds delay{};
    if (!next_wait(*pool, delay)) return client_.deliver(reply);
    pool->worker_stats_.cluster_retry.add();
    asking_ = false;
    return resend_after(*pool, delay);
  }
  if (attempts_ >= pool->config_.cluster.max_redirects) return client_.deliver(reply);
  ++attempts_;
  client_.sink->redirected();
  fallback_.clear();  // redirected: the slot's owner changed, the fallback is stale
  target_.assign(redirect.target);
  asking_ = redirect.kind == route::Redirect::Kind::kAsk;
  if (asking_) {
    pool->worker_stats_.cluster_ask.add();
  } else {
    pool->worker_stats_.cluster_moved.add();
    const auto node = pool->find_node(target_);
    if (node < pool->node_count())
      pool->slot_node_[redirect.slot] = static_cast<std::uint16_t>(node);
    if (pool->want_refresh_) pool->want_refresh_();
  }
  // A second redirect in a row: the cluster may be between two states of a migration (the
  // source already names the target, the target not yet its own slot): give it a moment.
  if (attempts_ > 1) {
    return resend_after(*pool,
                        pool->config_.cluster.retry_delay * (1u << std::min(attempts_ - 2, 8u)));
  }
  resend();
}

void ClusterRequest::resend() {
  auto pool = current_pool();
  if (!pool) return give_up();
  const auto node = pool->find_node(target_);  // a primary, or a replica just promoted
  if (node >= pool->nodes_.size()) {
    // Not a primary this pool knows yet (a node just added, a replica just promoted): wait
    // for the refresh.
    if (pool->want_refresh_) pool->want_refresh_();
    std::chrono::milliseconds delay{};
    if (!next_wait(*pool, delay)) return give_up();
    return resend_after(*pool, delay);
  }
  const ReplyTarget self{shared_from_this(), 0, client_.lane, client_.protocol};
  if (asking_) {
    // Both on the same connection (same lane), nothing in between: this thread appends both.
    pool->send_on(node, kAsking,
                  ReplyTarget{std::make_shared<DiscardSink>(), 0, client_.lane, client_.protocol},
                  false);
    pool->send_on(node, request_, self, false);
  } else {
    pool->send_on(node, request_, self, retryable_);
  }
}

bool ClusterRequest::fall_back(std::string_view text) {
  // By name, from the pool first sent on (indexes change with the pool).
  if (target_.empty() && pool_) target_ = pool_->node_name(first_node_);
  if (!current_pool()) return false;
  const std::string& replica = target_;
  // sidecache's own errors for that node (errors::node_down, errors::backend_failed), or the
  // replica saying it cannot serve yet.
  const bool failed = text.starts_with("ERR node " + replica + " ") ||
                      text.starts_with("ERR backend '" + replica + "'") ||
                      text.starts_with("LOADING") || text.starts_with("MASTERDOWN");
  if (!failed) return false;
  target_ = std::move(fallback_);
  fallback_.clear();
  client_.sink->redirected();
  asking_ = false;
  resend();
  return true;
}

bool ClusterRequest::next_wait(const Pool& pool, std::chrono::milliseconds& delay) {
  const auto& config = pool.config_;
  delay = config.cluster.retry_delay * (1u << std::min(waits_, 3u));
  if (config.request_timeout.count() > 0) {
    if (std::chrono::steady_clock::now() + delay - started_ > config.request_timeout) return false;
  } else if (waits_ >= config.cluster.max_redirects) {
    return false;
  }
  ++waits_;
  return true;
}

void ClusterRequest::resend_after(Pool& pool, std::chrono::milliseconds delay) {
  auto timer = std::make_shared<asio::steady_timer>(pool.io_, delay);
  timer->async_wait([self = shared_from_this(), timer](const boost::system::error_code& ec) {
    if (ec) return self->give_up();
    self->resend();
  });
}

}  // namespace sidecache::backend
