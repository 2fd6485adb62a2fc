// Whole-keyspace commands over every node. SCAN walks the nodes in turn with one cursor that
// carries both the node's index and that node's own cursor:
//
//   client cursor = node_index << 54 | node_cursor      (node_cursor < 2^54, node_index < 512)
//
// so cursor 0 starts at node 0 and stays 0 only at the very end; every cursor is below 2^63
// (clients that parse cursors as signed 64-bit integers still work). When a node answers
// cursor 0, the next client cursor starts the next node; after the last node it is 0.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sidecache/node_sender.hpp"

namespace sidecache::dispatch {

inline constexpr unsigned kScanNodeShift = 54;
inline constexpr std::uint32_t kScanMaxNodes = 512;
inline constexpr std::uint64_t kScanNodeCursorLimit = std::uint64_t{1} << kScanNodeShift;

struct ScanCursor {
  std::uint32_t node = 0;
  std::uint64_t node_cursor = 0;
  bool operator==(const ScanCursor&) const = default;
};

// A client's cursor (decimal digits) -> node and node cursor; nullopt when it is not a number
// or names a node past `node_count` (the client gets errors::kInvalidCursor).
std::optional<ScanCursor> decode_scan_cursor(std::string_view text, std::uint32_t node_count);
// The inverse; `cursor.node_cursor` must be below kScanNodeCursorLimit.
std::uint64_t encode_scan_cursor(const ScanCursor& cursor);
// The client's next cursor once `node` answered `node_cursor`: 0 after the last node's end.
// nullopt when the node's cursor does not fit in 54 bits.
std::optional<std::uint64_t> next_scan_cursor(std::uint32_t node, std::uint64_t node_cursor,
                                              std::uint32_t node_count);

// SCAN cursor [MATCH p] [COUNT n] [TYPE t]: sends SCAN with the node's cursor to the node the
// cursor names and answers the client with the re-encoded cursor and the node's keys. Replies
// the error itself when the cursor is invalid.
void scan(std::span<const std::string_view> args, NodeSender& nodes, const ReplyTarget& target,
          std::string& scratch);

}  // namespace sidecache::dispatch
