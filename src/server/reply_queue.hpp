// The reply slots of one client connection, and the bytes buffered for it. Asio-free: the
// session owns the socket and the timers; this class owns order and accounting.
//
// Every request read gets a slot, in request order; its tag is its position (the first slot
// ever opened has tag 0). Replies arrive in any order (different nodes, local answers, merges)
// and leave in request order: a reply whose slot is the oldest one owed goes to the output at
// once, together with every later reply already parked; any other reply is parked in its slot.
// Frames pushed by the server (Pub/Sub messages) are written after the replies owed when they
// arrive, never between a command and its reply.
//
// The output is written from a separate buffer (the write in progress), in slices; while it is
// written, new replies gather in the output. output_bytes() counts every form a reply can be
// buffered in: output, write buffer, parked, and bytes a merge holds before its reply.
//
// `Request` is what the session keeps about each request until its reply (for statistics);
// only the slot's owner reads it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sidecache::server {

template <class Request>
class ReplyQueue {
 public:
  using Clock = std::chrono::steady_clock;
  // Before a client's first reply its size is unknown: over_limits() allows this many requests
  // in flight at most.
  static constexpr std::size_t kColdWindow = 16;

  // A slot for the next request read; returns its tag.
  std::uint64_t open(Request request) {
    if (count_ == ring_.size()) grow();
    at(count_).request = std::move(request);
    ++count_;
    return head_tag_ + count_ - 1;
  }
  // Takes back the newest slot, which has no reply yet: its request is read again later (a
  // deferred request), and gets the same tag then.
  void drop_last() {
    clear_slot(at(count_ - 1));
    --count_;
  }
  // The request of a slot whose reply has not left yet.
  Request& request(std::uint64_t tag) { return at(tag - head_tag_).request; }

  // The reply for `tag`. True when it was the oldest reply owed: it and the replies parked
  // behind it are in the output now. False: parked until the earlier replies arrive.
  bool deliver(std::uint64_t tag, std::string_view reply) {
    const std::size_t index = tag - head_tag_;
    // A decaying maximum of the reply sizes (see over_limits()).
    reply_estimate_ = std::max(reply.size(), reply_estimate_ - reply_estimate_ / 8);
    if (index != 0) {
      Slot& slot = at(index);
      slot.reply.assign(reply);
      slot.ready = true;
      parked_bytes_ += reply.size();
      ++parked_replies_;
      return false;
    }
    out_.append(reply);
    ++out_replies_;
    if (const std::string& after = at(0).after; !after.empty()) {
      parked_bytes_ -= after.size();
      out_.append(after);
    }
    pop_front();
    while (count_ > 0 && at(0).ready) {
      Slot& slot = at(0);
      out_.append(slot.reply);
      if (!slot.after.empty()) out_.append(slot.after);
      parked_bytes_ -= slot.reply.size() + slot.after.size();
      --parked_replies_;
      ++out_replies_;
      pop_front();
    }
    return true;
  }
  // A frame to write after every reply owed now (at once when none is owed).
  void push(std::string_view frame) {
    if (count_ == 0) {
      out_.append(frame);
      ++out_replies_;
    } else {
      at(count_ - 1).after.append(frame);
      parked_bytes_ += frame.size();
    }
  }
  // Bytes a merge holds for this client before its reply: added, or given back (negative).
  void hold(std::int64_t bytes) {
    held_bytes_ = static_cast<std::size_t>(static_cast<std::int64_t>(held_bytes_) + bytes);
  }

  // Replies owed: slots opened whose reply has not gone to the output.
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  // Writing. start_write() moves the output to the write buffer (false when there is nothing
  // to write, or a write is in progress); next_slice() gives the next bytes to write, wrote()
  // counts those written (true while the write buffer has more), finish_write() ends the write,
  // done or failed, keeping at most `keep_capacity` bytes of the buffer's memory.
  bool writing() const { return writing_active_; }
  bool start_write() {
    if (writing_active_ || out_.empty()) return false;
    writing_.swap(out_);
    writing_replies_ = std::exchange(out_replies_, 0);
    writing_active_ = true;
    written_ = 0;
    return true;
  }
  std::string_view next_slice(std::size_t max, Clock::time_point now) {
    write_progress_ = now;
    return std::string_view(writing_).substr(written_, max);
  }
  bool wrote(std::size_t n) {
    written_ += n;
    return written_ < writing_.size();
  }
  void finish_write(std::size_t keep_capacity) {
    writing_active_ = false;
    writing_replies_ = 0;
    writing_.clear();
    if (writing_.capacity() > keep_capacity) std::string().swap(writing_);
  }
  // When the write in progress last took a slice.
  Clock::time_point write_progress() const { return write_progress_; }

