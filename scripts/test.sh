#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs what is missing, builds the
# Release and ASan+UBSan configurations, and runs every unit and integration test with ctest
# (each test has a hard time limit), then runs the libFuzzer targets for a fixed time.
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so any clone reuses what another one built.
export CCACHE_BASEDIR="$PWD"

bash scripts/deps.sh test

cmake -G Ninja -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build/release
# Two tests at a time (the machine's two cores): most integration tests wait on servers and
# timers, so this halves the wall time; the tests are written to pass on a loaded machine.
ctest --test-dir build/release --output-on-failure --timeout 600 -j2

cmake -G Ninja -S . -B build/asan -DCMAKE_BUILD_TYPE=Asan >/dev/null
ninja -C build/asan
# (release_only: families repeated against AUTH+TLS nodes beyond the core ones, see
# tests/integration/CMakeLists.txt)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure --timeout 600 -LE release_only -j2

# libFuzzer targets (clang ASan+UBSan, only the fuzz targets are built): 40 s each from the
# corpus in tests/fuzz/corpus; a crash or failed invariant fails the run.
bash scripts/fuzz.sh 40
