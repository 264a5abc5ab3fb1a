#!/usr/bin/env bash
# Builds Ward's browser module (filters/web) and its JS bindings into
# examples/browser-extension/pkg/ (a build output, not in git).
#   scripts/build-web.sh [OUT_DIR]
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$WARD_ROOT"
out="${1:-$WARD_ROOT/examples/browser-extension/pkg}"
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "build-web: wasm-bindgen CLI $have does not match the crate's $want; run scripts/setup.sh --all" >&2
  exit 1
fi
cargo build -q --release -p ward-web --target wasm32-unknown-unknown
wasm-bindgen --target web --out-dir "$out" "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/ward_web.wasm"
# The bindings are ES modules; tell Node so (browsers go by the import).
printf '{ "type": "module" }\n' > "$out/package.json"
