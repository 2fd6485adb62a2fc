#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan; nothing else is built with clang) and runs
# each for a fixed time from the corpus kept in tests/fuzz/corpus. A crash, a sanitizer report or
# a failed invariant fails the run; the input is left in build/fuzz/findings/ (add it to the
# target's corpus directory as a regression seed once fixed).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 40 s, all four targets
# Targets: request (RESP request parser), reply (reply framer), json (JSON row parser),
# config (YAML config loader).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-40}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(request reply json config); fi

declare -A binary=([request]=fuzz_request_parser [reply]=fuzz_reply_framer
                   [json]=fuzz_json_row [config]=fuzz_config)
declare -A dict=([request]=resp.dict [reply]=resp.dict [json]=json.dict [config]=config.dict)

build=build/fuzz
CXX=clang++ cmake -G Ninja -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSIDECACHE_FUZZ=ON -DSIDECACHE_BUILD_TESTS=OFF >/dev/null
ninja -C "$build" fuzz_targets

mkdir -p "$build/findings"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  bin=${binary[$t]:?unknown fuzz target $t}
  work="$build/corpus/$t"  # new inputs land here; the repo's corpus is only read
  mkdir -p "$work"
  echo "fuzz $t: ${seconds}s"
  if ! "$build/tests/fuzz/$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -dict="tests/fuzz/${dict[$t]}" -artifact_prefix="$build/findings/$t-" -print_final_stats=1 \
      "$work" "tests/fuzz/corpus/$t" > "$build/fuzz-$t.log" 2>&1; then
    tail -n 60 "$build/fuzz-$t.log"
    echo "fuzz $t: FAILED (input in $build/findings/)" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/fuzz-$t.log" | tr '\n' ' '
  echo
done
