#!/usr/bin/env bash
# A live Keras job watched by camwatch: Scripts/keras/live_job.py trains with ModelCheckpoint writing
# .keras, .weights.h5 and legacy .h5 files (and re-saving resave/last.h5 in place after every batch) while
# four `camwatch watch` daemons, one per directory, read them. Then Scripts/keras/check_live_job.py checks
# that every epoch was processed once, in order, without a failure, and that no Keras save failed.
#
#   Scripts/keras/make-env.sh && swift build -c release
#   Scripts/keras/run_live_job.sh [EPOCHS] [EPOCH_SECONDS]      # default 8 epochs, 1 s of sleep each
#
# CAMWATCH (default .build/release/camwatch) and CAMWATCH_KERAS_ENV (default ~/.cache/camwatch-keras)
# choose the binary and the Python environment. Leaves its work in a temporary directory it prints.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
camwatch="${CAMWATCH:-$repo/.build/release/camwatch}"
python="${CAMWATCH_KERAS_ENV:-$HOME/.cache/camwatch-keras}/bin/python"
epochs="${1:-8}"
pace="${2:-1}"
root="$(mktemp -d /tmp/camwatch-keras-live.XXXXXX)"
mkdir -p "$root"/{keras,weights,legacy,resave,probes}
cp "$repo/Probes/probe-00-circle.png" "$repo/Probes/probe-03-cross.png" "$root/probes/"

pids=()
stop() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait "${pids[@]}" 2>/dev/null || true; }
trap stop EXIT

for kind in keras weights legacy resave; do
    case "$kind" in
        keras) pattern='*.keras' ;;
        weights) pattern='*.weights.h5' ;;
        *) pattern='*.h5' ;;
    esac
    cat > "$root/$kind.yaml" <<YAML
pattern: "$pattern"
watch: {interval: 0.5, settle: 0.5, incomplete_after: 30}
preprocessing: {scale: 0.00392156862745098, mean: [0, 0, 0], std: [1, 1, 1]}
resources: {priority: normal}
job_name: keras-$kind
YAML
    "$camwatch" watch "$root/$kind" --probes "$root/probes" --out "$root/out-$kind" --config "$root/$kind.yaml" \
        2> "$root/$kind.log" &
    pids+=($!)
done

# The weights directory's model.json is written by the job before its first epoch.
"$python" "$here/live_job.py" "$root" --epochs "$epochs" --epoch-seconds "$pace" | tail -1 | tee "$root/job.json"
"$python" "$here/check_live_job.py" "$root" "$epochs"
