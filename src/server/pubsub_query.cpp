#include "server/pubsub_query.hpp"

#include <charconv>
#include <optional>
#include <unordered_set>

#include "resp/errors.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::server {
namespace {

// The payload of a bulk (or simple) string element.
std::optional<std::string_view> string_payload(std::string_view element) {
  const auto eol = element.find("\r\n");
  if (eol == std::string_view::npos || element.empty()) return std::nullopt;
  if (element[0] == '+') return element.substr(1, eol - 1);
  if (element[0] != '$') return std::nullopt;
  std::size_t length = 0;
  const auto [p, ec] = std::from_chars(element.data() + 1, element.data() + eol, length);
  if (ec != std::errc() || eol + 2 + length > element.size()) return std::nullopt;
  return element.substr(eol + 2, length);
}

class Query final : public ReplySink {
 public:
  Query(PubSubMerge merge, ReplyTarget target, std::size_t parts)
      : merge_(merge), target_(std::move(target)), remaining_(parts) {}

  void on_reply(std::uint64_t /*tag*/, std::string_view reply) override {
    if (error_.empty()) {
      if (resp::is_error_reply(reply)) {
        error_.assign(reply);
      } else {
        replies_.emplace_back(reply);
      }
    }
    if (--remaining_ == 0) finish();
  }

 private:
  void finish() {
    if (!error_.empty()) return target_.deliver(error_);
    std::string out;
    if (!(merge_ == PubSubMerge::kUnion ? merge_union(out) : merge_pairs(out))) {
      out.clear();
      resp::append_error(out, resp::errors::kUnexpectedMergeReply);
    }
    target_.deliver(out);
  }

  bool merge_union(std::string& out) {
    std::vector<std::string_view> elements;
    std::unordered_set<std::string_view> seen;
    std::vector<std::string_view> names;
    char type = '*';
    for (const auto& reply : replies_) {
      elements.clear();
      if (!aggregate_elements(reply, type, elements)) return false;
      for (const auto element : elements) {
        const auto name = string_payload(element);
        if (!name) return false;
        if (seen.insert(*name).second) names.push_back(*name);
      }
    }
    resp::append_array_header(out, names.size());
    for (const auto name : names) resp::append_bulk(out, name);
    return true;
  }

  bool merge_pairs(std::string& out) {
    std::vector<std::string_view> elements;
    std::vector<std::string_view> channels;
    std::vector<std::int64_t> counts;
    char type = '*';
    for (std::size_t r = 0; r < replies_.size(); ++r) {
      elements.clear();
      if (!aggregate_elements(replies_[r], type, elements) || elements.size() % 2 != 0) {
        return false;
      }
      if (r == 0) {
        counts.assign(elements.size() / 2, 0);
        for (std::size_t i = 0; i < elements.size(); i += 2) channels.push_back(elements[i]);
      }
      if (elements.size() / 2 != counts.size()) return false;
      for (std::size_t i = 0; i + 1 < elements.size(); i += 2) {
        const auto n = resp::integer_reply(elements[i + 1]);
        if (!n) return false;
        counts[i / 2] += *n;
      }
    }
    if (type == '%') {
      out.append("%").append(std::to_string(counts.size())).append("\r\n");
    } else {
      resp::append_array_header(out, counts.size() * 2);
    }
    for (std::size_t i = 0; i < counts.size(); ++i) {
      out.append(channels[i]);
      resp::append_integer(out, counts[i]);
    }
    return true;
  }

  PubSubMerge merge_;
  ReplyTarget target_;
  std::size_t remaining_;
  std::vector<std::string> replies_;
  std::string error_;
};

}  // namespace

bool aggregate_elements(std::string_view reply, char& type, std::vector<std::string_view>& out) {
  if (reply.empty()) return false;
  type = reply[0];
  if (type != '*' && type != '~' && type != '>' && type != '%') return false;
  const auto eol = reply.find("\r\n");
  if (eol == std::string_view::npos) return false;
  long long count = 0;
  const auto [p, ec] = std::from_chars(reply.data() + 1, reply.data() + eol, count);
  if (ec != std::errc() || p != reply.data() + eol || count < 0) return false;
  if (type == '%') count *= 2;
  std::size_t at = eol + 2;
  resp::ReplyFramer framer;
  for (long long i = 0; i < count; ++i) {
    std::size_t length = 0;
    if (framer.frame(reply.substr(at), length) != resp::FrameStatus::kComplete) return false;
    out.push_back(reply.substr(at, length));
    at += length;
  }
  return at == reply.size();
}

void pubsub_query(PubSubMerge merge, std::string_view request, NodeSender& nodes,
                  const ReplyTarget& target) {
  const std::uint32_t count = nodes.node_count();
  auto query = std::make_shared<Query>(merge, target, count);
  for (std::uint32_t n = 0; n < count; ++n) {
    nodes.send(n, request, ReplyTarget{query, n, target.lane});
  }
}

}  // namespace sidecache::server