  // Frees what is buffered for a client that is gone: output, parked replies and pushes. The
  // write in flight keeps its buffer until it ends (finish_write()). Slots stay, empty: a reply
  // that still comes parks (and counts) again.
  void release() {
    std::string().swap(out_);
    out_replies_ = 0;
    for (std::size_t i = 0; i < count_; ++i) {
      Slot& slot = at(i);
      std::string().swap(slot.reply);
      std::string().swap(slot.after);
      slot.ready = false;
    }
    parked_bytes_ = 0;
    parked_replies_ = 0;
  }

  // Reply bytes buffered in every form: output, write buffer, parked (with their pushes), held
  // by merges.
  std::size_t output_bytes() const {
    return out_.size() + writing_.size() + parked_bytes_ + held_bytes_;
  }
  // Replies buffered: in the output, in the write buffer, parked; held bytes count as one.
  std::size_t buffered_replies() const {
    return out_replies_ + writing_replies_ + parked_replies_ + (held_bytes_ > 0 ? 1 : 0);
  }
  // The change of output_bytes() since the last call (for a gauge summing many clients), and
  // what the gauge holds of this client.
  std::int64_t publish() {
    const std::size_t now = output_bytes();
    const auto delta = static_cast<std::int64_t>(now) - static_cast<std::int64_t>(published_);
    published_ = now;
    return delta;
  }
  std::size_t published() const { return published_; }

  // Limits. Over them, the session reads no more requests until replies drain: as many slots
  // as `max_pipeline`; `max_output_bytes` buffered; or requests in flight times the estimated
  // reply size reaching `max_output_bytes`, so that a client that does not read cannot have
  // the nodes send much more than its limit for it.
  bool over_limits(std::size_t max_pipeline, std::uint64_t max_output_bytes) const {
    const std::size_t inflight = count_ - parked_replies_;
    const std::size_t estimate =
        reply_estimate_ > 0 ? reply_estimate_ : max_output_bytes / kColdWindow;
    return count_ >= max_pipeline || output_bytes() >= max_output_bytes ||
           (inflight > 0 && inflight * estimate >= max_output_bytes);
  }
  // More than `max_output_bytes` buffered in more than one reply while a write is in
  // progress: if that write has made no progress for a while, the client is not reading. (One
  // reply may exceed the limit on its own: a large value is still delivered.)
  bool over_output_limit(std::uint64_t max_output_bytes) const {
    return output_bytes() > max_output_bytes && buffered_replies() >= 2 && writing_active_;
  }
  std::size_t reply_estimate() const { return reply_estimate_; }

 private:
  struct Slot {
    Request request{};
    std::string reply;  // parked until the earlier replies are out
    std::string after;  // pushes to write right after this reply
    bool ready = false;
  };
  // A freed slot keeps this much of its parked reply's memory for the next request that takes
  // it (small: a deep pipeline of parked replies must not leave every slot holding a value).
  static constexpr std::size_t kKeepSlotBytes = 256;
  // An empty ring larger than this many slots gives its memory back.
  static constexpr std::size_t kKeepSlots = 256;

  // The i-th slot owed (0: the oldest).
  Slot& at(std::size_t i) { return ring_[(first_ + i) & (ring_.size() - 1)]; }
  const Slot& at(std::size_t i) const { return ring_[(first_ + i) & (ring_.size() - 1)]; }
  // Empties a slot for reuse (its request is replaced when the slot is opened again).
  static void clear_slot(Slot& slot) {
    slot.ready = false;
    if (slot.reply.capacity() > kKeepSlotBytes) {
      std::string().swap(slot.reply);
    } else {
      slot.reply.clear();
    }
    if (!slot.after.empty()) std::string().swap(slot.after);  // pushes are rare
  }
  // Doubles the ring (a power of two), the slots owed moved in order to its start.
  void grow() {
    std::vector<Slot> bigger(ring_.empty() ? 8 : ring_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i) bigger[i] = std::move(at(i));
    ring_.swap(bigger);
    first_ = 0;
  }
  void pop_front() {
    clear_slot(at(0));
    first_ = (first_ + 1) & (ring_.size() - 1);
    --count_;
    ++head_tag_;
    if (count_ == 0 && ring_.size() > kKeepSlots) {
      std::vector<Slot>().swap(ring_);
      first_ = 0;
    }
  }

  // A ring of slots, reused from request to request (no allocation per request): at(i) has
  // tag head_tag_ + i.
  std::vector<Slot> ring_;
  std::size_t first_ = 0;  // ring_ index of the oldest slot owed
  std::size_t count_ = 0;  // slots owed
  std::uint64_t head_tag_ = 0;
  std::string out_;      // replies ready, in order, not yet handed to the writer
  std::string writing_;  // the buffer of the write in progress
  bool writing_active_ = false;
  std::size_t written_ = 0;  // of writing_, by the slices written so far
  Clock::time_point write_progress_;
  std::size_t out_replies_ = 0;
  std::size_t writing_replies_ = 0;
  std::size_t parked_replies_ = 0;
  std::size_t parked_bytes_ = 0;
  std::size_t held_bytes_ = 0;
  std::size_t published_ = 0;
  std::size_t reply_estimate_ = 0;
};

}  // namespace sidecache::server
