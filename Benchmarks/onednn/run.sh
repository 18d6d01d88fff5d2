#!/bin/sh
# One sweep of the oneDNN comparison (Benchmarks/README.md, "oneDNN as a convolution backend"); every output file goes to OUT (default /tmp/onednn-runs).
#
#   Benchmarks/onednn/build.sh
#   swift build -c release --product camwatch
#   WEIGHTS=/tmp/w Benchmarks/onednn/run.sh [OUT]     # WEIGHTS holds resnet18.h5, mobilenet_v2.h5, vgg16.h5
#
# Per architecture and thread count (2, 1): oneDNN direct and Winograd (conv_bench), camwatch `bench forward
# --layers` with the environment as it is and with OPENBLAS_CORETYPE removed (OpenBLAS then picks its own
# kernels for the CPU). Each file starts with the load average at its start. ONLY=camwatch or ONLY=onednn runs one
# side; THREADS="1" limits the thread counts.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-/tmp/onednn-runs}
CAMWATCH=${CAMWATCH:-$ROOT/.build/release/camwatch}
: "${WEIGHTS:?set WEIGHTS to the directory with resnet18.h5, mobilenet_v2.h5, vgg16.h5}"
mkdir -p "$OUT"
for threads in ${THREADS:-2 1}; do
    for arch in resnet18 mobilenet_v2 vgg16; do
        f="$OUT/onednn-$arch-t$threads.tsv"
        if [ "${ONLY:-}" != camwatch ]; then
            { echo "# loadavg $(cat /proc/loadavg)"; OMP_NUM_THREADS=$threads "$HERE/conv_bench" --arch $arch --reps 5; } > "$f"
        fi
        [ "${ONLY:-}" = onednn ] && continue
        for blas in env unset; do
            f="$OUT/camwatch-$arch-t$threads-$blas.txt"
            if [ $blas = env ]; then run=""; else run="env -u OPENBLAS_CORETYPE"; fi
            { echo "# loadavg $(cat /proc/loadavg) OPENBLAS_CORETYPE=$( [ $blas = env ] && echo "${OPENBLAS_CORETYPE:-unset}" || echo unset)"
              $run "$CAMWATCH" bench forward --weights "$WEIGHTS/$arch.h5" --arch $arch --batch 16 --threads $threads \
                  --repeat 5 --layers 2>&1; } > "$f"
        done
    done
done
