#!/usr/bin/env bash
# Alert ingestion beside Prometheus Alertmanager (PERFORMANCE.md scenarios 1 and 4): the same
# load generator (wrk, 2 threads, $CONN connections, $DUR s) against each, on loopback, in one
# run; then aplomb's resident memory holding the alerts it took. Ratios are printed last.
#   bench/run.sh                 # needs wrk and prometheus-alertmanager (Debian packages)
#   DUR=10 CONN=32 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
CONN=${CONN:-32}
APLOMB_PORT=${APLOMB_PORT:-18700}
AM_PORT=${AM_PORT:-18793}
for tool in wrk prometheus-alertmanager curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk prometheus-alertmanager curl)"; exit 1; }
done
cargo build --release --quiet
tmp=$(mktemp -d)
cleanup() { kill "${APLOMB_PID:-}" "${AM_PID:-}" 2>/dev/null || true; rm -rf "$tmp"; }
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
api -X POST "http://127.0.0.1:$APLOMB_PORT/api/v1/services" -d '{"name":"bench"}' >/dev/null
KEY=$(api -X POST "http://127.0.0.1:$APLOMB_PORT/api/v1/services/bench/integrations" -d '{"kind":"events_v2"}' \
  | sed -E 's/.*"routing_key":"([^"]+)".*/\1/')
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
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $(prometheus-alertmanager --version 2>&1 | head -1)" >&2
a_single=$(run "aplomb /v2/enqueue, distinct keys" "http://127.0.0.1:$APLOMB_PORT/v2/enqueue" aplomb_distinct.lua)
m_single=$(run "alertmanager /api/v2/alerts, distinct" "http://127.0.0.1:$AM_PORT/api/v2/alerts" am_distinct.lua)
a_dedup=$(run "aplomb /v2/enqueue, one key" "http://127.0.0.1:$APLOMB_PORT/v2/enqueue" aplomb_dedup.lua)
m_dedup=$(run "alertmanager /api/v2/alerts, one alert" "http://127.0.0.1:$AM_PORT/api/v2/alerts" am_dedup.lua)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$APLOMB_PID/status")
am_rss=$(awk '/VmRSS/ {print $2}' "/proc/$AM_PID/status")
echo "resident memory after the runs: aplomb $((rss / 1024)) MB, alertmanager $((am_rss / 1024)) MB" >&2
awk -v a="$a_single" -v m="$m_single" -v ad="$a_dedup" -v md="$m_dedup" 'BEGIN {
  printf "ratio aplomb/alertmanager: distinct keys %.2fx (target 1.5x), repeated key %.2fx (target 2x)\n", a/m, ad/md }'
