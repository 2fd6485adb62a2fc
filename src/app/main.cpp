// sidecache: the command line. app/daemon.cpp runs the process. The data path lives in server/
// (sessions and workers), dispatch/ (what to do with a request) and backend/ (connections to the
// nodes).
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "app/daemon.hpp"
#include "app/logging.hpp"
#include "config/config.hpp"

namespace {

constexpr std::string_view kUsage =
    "Usage: sidecache -c FILE        run with the configuration FILE\n"
    "       sidecache --check-config FILE\n"
    "                                validate FILE, print the first error as file:line:col, exit\n"
    "       sidecache --version      print the version\n"
    "       sidecache --help         print this help\n";

struct Options {
  std::string config;
  bool check_only = false;
};

// Returns an exit code when the command line is handled without running the proxy.
std::optional<int> parse_args(int argc, char** argv, Options& options) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--version" || arg == "-v") {
      std::cout << "sidecache " << SIDECACHE_VERSION << "\n";
      return 0;
    }
    if (arg == "-c" || arg == "--config" || arg == "--check-config" || arg == "-t") {
      if (i + 1 >= args.size()) {
        std::cerr << "sidecache: " << arg << " needs a file name\n" << kUsage;
        return 2;
      }
      options.config = args[++i];
      options.check_only = options.check_only || arg == "--check-config" || arg == "-t";
      continue;
    }
    std::cerr << "sidecache: unknown argument '" << arg << "'\n" << kUsage;
    return 2;
  }
  if (options.config.empty()) {
    std::cerr << "sidecache: no configuration file given (-c FILE)\n" << kUsage;
    return 2;
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options options;
  if (auto code = parse_args(argc, argv, options)) return *code;

  sidecache::config::Config config;
  try {
    config = sidecache::config::load_file(options.config, {.resolve_nodes = true});
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  if (options.check_only) {
    for (const auto& warning : config.warnings) std::cerr << "warning: " << warning << "\n";
    std::cout << "configuration file " << options.config << " is valid\n";
    return 0;
  }
  try {
    sidecache::app::setup_logging(config.logging);
  } catch (const std::exception& e) {
    std::cerr << options.config << ": " << e.what() << "\n";
    return 1;
  }
  for (const auto& warning : config.warnings) spdlog::warn("config: {}", warning);
  sidecache::app::Daemon daemon(std::move(config), options.config);
  return daemon.run();
}
