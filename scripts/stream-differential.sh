#!/usr/bin/env bash
# Stream output of an old build against the working tree's
# (docs/performance.md, "Streaming redaction"): the same streams through
# both guards, a digest of every push compared.
#
#     scripts/stream-differential.sh OLD_COMMIT [--limit N] [--only corpus|gen|long|tools] [--mutate]
#
# Builds in a scratch copy (the clone is not touched): the working tree,
# plus OLD_COMMIT's crates/ward-core renamed `ward-core-old`, plus the
# harness in benches/stream_differential. About 15 min on 2 busy cores.
set -euo pipefail
source "$(dirname "$0")/env.sh"
old="${1:?usage: stream-differential.sh OLD_COMMIT [harness options]}"
shift
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$WARD_ROOT"
# The working tree as it is, without build outputs.
tar --exclude=./target --exclude=./fuzz/target -cf - . | tar -xf - -C "$scratch"
git archive "$old" crates/ward-core | tar -xf - -C "$scratch" --transform 's|^crates/ward-core|oldcore|'
sed -i 's/^name = "ward-core"$/name = "ward-core-old"/; /^\[\[example\]\]/,$d' "$scratch/oldcore/Cargo.toml"
mkdir -p "$scratch/difftool/src"
cp benches/stream_differential/main.rs "$scratch/difftool/src/main.rs"
cat >"$scratch/difftool/Cargo.toml" <<'EOF'
[package]
name = "stream-differential"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
ward-core = { path = "../crates/ward-core" }
ward-core-old = { path = "../oldcore" }
serde_json.workspace = true
sha2.workspace = true
flate2.workspace = true
EOF
sed -i 's|^members = \[|members = [\n    "oldcore",\n    "difftool",|' "$scratch/Cargo.toml"
# Its own target directory: the renamed copy must not disturb the shared one.
export CARGO_TARGET_DIR="$WARD_CACHE/target-stream-differential"
(cd "$scratch" && CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=8 cargo build -q --release -p stream-differential)
WARD_CORPORA="${WARD_CORPORA:-$(cd "$WARD_ROOT/.." && pwd)/shared/corpora}" \
    nice -n 10 "$CARGO_TARGET_DIR/release/stream-differential" "$@"
