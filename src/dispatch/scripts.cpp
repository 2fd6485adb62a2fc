#include "dispatch/scripts.hpp"

#include <openssl/sha.h>

#include <array>
#include <memory>

#include "resp/writer.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::dispatch {
namespace {

// Tags of the three replies a healer may see.
constexpr std::uint64_t kFirstTry = 0;
constexpr std::uint64_t kLoad = 1;
constexpr std::uint64_t kRetry = 2;

class NoscriptHealer final : public ReplySink, public std::enable_shared_from_this<NoscriptHealer> {
 public:
  NoscriptHealer(ScriptContext& context, std::uint32_t node, std::string_view request,
                 std::string_view sha, bool read_only, ReplyTarget client)
      : context_(context),
        generation_(context.generation),
        node_(node),
        request_(request),
        sha_(sha),
        read_only_(read_only),
        client_(std::move(client)) {}

  void send(std::string_view request, std::uint64_t tag) {
    ReplyTarget target{shared_from_this(), tag, client_.lane, client_.protocol};
    if (read_only_ && tag != kLoad) {
      context_.nodes->send_read(node_, request, std::move(target));
    } else {
      context_.nodes->send(node_, request, std::move(target));
    }
  }

  void on_reply(std::uint64_t tag, std::string_view reply) override {
    if (tag == kLoad) return;  // a failed load shows in the retry's own reply
    if (tag == kFirstTry && reply.starts_with("-NOSCRIPT") && context_.generation == generation_) {
      if (auto body = context_.registry.body(sha_)) {
        context_.stats.script_reloads.add();
        std::string load;
        const std::string_view args[] = {"SCRIPT", "LOAD", *body};
        resp::append_command(load, args);
        send(load, kLoad);
        send(request_, kRetry);  // same connection, so it runs after the load
        return;
      }
    }
    client_.deliver(reply);
  }

 private:
  ScriptContext& context_;
  std::uint64_t generation_;
  std::uint32_t node_;
  std::string request_;
  std::string sha_;
  bool read_only_;
  ReplyTarget client_;
};

}  // namespace

std::string sha1_hex(std::string_view data) {
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest.data());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * digest.size());
  for (const unsigned char b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xf]);
  }
  return out;
}

bool ScriptRegistry::learn(std::string_view body) {
  std::string sha = sha1_hex(body);
  const std::lock_guard lock(mutex_);
  if (bodies_.count(sha) != 0) return true;
  if (bytes_ + body.size() > max_bytes_) return false;
  bytes_ += body.size();
  bodies_.emplace(std::move(sha), std::string(body));
  return true;
}

std::optional<std::string> ScriptRegistry::body(std::string_view sha) const {
  const std::string key = lower(sha);
  const std::lock_guard lock(mutex_);
  const auto it = bodies_.find(key);
  if (it == bodies_.end()) return std::nullopt;
  return it->second;
}

void ScriptRegistry::clear() {
  const std::lock_guard lock(mutex_);
  bodies_.clear();
  bytes_ = 0;
}

std::size_t ScriptRegistry::size() const {
  const std::lock_guard lock(mutex_);
  return bodies_.size();
}

void send_evalsha(ScriptContext& context, std::uint32_t node, std::string_view request,
                  std::string_view sha, bool read_only, const ReplyTarget& target) {
  auto healer = std::make_shared<NoscriptHealer>(context, node, request, sha, read_only, target);
  healer->send(request, kFirstTry);
}

}  // namespace sidecache::dispatch
