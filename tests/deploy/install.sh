#!/usr/bin/env bash
# Installs the pinned deploy-check tools (package-lock.json) into tests/deploy/node_modules with
# `npm ci`, only when node_modules is missing or the lockfile changed since the last install.
# Called by scripts/deps.sh (test profile) and by tests/deploy/support.py.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.sidecache-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
echo "Installing the deploy-check tools (tests/deploy/package-lock.json)"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
echo "$want" >"$stamp"
