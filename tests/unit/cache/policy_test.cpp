#include "cache/policy.hpp"

#include <random>

#include <catch2/catch.hpp>

using namespace sidecache;
using namespace sidecache::cache;
using namespace std::chrono_literals;

namespace {

config::CachePolicy policy(std::string match, std::string name = "") {
  config::CachePolicy p;
  p.match = std::move(match);
  p.name = std::move(name);
  p.table = "t";
  p.key_column = "id";
  return p;
}

}  // namespace

TEST_CASE("a pattern's '*' text is the id") {
  Pattern p("product:*");
  CHECK(p.match("product:42") == std::optional<std::string_view>("42"));
  CHECK(p.match("product:") == std::nullopt);  // an empty id is no key of the policy
  CHECK(p.match("products:1") == std::nullopt);
  CHECK(p.match("xproduct:1") == std::nullopt);
  Pattern s("user:*:profile");
  CHECK(s.match("user:7:profile") == std::optional<std::string_view>("7"));
  CHECK(s.match("user:7:profil") == std::nullopt);
  CHECK(s.match("user::profile") == std::nullopt);
  Pattern literal("config:site");
  CHECK(literal.match("config:site") == std::optional<std::string_view>("config:site"));
  CHECK(literal.match("config:sites") == std::nullopt);
  CHECK(key_of("user:*:profile", "9") == "user:9:profile");
}

TEST_CASE("the first matching policy wins") {
  config::CacheConfig cache;
  cache.policies = {policy("product:special:*", "special"), policy("product:*", "products")};
  PolicySet set(cache);
  auto m = set.match("product:special:1");
  REQUIRE(m.policy != nullptr);
  CHECK(m.policy->name() == "special");
  CHECK(m.id == "1");
  m = set.match("product:2");
  REQUIRE(m.policy != nullptr);
  CHECK(m.policy->name() == "products");
  CHECK(set.match("user:1").policy == nullptr);
  // The name defaults to the pattern.
  cache.policies = {policy("user:*")};
  CHECK(PolicySet(cache).policies()[0]->name() == "user:*");
}

TEST_CASE(
    "the first-byte index and the word compare pick what a scan of every policy in order would "
    "pick") {
  config::CacheConfig cache;
  const std::vector<std::string> patterns = {"product:special:*",
                                             "*:profile",
                                             "product:*",
                                             "p*",
                                             "config:site",
                                             std::string("\xff*", 2),
                                             std::string("\0x*", 3),
                                             "*",
                                             "user:*",
                                             "session:data:*:v"};
  for (const auto& p : patterns) cache.policies.push_back(policy(p));
  PolicySet set(cache);
  // The meaning of a pattern, written plainly: the reference for Pattern::match's word compare.
  const auto reference = [](std::string_view pattern,
                            std::string_view key) -> std::optional<std::string_view> {
    const auto star = pattern.find('*');
    if (star == std::string_view::npos) {
      return key == pattern ? std::optional<std::string_view>(key) : std::nullopt;
    }
    const auto prefix = pattern.substr(0, star);
    const auto suffix = pattern.substr(star + 1);
    if (key.size() <= prefix.size() + suffix.size() || !key.starts_with(prefix) ||
        !key.ends_with(suffix)) {
      return std::nullopt;
    }
    return key.substr(prefix.size(), key.size() - prefix.size() - suffix.size());
  };
  const auto scan = [&](std::string_view key) -> PolicySet::Match {
    for (const auto& p : set.policies()) {
      if (auto id = reference(p->pattern.text(), key)) return {p.get(), *id};
    }
    return {};
  };
  std::mt19937 rng(7);
  const std::string alphabet = std::string("pcux*:\xff\0profilesite", 19);
  std::vector<std::string> keys = {"",
                                   "p",
                                   "product:1",
                                   "user:1:profile",
                                   "config:site",
                                   std::string("\xffz", 2),
                                   std::string("\0xy", 3)};
  for (int i = 0; i < 5000; ++i) {
    std::string key(rng() % 12, ' ');
    for (auto& c : key) c = alphabet[rng() % alphabet.size()];
    keys.push_back(key);
  }
  // Keys of each pattern, and the same with one byte changed (within the prefix's first 8
  // bytes, past them, or in the suffix).
  for (const auto& p : patterns) {
    for (int i = 0; i < 200; ++i) {
      std::string key = key_of(p, std::to_string(rng() % 100));
      keys.push_back(key);
      if (!key.empty()) key[rng() % key.size()] ^= static_cast<char>(1 + rng() % 255);
      keys.push_back(key);
    }
  }
  for (const auto& key : keys) {
    const auto want = scan(key);
    const auto got = set.match(key);
    INFO("key of " << key.size() << " bytes");
    CHECK(got.policy == want.policy);
    CHECK(got.id == want.id);
  }
  // Without an empty-prefix policy a key of another key space has no candidate at all.
  cache.policies = {policy("product:*"), policy("user:*")};
  PolicySet prefixed(cache);
  CHECK(prefixed.match("key:1").policy == nullptr);
  CHECK(prefixed.match("").policy == nullptr);
  CHECK(prefixed.match("user:2").policy == prefixed.policies()[1].get());
}

TEST_CASE("glob matching for TTL rules") {
  CHECK(glob_match("session:*", "session:abc"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("a*b*c", "axxbyyc"));
  CHECK_FALSE(glob_match("a*b*c", "axxbyy"));
  CHECK(glob_match("user:?", "user:1"));
  CHECK_FALSE(glob_match("user:?", "user:12"));
}

TEST_CASE("TTL: the policy's, else the first rule matching, else the default") {
  config::CacheConfig cache;
  cache.default_ttl = 300s;
  cache.ttl_rules = {{"session:*", 24h}, {"user:*", 30min}, {"user:admin:*", 1min}};
  auto p = policy("user:*");
  CHECK(resolve_ttl(cache, p) == 30min);
  p.ttl = 5s;
  CHECK(resolve_ttl(cache, p) == 5s);
  CHECK(resolve_ttl(cache, policy("user:admin:*")) == 30min);  // first match wins
  CHECK(resolve_ttl(cache, policy("session:*")) == 24h);
  CHECK(resolve_ttl(cache, policy("product:*")) == 300s);
  // The grace (kept past logical expiry) is the larger stale window.
  auto q = policy("x:*");
  q.stale_while_revalidate = 2s;
  q.stale_if_error = 7s;
  CHECK(Policy(q, 10s, 0).grace == 7s);
}

TEST_CASE("jitter stays within +-share and spreads values") {
  std::mt19937_64 rng(42);
  std::int64_t lo = 1 << 30, hi = 0;
  double sum = 0;
  constexpr int kN = 10000;
  for (int i = 0; i < kN; ++i) {
    const auto t = jittered(std::chrono::milliseconds(10000), 0.1, rng).count();
    REQUIRE(t >= 9000);
    REQUIRE(t <= 11000);
    lo = std::min(lo, t);
    hi = std::max(hi, t);
    sum += static_cast<double>(t);
  }
  CHECK(lo < 9100);  // uses the whole range ...
  CHECK(hi > 10900);
  CHECK(sum / kN == Approx(10000).epsilon(0.01));  // ... centred on the TTL
  CHECK(jittered(std::chrono::milliseconds(5000), 0, rng).count() == 5000);
  CHECK(jittered(std::chrono::milliseconds(0), 0.5, rng).count() == 1);
}
