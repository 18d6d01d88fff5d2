#!/usr/bin/env bash
# Coverage-guided fuzzing of camwatch's parsers of untrusted input (libFuzzer; docs/reliability.md):
#   FuzzModelSpec  model spec text (a checkpoint's camwatch_model) → parse → bind → shapes → small forward pass
#   FuzzPNG        bytes → PNG decoder
#   FuzzConfig     camwatch.yaml → resolved, validated configuration; probes.json/yaml → probe set
# Usage: Scripts/faults/fuzz.sh [seconds per target, default 60] [target ...]
# Builds Fuzz/ (its own package) in release with -sanitize=fuzzer,address, then runs each target for the given
# time on one core at low priority, starting from the committed seeds in Fuzz/Corpus/<target>/ (with the
# keys and magic values in Fuzz/Dictionaries/<target>.dict as mutation hints). New inputs
# that reach new code go to .build/fuzz-corpus/<target>/ (not committed); a crash stops the target, writes the
# input to .build/fuzz-crashes/<target>/ and makes the script exit non-zero. Replay one input with
#   Fuzz/.build/release/<target> <file>
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(FuzzModelSpec FuzzPNG FuzzConfig); fi

# lld: the system's gold linker fails on libFuzzer's objects. SwiftPM links each executable with its
# <Target>_main as main; the targets' _main hands over to libFuzzer's driver (Fuzz/Sources/FuzzDriver).
(cd Fuzz && nice -n 10 swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
    -Xswiftc -use-ld=lld)

# Leaks are findings too, except one in Foundation itself (see the file).
export LSAN_OPTIONS="suppressions=$PWD/Fuzz/lsan.supp:print_suppressions=0"
status=0
for target in "${targets[@]}"; do
    corpus=".build/fuzz-corpus/$target"
    crashes=".build/fuzz-crashes/$target"
    mkdir -p "$corpus" "$crashes"
    dictionary=()
    if [ -f "Fuzz/Dictionaries/$target.dict" ]; then dictionary=(-dict="Fuzz/Dictionaries/$target.dict"); fi
    echo "== $target: ${seconds}s"
    # -rss_limit_mb / -malloc_limit_mb: an input that makes camwatch allocate 2 GiB is a finding too.
    if ! nice -n 10 "Fuzz/.build/release/$target" "$corpus" "Fuzz/Corpus/$target" \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=4096 \
        -artifact_prefix="$crashes/" -print_final_stats=1 "${dictionary[@]}" 2>&1 | grep -E '^(#[0-9]+ +DONE|Done|stat::|==[0-9]+==|SUMMARY|artifact|Test unit)|Fatal error|crash-'; then
        :
    fi
    # Any one kind of finding counts (`ls a* b*` fails when one pattern matches nothing, which hid findings).
    if [ -n "$(find "$crashes" -maxdepth 1 \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) -print -quit)" ]; then
        echo "$target: findings in $crashes" >&2
        status=1
    fi
done
exit $status
