#!/usr/bin/env bash
# Soak and fault run (docs/soak.md): minutes of mixed load with node kill/stall/restart,
# PostgreSQL stop/start, config reloads; fails on any error on healthy keys, lost acknowledged
# write, RSS growth or fd leak. Not in CI; run before a release.
#   scripts/soak.sh [--duration SECONDS (default 300)] [--build-dir build/release]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec /usr/bin/python3 "$here/soak.py" "$@"
