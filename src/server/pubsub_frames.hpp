// Reading the Pub/Sub frames a node sends on a subscribed connection (RESP2 arrays, RESP3
// pushes): message, smessage, subscribe confirmations, and the sunsubscribe a cluster node
// pushes unasked when a shard channel's slot leaves it. Asio-free.
#pragma once

#include <cstddef>
#include <string_view>

namespace sidecache::server {

// Element `index` of an array or push frame whose first elements are bulk strings (the
// message type, then the channel), or "" when the frame is not such a frame or is shorter.
std::string_view pubsub_frame_bulk(std::string_view frame, std::size_t index);
inline std::string_view pubsub_frame_type(std::string_view frame) {
  return pubsub_frame_bulk(frame, 0);
}

}  // namespace sidecache::server
