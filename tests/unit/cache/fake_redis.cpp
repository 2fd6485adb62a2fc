#include <algorithm>

#include "fakes.hpp"
#include "route/cluster_slots.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::cache::test {
namespace {

std::string bulk(std::string_view s) {
  std::string out;
  resp::append_bulk(out, s);
  return out;
}
std::string integer(std::int64_t n) {
  std::string out;
  resp::append_integer(out, n);
  return out;
}

}  // namespace

std::string FakeRedis::refusal_by_slot(const std::vector<std::string>& a) const {
  if (iequals(a[0], "MULTI")) return "-ERR fake: MULTI on a cluster pool\r\n";
  if (!iequals(a[0], "EVAL") || a.size() < 3) return {};
  const std::size_t keys = std::stoul(a[2]);
  for (std::size_t i = 4; i < 3 + keys && i < a.size(); ++i) {
    if (route::key_slot(a[i]) != route::key_slot(a[3])) {
      return "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    }
  }
  return {};
}

std::string FakeRedis::execute(const std::vector<std::string>& a) {
  const std::string& cmd = a[0];
  if (multi_ && !iequals(cmd, "EXEC")) {
    queued_.push_back(command(std::span<const std::string>(a)));
    return "+QUEUED\r\n";
  }
  if (iequals(cmd, "MULTI")) {
    multi_ = true;
    return "+OK\r\n";
  }
  if (iequals(cmd, "EXEC")) {
    multi_ = false;
    std::string out;
    resp::append_array_header(out, queued_.size());
    auto queued = std::move(queued_);
    queued_.clear();
    for (const auto& q : queued) {
      resp::RequestParser parser;
      resp::Command c;
      std::size_t consumed = 0;
      parser.parse(q, c, consumed);
      out += execute(std::vector<std::string>(c.args.begin(), c.args.end()));
    }
    return out;
  }
  const auto now = runtime_.now();
  if (iequals(cmd, "GET")) {
    Entry* e = find(a[1]);
    if (e == nullptr) return "$-1\r\n";
    if (!e->text) return "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    return bulk(*e->text);
  }
  if (iequals(cmd, "MGET")) {
    std::string out = "*" + std::to_string(a.size() - 1) + "\r\n";
    for (std::size_t i = 1; i < a.size(); ++i) {
      Entry* e = find(a[i]);
      out += e == nullptr || !e->text ? std::string("$-1\r\n") : bulk(*e->text);
    }
    return out;
  }
  if (iequals(cmd, "SET")) {
    Entry* old = find(a[1]);
    bool nx = false;
    bool get = false;
    std::optional<Clock::time_point> expires;
    for (std::size_t i = 3; i < a.size(); ++i) {
      if (iequals(a[i], "NX")) nx = true;
      if (iequals(a[i], "GET")) get = true;
      if (iequals(a[i], "PX")) expires = now + std::chrono::milliseconds(std::stoll(a[++i]));
    }
    if (get && !set_get_error.empty()) return set_get_error;
    if (get && old != nullptr && !old->text) {
      return "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    }
    const std::string previous = old == nullptr ? "$-1\r\n" : bulk(*old->text);
    if (nx && old != nullptr) return get ? previous : "$-1\r\n";
    data[a[1]] = Entry{a[2], {}, expires};
    return get ? previous : "+OK\r\n";
  }
  if (iequals(cmd, "PTTL")) return integer(pttl(a[1]));
  if (iequals(cmd, "EXISTS")) return integer(find(a[1]) != nullptr ? 1 : 0);
  if (iequals(cmd, "DEL")) {
    const bool had = find(a[1]) != nullptr;
    data.erase(a[1]);
    return integer(had ? 1 : 0);
  }
  if (iequals(cmd, "PEXPIRE")) {
    Entry* e = find(a[1]);
    if (e == nullptr) return integer(0);
    e->expires = now + std::chrono::milliseconds(std::stoll(a[2]));
    return integer(1);
  }
  if (iequals(cmd, "HSET")) {
    auto& e = data[a[1]];
    for (std::size_t i = 2; i + 1 < a.size(); i += 2) e.fields.emplace_back(a[i], a[i + 1]);
    return integer(static_cast<std::int64_t>((a.size() - 2) / 2));
  }
  if (iequals(cmd, "EVAL") && a[1] == kStoreHashScript) {
    data.erase(a[3]);
    auto& e = data[a[3]];
    for (std::size_t i = 5; i + 1 < a.size(); i += 2) e.fields.emplace_back(a[i], a[i + 1]);
    e.expires = now + std::chrono::milliseconds(std::stoll(a[4]));
    return integer(1);
  }
  if (iequals(cmd, "EVAL")) {  // the lease release script, the store if still leased
    Entry* e = find(a[3]);
    if (e == nullptr || !e->text || *e->text != a[4]) return integer(0);
    if (a[1] == kStoreIfLeasedScript) {
      *e->text = a[5];
      e->expires = now + std::chrono::milliseconds(std::stoll(a[6]));
    } else {
      data.erase(a[3]);
    }
    return integer(1);
  }
  const bool hash_cmd = cmd.size() > 1 && (cmd[0] == 'H' || cmd[0] == 'h');
  if (hash_cmd) {
    Entry* e = find(a[1]);
    if (e != nullptr && e->text) {
      return "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    }
    Value v;
    v.is_hash = true;
    if (e != nullptr) v.fields = e->fields;
    std::string lower = cmd;
    for (auto& c : lower) c = static_cast<char>(c | 0x20);
    std::string out;
    render(read_op(resp::find_command(lower)->cache_role), a, e != nullptr ? &v : nullptr, out);
    return out;
  }
  return "-ERR fake: unknown command '" + cmd + "'\r\n";
}

}  // namespace sidecache::cache::test
