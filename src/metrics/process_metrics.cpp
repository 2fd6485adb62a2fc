// The standard process_* metrics of Prometheus client libraries, read from /proc and getrusage
// on each scrape (a few system calls; no state kept).
#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "metrics/collector.hpp"

namespace sidecache::metrics {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void add_one(std::vector<MetricFamily>& out, const char* name, const char* help, MetricType type,
             double value) {
  ClientMetric metric;
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  out.push_back(MetricFamily{name, help, type, {std::move(metric)}});
}

std::size_t open_fds() {
  std::error_code ec;
  std::size_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++count;
  }
  return count > 0 ? count - 1 : 0;  // the iterator's own descriptor
}

}  // namespace

void collect_process_metrics(const ProcessStats& process, std::vector<MetricFamily>& out) {
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  std::uint64_t virtual_pages = 0;
  std::uint64_t resident_pages = 0;
  if (std::ifstream statm("/proc/self/statm"); statm >> virtual_pages >> resident_pages) {
    add_one(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
            MetricType::Gauge, static_cast<double>(resident_pages) * page);
    add_one(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge,
            static_cast<double>(virtual_pages) * page);
  }
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    const auto seconds = [](const timeval& t) {
      return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
    };
    add_one(out, "process_cpu_seconds_total", "Total user and system CPU time in seconds.",
            MetricType::Counter, seconds(usage.ru_utime) + seconds(usage.ru_stime));
  }
  add_one(out, "process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
          static_cast<double>(open_fds()));
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    add_one(out, "process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
            static_cast<double>(limit.rlim_cur));
  }
  const auto since_start = std::chrono::steady_clock::now() - process.started;
  const std::chrono::duration<double> start_time =
      std::chrono::system_clock::now().time_since_epoch() - since_start;
  add_one(out, "process_start_time_seconds",
          "Start time of the process since the Unix epoch in seconds.", MetricType::Gauge,
          start_time.count());
}

}  // namespace sidecache::metrics
