#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (cargo-fuzz, nightly) for SECONDS each
# (default 600, the campaign docs/security.md reports). Seeds come from
# fuzz/seeds/TARGET and are never written to; the growing corpus and any
# crash live under $WARD_CACHE/fuzz/. A crash, a timeout (one input over
# 5 s: super-linear time) or an input over 2 GB of memory stops the script
# with the target's name and the input's path.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --smoke [TARGET...]   # 5 s per target, seeds only
# Without nightly or cargo-fuzz, --smoke skips with a message (exit 0).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$WARD_ROOT/fuzz"
all=(inspect stream policy normalise wire sse decoders metadata)
smoke=0
seconds=600
timeout=5
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
  seconds=5
  # A smoke run shares the machine with the rest of the suite: libFuzzer's
  # timeout is wall-clock, so only a stall, not a slow input, fails it.
  timeout=30
  shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds="$1"
  shift
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=("${all[@]}")
fi
if ! rustup toolchain list 2>/dev/null | grep -q nightly || ! cargo fuzz --version >/dev/null 2>&1; then
  msg="fuzz: needs a nightly toolchain and cargo-fuzz (rustup toolchain install nightly; cargo install cargo-fuzz --locked)"
  if [ "$smoke" = 1 ]; then
    echo "$msg: skipped" >&2
    exit 0
  fi
  echo "$msg" >&2
  exit 2
fi
work="$WARD_CACHE/fuzz"
# Nightly and sanitizer builds in their own target dir, away from the
# workspace's stable artefacts.
export CARGO_TARGET_DIR="$work/target"
cargo +nightly fuzz build -O >/dev/null
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
for t in "${targets[@]}"; do
  mkdir -p "$work/artifacts/$t" "$work/logs"
  if [ "$smoke" = 1 ]; then
    corpus="$(mktemp -d)"
  else
    corpus="$work/corpus/$t"
    mkdir -p "$corpus"
  fi
  log="$work/logs/$t.log"
  rc=0
  "$bin/$t" "$corpus" "seeds/$t" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout="$timeout" \
    -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  [ "$smoke" = 1 ] && rm -rf "$corpus"
  execs=$(grep -o "stat::number_of_executed_units: *[0-9]*" "$log" | grep -o "[0-9]*$" || echo "?")
  if [ "$rc" -ne 0 ]; then
    grep -E "SUMMARY|panicked|Test unit written" "$log" >&2 || true
    echo "fuzz $t: FAILED (exit $rc) after $execs runs; log $log, input in $work/artifacts/$t/" >&2
    exit 1
  fi
  echo "fuzz $t: ${seconds}s, $execs runs, no crash"
done
