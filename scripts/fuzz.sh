#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, nightly) for SECONDS each
# (default 60). Seeds come from fuzz/seeds/TARGET and are never written to;
# the growing corpus and any crash live under $WARD_CACHE/fuzz/. A crash
# stops the script with the target's name and the crashing input's path.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$WARD_ROOT/fuzz"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(inspect stream policy normalise)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi
work="$WARD_CACHE/fuzz"
# Nightly and sanitizer builds in their own target dir, away from the
# workspace's stable artefacts.
export CARGO_TARGET_DIR="$work/target"
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  echo "== fuzz $t for ${seconds}s"
  log="$work/$t.log"
  rc=0
  cargo +nightly fuzz run "$t" "$work/corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|SUMMARY|panicked|Test unit written" "$log" || true
  if [ "$rc" -ne 0 ]; then
    echo "fuzz $t: failed (exit $rc), log $log, inputs in $work/artifacts/$t/" >&2
    exit 1
  fi
done
