#!/usr/bin/env bash
# The public status page under a spike of readers (issue 13): wrk on $CONN connections for $DUR
# seconds against /status and /status/api/v2/summary.json with open public incidents, beside
# nginx (Debian) serving static files of the same sizes, in one run; then the page again while
# ingestion runs at half its maximum rate. Floor: 0.8x nginx's requests per second with p99
# under 10 ms; aim: 1x or better.
#   bench/status_page.sh            # needs wrk, nginx and curl (apt-get install wrk nginx curl)
#   DUR=10 CONN=64 DB=postgres://postgres@127.0.0.1:5432/postgres bench/status_page.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
CONN=${CONN:-64}
INGEST_CONN=${INGEST_CONN:-32}
PORT=${PORT:-18730}
NGINX_PORT=${NGINX_PORT:-18731}
for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install wrk nginx curl)"; exit 1; }
done
# APLOMB_BIN runs another build (e.g. an earlier commit's, to compare) instead of this tree's.
BIN=${APLOMB_BIN:-target/release/aplomb}
[ -n "${APLOMB_BIN:-}" ] || cargo build --release --quiet
tmp=$(mktemp -d)
cleanup() {
  kill "${APLOMB_PID:-}" "${INGEST_PID:-}" 2>/dev/null || true
  [ -f "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
DB=${DB:-sqlite://$tmp/bench.db}

APLOMB_ADMIN_TOKEN=bench APLOMB_LOG=error "$BIN" serve --listen "127.0.0.1:$PORT" \
  --database-url "$DB" --public-url "http://127.0.0.1:$PORT" --events-per-second-per-key 1000000000 &
APLOMB_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$PORT"
api() { curl -sf -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' "$@"; }
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# A page with something to say: eight components in two groups, three open public incidents
# with a few updates each, one of them setting component statuses.
api -X POST "$base/api/v1/services" -d '{"name":"bench"}' >/dev/null
KEY=$(api -X POST "$base/api/v1/services/bench/integrations" -d '{"kind":"events_v2"}' | field routing_key)
for n in 1 2 3 4; do
  api -X POST "$base/api/v1/status/components" -d "{\"name\":\"Shop $n\",\"group\":\"Shop\"}" >/dev/null
  api -X POST "$base/api/v1/status/components" -d "{\"name\":\"API $n\",\"group\":\"API\"}" >/dev/null
done
for title in "Card payments fail for some customers" "Search results are slow" "Login emails arrive late"; do
  id=$(api -X POST "$base/api/v1/incidents" -d "{\"title\":\"$title\",\"severity\":\"SEV2\"}" | field id)
  for phase in investigating identified monitoring; do
    api -X POST "$base/api/v1/incidents/$id/updates" -d "{\"text\":\"We are $phase the problem: $title. Next update within 30 minutes.\",
      \"phase\":\"$phase\",\"audiences\":[\"public\"],\"components\":[{\"name\":\"Shop 1\",\"status\":\"partial_outage\"}],
      \"publish\":true}" >/dev/null
  done
done
sleep 0.5 # the page is rendered within a second of the last update

# nginx serves the same bytes as static files.
mkdir -p "$tmp/www"
curl -sf "$base/status" -o "$tmp/www/page.html"
curl -sf "$base/status/api/v2/summary.json" -o "$tmp/www/summary.json"
cat >"$tmp/nginx.conf" <<EOF
worker_processes $(nproc);
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $tmp/www;
  }
}
EOF
nginx -c "$tmp/nginx.conf" -p "$tmp"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$NGINX_PORT/page.html" >/dev/null && break; sleep 0.1; done

run() { # name url [script] → "requests/s p99_ms"
  local out rps p99
  out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency ${3:+-s "bench/wrk/$3"} "$2")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v}' <<<"$out")
  printf '%-48s %12s req/s   p99 %s ms\n' "$1" "$rps" "$p99" >&2
  echo "$rps $p99"
}
page_bytes=$(wc -c <"$tmp/www/page.html")
summary_bytes=$(wc -c <"$tmp/www/summary.json")
read -r page page_p99 < <(run "aplomb /status ($page_bytes bytes)" "$base/status")
read -r nginx_page nginx_page_p99 < <(run "nginx, a static file of the same size" "http://127.0.0.1:$NGINX_PORT/page.html")
read -r summary summary_p99 < <(run "aplomb summary.json ($summary_bytes bytes)" "$base/status/api/v2/summary.json")
read -r nginx_summary nginx_summary_p99 < <(run "nginx, a static file of the same size" "http://127.0.0.1:$NGINX_PORT/summary.json")

# Ingestion at half its maximum beside the readers.
export KEY
read -r ingest_max _ < <(CONN=$INGEST_CONN run "ingestion alone, distinct keys (maximum)" "$base/v2/enqueue" aplomb_distinct.lua)
RATE=$(awk -v m="$ingest_max" 'BEGIN { r = int(m / 2); print (r < 1 ? 1 : r) }')
export RATE
wrk -t1 -c"$((INGEST_CONN * 2))" -d"$((DUR + 4))s" -s bench/wrk/aplomb_paced.lua "$base/v2/enqueue" >"$tmp/ingest.txt" &
INGEST_PID=$!
sleep 2
read -r busy busy_p99 < <(run "aplomb /status beside ingestion" "$base/status")
wait "$INGEST_PID" || true
ingest_rate=$(awk '/Requests\/sec/ {print $2}' "$tmp/ingest.txt")
echo "ingestion beside the readers: $ingest_rate events/s (asked: $RATE, half of $ingest_max)" >&2
# nginx beside the same ingestion: the cores aplomb's ingestion takes are taken from both.
wrk -t1 -c"$((INGEST_CONN * 2))" -d"$((DUR + 4))s" -s bench/wrk/aplomb_paced.lua "$base/v2/enqueue" >/dev/null &
INGEST_PID=$!
sleep 2
read -r nginx_busy _ < <(run "nginx beside the same ingestion" "http://127.0.0.1:$NGINX_PORT/page.html")
wait "$INGEST_PID" || true
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; database ${DB%%:*}; $(nginx -v 2>&1)" >&2
awk -v p="$page" -v np="$nginx_page" -v pp="$page_p99" -v s="$summary" -v ns="$nginx_summary" -v sp="$summary_p99" \
    -v b="$busy" -v bp="$busy_p99" -v nb="$nginx_busy" 'BEGIN {
  printf "/status / nginx: %.2fx, p99 %.2f ms (floor 0.8x and p99 < 10 ms; aim 1x)\n", p / np, pp
  printf "summary.json / nginx: %.2fx, p99 %.2f ms\n", s / ns, sp
  printf "/status beside ingestion / nginx alone: %.2fx, p99 %.2f ms\n", b / np, bp
  printf "/status beside ingestion / nginx beside the same ingestion: %.2fx\n", b / nb }'
