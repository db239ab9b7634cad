#!/usr/bin/env bash
# Runs schemathesis (pip install schemathesis) against a fresh `aplomb serve --demo` on a
# loopback port, with the admin token through the document's bearer scheme and the hooks
# beside this script. Exits with schemathesis's status; its report is on stdout.
#   APLOMB_BIN     the binary (default target/debug/aplomb; build it first)
#   MAX_EXAMPLES   examples per operation (default 25)
#   PHASES         schemathesis phases (default examples,coverage,fuzzing)
#   SEED           a fixed seed to repeat a run
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${APLOMB_BIN:-$root/target/debug/aplomb}"
port="${PORT:-18477}"
dir="$(mktemp -d)"
export APLOMB_TOKEN="schemathesis-$(date +%s)"
APLOMB_ADMIN_TOKEN="$APLOMB_TOKEN" "$bin" serve --listen "127.0.0.1:$port" \
  --database-url "sqlite://$dir/aplomb.db" --demo >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
ready=
for _ in $(seq 50); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && ready=1 && break
  sleep 0.2
done
if [[ -z "$ready" ]]; then
  echo "schemathesis: the server on port $port did not become ready in 10 s" >&2
  exit 1
fi
seed=()
[[ -n "${SEED:-}" ]] && seed=(--seed "$SEED")
# schemathesis and Hypothesis keep caches in the working directory: the temporary one.
cd "$dir"
PYTHONPATH="$here" SCHEMATHESIS_HOOKS=hooks schemathesis --config-file "$here/schemathesis.toml" \
  run "http://127.0.0.1:$port/api/v1/openapi.json" \
  --phases "${PHASES:-examples,coverage,fuzzing}" --max-examples "${MAX_EXAMPLES:-25}" \
  --checks all --no-color "${seed[@]}"
