// A process with fake per-worker statistics, as the app builds it, for the metrics tests.
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "resp/command_table.hpp"
#include "sidecache/process_stats.hpp"

namespace sidecache::metrics::test {

// Two nodes (a, b); `workers` workers, each with NodeStats for both nodes.
struct FakeProcess {
  explicit FakeProcess(unsigned workers = 2, const std::string& extra_yaml = "") {
    process.set_config(std::make_shared<const config::Config>(
        config::load_string("pool:\n  nodes:\n    - {name: a, address: 127.0.0.1:7001}\n"
                            "    - {name: b, address: 127.0.0.1:7002}\n" +
                                extra_yaml,
                            "fake.yaml")));
    for (unsigned i = 0; i < workers; ++i) {
      auto stats = std::make_unique<WorkerStats>(resp::CommandTable::id_count());
      stats->nodes = {std::make_shared<NodeStats>("a"), std::make_shared<NodeStats>("b")};
      process.workers.push_back(std::move(stats));
    }
  }
  WorkerStats& worker(std::size_t i) { return *process.workers.at(i); }
  NodeStats& node(std::size_t worker_index, std::size_t node_index) {
    return *process.workers.at(worker_index)->nodes.at(node_index);
  }
  static std::uint16_t id(std::string_view command) {
    const auto& table = resp::CommandTable::instance();
    const auto bar = command.find('|');
    const auto* info = table.find(command.substr(0, bar));
    if (info != nullptr && bar != std::string_view::npos) {
      info = resp::CommandTable::find_subcommand(*info, command.substr(bar + 1));
    }
    return info == nullptr ? 0 : info->id;
  }

  ProcessStats process;
};

}  // namespace sidecache::metrics::test
