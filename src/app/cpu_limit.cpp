#include "app/cpu_limit.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace sidecache::app {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::optional<long long> to_integer(std::string_view s) {
  s = trim(s);
  long long value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<unsigned> cpus_of(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  const long long cpus = std::max(1LL, quota / period);
  return static_cast<unsigned>(std::min<long long>(cpus, 1 << 20));
}

std::optional<std::string> read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The cgroup paths of /proc/self/cgroup: the v2 one ("0::/path") and the v1 `cpu` controller's.
struct CgroupPaths {
  std::optional<std::string> v2;
  std::optional<std::string> v1_cpu;
};

CgroupPaths parse_proc_cgroup(const std::string& text) {
  CgroupPaths paths;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const auto first = line.find(':');
    const auto second = first == std::string::npos ? first : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string_view controllers(line.data() + first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (line.compare(0, first, "0") == 0 && controllers.empty()) {
      paths.v2 = std::move(path);
      continue;
    }
    std::string_view rest = controllers;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (rest.substr(0, comma) == "cpu") paths.v1_cpu = path;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return paths;
}

// The directory `root/relative`, or `root` itself when the cgroup namespace hides that path.
std::filesystem::path cgroup_dir(const std::filesystem::path& root, const std::string& relative) {
  const auto dir = root / std::filesystem::path(relative).relative_path();
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) ? dir : root;
}

// The smallest limit of `dir` and its parents up to `root`, read by `limit_of`.
template <typename LimitOf>
std::optional<unsigned> smallest_up_to_root(const std::filesystem::path& root,
                                            std::filesystem::path dir, LimitOf limit_of) {
  std::optional<unsigned> smallest;
  for (;;) {
    if (const auto limit = limit_of(dir)) smallest = std::min(smallest.value_or(*limit), *limit);
    if (dir == root || !dir.has_parent_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
    if (dir.native().size() < root.native().size()) break;
  }
  return smallest;
}

}  // namespace

std::optional<unsigned> parse_cpu_max(std::string_view cpu_max) {
  cpu_max = trim(cpu_max);
  const auto space = cpu_max.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota = cpu_max.substr(0, space);
  if (quota == "max") return std::nullopt;
  const auto q = to_integer(quota);
  const auto p = to_integer(cpu_max.substr(space + 1));
  if (!q || !p) return std::nullopt;
  return cpus_of(*q, *p);
}

std::optional<unsigned> parse_cfs_quota(std::string_view quota_us, std::string_view period_us) {
  const auto q = to_integer(quota_us);
  const auto p = to_integer(period_us);
  if (!q || !p) return std::nullopt;
  return cpus_of(*q, *p);
}

std::optional<unsigned> cgroup_cpu_limit(const std::filesystem::path& cgroup_root,
                                         const std::filesystem::path& proc_self_cgroup) {
  const auto text = read_text(proc_self_cgroup);
  if (!text) return std::nullopt;
  const CgroupPaths paths = parse_proc_cgroup(*text);
  std::error_code ec;
  if (paths.v2 && !std::filesystem::exists(cgroup_root / "cpu", ec)) {
    const auto limit =
        smallest_up_to_root(cgroup_root, cgroup_dir(cgroup_root, *paths.v2),
                            [](const std::filesystem::path& dir) -> std::optional<unsigned> {
                              const auto max = read_text(dir / "cpu.max");
                              return max ? parse_cpu_max(*max) : std::nullopt;
                            });
    if (limit) return limit;
  }
  if (!paths.v1_cpu) return std::nullopt;
  for (const char* mount : {"cpu", "cpu,cpuacct", "cpuacct,cpu"}) {
    const auto root = cgroup_root / mount;
    if (!std::filesystem::is_directory(root, ec)) continue;
    return smallest_up_to_root(root, cgroup_dir(root, *paths.v1_cpu),
                               [](const std::filesystem::path& dir) -> std::optional<unsigned> {
                                 const auto quota = read_text(dir / "cpu.cfs_quota_us");
                                 const auto period = read_text(dir / "cpu.cfs_period_us");
                                 return quota && period ? parse_cfs_quota(*quota, *period)
                                                        : std::nullopt;
                               });
  }
  return std::nullopt;
}

unsigned default_worker_count(unsigned cores, std::optional<unsigned> cpu_limit) {
  const unsigned n = cpu_limit ? std::min(std::max(cores, 1u), *cpu_limit) : cores;
  return std::max(1u, n);
}

}  // namespace sidecache::app
