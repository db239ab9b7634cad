#!/usr/bin/env bash
# The whole system under load (issue 15): two aplomb instances sharing one PostgreSQL database,
# at once: ingestion at half its maximum rate (measured first, on both instances), 16
# connections reading an incident and its timeline, 64 reading the public status page, each
# surface split evenly over the two instances as a round-robin balancer would. Prints each
# surface's rate, p50, p99 and errors (failed connections, answers that are not 2xx).
#   bench/system.sh                 # needs wrk, curl, psql (apt-get install wrk curl)
#   DUR=20 PG=postgres://postgres@127.0.0.1:5432 bench/system.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
PORTS=(${PORT_A:-18740} ${PORT_B:-18741})
PG=${PG:-postgres://postgres@127.0.0.1:5432}
DBNAME=aplomb_system_bench_$$
for tool in wrk curl psql python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk curl postgresql-client)"; exit 1; }
done
cargo build --release --quiet
tmp=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DBNAME" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
psql "$PG/postgres" -qc "CREATE DATABASE $DBNAME"
for port in "${PORTS[@]}"; do
  APLOMB_ADMIN_TOKEN=bench APLOMB_LOG=error target/release/aplomb serve --listen "127.0.0.1:$port" \
    --database-url "$PG/$DBNAME" --public-url "http://127.0.0.1:$port" \
    --events-per-second-per-key 1000000000 &
  pids+=($!)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
bases=("http://127.0.0.1:${PORTS[0]}" "http://127.0.0.1:${PORTS[1]}")
api() { curl -sf -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' "$@"; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# What the readers read: an incident with 50 timeline entries, a status page with components
# and three public incidents with updates.
base=${bases[0]}
api -X POST "$base/api/v1/services" -d '{"name":"bench"}' >/dev/null
KEY=$(api -X POST "$base/api/v1/services/bench/integrations" -d '{"kind":"events_v2"}' | field routing_key)
INCIDENT=$(api -X POST "$base/api/v1/incidents" \
  -d '{"title":"Checkout errors","severity":"SEV2","summary":"Payments time out for some users"}' | field id)
for n in $(seq 49); do
  api -X POST "$base/api/v1/incidents/$INCIDENT/timeline" -d "{\"text\":\"Investigation note $n\"}" >/dev/null
done
for n in 1 2 3 4; do
  api -X POST "$base/api/v1/status/components" -d "{\"name\":\"Shop $n\",\"group\":\"Shop\"}" >/dev/null
done
for title in "Card payments fail for some customers" "Search results are slow" "Login emails arrive late"; do
  id=$(api -X POST "$base/api/v1/incidents" -d "{\"title\":\"$title\",\"severity\":\"SEV3\"}" | field id)
  api -X POST "$base/api/v1/incidents/$id/updates" -d "{\"text\":\"We are investigating: $title. Next update within 30 minutes.\",
    \"phase\":\"investigating\",\"audiences\":[\"public\"],\"publish\":true}" >/dev/null
done
export KEY INCIDENT
sleep 1

# wrk's report → "requests/s p50_ms p99_ms errors"
summary() {
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /Socket errors/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx/ { errors += $5 }
    END { printf "%s %s %s %d\n", rps, p50, p99, errors }' "$1"
}

# The ingestion maximum: distinct keys on 32 connections to each instance at once.
maxers=()
for i in 0 1; do
  wrk -t1 -c32 -d"${DUR}s" -s bench/wrk/aplomb_distinct.lua "${bases[$i]}/v2/enqueue" >"$tmp/max$i.txt" &
  maxers+=($!)
done
wait "${maxers[@]}"
max=$(cat "$tmp/max0.txt" "$tmp/max1.txt" | awk '/Requests\/sec/ {s += $2} END {print int(s)}')

# Everything at once: each surface half on each instance.
RATE=$(awk -v m="$max" 'BEGIN { r = int(m / 4); print (r < 1 ? 1 : r) }') # half the maximum, over two
export RATE
jobs=()
for i in 0 1; do
  wrk -t1 -c64 -d"${DUR}s" --latency -s bench/wrk/aplomb_paced.lua "${bases[$i]}/v2/enqueue" >"$tmp/ingest$i.txt" &
  jobs+=($!)
  wrk -t1 -c8 -d"${DUR}s" --latency -s bench/wrk/incident_reads.lua "${bases[$i]}" >"$tmp/reads$i.txt" &
  jobs+=($!)
  wrk -t1 -c32 -d"${DUR}s" --latency "${bases[$i]}/status" >"$tmp/status$i.txt" &
  jobs+=($!)
done
wait "${jobs[@]}"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; 2 instances on PostgreSQL $(psql "$PG/postgres" -Atc 'SHOW server_version'); ${DUR}s"
echo "ingestion maximum on both instances: $max events/s; asked for half: $((RATE * 2)) events/s"
printf '%-34s %10s %9s %9s %7s\n' surface "req/s" "p50 ms" "p99 ms" errors
for surface in ingest reads status; do
  read -r r0 a0 b0 e0 < <(summary "$tmp/${surface}0.txt")
  read -r r1 a1 b1 e1 < <(summary "$tmp/${surface}1.txt")
  case $surface in
    ingest) name="ingestion (2 x 64 conn, paced)" ;;
    reads) name="incident + timeline (2 x 8 conn)" ;;
    status) name="/status (2 x 32 conn)" ;;
  esac
  # Rates add up; latencies are each instance's, the worse shown.
  awk -v n="$name" -v r0="$r0" -v r1="$r1" -v a0="$a0" -v a1="$a1" -v b0="$b0" -v b1="$b1" -v e="$((e0 + e1))" \
    'BEGIN { printf "%-34s %10.0f %9.2f %9.2f %7d\n", n, r0 + r1, (a0 > a1 ? a0 : a1), (b0 > b1 ? b0 : b1), e }'
done
