// What sidecache knows about every Redis 7.0 command: arity, flags, where the keys are, and how
// the proxy routes it. Generated facts (scripts/gen_command_table.py from redis-server 7.0.15's
// COMMAND INFO) plus sidecache's routing decision per command.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sidecache::resp {

enum class Routing : std::uint8_t {
  kLocal,       // answered by sidecache itself (PING, ECHO, INFO, HELLO, CLIENT SETNAME, ...)
  kSingleNode,  // forwarded to the node of its keys; all keys must share a node (else CROSSSLOT);
                // a keyless command of this kind (EVAL with numkeys 0) goes to a deterministic node
  kSplit,       // multi-key, split per node and merged: MGET, MSET, DEL, UNLINK, EXISTS, TOUCH
  kBroadcast,   // sent to every node, replies combined: SCRIPT LOAD/FLUSH/EXISTS, DBSIZE
  kRejected,    // cannot be routed meaningfully (KEYS, FLUSHALL, CONFIG SET, SHUTDOWN, ...)
  kSession,     // the session handles it on a backend connection of its own: transactions,
                // blocking commands, Pub/Sub
  kKeyspace,    // across every node: SCAN (a cursor over the nodes), RANDOMKEY, KEYS, FLUSHDB
  kUnsupported,  // not supported (yet): WAIT, CLIENT TRACKING, ...
};

// What the policy chain (read-through engine, write modes) does with a command on a policy key;
// generated beside the routing kind (scripts/gen_command_table.py, CACHE_ROLES).
enum class CacheRole : std::uint8_t {
  kNone,  // no role: a read passes, a write is checked for write-policy keys by its key specs
  // Reads the read-through engine serves.
  kGet,
  kMget,
  kHget,
  kHmget,
  kHgetall,
  kHexists,
  kHlen,
  // Writes the write modes map to a database row.
  kSet,
  kMset,
  kIncr,
  kDecr,
  kIncrBy,
  kDecrBy,
  kHset,
  kHmset,
  kHincrBy,
  kDel,
  kUnlink,
  kScript,  // EVAL, EVALSHA, FCALL: refused on keys of a write policy
  kTtl,     // EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT, PERSIST, TOUCH: change no row, pass
};

// A read the read-through engine serves.
constexpr bool is_cache_read(CacheRole role) {
  return role >= CacheRole::kGet && role <= CacheRole::kHlen;
}

// What the client session does with a command itself (transactions, Pub/Sub, the commands its
// modes treat specially); generated beside the routing kind (SESSION_ROLES).
enum class SessionRole : std::uint8_t {
  kNone,
  kMulti,
  kExec,
  kDiscard,
  kWatch,
  kUnwatch,
  kReset,  // leaves every mode
  kQuit,
  kPing,  // answered in RESP2 subscribed mode; queueable in MULTI
  kEcho,  // queueable in MULTI
  kSubscribe,
  kPsubscribe,
  kSsubscribe,
  kUnsubscribe,
  kPunsubscribe,
  kSunsubscribe,
  kPublish,         // PUBLISH, SPUBLISH: to the channel's node
  kPubsubNumpat,    // PUBSUB NUMPAT: one node knows every pattern
  kPubsubChannels,  // PUBSUB CHANNELS, SHARDCHANNELS: the union over the nodes
  kPubsubNumsub,    // PUBSUB NUMSUB, SHARDNUMSUB: counts summed over the nodes
};

// Flags from Redis's command flags that sidecache cares about.
enum CommandFlag : std::uint32_t {
  kFlagWrite = 1u << 0,
  kFlagReadOnly = 1u << 1,
  kFlagAdmin = 1u << 2,
  kFlagBlocking = 1u << 3,
  kFlagPubSub = 1u << 4,
  kFlagNoScript = 1u << 5,
  kFlagFast = 1u << 6,
  kFlagMovableKeys = 1u << 7,
  kFlagDenyOom = 1u << 8,
  kFlagLoading = 1u << 9,
  kFlagStale = 1u << 10,
  kFlagNoMulti = 1u << 11,
  kFlagNoAuth = 1u << 12,  // runs before authentication (AUTH, HELLO, QUIT, RESET)
};

// Redis's ACL command categories (`+@read`, `-@dangerous`), as COMMAND INFO reports them.
enum AclCategory : std::uint32_t {
  kAclKeyspace = 1u << 0,
  kAclRead = 1u << 1,
  kAclWrite = 1u << 2,
  kAclSet = 1u << 3,
  kAclSortedset = 1u << 4,
  kAclList = 1u << 5,
  kAclHash = 1u << 6,
  kAclString = 1u << 7,
  kAclBitmap = 1u << 8,
  kAclHyperloglog = 1u << 9,
  kAclGeo = 1u << 10,
  kAclStream = 1u << 11,
  kAclPubsub = 1u << 12,
  kAclAdmin = 1u << 13,
  kAclFast = 1u << 14,
  kAclSlow = 1u << 15,
  kAclBlocking = 1u << 16,
  kAclDangerous = 1u << 17,
  kAclConnection = 1u << 18,
  kAclTransaction = 1u << 19,
  kAclScripting = 1u << 20,
};

// The category bit of a Redis category name ("read", "dangerous"; case-insensitive); 0 when
// unknown.
std::uint32_t acl_category(std::string_view name);

