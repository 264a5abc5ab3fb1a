#!/usr/bin/env bash
# Retrains the injection model's checked-in weights from the evaluation
# corpora (licence-filtered, held-out fifth excluded; see docs/detection.md).
# Deterministic: the same corpora give the same weights.bin.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WARD_ROOT"
CORPORA="${1:-$WARD_ROOT/../shared/corpora}"
cargo run --release -p ward-core --example train_injection -- "$CORPORA" crates/ward-core/src/injection/weights.bin
