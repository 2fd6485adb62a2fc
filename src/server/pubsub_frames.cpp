#include "server/pubsub_frames.hpp"

namespace sidecache::server {

std::string_view pubsub_frame_bulk(std::string_view frame, std::size_t index) {
  if (frame.empty() || (frame[0] != '*' && frame[0] != '>')) return {};
  const auto eol = frame.find("\r\n");
  if (eol == std::string_view::npos) return {};
  std::size_t count = 0;
  for (std::size_t i = 1; i < eol; ++i) {
    if (frame[i] < '0' || frame[i] > '9' || count > 1000000) return {};
    count = count * 10 + static_cast<std::size_t>(frame[i] - '0');
  }
  if (index >= count) return {};
  std::string_view rest = frame.substr(eol + 2);
  for (std::size_t element = 0;; ++element) {
    if (rest.empty() || rest[0] != '$') return {};
    const auto end = rest.find("\r\n");
    if (end == std::string_view::npos || end < 2) return {};
    std::size_t length = 0;
    for (std::size_t i = 1; i < end; ++i) {
      if (rest[i] < '0' || rest[i] > '9' || length > (std::size_t{1} << 40)) return {};
      length = length * 10 + static_cast<std::size_t>(rest[i] - '0');
    }
    if (rest.size() - end - 2 < length + 2) return {};
    if (element == index) return rest.substr(end + 2, length);
    rest.remove_prefix(end + 2 + length + 2);
  }
}

}  // namespace sidecache::server
