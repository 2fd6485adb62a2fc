#include "dispatch/errors.hpp"

#include <algorithm>
#include <cctype>

namespace sidecache::dispatch::errors {

std::string one_line(std::string_view text) {
  std::string s(text);
  std::replace_if(
      s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return s;
}

std::string unknown_command(std::span<const std::string_view> args) {
  std::string list;
  for (std::size_t i = 1; i < args.size() && list.size() < 128; ++i) {
    const std::size_t room = 128 - list.size();
    list.append("'").append(args[i].substr(0, room)).append("' ");
  }
  return one_line("ERR unknown command '" + std::string(args[0].substr(0, 128)) +
                  "', with args beginning with: " + list);
}

std::string unknown_subcommand(std::string_view container, std::string_view sub) {
  std::string upper(container);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return one_line("ERR unknown subcommand '" + std::string(sub.substr(0, 128)) + "'. Try " + upper +
                  " HELP.");
}

std::string wrong_arity(std::string_view full_name) {
  return "ERR wrong number of arguments for '" + std::string(full_name) + "' command";
}

std::string rejected(std::string_view name, std::string_view note) {
  return "ERR '" + std::string(name) + "' is not allowed through sidecache: " + std::string(note);
}

std::string no_perm_command(std::string_view full_name) {
  return "NOPERM this user has no permissions to run the '" + std::string(full_name) + "' command";
}

std::string disabled(std::string_view full_name) {
  return "ERR command '" + std::string(full_name) + "' is disabled by sidecache configuration";
}

std::string unsupported(std::string_view name, std::string_view note) {
  if (note.empty()) return "ERR '" + std::string(name) + "' is not supported by sidecache yet";
  return "ERR " + std::string(note);
}

}  // namespace sidecache::dispatch::errors
