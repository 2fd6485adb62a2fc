#include "cache/value.hpp"

#include <cstdio>

#include "db/row_json.hpp"
#include "resp/errors.hpp"
#include "resp/reply.hpp"
#include "resp/writer.hpp"

namespace sidecache::cache {
namespace {

const std::string* column_value(const db::Row& row, std::string_view column) {
  for (std::size_t i = 0; i < row.columns.size() && i < row.values.size(); ++i) {
    if (row.columns[i] == column) return row.values[i] ? &*row.values[i] : nullptr;
  }
  return nullptr;
}

const std::string* field_of(const Value& value, std::string_view field) {
  for (const auto& [f, v] : value.fields) {
    if (f == field) return &v;
  }
  return nullptr;
}

constexpr std::string_view kWrongType =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

}  // namespace

LoadError load_error_of(db::ErrorKind kind) {
  switch (kind) {
    case db::ErrorKind::kNone:
      return LoadError::kNone;
    case db::ErrorKind::kUnavailable:
      return LoadError::kUnavailable;
    case db::ErrorKind::kTimeout:
      return LoadError::kTimeout;
    case db::ErrorKind::kRejected:
      return LoadError::kRejected;
  }
  return LoadError::kUnavailable;
}

std::optional<Value> map_row(const config::CachePolicy& policy, const db::Row& row) {
  Value value;
  switch (policy.mapping) {
    case config::ValueMapping::kJson:
      value.text = db::row_json(row, policy.json_typed);
      return value;
    case config::ValueMapping::kHash:
      value.is_hash = true;
      for (std::size_t i = 0; i < row.columns.size() && i < row.values.size(); ++i) {
        if (row.columns[i] == policy.key_column || !row.values[i]) continue;
        value.fields.emplace_back(row.columns[i], *row.values[i]);
      }
      if (value.fields.empty()) return std::nullopt;
      return value;
    case config::ValueMapping::kColumn:
      break;
  }
  const std::string* v = nullptr;
  if (!policy.value_column.empty()) {
    v = column_value(row, policy.value_column);
  } else {
    // The only column, else the first that is not the key column.
    for (std::size_t i = 0; i < row.columns.size() && i < row.values.size(); ++i) {
      if (row.columns.size() > 1 && row.columns[i] == policy.key_column) continue;
      v = row.values[i] ? &*row.values[i] : nullptr;
      break;
    }
  }
  if (v == nullptr) return std::nullopt;
  value.text = *v;
  return value;
}

ReadOp read_op(resp::CacheRole role) {
  switch (role) {
    case resp::CacheRole::kGet:
      return ReadOp::kGet;
    case resp::CacheRole::kMget:
      return ReadOp::kMget;
    case resp::CacheRole::kHget:
      return ReadOp::kHget;
    case resp::CacheRole::kHmget:
      return ReadOp::kHmget;
    case resp::CacheRole::kHgetall:
      return ReadOp::kHgetall;
    case resp::CacheRole::kHexists:
      return ReadOp::kHexists;
    case resp::CacheRole::kHlen:
      return ReadOp::kHlen;
    default:
      return ReadOp::kNone;
  }
}

std::string_view null_reply(int protocol) { return protocol >= 3 ? "_\r\n" : "$-1\r\n"; }

void render(ReadOp op, std::span<const std::string> args, const Value* value, std::string& out,
            int protocol) {
  const bool is_get = op == ReadOp::kGet || op == ReadOp::kMget;
  if (value != nullptr && value->is_hash == is_get) {
    resp::append_error(out, kWrongType);
    return;
  }
  switch (op) {
    case ReadOp::kGet:
    case ReadOp::kMget:
      if (value == nullptr) {
        out += null_reply(protocol);
        return;
      }
      return resp::append_bulk(out, value->text);
    case ReadOp::kHget: {
      const std::string* v =
          value != nullptr && args.size() > 2 ? field_of(*value, args[2]) : nullptr;
      if (v == nullptr) {
        out += null_reply(protocol);
        return;
      }
      return resp::append_bulk(out, *v);
    }
    case ReadOp::kHmget:
      resp::append_array_header(out, args.size() > 2 ? args.size() - 2 : 0);
      for (std::size_t i = 2; i < args.size(); ++i) {
        const std::string* v = value != nullptr ? field_of(*value, args[i]) : nullptr;
        if (v == nullptr) {
          out += null_reply(protocol);
        } else {
          resp::append_bulk(out, *v);
        }
      }
      return;
    case ReadOp::kHgetall:
      if (protocol >= 3) {
        resp::append_map_header(out, value != nullptr ? value->fields.size() : 0);
      } else {
        resp::append_array_header(out, value != nullptr ? value->fields.size() * 2 : 0);
      }
      if (value != nullptr) {
        for (const auto& [f, v] : value->fields) {
          resp::append_bulk(out, f);
          resp::append_bulk(out, v);
        }
      }
      return;
    case ReadOp::kHexists:
      return resp::append_integer(
          out, value != nullptr && args.size() > 2 && field_of(*value, args[2]) ? 1 : 0);
    case ReadOp::kHlen:
      return resp::append_integer(
          out, value != nullptr ? static_cast<std::int64_t>(value->fields.size()) : 0);
    case ReadOp::kNone:
      break;
  }
  resp::append_error(out, resp::errors::kNotReadThrough);
}

std::optional<std::string_view> bulk_payload(std::string_view reply) {
  if (reply.size() < 4 || reply[0] != '$' || reply[1] == '-') return std::nullopt;
  const auto eol = reply.find("\r\n");
  if (eol == std::string_view::npos) return std::nullopt;
  std::size_t len = 0;
  for (std::size_t i = 1; i < eol; ++i) {
    if (reply[i] < '0' || reply[i] > '9') return std::nullopt;
    len = len * 10 + static_cast<std::size_t>(reply[i] - '0');
  }
  if (reply.size() < eol + 2 + len + 2) return std::nullopt;
  return reply.substr(eol + 2, len);
}

bool is_null_reply(std::string_view reply) {
  return reply.starts_with("$-1\r\n") || reply.starts_with("*-1\r\n") || reply.starts_with("_\r\n");
}

bool hash_fields(std::string_view reply, std::vector<std::pair<std::string, std::string>>& out) {
  std::vector<std::string_view> elements;
  if (!resp::split_array(reply, elements) || elements.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < elements.size(); i += 2) {
    auto f = bulk_payload(elements[i]);
    auto v = bulk_payload(elements[i + 1]);
    if (!f || !v) return false;
    out.emplace_back(std::string(*f), std::string(*v));
  }
  return true;
}

std::string command(std::initializer_list<std::string_view> args) {
  std::string out;
  resp::append_command(out, std::span<const std::string_view>(args.begin(), args.size()));
  return out;
}

std::string command(std::span<const std::string> args) {
  std::string out;
  resp::append_array_header(out, args.size());
  for (const auto& a : args) resp::append_bulk(out, a);
  return out;
}

std::vector<std::string> store_requests(std::string_view key, const Value& value,
                                        std::int64_t ttl_ms, bool one_request) {
  const std::string ttl = std::to_string(ttl_ms);
  if (!value.is_hash) return {command({"SET", key, value.text, "PX", ttl})};
  if (one_request) {
    std::string eval;
    resp::append_array_header(eval, 5 + value.fields.size() * 2);
    for (const std::string_view a : {std::string_view("EVAL"), kStoreHashScript,
                                     std::string_view("1"), key, std::string_view(ttl)}) {
      resp::append_bulk(eval, a);
    }
    for (const auto& [f, v] : value.fields) {
      resp::append_bulk(eval, f);
      resp::append_bulk(eval, v);
    }
    return {std::move(eval)};
  }
  std::string hset;
  resp::append_array_header(hset, 2 + value.fields.size() * 2);
  resp::append_bulk(hset, "HSET");
  resp::append_bulk(hset, key);
  for (const auto& [f, v] : value.fields) {
    resp::append_bulk(hset, f);
    resp::append_bulk(hset, v);
  }
  return {command({"MULTI"}), command({"DEL", key}), std::move(hset),
          command({"PEXPIRE", key, ttl}), command({"EXEC"})};
}

std::string lease_marker(std::string_view token) {
  std::string out(kLeaseMarker);
  out += token;
  return out;
}

std::string lease_read_command(std::string_view key, std::string_view token, std::int64_t ttl_ms) {
  std::string out;
  out.reserve(64 + key.size() + token.size());
  out += "*7\r\n$3\r\nSET\r\n";
  resp::append_bulk(out, key);
  resp::append_bulk_header(out, kLeaseMarker.size() + token.size());
  out += kLeaseMarker;
  out += token;
  out += "\r\n$2\r\nNX\r\n$3\r\nGET\r\n$2\r\nPX\r\n";
  resp::append_bulk(out, std::to_string(ttl_ms));
  return out;
}

Marker marker_of(std::string_view payload) {
  if (payload.empty() || payload[0] != '\0') return Marker::kNone;  // the hit path: one compare
  if (payload == kNegativeMarker) return Marker::kNegative;
  if (payload.starts_with(kLeaseMarker)) return Marker::kLease;
  return Marker::kNone;
}

}  // namespace sidecache::cache
