// The near cache on the request path: the first step of each worker's policy chain.
//
//   GET k (k matches near_cache.patterns)   a hit: the stored reply bytes, no Redis request;
//                                          a miss: GET k and PTTL k pipelined on the client's
//                                          lane, the reply delivered as it arrives and stored
//                                          (a bulk string only) for min(PTTL, max_ttl)
//   MGET k1 k2 ...                          hits answered locally, the misses read with one
//                                          MGET per node (+ PTTL of each matching one) and
//                                          stored as above, the array assembled here
//   HGET k f / HMGET k f1 f2 ... / HGETALL k / HEXISTS k f / HLEN k
//                                          the whole hash is one entry: its HGETALL reply,
//                                          kept in RESP2 form; a hit renders the reply Redis
//                                          would send (RESP2 or RESP3) from it, no Redis
//                                          request; a miss sends the client's command (its
//                                          reply delivered unchanged), then HGETALL (unless
//                                          that was the command) and PTTL, pipelined, and
//                                          stores a non-empty hash for min(PTTL, max_ttl)
//                                          (an oversized one is not stored)
//   a read of a key of a read-through policy
//                                          left to read-through (not answered here), unless
//                                          the policy says `l1: true` (its match is then one of
//                                          the patterns) and the read is of its type (GET for
//                                          string policies, the hash reads for hash ones): a
//                                          hit as above; a miss begins the fill guard, then
//                                          resumes the request into read-through, and the
//                                          value it answers (a Redis hit or a database load;
//                                          never nil, an empty hash or an error) is stored for
//                                          min(PTTL - the policy's grace, max_ttl), after a
//                                          PTTL (and, for HGET/HMGET, an HGETALL) sent when
//                                          the reply is in. MGET naming a policy key: left to
//                                          read-through, whole
//   any other command naming a matching key that is not read-only
//                                          the key dropped at once; when the step can hold it
//                                          (single-node or split routing), it goes on with a
//                                          reply target that drops the key again when the
//                                          node's reply arrives, so no read that overtook it
//                                          on another connection can leave the old value
//   FLUSHALL / FLUSHDB                      everything dropped
//
// A fill is stored only through the store's fill guard (begin_fill before the GET is sent),
// only while the key's node has its tracking connection up (checked after begin_fill: a node
// going down afterwards bumps the guard), and, on a cluster pool, only when its PTTL (sent
// after the read, on the same connection) was answered by that node without a redirect: an
// entry always comes from the node it is tagged with and tracked on. MGET misses are read one
// request per group (a ring's node, a cluster's slot). Reads inside MULTI, scripts and
// blocking commands do not come here as reads (the session runs them). Asio-free.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cache/policy_chain.hpp"
#include "nearcache/near_cache.hpp"

namespace sidecache::cache {

class NearStep final : public ChainStep, public std::enable_shared_from_this<NearStep> {
 public:
  NearStep(std::shared_ptr<nearcache::NearCache> near, std::shared_ptr<Runtime> runtime,
           NodeSender& nodes);

  bool handle(ChainRequest& request, const ReplyTarget& target) override;
  // Queued inside MULTI: a write of a matching key drops it now; nothing is refused.
  std::string refusal_in_transaction(ChainRequest& request) override;

 private:
  struct Fill;
  struct Mget;

  // The settings in force, re-read after a reload; every entry point calls it first.
  const nearcache::NearSettings& settings();
  // Whether `key` matches the patterns of the last settings() call.
  bool matches(std::string_view key) const;
  bool get(ChainRequest& request, const ReplyTarget& target);
  bool mget(ChainRequest& request, const ReplyTarget& target);
  // HGET / HMGET / HGETALL / HEXISTS / HLEN of a matching key (the whole hash is the entry).
  bool hash_read(ChainRequest& request, const ReplyTarget& target);
  // A miss of an `l1: true` policy's key: the request resumed into read-through with the fill
  // guard begun, its reply stored (see above).
  bool read_through(ChainRequest& request, const ReplyTarget& target, const Policy& policy);
  // Drops the matching keys a non-read-only command names; true when it held and resumed the
  // request (see above).
  bool write(ChainRequest& request, const ReplyTarget& target);
  // The keys of `request` that match the patterns.
  std::vector<std::string> matching_keys(ChainRequest& request);
  // Reads `key` from its node (GET + PTTL), storing a bulk-string reply; `done` gets the GET
  // reply as soon as it arrives.
  void fill(std::string_view key, const ReplyTarget& target,
            std::function<void(std::string_view)> done);
  // PTTL of a fill's key; its reply stores the fill (when its read gave a bulk string).
  void store_after_pttl(const std::shared_ptr<Fill>& fill, const ReplyTarget& target);
  void read_misses(const std::shared_ptr<Mget>& m, std::uint32_t node,
                   const std::vector<std::size_t>& indexes, std::span<const std::string_view> args);
  void answer_mget(Mget& m);

  std::shared_ptr<nearcache::NearCache> near_;
  std::uint64_t generation_ = 0;
  std::shared_ptr<const nearcache::NearSettings> settings_;
  nearcache::KeyPatterns patterns_;  // settings_->patterns, compiled
  const resp::CommandInfo* flushall_ = nullptr;
  const resp::CommandInfo* flushdb_ = nullptr;
  std::string scratch_;
  std::vector<std::uint32_t> key_indexes_;
  std::string key_error_;
};

}  // namespace sidecache::cache
