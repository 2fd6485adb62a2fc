// A short tag for each Redis Cluster slot: a string of letters and digits whose CRC16 lands in
// that slot. Wrapped in braces inside a key name ("prefix:{tag}rest"), it places the key in the
// slot whatever `rest` holds, so keys that sidecache keeps beside a user key can share its slot
// (one script may then touch both). Found once, on first use, by trying strings in a fixed
// order: every process computes the same table. Asio-free.
#pragma once

#include <cstdint>
#include <string_view>

namespace sidecache::route {

// The tag of `slot` (0..16383): 1 to 3 characters of [0-9A-Za-z], the first found in the order
// length, then characters in that order. Thread-safe (the table is built once).
std::string_view slot_tag(std::uint16_t slot);

}  // namespace sidecache::route
