#include "resp/errors.hpp"

#include <algorithm>
#include <cctype>

namespace sidecache::resp::errors {

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

std::string subscribed_context(std::string_view name) {
  return "ERR Can't execute '" + std::string(name) +
         "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this "
         "context";
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

std::string protocol_error(std::string_view text) {
  return "ERR Protocol error: " + std::string(text);
}

std::string no_input_key(std::string_view name) {
  return "ERR at least 1 input key is needed for '" + std::string(name) + "' command";
}

std::string hello_option(std::string_view option) {
  return one_line("ERR Syntax error in HELLO option '" + std::string(option) + "'");
}

std::string unrecognized_option(std::string_view option) {
  return one_line("ERR Unrecognized option '" + std::string(option) + "'");
}

std::string not_queueable(std::string_view name) {
  return "ERR sidecache: '" + std::string(name) +
         "' cannot be queued in a transaction through sidecache";
}

std::string cannot_load(std::string_view key, std::string_view reason) {
  return "ERR sidecache: cannot load " + std::string(key) + ": " + std::string(reason);
}

std::string load_timed_out(std::string_view key, std::int64_t timeout_ms) {
  return cannot_load(key, "no result within " + std::to_string(timeout_ms) + " ms");
}

std::string scan_too_many_nodes(std::size_t max_nodes) {
  return "ERR sidecache: SCAN supports at most " + std::to_string(max_nodes) + " nodes";
}

std::string node_down(std::string_view node) {
  return "ERR node " + std::string(node) + " is down";
}

std::string no_primary(std::string_view master, std::string_view why) {
  return one_line("ERR sidecache: no primary known for Sentinel master '" + std::string(master) +
                  "': " + std::string(why));
}

std::string node_auth_failed(std::string_view node) {
  return "ERR node " + std::string(node) + ": authentication failed";
}

std::string backend_failed(std::string_view node, std::string_view what) {
  std::string text;
  text.reserve(16 + node.size() + what.size());
  text.append("ERR backend '").append(node).append("' ").append(what);
  return text;
}

std::string dedicated_link_lost(std::string_view node, std::string_view reason) {
  return "ERR sidecache: dedicated connection to node '" + std::string(node) + "' lost (" +
         std::string(reason) + "), outcome unknown";
}

std::string too_many_dedicated(std::string_view node, std::size_t max) {
  return "ERR sidecache: too many dedicated connections to node " + std::string(node) +
         " (pool.max_dedicated_connections=" + std::to_string(max) + ")";
}

std::string frame(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 3);
  out.append("-").append(text).append("\r\n");
  return out;
}

}  // namespace sidecache::resp::errors
