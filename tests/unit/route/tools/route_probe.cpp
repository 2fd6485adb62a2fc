// route_probe: print the node a key is placed on, one line per key read from stdin.
//
//   route_probe [--hash KIND] [--tag XY] [--hex] NAME:WEIGHT...
//   route_probe --print-hash [--hash KIND] [--hex]      (prints hash_key() as 0x%08x instead)
//
// KIND is a twemproxy hash name (default fnv1a_64). --tag enables a hash tag opening with X and
// closing with Y (as twemproxy's `hash_tag: "XY"`). A node is NAME:WEIGHT, split at the last
// colon, so NAME may itself hold colons ("127.0.0.1:6379:1"). With --hex every input line is the
// hex encoding of a key (for binary keys); otherwise a line is the key itself.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "route/ketama_ring.hpp"

namespace {

using sidecache::route::HashKind;
using sidecache::route::HashTag;
using sidecache::route::RingNode;

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "route_probe: " << why
            << "\nusage: route_probe [--hash KIND] [--tag XY] [--hex] NAME:WEIGHT...\n";
  std::exit(2);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_hex(const std::string& in, std::string& out) {
  if (in.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < in.size(); i += 2) {
    const int hi = hex_value(in[i]);
    const int lo = hex_value(in[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

RingNode parse_node(const std::string& spec, std::uint32_t id) {
  const auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0) usage("bad node '" + spec + "'");
  char* end = nullptr;
  const unsigned long weight = std::strtoul(spec.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || weight == 0 || weight > 1000000) usage("bad weight in '" + spec + "'");
  return RingNode{spec.substr(0, colon), static_cast<std::uint32_t>(weight), id};
}

}  // namespace

int main(int argc, char** argv) {
  HashKind hash = HashKind::kFnv1a64;
  HashTag tag{.enabled = false};
  bool hex = false;
  bool print_hash = false;
  std::vector<RingNode> nodes;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--hash" && i + 1 < argc) {
      const auto kind = sidecache::route::parse_hash_kind(argv[++i]);
      if (!kind) usage(std::string("unknown hash '") + argv[i] + "'");
      hash = *kind;
    } else if (arg == "--tag" && i + 1 < argc) {
      const std::string chars = argv[++i];
      if (chars.size() != 2) usage("--tag takes two characters");
      tag = HashTag{.enabled = true, .open = chars[0], .close = chars[1]};
    } else if (arg == "--hex") {
      hex = true;
    } else if (arg == "--print-hash") {
      print_hash = true;
    } else {
      nodes.push_back(parse_node(arg, static_cast<std::uint32_t>(nodes.size())));
    }
  }
  if (print_hash && nodes.empty()) nodes.push_back(RingNode{"unused", 1, 0});
  if (nodes.empty()) usage("no nodes");

  const sidecache::route::Router router(hash, tag, nodes);
  std::string line;
  std::string key;
  while (std::getline(std::cin, line)) {
    if (hex) {
      if (!decode_hex(line, key)) usage("bad hex line '" + line + "'");
    } else {
      key = line;
    }
    if (print_hash) {
      std::printf("0x%08x\n", sidecache::route::hash_key(hash, key));
      continue;
    }
    const std::string& name = nodes[router.node_for_key(key)].name;
    std::fwrite(name.data(), 1, name.size(), stdout);
    std::fputc('\n', stdout);
  }
  return 0;
}
