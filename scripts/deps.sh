#!/usr/bin/env bash
# Installs what sidecache needs from Debian 12's packages. Idempotent: installs only what is
# missing, so it is cheap to call from every script.
#   scripts/deps.sh run    build + run (compiler, libraries, redis-server, sqlite3)
#   scripts/deps.sh test   run + what the test suite drives (nutcracker, python3-redis, clang,
#                          the PostgreSQL and MariaDB servers)
#   scripts/deps.sh bench  test + benchmark tools
set -euo pipefail

profile=${1:-test}
packages=(
  g++ cmake ninja-build pkg-config ccache make
  libboost-dev libhiredis-dev libyaml-cpp-dev prometheus-cpp-dev libspdlog-dev catch2
  libsqlite3-dev libpq-dev libmariadb-dev libssl-dev libjemalloc-dev
  redis-server redis-tools sqlite3
)
if [[ $profile == test || $profile == bench ]]; then
  # prometheus: promtool checks /metrics and the PromQL in docs/operations.md
  packages+=(nutcracker python3 python3-redis clang libclang-rt-14-dev procps prometheus)
  # nlohmann-json3-dev: the reference JSON parser the typed JSON mapping is checked against
  packages+=(nlohmann-json3-dev)
  # postgresql: test_db_postgres.py and the read-through tests start their own server
  packages+=(postgresql)
  # test_deploy_*.py: yamllint, PyYAML, readelf (binutils) and setpriv/unshare (util-linux)
  packages+=(yamllint python3-yaml binutils util-linux)
  # mariadb-server: test_db_mysql.py and test_cache_mysql.py start their own server
  packages+=(mariadb-server)
  # node + npm run the real Node.js clients (tests/integration/test_node_clients.py). Checked by
  # command, not by package: a NodeSource nodejs ships npm itself, and Debian's npm conflicts
  # with it.
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
  fi
fi
if [[ $profile == bench ]]; then
  packages+=(hyperfine valgrind strace)
fi

# The pinned deploy-check tools (helm, kubectl, kubernetes-models, TypeScript, ...) from
# tests/deploy/package-lock.json; `npm ci` only when node_modules is missing or the lockfile
# changed. After the Debian packages (it needs npm).
deploy_tools() {
  if [[ $profile == test || $profile == bench ]]; then
    bash "$(dirname "$0")/../tests/deploy/install.sh"
  fi
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  deploy_tools
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
echo "Installing: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
deploy_tools
