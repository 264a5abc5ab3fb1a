# Sourced by every script: one place that says where Ward keeps its build
# outputs and tools, outside the clone so a re-run on the same machine is
# incremental and a fresh clone never drags stale artefacts along.
WARD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WARD_CACHE="${WARD_CACHE:-$HOME/.cache/ward}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WARD_CACHE/target}"
WARD_VENV="$WARD_CACHE/venv"
WARD_NODE="$WARD_CACHE/node"
ENVOY_VERSION="1.40.0"
export PATH="$HOME/.cargo/bin:$PATH"
WARD_FILTER_WASM="$CARGO_TARGET_DIR/wasm32-wasip1/release/ward_filter.wasm"
export WARD_ROOT WARD_CACHE WARD_VENV WARD_NODE WARD_FILTER_WASM
