#!/usr/bin/env bash
# Alert ingestion beside Prometheus Alertmanager (shared/design/PERFORMANCE.md scenarios 1, 4 and 7): the same
# load generator (wrk, 2 threads, $CONN connections, $DUR s) against each, on loopback, in one
# run: single alerts with distinct keys, one repeated key, and 100-alert batches; then both
# filled to $FOOTPRINT open alerts and their resident memory; then aplomb on PostgreSQL beside
# pgbench's single-row INSERT commits (32 clients) when PostgreSQL answers at $PG_URL.
# Ratios are printed last.
#   bench/run.sh                 # needs wrk, prometheus-alertmanager, postgresql-client (Debian)
#   DUR=10 CONN=32 FOOTPRINT=1000000 PG_URL=postgres://postgres@127.0.0.1:5432/postgres bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
CONN=${CONN:-32}
FOOTPRINT=${FOOTPRINT:-1000000}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
APLOMB_PORT=${APLOMB_PORT:-18700}
AM_PORT=${AM_PORT:-18793}
for tool in wrk prometheus-alertmanager curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk prometheus-alertmanager curl)"; exit 1; }
done
PG_PORT=${PG_PORT:-18701}
cargo build --release --quiet
tmp=$(mktemp -d)
cleanup() { kill "${APLOMB_PID:-}" "${AM_PID:-}" "${PG_PID:-}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

APLOMB_ADMIN_TOKEN=bench APLOMB_LOG=warn target/release/aplomb serve --listen "127.0.0.1:$APLOMB_PORT" \
  --database-url "sqlite://$tmp/bench.db?mode=rwc" --events-per-second-per-key 1000000000 &
APLOMB_PID=$!
prometheus-alertmanager --config.file=bench/alertmanager.yml --storage.path="$tmp/am" \
  --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= --log.level=warn &
AM_PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$APLOMB_PORT/readyz" >/dev/null && curl -sf "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null && break
  sleep 0.1
done
api() { curl -sf -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' "$@"; }
integration() { # port kind → routing key of a new integration on service "bench"
  api -X POST "http://127.0.0.1:$1/api/v1/services" -d '{"name":"bench"}' >/dev/null || true
  api -X POST "http://127.0.0.1:$1/api/v1/services/bench/integrations" -d "{\"kind\":\"$2\"}" \
    | sed -E 's/.*"routing_key":"([^"]+)".*/\1/'
}
KEY=$(integration "$APLOMB_PORT" events_v2)
export KEY

run() { # name url script
  local out rps p50 p99 errs
  out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency -s "bench/wrk/$3" "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx/ {print $5}' <<<"$out"); errs=${errs:-0}
  printf '%-34s %12s req/s   p50 %-9s p99 %-9s non-2xx %s\n' "$1" "$rps" "$p50" "$p99" "$errs" >&2
  echo "$rps"
}
a_single=$(run "aplomb /v2/enqueue, distinct keys" "http://127.0.0.1:$APLOMB_PORT/v2/enqueue" aplomb_distinct.lua)
m_single=$(run "alertmanager /api/v2/alerts, distinct" "http://127.0.0.1:$AM_PORT/api/v2/alerts" am_distinct.lua)
a_dedup=$(run "aplomb /v2/enqueue, one key" "http://127.0.0.1:$APLOMB_PORT/v2/enqueue" aplomb_dedup.lua)
m_dedup=$(run "alertmanager /api/v2/alerts, one alert" "http://127.0.0.1:$AM_PORT/api/v2/alerts" am_dedup.lua)
KEY=$(integration "$APLOMB_PORT" alertmanager)
a_batch=$(run "aplomb alertmanager webhook, 100/req" "http://127.0.0.1:$APLOMB_PORT" aplomb_batch.lua)
m_batch=$(run "alertmanager /api/v2/alerts, 100/req" "http://127.0.0.1:$AM_PORT/api/v2/alerts" am_batch.lua)

# Footprint: both hold $FOOTPRINT open alerts (counted in aplomb's database, and from
# Alertmanager's metrics, whatever their state), topped up with 100-alert batches.
aplomb_alerts() {
  python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM alerts WHERE status <> '"'"'resolved'"'"'").fetchone()[0])' "$tmp/bench.db"
}
am_alerts() { curl -sf "http://127.0.0.1:$AM_PORT/metrics" | awk '/^alertmanager_alerts\{/ {n += $2} END {printf "%d", n}'; }
fill() { # name count-function url script
  while [ "$($2)" -lt "$FOOTPRINT" ]; do wrk -t2 -c"$CONN" -d5s -s "bench/wrk/$4" "$3" >/dev/null; done
}
fill aplomb aplomb_alerts "http://127.0.0.1:$APLOMB_PORT" aplomb_batch.lua
fill alertmanager am_alerts "http://127.0.0.1:$AM_PORT/api/v2/alerts" am_batch.lua
rss=$(awk '/VmRSS/ {print $2}' "/proc/$APLOMB_PID/status")
am_rss=$(awk '/VmRSS/ {print $2}' "/proc/$AM_PID/status")
echo "resident memory: aplomb $((rss / 1024)) MB holding $(aplomb_alerts) alerts, alertmanager $((am_rss / 1024)) MB holding $(am_alerts)" >&2
kill "$AM_PID" "$APLOMB_PID" 2>/dev/null || true

# PostgreSQL: aplomb on a fresh database beside pgbench's single-row commits, 32 clients.
p_single=0; p_dedup=0; pgb=0
if command -v psql >/dev/null && command -v pgbench >/dev/null && psql "$PG_URL" -qc 'SELECT 1' >/dev/null 2>&1; then
  bench_db="aplomb_bench_$$"
  psql "$PG_URL" -qc "CREATE DATABASE $bench_db" >/dev/null
  pg_db_url="${PG_URL%/*}/$bench_db"
  APLOMB_ADMIN_TOKEN=bench APLOMB_LOG=warn target/release/aplomb serve --listen "127.0.0.1:$PG_PORT" \
    --database-url "$pg_db_url" --events-per-second-per-key 1000000000 &
  PG_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PG_PORT/readyz" >/dev/null && break; sleep 0.1; done
  KEY=$(integration "$PG_PORT" events_v2)
  p_single=$(run "aplomb on PostgreSQL, distinct keys" "http://127.0.0.1:$PG_PORT/v2/enqueue" aplomb_distinct.lua)
  p_dedup=$(run "aplomb on PostgreSQL, one key" "http://127.0.0.1:$PG_PORT/v2/enqueue" aplomb_dedup.lua)
  kill "$PG_PID"; wait "$PG_PID" 2>/dev/null || true
  psql "$pg_db_url" -qc "CREATE TABLE pgbench_events (id BIGSERIAL PRIMARY KEY, dedup_key TEXT NOT NULL, payload TEXT NOT NULL)"
  printf '%s\n' '\set k random(1, 1000000000)' \
    "INSERT INTO pgbench_events (dedup_key, payload) VALUES ('k-' || :k, '{\"summary\":\"load test alert\",\"source\":\"pgbench\",\"severity\":\"warning\"}');" \
    > "$tmp/insert.sql"
  pgb=$(pgbench -n -c 32 -j 2 -T "$DUR" -f "$tmp/insert.sql" "$pg_db_url" 2>/dev/null | awk '/^tps/ {print $3}')
  printf '%-34s %12s commits/s\n' "pgbench single-row INSERT, 32 clients" "$pgb" >&2
  psql "$PG_URL" -qc "DROP DATABASE $bench_db" >/dev/null
else
  echo "PostgreSQL not reachable at $PG_URL: its comparison is skipped" >&2
fi

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(prometheus-alertmanager --version 2>&1 | head -1); $(pgbench --version 2>/dev/null)" >&2
awk -v a="$a_single" -v m="$m_single" -v ad="$a_dedup" -v md="$m_dedup" -v ab="$a_batch" -v mb="$m_batch" \
    -v ps="$p_single" -v pd="$p_dedup" -v pg="$pgb" -v r="$rss" -v mr="$am_rss" 'BEGIN {
  printf "ratio aplomb/alertmanager: distinct keys %.2fx (target 1.5x), repeated key %.2fx (target 2x), 100-alert batches %.2fx\n", a/m, ad/md, ab/mb
  printf "resident memory at the footprint: aplomb %d MB (target < 100 MB), alertmanager %d MB\n", r/1024, mr/1024
  if (pg > 0) printf "ratio aplomb on PostgreSQL/pgbench commits: distinct keys %.2fx, repeated key %.2fx (target 1x)\n", ps/pg, pd/pg }'
