// sidecache: command line, startup and shutdown. The data path lives in server/ (sessions and
// workers), dispatch/ (what to do with a request) and backend/ (connections to the nodes).
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "app/logging.hpp"
#include "config/config.hpp"
#include "resp/command_table.hpp"
#include "server/worker.hpp"
#include "sidecache/util/asio.hpp"

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

void log_startup(const sidecache::config::Config& config, unsigned workers) {
  spdlog::info("sidecache {} starting: listen {}:{}, {} workers, config {}", SIDECACHE_VERSION,
               config.listen.host, config.listen.port, workers, config.source);
  const auto& pool = config.pool;
  spdlog::info("pool: ketama, hash {}, hash_tag {}, {} nodes, {} connection(s) per node per worker",
               sidecache::route::hash_kind_name(pool.hash),
               pool.hash_tag.enabled ? std::string{pool.hash_tag.open, pool.hash_tag.close}
                                     : std::string("off"),
               pool.nodes.size(), pool.connections_per_node);
  for (const auto& node : pool.nodes) {
    spdlog::info("node {} at {}:{} weight {}", node.name, node.address.host, node.address.port,
                 node.weight);
  }
}

int run(const sidecache::config::Config& loaded) {
  using namespace sidecache;
  auto config = std::make_shared<const config::Config>(loaded);
  const unsigned workers =
      config->workers != 0 ? config->workers : std::max(1u, std::thread::hardware_concurrency());
  log_startup(*config, workers);

  dispatch::ProcessState process;
  process.config = config;
  for (unsigned i = 0; i < workers; ++i) {
    process.workers.push_back(std::make_unique<dispatch::WorkerStats>(resp::CommandTable::id_count()));
  }
  std::vector<std::unique_ptr<server::Worker>> pool;
  try {
    for (unsigned i = 0; i < workers; ++i) {
      pool.push_back(std::make_unique<server::Worker>(i, process));
      pool.back()->listen();
    }
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }

  asio::io_context signals_io;
  asio::signal_set signals(signals_io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP) {
          spdlog::warn(
              "SIGHUP received: configuration reload is not available in this version; "
              "restart sidecache to apply changes");
          signals.async_wait(on_signal);
          return;
        }
        spdlog::info("{} received, stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
        for (auto& w : pool) w->stop();
      };
  signals.async_wait(on_signal);

  for (auto& w : pool) w->start();
  spdlog::info("ready: connect with redis-cli -h {} -p {}", config->listen.host,
               config->listen.port);
  std::thread signal_thread([&] { signals_io.run(); });
  for (auto& w : pool) w->join();
  signals_io.stop();
  signal_thread.join();
  pool.clear();
  spdlog::info("sidecache stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options options;
  if (auto code = parse_args(argc, argv, options)) return *code;

  sidecache::config::Config config;
  try {
    config = sidecache::config::load_file(options.config);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  if (options.check_only) {
    std::cout << "configuration file " << options.config << " is valid\n";
    return 0;
  }
  try {
    sidecache::app::setup_logging(config.logging);
  } catch (const std::exception& e) {
    std::cerr << options.config << ": " << e.what() << "\n";
    return 1;
  }
  return run(config);
}