// Key-spec flags from Redis (COMMAND INFO "flags" of a key spec): how the command uses the key.
enum KeySpecFlag : std::uint16_t {
  kKeyRO = 1u << 0,      // read only
  kKeyRW = 1u << 1,      // read and modified
  kKeyOW = 1u << 2,      // overwritten without being read
  kKeyRM = 1u << 3,      // removed
  kKeyAccess = 1u << 4,  // user data is returned
  kKeyUpdate = 1u << 5,
  kKeyInsert = 1u << 6,
  kKeyDelete = 1u << 7,
  kKeyNotKey = 1u << 8,  // a channel, not a key (SPUBLISH): skipped by key_indexes()
  kKeyIncomplete = 1u << 9,
  kKeyVariableFlags = 1u << 10,
};

// Where key_indexes() departs from the plain key-spec walk, to reproduce Redis's own argument
// checks (numkeys error texts) or to find keys that key specs cannot describe.
enum class KeyQuirk : std::uint8_t {
  kNone,
  kScriptNumkeys,    // EVAL, EVALSHA and their _RO forms: numkeys >= 0
  kFunctionNumkeys,  // FCALL, FCALL_RO: as scripts, another text for a non-integer
  kZsetNumkeys,      // ZUNION*, ZINTER*, ZDIFF*, ZINTERCARD: numkeys >= 1
  kCardNumkeys,      // SINTERCARD
  kMpopNumkeys,      // LMPOP, BLMPOP, ZMPOP, BZMPOP: numkeys >= 1, then a direction argument
  kStreams,          // XREAD, XREADGROUP: balanced STREAMS list
  kSort,             // SORT ... STORE dst
  kMigrate,          // MIGRATE ... KEYS k1 k2
};

// A Redis 7 key spec (see COMMAND DOCS "key_specs"): where the search for keys begins, and how
// keys are found from there.
struct KeySpec {
  enum class Begin : std::uint8_t { kIndex, kKeyword, kUnknown };
  enum class Find : std::uint8_t { kRange, kKeynum, kUnknown };
  Begin begin = Begin::kUnknown;
  int begin_index = 0;        // kIndex: absolute argument index (command name is 0)
  std::string_view keyword;   // kKeyword: keyword to search for (case-insensitive)
  int keyword_startfrom = 0;  // kKeyword: start index; negative counts from the end
  Find find = Find::kUnknown;
  int range_lastkey = 0;  // kRange: relative to the first key; -1 = last argument
  int range_keystep = 1;
  int range_limit = 0;
  int keynum_index = 0;     // kKeynum: index of numkeys, relative to begin
  int keynum_firstkey = 1;  // first key, relative to begin
  int keynum_keystep = 1;
  std::uint16_t flags = 0;  // KeySpecFlag bits
};

struct CommandInfo {
  std::string_view name;  // lower case; a subcommand is "container|sub", e.g. "config|get"
  int arity = 0;          // Redis arity: > 0 exact count, < 0 at least -arity (name included)
  std::uint32_t flags = 0;
  std::uint32_t acl_categories = 0;  // AclCategory bits
  int first_key = 0;                 // legacy range from COMMAND (0: no keys)
  int last_key = 0;
  int step = 0;
  std::span<const KeySpec> key_specs;
  Routing routing = Routing::kRejected;
  CacheRole cache_role = CacheRole::kNone;
  SessionRole session_role = SessionRole::kNone;
  std::string_view note;  // why a command is rejected/unsupported (shown to the client)
  std::span<const CommandInfo> subcommands;  // non-empty for container commands
  KeyQuirk quirk = KeyQuirk::kNone;
  std::uint16_t id = 0;  // dense, 0 .. CommandTable::id_count() - 1: indexes per-command stats

  bool has(CommandFlag f) const { return (flags & f) != 0; }
  bool arity_ok(std::size_t argc) const {
    return arity > 0 ? argc == static_cast<std::size_t>(arity)
                     : argc >= static_cast<std::size_t>(-arity);
  }
};

class CommandTable {
 public:
  static const CommandTable& instance();

  // Case-insensitive look-up of a top-level command; nullptr when unknown.
  const CommandInfo* find(std::string_view name) const;
  // Resolves a container's subcommand (case-insensitive), e.g. CONFIG GET; nullptr when unknown.
  static const CommandInfo* find_subcommand(const CommandInfo& container, std::string_view sub);
  std::span<const CommandInfo> all() const;
  // Number of distinct command ids (top-level commands and subcommands).
  static std::size_t id_count();

 private:
  CommandTable();
  static constexpr std::size_t kSlots = 512;   // open addressing, load factor < 1/2
  std::array<std::uint16_t, kSlots> slots_{};  // index + 1 into all(); 0 = empty
  std::size_t max_name_ = 0;
};

// "local", "single-node", ... for logs and docs.
std::string_view routing_name(Routing routing);
// The command table's entry of a lower-case name ("container|sub" for a subcommand); nullptr
// when unknown.
const CommandInfo* find_command(std::string_view name);

namespace detail {
// Defined in the generated command_table_data.cpp: every top-level command, sorted by name.
std::span<const CommandInfo> generated_commands();
}  // namespace detail

// Indexes (into args, args[0] being the command name) of the key arguments of one request,
// following the command's key specs as Redis's getKeysFromCommand does. Returns false with a
// Redis-style error text (e.g. "ERR Number of keys can't be greater than number of args") when
// the request's numkeys is malformed, texts as redis-server 7.0.15 replies them. Keys are listed in
// key-spec order, not deduplicated; arguments past the end are ignored (the arity check is the
// caller's). `out` is cleared first.
bool key_indexes(const CommandInfo& info, std::span<const std::string_view> args,
                 std::vector<std::uint32_t>& out, std::string& error);

}  // namespace sidecache::resp
