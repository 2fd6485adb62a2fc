#!/bin/bash
# Instructions per L1-hit GET (callgrind): sidecache (workers: 1, the L1 on) under
# valgrind --tool=callgrind, 1,000 keys of 16 B all cached first, then 100,000 GETs drawn Zipf 1.2
# at -c 50 -P 16 by tests/tools/nearcache_load. Costs are zeroed before and dumped after the
# measured load (callgrind_control), so start-up and the warm-up are not counted. User-space
# instructions only (no kernel time), repeatable on a busy machine.
#
#   scripts/profile_nearcache_hit.sh [SIDECACHE_BIN] [OUT_DIR]
#
# Prints the L1 hits and misses of the measured part and the instructions per request; the
# profile is OUT_DIR/callgrind.out.*.1 (callgrind_annotate --inclusive=yes it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/release/src/app/sidecache}
OUT=${2:-$(mktemp -d /tmp/profile_nearcache.XXXXXX)}
LOAD=$ROOT/build/release/tests/tools/nearcache_load
mkdir -p "$OUT"
BASE=$((20000 + ($$ % 4000) * 3))
RP=$BASE SP=$((BASE + 1)) HP=$((BASE + 2))
cleanup() { kill "${VPID:-}" "${RPID:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
redis-server --port $RP --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  >"$OUT/redis.log" 2>&1 &
RPID=$!
cat >"$OUT/sidecache.yaml" <<YAML
listen: 127.0.0.1:$SP
workers: 1
pool:
  nodes:
    - {name: r1, address: 127.0.0.1:$RP, weight: 1}
logging: {level: warn, format: text}
http:
  listen: 127.0.0.1:$HP
near_cache:
  enabled: true
  patterns: ["nc16:*"]
  max_memory: 256mb
  max_ttl: 600s
  shards: 16
YAML
for _ in $(seq 100); do redis-cli -p $RP ping >/dev/null 2>&1 && break; sleep 0.1; done
"$LOAD" --port $RP --keys 1000 --prefix nc16: --preload 16 >/dev/null
valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" "$BIN" \
  -c "$OUT/sidecache.yaml" >"$OUT/sidecache.log" 2>&1 &
VPID=$!
for _ in $(seq 300); do redis-cli -p $SP ping >/dev/null 2>&1 && break; sleep 0.2; done
counter() { curl -s "localhost:$HP/metrics" | awk -v n="$1" '$1 ~ "^"n {s += $2} END {print s + 0}'; }
# Warm-up: every key read (and stored) before the measured part.
"$LOAD" --port $SP --keys 1000 --prefix nc16: --zipf 0 --requests 20000 --warmup 0 \
  --seconds 120 --connections 4 --pipeline 16 >/dev/null
H0=$(counter sidecache_l1_hits_total) M0=$(counter sidecache_l1_misses_total)
callgrind_control -z $VPID >/dev/null
RESULT=$("$LOAD" --port $SP --keys 1000 --prefix nc16: --zipf 1.2 --requests 100000 --warmup 0 \
  --seconds 300 --connections 50 --pipeline 16)
callgrind_control -d $VPID >/dev/null
H1=$(counter sidecache_l1_hits_total) M1=$(counter sidecache_l1_misses_total)
TOTAL=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$RESULT")
IR=$(callgrind_annotate "$OUT"/callgrind.out.$VPID.1 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "requests $TOTAL, L1 hits $((H1 - H0)), misses $((M1 - M0))"
echo "instructions $IR, per request $((IR / TOTAL))"
echo "profile: $OUT/callgrind.out.$VPID.1"
