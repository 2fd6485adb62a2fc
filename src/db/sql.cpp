#include "db/sql.hpp"

namespace sidecache::db::sql {

std::string quote_identifier(std::string_view name, Placeholders style) {
  if (name.find('\0') != std::string_view::npos) return {};
  const char quote = style == Placeholders::kMysql ? '`' : '"';
  std::string out;
  out.reserve(name.size() + 2);
  for (;;) {
    const std::size_t dot = name.find('.');
    const std::string_view part = name.substr(0, dot);
    if (part.empty()) return {};
    out += quote;
    for (const char c : part) {
      if (c == quote) out += quote;
      out += c;
    }
    out += quote;
    if (dot == std::string_view::npos) return out;
    out += '.';
    name.remove_prefix(dot + 1);
  }
}

std::string check_source(const Source& source, Placeholders style) {
  if (!source.query.empty()) {
    if (source.query.find('\0') != std::string::npos) return "the query holds a NUL byte";
    return {};
  }
  if (source.table.empty()) return "no table and no query";
  if (quote_identifier(source.table, style).empty()) {
    return "bad table name '" + source.table + "'";
  }
  if (source.key_column.empty()) return "no key column for table '" + source.table + "'";
  if (quote_identifier(source.key_column, style).empty())
    return "bad key column name '" + source.key_column + "'";
  for (const auto& c : source.columns) {
    if (quote_identifier(c, style).empty()) return "bad column name '" + c + "'";
  }
  return {};
}

std::string placeholder(std::size_t i, Placeholders style) {
  if (style == Placeholders::kMysql) return "?";
  std::string out(1, style == Placeholders::kDollar ? '$' : '?');
  out += std::to_string(i);
  return out;
}

std::string select_by_keys(const Source& source, std::size_t n, Placeholders style) {
  const std::string key = quote_identifier(source.key_column, style);
  std::string out = "SELECT " + key + ", ";
  if (source.columns.empty()) {
    // MySQL takes a bare * only first in the list: qualified by the table there.
    out += style == Placeholders::kMysql ? quote_identifier(source.table, style) + ".*" : "*";
  } else {
    for (std::size_t i = 0; i < source.columns.size(); ++i) {
      if (i > 0) out += ", ";
      out += quote_identifier(source.columns[i], style);
    }
  }
  out += " FROM " + quote_identifier(source.table, style) + " WHERE " + key + " IN (";
  for (std::size_t i = 1; i <= n; ++i) {
    if (i > 1) out += ", ";
    out += placeholder(i, style);
  }
  out += ")";
  return out;
}

namespace {

// INSERT INTO "table" ("key", c...) VALUES (...), then <on_conflict>(key, the SET list of the
// upsert's columns): "c = excluded.c, ..." (MySQL: "`c` = VALUES(`c`), ...").
template <typename F>
std::string insert(std::string_view table, std::string_view key_column, const Upsert& row,
                   Placeholders style, F on_conflict) {
  const std::string key = quote_identifier(key_column, style);
  std::string names = key;
  std::string values = placeholder(1, style);
  std::string updates;
  std::size_t i = 2;
  for (const auto& [column, value] : row.values) {
    const std::string q = quote_identifier(column, style);
    names += ", " + q;
    values += ", " + placeholder(i++, style);
    if (!updates.empty()) updates += ", ";
    updates += q + (style == Placeholders::kMysql ? " = VALUES(" + q + ")" : " = excluded." + q);
  }
  return "INSERT INTO " + quote_identifier(table, style) + " (" + names + ") VALUES (" + values +
         ")" + on_conflict(key, updates);
}

}  // namespace

std::string insert_if_absent(std::string_view table, std::string_view key_column, const Upsert& row,
                             Placeholders style) {
  return insert(table, key_column, row, style, [style](const std::string& key, const std::string&) {
    return style == Placeholders::kMysql ? " ON DUPLICATE KEY UPDATE " + key + " = " + key
                                         : " ON CONFLICT (" + key + ") DO NOTHING";
  });
}

std::string insert_row(std::string_view table, std::string_view key_column, const Upsert& row,
                       Placeholders style) {
  return insert(table, key_column, row, style,
                [](const std::string&, const std::string&) { return std::string(); });
}

std::string select_column_by_key(std::string_view table, std::string_view key_column,
                                 std::string_view column, Placeholders style, bool lock) {
  return "SELECT " + quote_identifier(column, style) + " FROM " + quote_identifier(table, style) +
         " WHERE " + quote_identifier(key_column, style) + " = " + placeholder(1, style) +
         (lock ? " FOR UPDATE" : "");
}

std::string upsert(std::string_view table, std::string_view key_column, const Upsert& row,
                   Placeholders style) {
  return insert(
      table, key_column, row, style, [style](const std::string& key, const std::string& updates) {
        if (style == Placeholders::kMysql) {
          return " ON DUPLICATE KEY UPDATE " + (updates.empty() ? key + " = " + key : updates);
        }
        return " ON CONFLICT (" + key + ") DO " +
               (updates.empty() ? std::string("NOTHING") : "UPDATE SET " + updates);
      });
}

std::string update_by_key(std::string_view table, std::string_view key_column, const Upsert& row,
                          Placeholders style) {
  if (row.values.empty()) return {};
  std::string out = "UPDATE " + quote_identifier(table, style) + " SET ";
  std::size_t i = 2;
  for (const auto& [column, value] : row.values) {
    if (i > 2) out += ", ";
    out += quote_identifier(column, style) + " = " + placeholder(i++, style);
  }
  out += " WHERE " + quote_identifier(key_column, style) + " = " + placeholder(1, style);
  return out;
}

std::string delete_by_key(std::string_view table, std::string_view key_column, Placeholders style) {
  return "DELETE FROM " + quote_identifier(table, style) + " WHERE " +
         quote_identifier(key_column, style) + " = " + placeholder(1, style);
}

}  // namespace sidecache::db::sql
