#include "dispatch/keyspace.hpp"

#include <memory>
#include <vector>

#include "resp/errors.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::dispatch {
namespace {

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// "$n\r\n<digits>\r\n" -> the number.
std::optional<std::uint64_t> bulk_number(std::string_view reply) {
  if (reply.size() < 5 || reply[0] != '$' || reply.substr(reply.size() - 2) != "\r\n") {
    return std::nullopt;
  }
  const std::size_t cr = reply.find('\r');
  if (cr + 2 > reply.size() - 2) return std::nullopt;
  return parse_u64(reply.substr(cr + 2, reply.size() - 2 - (cr + 2)));
}

// The reply of one node's SCAN, turned into the client's reply with the combined cursor.
class ScanReply final : public ReplySink {
 public:
  ScanReply(ReplyTarget client, std::uint32_t node, std::uint32_t node_count)
      : client_(std::move(client)), node_(node), node_count_(node_count) {}

  void on_reply(std::uint64_t, std::string_view reply) override {
    if (resp::is_error_reply(reply)) return client_.deliver(reply);
    std::vector<std::string_view> parts;
    std::optional<std::uint64_t> cursor;
    if (resp::split_array(reply, parts) && parts.size() == 2) cursor = bulk_number(parts[0]);
    std::string out;
    if (!cursor || parts[1].empty() || (parts[1][0] != '*' && parts[1][0] != '~')) {
      resp::append_error(out, resp::errors::kUnexpectedScanReply);
      return client_.deliver(out);
    }
    const auto next = next_scan_cursor(node_, *cursor, node_count_);
    if (!next) {
      resp::append_error(out, resp::errors::kScanCursorTooWide);
      return client_.deliver(out);
    }
    out.reserve(reply.size() + 24);
    resp::append_array_header(out, 2);
    resp::append_bulk(out, std::to_string(*next));
    out.append(parts[1]);
    client_.deliver(out);
  }

 private:
  ReplyTarget client_;
  std::uint32_t node_;
  std::uint32_t node_count_;
};

}  // namespace

std::optional<ScanCursor> decode_scan_cursor(std::string_view text, std::uint32_t node_count) {
  const auto value = parse_u64(text);
  if (!value) return std::nullopt;
  ScanCursor cursor{static_cast<std::uint32_t>(*value >> kScanNodeShift),
                    *value & (kScanNodeCursorLimit - 1)};
  if (cursor.node >= node_count || cursor.node >= kScanMaxNodes) return std::nullopt;
  return cursor;
}

std::uint64_t encode_scan_cursor(const ScanCursor& cursor) {
  return (std::uint64_t{cursor.node} << kScanNodeShift) | cursor.node_cursor;
}

std::optional<std::uint64_t> next_scan_cursor(std::uint32_t node, std::uint64_t node_cursor,
                                              std::uint32_t node_count) {
  if (node_cursor >= kScanNodeCursorLimit) return std::nullopt;
  if (node_cursor != 0) return encode_scan_cursor({node, node_cursor});
  if (node + 1 >= node_count) return 0;
  return encode_scan_cursor({node + 1, 0});
}

void scan(std::span<const std::string_view> args, NodeSender& nodes, const ReplyTarget& target,
          std::string& scratch) {
  scratch.clear();
  if (nodes.node_count() > kScanMaxNodes) {
    resp::append_error(scratch, resp::errors::scan_too_many_nodes(kScanMaxNodes));
    return target.deliver(scratch);
  }
  const auto cursor = decode_scan_cursor(args[1], nodes.node_count());
  if (!cursor) {
    resp::append_error(scratch, resp::errors::kInvalidCursor);
    return target.deliver(scratch);
  }
  const std::string node_cursor = std::to_string(cursor->node_cursor);
  std::vector<std::string_view> request(args.begin(), args.end());
  request[1] = node_cursor;
  resp::append_command(scratch, request);
  auto sink = std::make_shared<ScanReply>(target, cursor->node, nodes.node_count());
  nodes.send_read(cursor->node, scratch,
                  ReplyTarget{std::move(sink), 0, target.lane, target.protocol});
}

}  // namespace sidecache::dispatch
