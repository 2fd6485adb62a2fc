#include "nearcache/shard.hpp"

#include <malloc.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

namespace sidecache::nearcache {

Entry* Entry::create(std::uint64_t hash, std::string_view key, std::string_view value,
                     Clock::time_point expiry, std::uint16_t node) {
  if (key.size() > UINT32_MAX || value.size() > UINT32_MAX) return nullptr;
  const std::size_t size = sizeof(Entry) + key.size() + value.size();
  void* block = ::operator new(size);
  auto* e = new (block) Entry;
  e->hash = hash;
  e->expiry = expiry.time_since_epoch().count();
  e->key_len = static_cast<std::uint32_t>(key.size());
  e->value_len = static_cast<std::uint32_t>(value.size());
  e->node = node;
  if (!key.empty()) std::memcpy(e->data(), key.data(), key.size());
  if (!value.empty()) std::memcpy(e->data() + key.size(), value.data(), value.size());
  // operator new is malloc underneath (libstdc++), so the usable size is the block's.
  const std::size_t charge = std::max(size, malloc_usable_size(block)) + kAllocHeader;
  e->charge = static_cast<std::uint32_t>(std::min<std::size_t>(charge, UINT32_MAX));
  return e;
}

void Entry::destroy(Entry* entry) {
  entry->~Entry();
  ::operator delete(static_cast<void*>(entry));
}

Shard::Shard(const ShardOptions& options)
    : budget_(options.budget),
      max_entry_bytes_(options.max_entry_bytes),
      window_fraction_(options.window_fraction),
      protected_fraction_(options.protected_fraction),
      sketch_(options.expected_entries),
      fill_slots_(options.fill_slots) {
  assert((options.fill_slots & (options.fill_slots - 1)) == 0 && options.fill_slots > 0);
  rehash(kInitialBuckets);
  sync_gauges();
}

Shard::~Shard() {
  for (EntryList* l : {&window_, &probation_, &protected_}) {
    for (Entry* e = l->head(); e != nullptr;) {
      Entry* next = e->next;
      Entry::destroy(e);
      e = next;
    }
  }
}

std::size_t Shard::entry_bytes() const {
  return window_.bytes() + probation_.bytes() + protected_.bytes();
}

Entry* Shard::find(std::uint64_t hash, std::string_view key) const {
  for (Entry* e = bucket(hash); e != nullptr; e = e->chain) {
    if (e->hash == hash && e->key() == key) return e;
  }
  return nullptr;
}

void Shard::table_unlink(Entry* e) {
  Entry** at = &bucket(e->hash);
  while (*at != e) at = &(*at)->chain;
  *at = e->chain;
  e->chain = nullptr;
}

void Shard::rehash(std::size_t count) {
  auto fresh = std::make_unique<Entry*[]>(count);  // zeroed
  for (std::size_t i = 0; i < bucket_count_; ++i) {
    for (Entry* e = buckets_[i]; e != nullptr;) {
      Entry* next = e->chain;
      Entry*& head = fresh[e->hash & (count - 1)];
      e->chain = head;
      head = e;
      e = next;
    }
  }
  buckets_ = std::move(fresh);
  bucket_count_ = count;
}

// Doubles the bucket array when a new entry would make entries exceed buckets, if the budget
// has room for it; past 2 entries per bucket it evicts to make that room.
void Shard::maybe_grow(Clock::time_point now) {
  if (entries() + 1 <= bucket_count_) return;
  const std::size_t extra = bucket_count_ * sizeof(Entry*);
  if (used() + extra > budget_) {
    if (entries() + 1 <= 2 * bucket_count_) return;
    while (used() + extra > budget_ && evict_one(now)) {
    }
    if (used() + extra > budget_) return;
  }
  rehash(bucket_count_ * 2);
}

EntryList& Shard::list(Queue q) {
  switch (q) {
    case Queue::kWindow:
      return window_;
    case Queue::kProbation:
      return probation_;
    case Queue::kProtected:
      break;
  }
  return protected_;
}

std::size_t Shard::main_max() const {
  const std::size_t space = budget_ > table_bytes() ? budget_ - table_bytes() : 0;
  return space - static_cast<std::size_t>(static_cast<double>(space) * window_fraction_);
}

const Entry* Shard::lookup(std::uint64_t hash, std::string_view key, Clock::time_point now,
                           char kind) {
  sketch_.record(hash);
  Entry* e = find(hash, key);
  if (e == nullptr) {
    stats_.misses.add();
    return nullptr;
  }
  if (now.time_since_epoch().count() >= e->expiry) {
    drop(e, Drop::kExpiration);
    stats_.misses.add();
    sync_gauges();
    return nullptr;
  }
  if (kind != 0 && (e->value_len == 0 || e->value()[0] != kind)) {
    stats_.misses.add();
    return nullptr;
  }
  on_hit(e);
  stats_.hits.add();
  return e;
}

void Shard::on_hit(Entry* e) {
  switch (e->queue) {
    case Queue::kWindow:
      window_.move_to_front(e);
      return;
    case Queue::kProtected:
      protected_.move_to_front(e);
      return;
    case Queue::kProbation:
      break;
  }
  probation_.remove(e);
  e->queue = Queue::kProtected;
  protected_.push_front(e);
  const auto protected_max =
      static_cast<std::size_t>(static_cast<double>(main_max()) * protected_fraction_);
  while (protected_.bytes() > protected_max && protected_.tail() != e) {
    Entry* demoted = protected_.tail();
    protected_.remove(demoted);
    demoted->queue = Queue::kProbation;
    probation_.push_front(demoted);
  }
}

bool Shard::insert(std::uint64_t hash, std::string_view key, std::string_view value,
                   Clock::time_point expiry, std::uint16_t node, Clock::time_point now) {
  if (Entry* old = find(hash, key)) drop(old, Drop::kReplaced);
  Entry* e = Entry::create(hash, key, value, expiry, node);
  if (e == nullptr || e->charge > max_entry_bytes_) {
    if (e != nullptr) Entry::destroy(e);
    stats_.oversized.add();
    sync_gauges();
    return false;
  }
  maybe_grow(now);
  Entry*& head = bucket(hash);
  e->chain = head;
  head = e;
  e->queue = Queue::kWindow;
  window_.push_front(e);
  stats_.inserts.add();
  inserting_ = e;
  evict_window(now);
  while (used() > budget_ && evict_one(now)) {
  }
  const bool stored = inserting_ != nullptr;
  inserting_ = nullptr;
  sync_gauges();
  return stored;
}

void Shard::evict_window(Clock::time_point now) {
  const std::size_t space = budget_ > table_bytes() ? budget_ - table_bytes() : 0;
  const auto window_max = static_cast<std::size_t>(static_cast<double>(space) * window_fraction_);
  while (window_.bytes() > window_max) {
    Entry* candidate = window_.tail();
    window_.remove(candidate);
    admit(candidate, now);
  }
}

// The candidate, just out of the window and in no list, enters probation or is dropped.
void Shard::admit(Entry* candidate, Clock::time_point now) {
  const Clock::rep now_ticks = now.time_since_epoch().count();
  if (now_ticks >= candidate->expiry) {
    drop(candidate, Drop::kExpiration, false);
    return;
  }
  const std::uint32_t candidate_freq = sketch_.estimate(candidate->hash);
  const std::size_t limit = main_max();
  while (probation_.bytes() + protected_.bytes() + candidate->charge > limit) {
    Entry* victim = !probation_.empty() ? probation_.tail() : protected_.tail();
    if (victim == nullptr) break;
    if (now_ticks >= victim->expiry) {
      drop(victim, Drop::kExpiration);
    } else if (candidate_wins(candidate_freq, victim)) {
      drop(victim, Drop::kEviction);
    } else {
      drop(candidate, Drop::kRejection, false);
      return;
    }
  }
  candidate->queue = Queue::kProbation;
  probation_.push_front(candidate);
  stats_.admissions.add();
}

bool Shard::candidate_wins(std::uint32_t candidate_freq, const Entry* victim) {
  const std::uint32_t victim_freq = sketch_.estimate(victim->hash);
  if (candidate_freq > victim_freq) return true;
  if (candidate_freq <= 5) return false;
  return (random() & 127) == 0;
}

bool Shard::evict_one(Clock::time_point now) {
  Entry* victim = !probation_.empty()   ? probation_.tail()
                  : !protected_.empty() ? protected_.tail()
                                        : window_.tail();
  if (victim == nullptr) return false;
  const bool expired = now.time_since_epoch().count() >= victim->expiry;
  drop(victim, expired ? Drop::kExpiration : Drop::kEviction);
  return true;
}

// Removes e from the table and, if listed, from its queue; frees it.
void Shard::drop(Entry* e, Drop why, bool listed) {
  if (listed) list(e->queue).remove(e);
  table_unlink(e);
  if (e == inserting_) inserting_ = nullptr;
  switch (why) {
    case Drop::kEviction:
      stats_.evictions.add();
      break;
    case Drop::kRejection:
      stats_.rejections.add();
      break;
    case Drop::kExpiration:
      stats_.expirations.add();
      break;
    case Drop::kReplaced:
      stats_.replaced.add();
      break;
    case Drop::kInvalidation:
      break;  // the caller counts it by reason
  }
  Entry::destroy(e);
}

bool Shard::erase(std::uint64_t hash, std::string_view key, InvalidationReason reason) {
  ++fill_slots_[(hash >> 32) & (fill_slots_.size() - 1)];
  Entry* e = find(hash, key);
  if (e == nullptr) return false;
  drop(e, Drop::kInvalidation);
  stats_.invalidations[static_cast<std::size_t>(reason)].add();
  sync_gauges();
  return true;
}

std::size_t Shard::erase_if(const std::function<bool(const Entry&)>& select,
                            InvalidationReason reason) {
  ++epoch_;
  std::size_t dropped = 0;
  for (EntryList* l : {&window_, &probation_, &protected_}) {
    for (Entry* e = l->head(); e != nullptr;) {
      Entry* next = e->next;
      if (select(*e)) {
        drop(e, Drop::kInvalidation);
        ++dropped;
      }
      e = next;
    }
  }
  stats_.invalidations[static_cast<std::size_t>(reason)].add(dropped);
  sync_gauges();
  return dropped;
}

void Shard::clear(InvalidationReason reason) {
  erase_if([](const Entry&) { return true; }, reason);
  buckets_.reset();
  bucket_count_ = 0;
  rehash(kInitialBuckets);
  sync_gauges();
}

FillStamp Shard::begin_fill(std::uint64_t hash) const {
  return {fill_slots_[(hash >> 32) & (fill_slots_.size() - 1)], epoch_};
}

bool Shard::fill_current(std::uint64_t hash, const FillStamp& stamp) const {
  return stamp.epoch == epoch_ &&
         stamp.slot_epoch == fill_slots_[(hash >> 32) & (fill_slots_.size() - 1)];
}

void Shard::sync_gauges() {
  const auto bytes = static_cast<std::int64_t>(used());
  const auto count = static_cast<std::int64_t>(entries());
  stats_.bytes.add(bytes - published_bytes_);
  stats_.entries.add(count - published_entries_);
  published_bytes_ = bytes;
  published_entries_ = count;
}

std::uint64_t Shard::random() {  // xorshift64
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return rng_;
}

}  // namespace sidecache::nearcache
