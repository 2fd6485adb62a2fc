#include "server/output_guard.hpp"

#include <algorithm>
#include <utility>

#include "server/session.hpp"

namespace sidecache::server {

std::size_t enforce_total_output(const std::unordered_set<Session*>& sessions,
                                 const dispatch::ProcessState& process, dispatch::WorkerStats& mine,
                                 std::uint64_t limit) {
  if (mine.output_bytes.get() > 0) {
    for (Session* s : sessions) s->check_output();  // closes by a post: the set stays as is
  }
  std::int64_t total = 0;
  for (const auto& w : process.workers) total += w->output_bytes.get();
  const auto bound = static_cast<std::int64_t>(limit);
  if (limit == 0 || total <= bound) {
    mine.largest_output.add(-mine.largest_output.get());
    return 0;
  }
  std::vector<std::pair<std::size_t, Session*>> by_size;
  for (Session* s : sessions) {
    if (s->output_bytes() > 0) by_size.emplace_back(s->output_bytes(), s);
  }
  std::sort(by_size.begin(), by_size.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  const std::int64_t largest = by_size.empty() ? 0 : static_cast<std::int64_t>(by_size[0].first);
  mine.largest_output.add(largest - mine.largest_output.get());
  std::int64_t others = 0;
  for (const auto& w : process.workers) {
    if (w.get() != &mine) others = std::max(others, w->largest_output.get());
  }
  std::size_t closed = 0;
  for (const auto& [bytes, session] : by_size) {
    if (total <= bound || static_cast<std::int64_t>(bytes) < others) break;
    session->close_for_total_output();
    total -= static_cast<std::int64_t>(bytes);
    ++closed;
  }
  return closed;
}

}  // namespace sidecache::server
