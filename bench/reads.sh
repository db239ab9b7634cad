#!/usr/bin/env bash
# Incident reads (the issue's scenario beside shared/design/PERFORMANCE.md's): GET /api/v1/incidents/{id} and
# its timeline (50 entries), alternately, on $CONN connections, against /healthz on as many, in
# one run; then the reads again while ingestion runs at half its maximum rate (distinct keys,
# measured first, then held at half of it by bench/wrk/aplomb_paced.lua). Floors: reads at
# least 0.15x /healthz; their p99 beside ingestion at most 2x their p99 alone, and under 50 ms.
#   bench/reads.sh                  # needs wrk and curl (Debian: apt-get install wrk curl)
#   DUR=10 CONN=16 DB=postgres://postgres@127.0.0.1:5432/postgres bench/reads.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
CONN=${CONN:-16}
INGEST_CONN=${INGEST_CONN:-32}
PORT=${PORT:-18720}
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk curl)"; exit 1; }
done
cargo build --release --quiet
tmp=$(mktemp -d)
cleanup() { kill "${APLOMB_PID:-}" "${INGEST_PID:-}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
DB=${DB:-sqlite://$tmp/bench.db}

APLOMB_ADMIN_TOKEN=bench APLOMB_LOG=error target/release/aplomb serve --listen "127.0.0.1:$PORT" \
  --database-url "$DB" --events-per-second-per-key 1000000000 &
APLOMB_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$PORT"
api() { curl -sf -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' "$@"; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
api -X POST "$base/api/v1/services" -d '{"name":"bench"}' >/dev/null
KEY=$(api -X POST "$base/api/v1/services/bench/integrations" -d '{"kind":"events_v2"}' | field routing_key)
INCIDENT=$(api -X POST "$base/api/v1/incidents" \
  -d '{"title":"Checkout errors","severity":"SEV2","summary":"Payments time out for some users"}' | field id)
for n in $(seq 49); do
  api -X POST "$base/api/v1/incidents/$INCIDENT/timeline" -d "{\"text\":\"Investigation note $n: checked the payment gateway's error rate\"}" >/dev/null
done
entries=$(api "$base/api/v1/incidents/$INCIDENT/timeline?limit=1000" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
export KEY INCIDENT

run() { # name url [script] → "requests/s p99_ms"
  local out rps p99
  out=$(wrk -t1 -c"$CONN" -d"${DUR}s" --latency ${3:+-s "bench/wrk/$3"} "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v}' <<<"$out")
  printf '%-44s %12s req/s   p99 %s ms\n' "$1" "$rps" "$p99" >&2
  echo "$rps $p99"
}
read -r health _ < <(run "/healthz" "$base/healthz")
read -r reads reads_p99 < <(run "incident + timeline ($entries entries)" "$base" incident_reads.lua)
read -r ingest_max _ < <(CONN=$INGEST_CONN run "ingestion alone, distinct keys (maximum)" "$base/v2/enqueue" aplomb_distinct.lua)

# Half the maximum, on twice the connections (so the schedule holds while answers slow down).
RATE=$(awk -v m="$ingest_max" 'BEGIN { r = int(m / 2); print (r < 1 ? 1 : r) }')
export RATE
wrk -t1 -c"$((INGEST_CONN * 2))" -d"$((DUR + 4))s" -s bench/wrk/aplomb_paced.lua "$base/v2/enqueue" >"$tmp/ingest.txt" &
INGEST_PID=$!
sleep 2
read -r reads_busy reads_busy_p99 < <(run "incident + timeline beside ingestion" "$base" incident_reads.lua)
wait "$INGEST_PID" || true
ingest_rate=$(awk '/Requests\/sec/ {print $2}' "$tmp/ingest.txt")
echo "ingestion beside the reads: $ingest_rate events/s (asked: $RATE, half of $ingest_max)" >&2
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; database ${DB%%:*}" >&2
awk -v h="$health" -v r="$reads" -v p="$reads_p99" -v pb="$reads_busy_p99" 'BEGIN {
  printf "reads/healthz: %.3fx (floor 0.15x, aim 0.25x)\n", r / h
  printf "read p99 beside ingestion / alone: %.1f / %.1f ms = %.2fx (floor 2x, and under 50 ms)\n", pb, p, pb / p }'
