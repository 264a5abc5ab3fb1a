#!/usr/bin/env bash
# The main job: builds the filter, installs Envoy if missing, starts Envoy
# with the default policy in front of the bundled mock LLM/MCP upstream,
# replays sample benign and malicious requests and prints what was
# allowed, blocked, redacted and logged. Stops everything it started.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$WARD_ROOT"
"$WARD_ROOT/scripts/setup.sh"
"$WARD_ROOT/scripts/build.sh"
exec "$WARD_VENV/bin/python" "$WARD_ROOT/host-tests/envoy/demo.py"
