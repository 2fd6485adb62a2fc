#!/usr/bin/env bash
# Benchmark: redis-benchmark against direct Redis, twemproxy (nutcracker), sidecache and
# sidecache with metrics on (a second sidecache with its HTTP endpoint, scraped every second)
# over the same two redis-server backends, in one run, interleaved and repeated; prints a table
# of requests/s, p50/p99, the ratios sidecache/direct, sidecache/twemproxy and metrics on/off,
# each proxy's own CPU per request and its memory, each checked against the project's targets.
#
#   bash scripts/bench.sh                  3 repetitions of ~2.5 s runs (about 5 minutes)
#   bash scripts/bench.sh --quick          1 repetition of ~1 s runs (under a minute)
#   bash scripts/bench.sh --repeat 5 --requests 200000 --write-docs
#
# Options (all passed to scripts/bench.py; `--help` lists them):
#   --quick          short runs, one repetition: a smoke test, not a measurement
#   --repeat N       repetitions (default 3; 1 with --quick)
#   --requests N     fixed -n for every run (default: sized per workload and target so that each
#                    run takes --duration seconds, default 2.5)
#   --write-docs     put the results into docs/benchmarks.md (between the bench:results markers)
#   --label TEXT     heading of the results block
#   --only IDS       comma-separated workloads (get-16-P1, set-1024-P16, mget10-16-P1, ...);
#                    `--only cluster`: the Redis Cluster workloads (scripts/bench_cluster.py)
#   --no-build       use the sidecache binary as it is (with --sidecache PATH to pick another)
#   --compare REV    also build revision REV (any git revision: a commit, tag, HEAD~3) in
#                    build/compare/ and run it as one more target, sidecache_base, interleaved
#                    with this tree's build: the report gets req/s and CPU ratios this/base
#   --no-syscalls    skip the extra strace run per workload (system calls per request)
#   --policies N     one more target, sidecache_policies: this build with N read-through
#                    policies that no benchmark key matches (the policy lookup's cost)
#
# Needs 2 cores: servers and proxies run on core 0 (taskset -c 0), redis-benchmark on core 1.
# Everything listens on 127.0.0.1 ports below 32768 and is stopped by PID when the run ends.
# Results also go to build/bench/results.md and results.json.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
compare=""
args=()
while (($#)); do
  case $1 in
    --no-build) build=0 ;;
    --compare)
      [[ $# -ge 2 ]] || { echo "bench.sh: --compare needs a revision" >&2; exit 2; }
      compare=$2
      shift
      ;;
    *) args+=("$1") ;;
  esac
  shift
done

bash scripts/deps.sh bench
if ((build)); then
  cmake -G Ninja -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C build/release sidecache
fi

# --compare REV: the revision's sources (git archive: no checkout, the work tree is untouched)
# built once per commit in build/compare/<sha>, with ccache sharing what did not change.
if [[ -n $compare ]]; then
  sha=$(git rev-parse --verify "$compare^{commit}") || {
    echo "bench.sh: --compare $compare: not a revision of this repository" >&2
    exit 2
  }
  dir=build/compare/$sha
  if [[ ! -x $dir/build/src/app/sidecache ]]; then
    rm -rf "$dir"
    mkdir -p "$dir/src"
    git archive "$sha" | tar -x -C "$dir/src"
    CCACHE_BASEDIR=$PWD/$dir/src cmake -G Ninja -S "$dir/src" -B "$dir/build" \
      -DCMAKE_BUILD_TYPE=Release -DSIDECACHE_BUILD_TESTS=OFF >/dev/null
    CCACHE_BASEDIR=$PWD/$dir/src ninja -C "$dir/build" sidecache
  fi
  args+=(--compare-bin "$dir/build/src/app/sidecache" --compare-label "$compare ($(git rev-parse --short "$sha"))")
fi

# bench.py stops its servers itself (try/finally, SIGINT/SIGTERM/SIGHUP handlers, and
# PR_SET_PDEATHSIG so they go even if it is killed); the trap forwards our signals to it.
py=/usr/bin/python3
[[ -x $py ]] || py=python3
cmdline="bash scripts/bench.sh${*:+ $*}"
BENCH_COMMAND=$cmdline "$py" scripts/bench.py "${args[@]}" &
bench_pid=$!
trap 'kill -TERM "$bench_pid" 2>/dev/null || true' INT TERM HUP
status=0
wait "$bench_pid" || status=$?
# wait returns early when a trapped signal arrives: wait again for bench.py to clean up.
while kill -0 "$bench_pid" 2>/dev/null; do wait "$bench_pid" || status=$?; done
exit "$status"
