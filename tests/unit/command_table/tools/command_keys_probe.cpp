// Reads one request per line, arguments separated by tabs (an argument may be empty), and prints
// one line per request:
//   KEYS <i> <j> ...   key indexes from resp::key_indexes (possibly none)
//   ERROR <text>       key_indexes refused the request
//   UNKNOWN            no such command or subcommand
//   ARITY              the request fails the command's arity check
// Used by tests/integration/test_command_getkeys.py.
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "resp/command_table.hpp"

namespace {

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> args;
  std::size_t start = 0;
  while (true) {
    const std::size_t tab = line.find('\t', start);
    args.push_back(line.substr(start, tab == std::string_view::npos ? tab : tab - start));
    if (tab == std::string_view::npos) return args;
    start = tab + 1;
  }
}

void probe(std::string_view line) {
  using sidecache::resp::CommandTable;
  const auto args = split_tabs(line);
  const auto* info = CommandTable::instance().find(args[0]);
  if (info != nullptr && !info->subcommands.empty() && args.size() >= 2) {
    info = CommandTable::find_subcommand(*info, args[1]);
  }
  if (info == nullptr) {
    std::cout << "UNKNOWN\n";
    return;
  }
  if (!info->arity_ok(args.size())) {
    std::cout << "ARITY\n";
    return;
  }
  std::vector<std::uint32_t> keys;
  std::string error;
  if (!sidecache::resp::key_indexes(*info, args, keys, error)) {
    std::cout << "ERROR " << error << '\n';
    return;
  }
  std::cout << "KEYS";
  for (std::uint32_t k : keys) std::cout << ' ' << k;
  std::cout << '\n';
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    probe(line);
    std::cout.flush();
  }
  return 0;
}
