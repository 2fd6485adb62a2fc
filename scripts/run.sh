#!/usr/bin/env bash
# Quick start on a fresh Debian 12 machine: installs what is missing, builds sidecache, starts
# two local redis-server nodes (127.0.0.1:7001 and :7002) and sidecache in front of them with
# config/sidecache.yaml on 127.0.0.1:6380, reading through to a sample SQLite database
# (.run/sample.db, made from config/sample-data.sql). Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh run
cmake -G Ninja -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build/release sidecache

run_dir=.run
mkdir -p "$run_dir"
# The read-through cache's sample database (config/sidecache.yaml, cache.database).
if [[ ! -s $run_dir/sample.db ]]; then
  sqlite3 "$run_dir/sample.db" <config/sample-data.sql
fi
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

for port in 7001 7002; do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "redis on 127.0.0.1:$port is already running; using it"
    continue
  fi
  mkdir -p "$run_dir/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$run_dir/redis-$port" --logfile redis.log --daemonize no &
  pids+=($!)
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
done

echo
echo "sidecache is starting on 127.0.0.1:6380 in front of redis 127.0.0.1:7001 and :7002."
echo "Connect with:   redis-cli -p 6380"
echo "Read-through:   redis-cli -p 6380 get product:42   (loaded from $run_dir/sample.db)"
echo "Stop with:      Ctrl-C"
echo
build/release/src/app/sidecache -c config/sidecache.yaml &
pids+=($!)
wait "${pids[-1]}"
