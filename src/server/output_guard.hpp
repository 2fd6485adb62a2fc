// The process-wide bound on buffered replies (limits.max_total_output_bytes). Each session
// publishes what it buffers to its worker's gauge; every worker checks the sum periodically and,
// when it is over the bound, closes its own largest consumers while they are at least as large
// as the largest one any other worker reported (so the largest clients go first, process-wide).
#pragma once

#include <cstdint>
#include <unordered_set>
#include <vector>

#include "dispatch/process_state.hpp"

namespace sidecache::server {

class Session;

// Closes this worker's clients that are over limits.max_output_bytes and not reading; then
// closes sessions of this worker (`mine`, the worker's statistics) until the process total is
// within `limit` or the largest remaining consumer is on another worker. Returns how many.
std::size_t enforce_total_output(const std::unordered_set<Session*>& sessions,
                                 const dispatch::ProcessState& process, dispatch::WorkerStats& mine,
                                 std::uint64_t limit);

}  // namespace sidecache::server
