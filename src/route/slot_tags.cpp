#include "route/slot_tags.hpp"

#include <array>
#include <stdexcept>
#include <string>

#include "route/cluster_slots.hpp"

namespace sidecache::route {
namespace {

constexpr std::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kMaxTag = 3;

struct Table {
  // Each slot's tag, kMaxTag bytes + its length: 16384 * 4 bytes, no heap per entry.
  std::array<std::array<char, kMaxTag + 1>, kClusterSlots> tags{};

  Table() {
    std::uint32_t missing = kClusterSlots;
    std::string s;
    for (std::size_t len = 1; len <= kMaxTag && missing > 0; ++len) {
      s.assign(len, kAlphabet[0]);
      std::array<std::size_t, kMaxTag> digit{};
      for (;;) {
        const auto slot = crc16(s) & (kClusterSlots - 1);
        auto& tag = tags[slot];
        if (tag[kMaxTag] == 0) {
          for (std::size_t i = 0; i < len; ++i) tag[i] = s[i];
          tag[kMaxTag] = static_cast<char>(len);
          if (--missing == 0) break;
        }
        // The next string of this length (the last character varies fastest).
        std::size_t i = len;
        while (i > 0 && ++digit[i - 1] == kAlphabet.size()) {
          digit[i - 1] = 0;
          s[i - 1] = kAlphabet[0];
          --i;
        }
        if (i == 0) break;
        s[i - 1] = kAlphabet[digit[i - 1]];
      }
    }
    // CRC16 over three characters of this alphabet reaches every slot (the unit test pins it).
    if (missing > 0) throw std::logic_error("slot_tags: a slot has no tag");
  }
};

}  // namespace

std::string_view slot_tag(std::uint16_t slot) {
  static const Table table;
  const auto& tag = table.tags[slot & (kClusterSlots - 1)];
  return {tag.data(), static_cast<std::size_t>(tag[kMaxTag])};
}

}  // namespace sidecache::route
