#!/usr/bin/env bash
# The whole test suite: unit and doc tests, the filter built for wasm, and
# the end-to-end tests through a real Envoy (host-tests/). Installs what is
# missing first. Pass a corpus dir in WARD_CORPORA (CI: ../shared/corpora)
# to include the detection-figure checks.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$WARD_ROOT"
"$WARD_ROOT/scripts/setup.sh" --all
"$WARD_ROOT/scripts/build.sh"
if [ -z "${WARD_CORPORA:-}" ] && [ -d "$WARD_ROOT/../shared/corpora" ]; then
  export WARD_CORPORA="$(cd "$WARD_ROOT/../shared/corpora" && pwd)"
fi
echo "== cargo test"
cargo test -q --workspace
echo "== embedding example (ward-host guarding a program's own traffic)"
cargo run -q -p ward-embed-example
echo "== fuzz smoke (5 s per target on the team's seeds; the 10-minute campaign is scripts/fuzz.sh)"
"$WARD_ROOT/scripts/fuzz.sh" --smoke
echo "== end-to-end (Envoy, hosts)"
"$WARD_VENV/bin/python" -m pytest -q -p no:cacheprovider host-tests
