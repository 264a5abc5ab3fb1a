#!/usr/bin/env bash
# Retrains the injection model's checked-in weights from the evaluation
# corpora (licence-filtered, held-out fifth excluded; see docs/detection.md)
# and prints the held-out figures through the whole detector.
# Deterministic: the same corpora give the same weights.bin. The host
# profile (release without LTO) builds in a fraction of the time and gives
# the same bytes: training is single-threaded f32 arithmetic, fixed seed.
# Experiments (no weights written): see docs/detection.md, "Training".
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$WARD_ROOT"
CORPORA="${1:-$WARD_ROOT/../shared/corpora}"
cargo run --profile host -p ward-core --example train_injection -- "$CORPORA" crates/ward-core/src/injection/weights.bin --eval
