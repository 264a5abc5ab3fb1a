#!/usr/bin/env bash
# Builds the filter module Envoy loads and the ward CLI (release).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$WARD_ROOT"
cargo build -q --release -p ward-filter --target wasm32-wasip1
cargo build -q --release -p ward-cli
# The wasmtime host; its first run compiles the module and caches the
# machine code, so the debug-built tests load it instead of compiling it.
cargo build -q --profile host -p ward-host
"$CARGO_TARGET_DIR/host/ward-host" info >/dev/null
