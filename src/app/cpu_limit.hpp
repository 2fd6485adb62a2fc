// The CPUs a container may use, from its cgroup. `workers: 0` sizes the worker pool by this
// rather than by the node's core count: a pod limited to 2 CPUs on a 64-core node would
// otherwise start 64 workers and spend its quota being throttled.
//
// cgroup v2: `cpu.max` ("<quota> <period>" or "max <period>") of the process's cgroup and of
// each parent (the smallest limit wins). cgroup v1: `cpu.cfs_quota_us` / `cpu.cfs_period_us` of
// the `cpu` controller (-1 = no limit). The process's cgroup comes from /proc/self/cgroup; in a
// container with its own cgroup namespace that path is "/", the container's own cgroup.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

namespace sidecache::app {

// Whole CPUs a quota allows: floor(quota / period), at least 1. nullopt when unlimited or the
// text is not a valid quota.
std::optional<unsigned> parse_cpu_max(std::string_view cpu_max);
std::optional<unsigned> parse_cfs_quota(std::string_view quota_us, std::string_view period_us);

// The CPU limit of the cgroup named in `proc_self_cgroup` under the cgroup mount `cgroup_root`
// (v2 first, then v1). nullopt when there is none or nothing can be read.
std::optional<unsigned> cgroup_cpu_limit(const std::filesystem::path& cgroup_root,
                                         const std::filesystem::path& proc_self_cgroup);

// Workers for `workers: 0`: the cores, capped by the CPU limit, at least 1.
unsigned default_worker_count(unsigned cores, std::optional<unsigned> cpu_limit);

}  // namespace sidecache::app
