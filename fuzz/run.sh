#!/usr/bin/env bash
# Runs every fuzz target (or those named) with libFuzzer for SECONDS each (default 30),
# starting from its seeds in fuzz/corpus/ (new inputs go to a temporary corpus, so the kept
# seeds stay as they are). Needs the nightly toolchain and `cargo install cargo-fuzz`.
# A target that panics stops the run with its input under fuzz/artifacts/<target>/: copy it
# to fuzz/regressions/<target>/ with the fix, and `cargo test` replays it from then on.
# Prints one line per target with its executions.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${SECONDS_PER_TARGET:-30}"
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
total=0
for target in "${targets[@]}"; do
  mkdir -p "$work/$target" "fuzz/artifacts/$target"
  log="$work/$target.log"
  if ! cargo +nightly fuzz run -O -a "$target" "$work/$target" "fuzz/corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="fuzz/artifacts/$target/" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $target FAILED; the input is under fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs="$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo 0)"
  total=$((total + runs))
  echo "fuzz: $target: $runs executions in ${seconds}s, no panic"
done
echo "fuzz: $total executions over ${#targets[@]} targets"
