#include "dispatch/split.hpp"

#include <memory>
#include <random>

#include "resp/errors.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::dispatch {
namespace {

// Collects the parts of one client request; answers the client when the last part arrives.
// Parts are tagged with their index. The parts' replies go into one arena. Lives as long as a
// part is outstanding.
class Merge final : public ReplySink {
 public:
  Merge(MergeKind kind, ReplyTarget client, std::size_t parts)
      : kind_(kind), client_(std::move(client)), parts_(parts), remaining_(parts) {}

  // For kMget: the part index of each key, in the client's order.
  std::vector<std::uint32_t> key_part;

  ~Merge() override { release(); }

  void on_reply(std::uint64_t tag, std::string_view reply) override {
    if (client_.sink->gone()) {
      failed_ = true;  // nobody waits for the reply: keep nothing
      release();
    } else if (!failed_) {
      const std::size_t before = arena_.size();
      if (resp::is_error_reply(reply)) {
        failed_ = true;  // the first failed part answers for the request
        arena_.assign(reply);
      } else {
        parts_[tag] = {arena_.size(), reply.size()};
        arena_.append(reply);
      }
      // The parts count against the client's output limit until the merged reply is handed
      // over (which may close a client that does not read, and then release() runs).
      const auto taken =
          static_cast<std::int64_t>(arena_.size()) - static_cast<std::int64_t>(before);
      held_ += taken;
      client_.sink->hold(taken);
    }
    if (--remaining_ == 0) finish();
  }

 private:
  std::string_view part(std::size_t i) const {
    return std::string_view(arena_).substr(parts_[i].first, parts_[i].second);
  }

  void release() {
    if (held_ != 0) client_.sink->hold(-held_);
    held_ = 0;
    std::string().swap(arena_);
  }

  void finish() {
    if (client_.sink->gone()) return release();
    if (failed_) {
      const std::string reply = std::move(arena_);
      release();
      return client_.deliver(reply);
    }
    std::string out;
    switch (kind_) {
      case MergeKind::kMget:
        merge_mget(out);
        break;
      case MergeKind::kAllOk:
        merge_all_ok(out);
        break;
      case MergeKind::kSumIntegers:
        merge_sum(out);
        break;
      case MergeKind::kAllEqual:
        merge_all_equal(out);
        break;
      case MergeKind::kAndArrays:
        merge_and(out);
        break;
      case MergeKind::kConcatArrays:
        merge_concat(out);
        break;
      case MergeKind::kAnyNonNull:
        merge_any_non_null(out);
        break;
    }
    release();  // one copy of the parts at a time: the merged reply, then the client's
    client_.deliver(out);
  }

  static void bad_reply(std::string& out) {
    out.clear();
    resp::append_error(out, resp::errors::kUnexpectedMergeReply);
  }

  void merge_mget(std::string& out) {
    // All parts' elements in one vector; first[p] is where part p's elements start.
    std::vector<std::string_view> elements;
    elements.reserve(key_part.size());
    std::vector<std::size_t> first(parts_.size() + 1);
    for (std::size_t p = 0; p < parts_.size(); ++p) {
      first[p] = elements.size();
      if (!resp::split_array(part(p), elements)) return bad_reply(out);
    }
    first[parts_.size()] = elements.size();
    if (elements.size() != key_part.size()) return bad_reply(out);
    out.reserve(arena_.size() + 16);
    resp::append_array_header(out, key_part.size());
    for (const std::uint32_t p : key_part) out.append(elements[first[p]++]);
  }

  void merge_all_ok(std::string& out) {
    for (std::size_t p = 0; p < parts_.size(); ++p) {
      if (part(p) != "+OK\r\n") return bad_reply(out);
    }
    out = "+OK\r\n";
  }

  void merge_sum(std::string& out) {
    std::int64_t sum = 0;
    for (std::size_t p = 0; p < parts_.size(); ++p) {
      const auto n = resp::integer_reply(part(p));
      if (!n) return bad_reply(out);
      sum += *n;
    }
    resp::append_integer(out, sum);
  }

  void merge_all_equal(std::string& out) {
    for (std::size_t p = 1; p < parts_.size(); ++p) {
      if (part(p) != part(0)) {
        out.clear();
        resp::append_error(out, resp::errors::kNodesDisagree);
        return;
      }
    }
    out = part(0);
  }

  void merge_and(std::string& out) {
    std::vector<std::string_view> first;
    std::vector<std::string_view> other;
    if (!resp::split_array(part(0), first)) return bad_reply(out);
    std::vector<bool> all(first.size(), true);
    for (std::size_t p = 0; p < parts_.size(); ++p) {
      other.clear();
      if (!resp::split_array(part(p), other) || other.size() != all.size()) return bad_reply(out);
      for (std::size_t i = 0; i < other.size(); ++i) {
        if (resp::integer_reply(other[i]).value_or(0) == 0) all[i] = false;
      }
    }
    resp::append_array_header(out, all.size());
    for (const bool b : all) resp::append_integer(out, b ? 1 : 0);
  }

