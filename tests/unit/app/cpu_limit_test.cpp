#include "app/cpu_limit.hpp"

#include <catch2/catch.hpp>
#include <fstream>
#include <random>

namespace fs = std::filesystem;
using sidecache::app::cgroup_cpu_limit;
using sidecache::app::default_worker_count;
using sidecache::app::parse_cfs_quota;
using sidecache::app::parse_cpu_max;

namespace {

// A throwaway directory standing in for /sys/fs/cgroup and /proc/self/cgroup.
struct FakeCgroup {
  fs::path dir;
  FakeCgroup() {
    std::random_device rd;
    dir = fs::temp_directory_path() / ("sidecache-cgroup-" + std::to_string(rd()));
    fs::create_directories(dir / "sys");
  }
  ~FakeCgroup() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  fs::path root() const { return dir / "sys"; }
  fs::path proc() const { return dir / "proc-self-cgroup"; }
  void write(const fs::path& file, const std::string& text) const {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
};

}  // namespace

TEST_CASE("cpu.max gives whole CPUs, at least one, none when unlimited") {
  CHECK(parse_cpu_max("200000 100000\n") == 2u);
  CHECK(parse_cpu_max("150000 100000") == 1u);
  CHECK(parse_cpu_max("50000 100000") == 1u);
  CHECK(parse_cpu_max("400000 100000") == 4u);
  CHECK_FALSE(parse_cpu_max("max 100000\n"));
  CHECK_FALSE(parse_cpu_max(""));
  CHECK_FALSE(parse_cpu_max("garbage"));
  CHECK_FALSE(parse_cpu_max("100000 0"));
  CHECK_FALSE(parse_cpu_max("12x 100000"));
}

TEST_CASE("cgroup v1 CFS quota: -1 is no limit") {
  CHECK(parse_cfs_quota("300000\n", "100000\n") == 3u);
  CHECK_FALSE(parse_cfs_quota("-1\n", "100000\n"));
  CHECK_FALSE(parse_cfs_quota("", "100000"));
}

TEST_CASE("cgroup v2: the process's cgroup and its parents, smallest limit wins") {
  FakeCgroup fake;
  fake.write(fake.proc(), "0::/kubepods/pod1/ctr\n");
  fake.write(fake.root() / "kubepods/pod1/ctr/cpu.max", "300000 100000\n");
  CHECK(cgroup_cpu_limit(fake.root(), fake.proc()) == 3u);
  fake.write(fake.root() / "kubepods/pod1/cpu.max", "200000 100000\n");
  CHECK(cgroup_cpu_limit(fake.root(), fake.proc()) == 2u);
  fake.write(fake.root() / "kubepods/pod1/ctr/cpu.max", "max 100000\n");
  CHECK(cgroup_cpu_limit(fake.root(), fake.proc()) == 2u);
}

TEST_CASE("cgroup v2 in a cgroup namespace: the path is / and cpu.max sits at the root") {
  FakeCgroup fake;
  fake.write(fake.proc(), "0::/\n");
  fake.write(fake.root() / "cpu.max", "100000 100000\n");
  CHECK(cgroup_cpu_limit(fake.root(), fake.proc()) == 1u);
  fake.write(fake.root() / "cpu.max", "max 100000\n");
  CHECK_FALSE(cgroup_cpu_limit(fake.root(), fake.proc()));
}

TEST_CASE("cgroup v1: the cpu controller's quota, wherever the controller is mounted") {
  FakeCgroup fake;
  fake.write(fake.proc(), "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n");
  fake.write(fake.root() / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
  fake.write(fake.root() / "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
  CHECK(cgroup_cpu_limit(fake.root(), fake.proc()) == 2u);

  fake.write(fake.root() / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n");
  CHECK_FALSE(cgroup_cpu_limit(fake.root(), fake.proc()));
}

TEST_CASE("cgroup v1 with the namespace hiding the path: the mount root's own quota") {
  FakeCgroup fake;
  fake.write(fake.proc(), "3:cpu:/kubepods/burstable/pod9/ctr\n");
  fake.write(fake.root() / "cpu/cpu.cfs_quota_us", "400000\n");
  fake.write(fake.root() / "cpu/cpu.cfs_period_us", "100000\n");
  CHECK(cgroup_cpu_limit(fake.root(), fake.proc()) == 4u);
}

TEST_CASE("no cgroup files: no limit") {
  FakeCgroup fake;
  CHECK_FALSE(cgroup_cpu_limit(fake.root(), fake.proc()));
  fake.write(fake.proc(), "0::/some/where\n");
  CHECK_FALSE(cgroup_cpu_limit(fake.root(), fake.proc()));
}

TEST_CASE("workers: 0 is the cores capped by the CPU limit, at least one") {
  CHECK(default_worker_count(64, 2u) == 2u);
  CHECK(default_worker_count(2, 8u) == 2u);
  CHECK(default_worker_count(8, std::nullopt) == 8u);
  CHECK(default_worker_count(0, std::nullopt) == 1u);
  CHECK(default_worker_count(0, 3u) == 1u);
}
