#!/usr/bin/env bash
# Does a flood of wrong passwords slow everything else down? Measures /healthz and ingestion
# (/v2/enqueue, distinct keys) alone, then each again while 8 connections post wrong
# passwords to /login (bench/wrk/login_flood.lua), and prints the ratios. Floor: each keeps at
# least half its rate. Password checks run on a blocking thread, one at a time, and failed
# sign-ins are limited per account and per address, so most of a flood from one address is
# refused (429) without hashing.
#   bench/login_flood.sh                      # needs wrk and curl (Debian: apt-get install wrk curl)
#   DUR=10 CONN=16 FLOOD_DELAY_MS=0 bench/login_flood.sh   # FLOOD_DELAY_MS=0: as fast as it goes
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
CONN=${CONN:-16}
FLOOD_CONN=${FLOOD_CONN:-8}
export FLOOD_DELAY_MS=${FLOOD_DELAY_MS:-66}
PORT=${PORT:-18710}
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk curl)"; exit 1; }
done
cargo build --release --quiet
tmp=$(mktemp -d)
cleanup() { kill "${APLOMB_PID:-}" "${FLOOD_PID:-}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

APLOMB_ADMIN_TOKEN=bench APLOMB_LOG=error target/release/aplomb serve --listen "127.0.0.1:$PORT" \
  --database-url "sqlite://$tmp/bench.db?mode=rwc" --events-per-second-per-key 1000000000 &
APLOMB_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
api() { curl -sf -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' "$@"; }
api -X POST "http://127.0.0.1:$PORT/api/v1/services" -d '{"name":"bench"}' >/dev/null
KEY=$(api -X POST "http://127.0.0.1:$PORT/api/v1/services/bench/integrations" -d '{"kind":"events_v2"}' \
  | sed -E 's/.*"routing_key":"([^"]+)".*/\1/')
export KEY

run() { # name url [script] → requests/s
  local out rps p99
  out=$(wrk -t1 -c"$CONN" -d"${DUR}s" --latency ${3:+-s "bench/wrk/$3"} "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  printf '%-40s %12s req/s   p99 %s\n' "$1" "$rps" "$p99" >&2
  echo "$rps"
}
health=$(run "/healthz alone" "http://127.0.0.1:$PORT/healthz")
ingest=$(run "/v2/enqueue alone" "http://127.0.0.1:$PORT/v2/enqueue" aplomb_distinct.lua)

wrk -t1 -c"$FLOOD_CONN" -d"$((2 * DUR + 4))s" -s bench/wrk/login_flood.lua "http://127.0.0.1:$PORT" \
  >"$tmp/flood.txt" &
FLOOD_PID=$!
sleep 2
health_flood=$(run "/healthz during the flood" "http://127.0.0.1:$PORT/healthz")
ingest_flood=$(run "/v2/enqueue during the flood" "http://127.0.0.1:$PORT/v2/enqueue" aplomb_distinct.lua)
wait "$FLOOD_PID"
flood_rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/flood.txt")
refused=$(awk '/Non-2xx/ {print $5}' "$tmp/flood.txt")
total=$(awk '/requests in/ {print $1}' "$tmp/flood.txt")
echo "flood: $FLOOD_CONN connections, ${FLOOD_DELAY_MS} ms pause: $flood_rps req/s; $total requests, ${refused:-0} refused (429)" >&2
echo "machine: $(nproc) cores" >&2
awk -v h="$health" -v hf="$health_flood" -v i="$ingest" -v jf="$ingest_flood" 'BEGIN {
  printf "during the flood: /healthz %.2fx of alone, /v2/enqueue %.2fx of alone (floor 0.5x each)\n", hf/h, jf/i
  exit (hf/h < 0.5 || jf/i < 0.5)
}'
