#include "hotkeys/space_saving.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>
#include <limits>

namespace sidecache::hotkeys {

SpaceSaving::SpaceSaving(std::uint32_t capacity)
    : capacity_(std::max<std::uint32_t>(capacity, 1)),
      entries_(capacity_),
      keys_(static_cast<std::size_t>(capacity_) * kKeyBytes),
      // A bucket holds at least one entry, and increment() takes a new one only from a bucket
      // of two or more: capacity buckets always suffice; one spare keeps that obvious.
      buckets_(static_cast<std::size_t>(capacity_) + 1),
      index_(std::bit_ceil(static_cast<std::size_t>(capacity_) * 2), kNone),
      mask_(index_.size() - 1) {
  clear();
}

void SpaceSaving::clear() {
  size_ = 0;
  total_ = 0;
  smallest_ = largest_ = kNone;
  free_entries_.clear();
  for (std::uint32_t i = capacity_; i > 0; --i) free_entries_.push_back(i - 1);
  free_buckets_.clear();
  for (auto i = static_cast<std::uint32_t>(buckets_.size()); i > 0; --i) {
    free_buckets_.push_back(i - 1);
  }
  std::fill(index_.begin(), index_.end(), kNone);
}

void SpaceSaving::add(std::uint64_t hash, std::string_view key) {
  ++total_;
  std::uint32_t entry = find(hash);
  if (entry != kNone) {
    if (!entries_[entry].has_text) set_text(entry, key);
    return increment(entry);
  }
  if (size_ < capacity_) {
    entry = free_entries_.back();
    free_entries_.pop_back();
    ++size_;
    entries_[entry] = Entry{};
    set_key(entry, hash, key);
    set_text(entry, key);
    index_insert(entry);
    if (smallest_ != kNone && buckets_[smallest_].count == 1) {
      link(entry, smallest_);
    } else {
      link(entry, new_bucket(1, kNone));
    }
    return;
  }
  // Full: the key takes over a counter of the smallest count, which becomes its error. Its
  // text is copied when it comes again: most keys that take a counter over never do, and the
  // copy is most of what a miss would write.
  entry = buckets_[smallest_].head;
  index_erase(entries_[entry].hash);
  set_key(entry, hash, key);
  entries_[entry].error = buckets_[smallest_].count;
  index_insert(entry);
  increment(entry);
}

void SpaceSaving::increment(std::uint32_t entry) {
  const std::uint32_t bucket = entries_[entry].bucket;
  const std::uint64_t count = buckets_[bucket].count + 1;
  const std::uint32_t next = buckets_[bucket].next;
  if (next != kNone && buckets_[next].count == count) {
    unlink(entry);
    link(entry, next);
  } else if (buckets_[bucket].head == entry && entries_[entry].next == kNone) {
    buckets_[bucket].count = count;  // alone in its bucket: the order still holds
  } else {
    const std::uint32_t fresh = new_bucket(count, bucket);
    unlink(entry);
    link(entry, fresh);
  }
}

void SpaceSaving::link(std::uint32_t entry, std::uint32_t bucket) {
  Entry& e = entries_[entry];
  e.bucket = bucket;
  e.prev = kNone;
  e.next = buckets_[bucket].head;
  if (e.next != kNone) entries_[e.next].prev = entry;
  buckets_[bucket].head = entry;
}

void SpaceSaving::unlink(std::uint32_t entry) {
  const Entry& e = entries_[entry];
  if (e.prev != kNone) {
    entries_[e.prev].next = e.next;
  } else {
    buckets_[e.bucket].head = e.next;
  }
  if (e.next != kNone) entries_[e.next].prev = e.prev;
  if (buckets_[e.bucket].head == kNone) free_bucket(e.bucket);
}

std::uint32_t SpaceSaving::new_bucket(std::uint64_t count, std::uint32_t after) {
  assert(!free_buckets_.empty());
  const std::uint32_t bucket = free_buckets_.back();
  free_buckets_.pop_back();
  Bucket& b = buckets_[bucket];
  b.count = count;
  b.head = kNone;
  b.prev = after;
  b.next = after == kNone ? smallest_ : buckets_[after].next;
  if (b.prev != kNone) {
    buckets_[b.prev].next = bucket;
  } else {
    smallest_ = bucket;
  }
  if (b.next != kNone) {
    buckets_[b.next].prev = bucket;
  } else {
    largest_ = bucket;
  }
  return bucket;
}

void SpaceSaving::free_bucket(std::uint32_t bucket) {
  const Bucket& b = buckets_[bucket];
  if (b.prev != kNone) {
    buckets_[b.prev].next = b.next;
  } else {
    smallest_ = b.next;
  }
  if (b.next != kNone) {
    buckets_[b.next].prev = b.prev;
  } else {
    largest_ = b.prev;
  }
  free_buckets_.push_back(bucket);
}

void SpaceSaving::set_key(std::uint32_t entry, std::uint64_t hash, std::string_view key) {
  Entry& e = entries_[entry];
  e.hash = hash;
  e.key_len = static_cast<std::uint32_t>(
      std::min<std::size_t>(key.size(), std::numeric_limits<std::uint32_t>::max()));
  e.has_text = false;
}

void SpaceSaving::set_text(std::uint32_t entry, std::string_view key) {
  const std::size_t kept = std::min(key.size(), kKeyBytes);
  if (kept > 0) std::memcpy(&keys_[static_cast<std::size_t>(entry) * kKeyBytes], key.data(), kept);
  entries_[entry].has_text = true;
}

std::string_view SpaceSaving::key_of(std::uint32_t entry) const {
  if (!entries_[entry].has_text) return {};
  const std::size_t kept = std::min<std::size_t>(entries_[entry].key_len, kKeyBytes);
  return {&keys_[static_cast<std::size_t>(entry) * kKeyBytes], kept};
}

void SpaceSaving::drop(std::uint32_t entry) {
  index_erase(entries_[entry].hash);
  free_entries_.push_back(entry);
  --size_;
}

void SpaceSaving::halve() {
  total_ /= 2;
  // Ascending: the buckets before `bucket` already hold their halved counts. Halving keeps the
  // order but may make neighbours equal: those merge into the smaller one.
  std::uint32_t bucket = smallest_;
  while (bucket != kNone) {
    const std::uint32_t next = buckets_[bucket].next;
    const std::uint64_t count = buckets_[bucket].count / 2;
    std::uint32_t entry = buckets_[bucket].head;
    const std::uint32_t prev = buckets_[bucket].prev;
    if (count == 0) {
      for (; entry != kNone; entry = entries_[entry].next) drop(entry);
      buckets_[bucket].head = kNone;
      free_bucket(bucket);
    } else if (prev != kNone && buckets_[prev].count == count) {
      while (entry != kNone) {
        const std::uint32_t after = entries_[entry].next;
        entries_[entry].error /= 2;
        link(entry, prev);
        entry = after;
      }
      buckets_[bucket].head = kNone;
      free_bucket(bucket);
    } else {
      buckets_[bucket].count = count;
      for (; entry != kNone; entry = entries_[entry].next) entries_[entry].error /= 2;
    }
    bucket = next;
  }
}

std::uint64_t SpaceSaving::min_count() const {
  return size_ == capacity_ && smallest_ != kNone ? buckets_[smallest_].count : 0;
}

std::vector<SpaceSaving::Counted> SpaceSaving::top(std::size_t n) const {
  std::vector<Counted> out;
  out.reserve(std::min(n, size_));
  for (std::uint32_t bucket = largest_; bucket != kNone && out.size() < n;
       bucket = buckets_[bucket].prev) {
    for (std::uint32_t entry = buckets_[bucket].head; entry != kNone && out.size() < n;
         entry = entries_[entry].next) {
      const Entry& e = entries_[entry];
      out.push_back(Counted{e.hash, key_of(entry), e.key_len, buckets_[bucket].count, e.error});
    }
  }
  return out;
}

std::uint32_t SpaceSaving::find(std::uint64_t hash) const {
  for (std::uint64_t slot = hash & mask_;; slot = (slot + 1) & mask_) {
    const std::uint32_t entry = index_[slot];
    if (entry == kNone || entries_[entry].hash == hash) return entry;
  }
}

void SpaceSaving::index_insert(std::uint32_t entry) {
  std::uint64_t slot = entries_[entry].hash & mask_;
  while (index_[slot] != kNone) slot = (slot + 1) & mask_;
  index_[slot] = entry;
}

// Backward-shift deletion keeps every probe chain unbroken without tombstones.
void SpaceSaving::index_erase(std::uint64_t hash) {
  std::uint64_t hole = hash & mask_;
  while (entries_[index_[hole]].hash != hash) hole = (hole + 1) & mask_;
  index_[hole] = kNone;
  for (std::uint64_t slot = (hole + 1) & mask_; index_[slot] != kNone; slot = (slot + 1) & mask_) {
    const std::uint64_t home = entries_[index_[slot]].hash & mask_;
    // The entry at `slot` may move back into the hole unless its home lies in (hole, slot].
    const bool stays = hole < slot ? (home > hole && home <= slot) : (home > hole || home <= slot);
    if (stays) continue;
    index_[hole] = index_[slot];
    index_[slot] = kNone;
    hole = slot;
  }
}

}  // namespace sidecache::hotkeys
