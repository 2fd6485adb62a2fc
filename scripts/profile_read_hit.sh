#!/bin/bash
# Instructions per read-through hit (callgrind): sidecache (workers: 1) with one `lease: true`
# string policy and `lease_in_read: MODE`, under valgrind --tool=callgrind; 1,000 keys of 16 B
# set in Redis first (hits that never expire), 20,000 GETs of warm-up, then 50,000 GETs drawn
# Zipf 1.2 at -c 50 -P 16 by tests/tools/nearcache_load, counted between callgrind_control's
# zero and dump. User-space instructions only, repeatable on a busy machine.
#
#   scripts/profile_read_hit.sh MODE [SIDECACHE_BIN] [OUT_DIR]     (MODE: auto, true, false)
set -euo pipefail
MODE=${1:?usage: profile_read_hit.sh auto|true|false [SIDECACHE_BIN] [OUT_DIR]}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${2:-$ROOT/build/release/src/app/sidecache}
OUT=${3:-$(mktemp -d /tmp/profile_read_hit.XXXXXX)}
LOAD=$ROOT/build/release/tests/tools/nearcache_load
mkdir -p "$OUT"
BASE=$((21000 + ($$ % 3000) * 3)); RP=$BASE SP=$((BASE + 1)) HP=$((BASE + 2))
cleanup() { kill "${VPID:-}" "${RPID:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly no >"$OUT/redis.log" 2>&1 &
RPID=$!
python3 -c "import sqlite3; d=sqlite3.connect('$OUT/app.db'); d.execute('CREATE TABLE products (id TEXT PRIMARY KEY, name TEXT)'); d.commit()"
cat >"$OUT/sidecache.yaml" <<YAML
listen: 127.0.0.1:$SP
workers: 1
pool:
  nodes:
    - {name: r1, address: 127.0.0.1:$RP, weight: 1}
logging: {level: warn, format: text}
cache:
  database: {type: sqlite, path: $OUT/app.db}
  policies:
    - name: products
      match: "p:*"
      table: products
      key_column: id
      value_column: name
      ttl: 1h
      lease: true
      lease_in_read: $MODE
      xfetch_beta: 0
YAML
for _ in $(seq 100); do redis-cli -p $RP ping >/dev/null 2>&1 && break; sleep 0.1; done
"$LOAD" --port $RP --keys 1000 --prefix p: --preload 16 >/dev/null
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" "$BIN" -c "$OUT/sidecache.yaml" >"$OUT/sidecache.log" 2>&1 &
VPID=$!
for _ in $(seq 300); do redis-cli -p $SP ping >/dev/null 2>&1 && break; sleep 0.2; done
"$LOAD" --port $SP --keys 1000 --prefix p: --zipf 0 --requests 20000 --warmup 0 --seconds 120 --connections 4 --pipeline 16 >/dev/null
callgrind_control -z $VPID >/dev/null
RESULT=$("$LOAD" --port $SP --keys 1000 --prefix p: --zipf 1.2 --requests 50000 --warmup 0 --seconds 300 --connections 50 --pipeline 16)
callgrind_control -d $VPID >/dev/null
TOTAL=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$RESULT")
IR=$(callgrind_annotate "$OUT"/callgrind.out.$VPID.1 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "lease_in_read $MODE: requests $TOTAL, instructions $IR, per request $((IR / TOTAL))"
echo "profile: $OUT/callgrind.out.$VPID.1"