  void merge_concat(std::string& out) {
    std::vector<std::string_view> elements;
    for (std::size_t p = 0; p < parts_.size(); ++p) {
      if (!resp::split_array(part(p), elements)) return bad_reply(out);
    }
    out.reserve(arena_.size() + 16);
    resp::append_array_header(out, elements.size());
    for (const auto e : elements) out.append(e);
  }

  static bool is_null(std::string_view reply) {
    return reply == "$-1\r\n" || reply == "_\r\n" || reply == "*-1\r\n";
  }

  void merge_any_non_null(std::string& out) {
    std::vector<std::size_t> found;
    for (std::size_t p = 0; p < parts_.size(); ++p) {
      if (!is_null(part(p))) found.push_back(p);
    }
    if (found.empty()) {
      out = part(0);  // the null of the client's protocol
      return;
    }
    thread_local std::minstd_rand random{std::random_device{}()};
    out = part(found[std::uniform_int_distribution<std::size_t>(0, found.size() - 1)(random)]);
  }

  MergeKind kind_;
  ReplyTarget client_;
  std::vector<std::pair<std::size_t, std::size_t>> parts_;  // (offset, length) in arena_
  std::string arena_;
  std::size_t remaining_;
  std::int64_t held_ = 0;  // bytes reported to the client's hold()
  bool failed_ = false;
};

}  // namespace

void split_by_node(MergeKind kind, std::span<const std::string_view> args,
                   std::span<const std::uint32_t> key_positions, int step, std::string_view raw,
                   NodeSender& nodes, ReplyTarget target, SplitScratch& scratch, bool read_only) {
  const auto send = [&nodes, read_only](std::uint32_t node, std::string_view request,
                                        ReplyTarget to) {
    if (read_only) return nodes.send_read(node, request, std::move(to));
    nodes.send(node, request, std::move(to));
  };
  // Group of each key (a ring's node, a cluster's slot); part index per distinct group, in
  // order of first appearance. part_of_node stays all -1 between calls (reset below), so a
  // cluster's 16384 groups cost nothing per request.
  auto& part_of_node = scratch.part_of_node;
  auto& part_nodes = scratch.part_nodes;
  auto& key_part = scratch.key_part;
  if (part_of_node.size() != nodes.group_count()) part_of_node.assign(nodes.group_count(), -1);
  part_nodes.clear();
  key_part.resize(key_positions.size());
  for (std::size_t i = 0; i < key_positions.size(); ++i) {
    const std::uint32_t group = nodes.group_of_key(args[key_positions[i]]);
    if (part_of_node[group] < 0) {
      part_of_node[group] = static_cast<std::int32_t>(part_nodes.size());
      part_nodes.push_back(group);
    }
    key_part[i] = static_cast<std::uint32_t>(part_of_node[group]);
  }
  for (const std::uint32_t group : part_nodes) part_of_node[group] = -1;
  for (auto& group : part_nodes) group = nodes.node_of_group(group);  // now the part's node
  if (part_nodes.size() == 1 && !raw.empty()) {
    send(part_nodes.front(), raw, std::move(target));
    return;
  }

  const std::uint64_t lane = target.lane;
  const std::uint8_t protocol = target.protocol;
  auto merge = std::make_shared<Merge>(kind, std::move(target), part_nodes.size());
  // Set before sending: a part may be answered at once (a node that is down).
  if (kind == MergeKind::kMget) merge->key_part = key_part;
  // Requests per part: command name, then the key groups of that part in client order.
  auto& part_args = scratch.part_args;
  part_args.assign(part_nodes.size(), 1);
  for (const std::uint32_t p : key_part) part_args[p] += static_cast<std::size_t>(step);
  std::string& request = scratch.request;
  for (std::uint32_t p = 0; p < part_nodes.size(); ++p) {
    request.clear();
    resp::append_array_header(request, part_args[p]);
    resp::append_bulk(request, args[0]);
    for (std::size_t i = 0; i < key_positions.size(); ++i) {
      if (key_part[i] != p) continue;
      for (int s = 0; s < step; ++s) resp::append_bulk(request, args[key_positions[i] + s]);
    }
    send(part_nodes[p], request, ReplyTarget{merge, p, lane, protocol});
  }
}

void broadcast(MergeKind kind, std::string_view request, NodeSender& nodes, ReplyTarget target) {
  const std::uint32_t count = nodes.node_count();
  const std::uint64_t lane = target.lane;
  const std::uint8_t protocol = target.protocol;
  auto merge = std::make_shared<Merge>(kind, std::move(target), count);
  for (std::uint32_t node = 0; node < count; ++node) {
    nodes.send(node, request, ReplyTarget{merge, node, lane, protocol});
  }
}

}  // namespace sidecache::dispatch
