#!/usr/bin/env bash
# Offline checks of deploy/camwatch@.service (needs systemd-analyze: Debian package `systemd`; no running
# systemd, no root, no installed camwatch):
#   1. `systemd-analyze verify --man=no` prints nothing. It warns about unknown keys and bad values but
#      still exits 0, so any output is a failure. It also requires ExecStart's binary to exist, so the
#      check runs on a copy whose ExecStart points at a stub executable.
#   2. `systemd-analyze security --offline=yes` rates the unit's exposure at most $MAX_EXPOSURE (0-10,
#      lower is safer).
set -euo pipefail

MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}
here=$(cd "$(dirname "$0")" && pwd)
unit="$here/camwatch@.service"
binary=/usr/local/bin/camwatch

command -v systemd-analyze >/dev/null || { echo "check-unit: systemd-analyze not found (apt-get install systemd)" >&2; exit 1; }
[[ -f $unit ]] || { echo "check-unit: $unit not found" >&2; exit 1; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
printf '#!/bin/sh\nexit 0\n' > "$scratch/camwatch"
chmod 755 "$scratch/camwatch"
checked="$scratch/camwatch@.service"
sed "s|^ExecStart=$binary |ExecStart=$scratch/camwatch |" "$unit" > "$checked"
if ! grep -q "^ExecStart=$scratch/camwatch watch " "$checked"; then
    echo "check-unit: ExecStart in $unit does not start with $binary watch" >&2
    exit 1
fi

status=0
output=$(cd "$scratch" && systemd-analyze verify --man=no "$checked" 2>&1) || status=$?
if [[ $status -ne 0 || -n $output ]]; then
    echo "check-unit: systemd-analyze verify (exit $status):" >&2
    printf '%s\n' "$output" >&2
    exit 1
fi
echo "check-unit: systemd-analyze verify: clean"

report=$(systemd-analyze security --offline=yes "$checked" 2>&1) || {
    printf '%s\n' "$report" >&2
    echo "check-unit: systemd-analyze security failed" >&2
    exit 1
}
score=$(printf '%s\n' "$report" | sed -n 's/^.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
if [[ -z $score ]]; then
    printf '%s\n' "$report" >&2
    echo "check-unit: no exposure level in systemd-analyze security's output" >&2
    exit 1
fi
if awk -v score="$score" -v limit="$MAX_EXPOSURE" 'BEGIN { exit !(score > limit) }'; then
    printf '%s\n' "$report" | grep -E '^(✗|- )' >&2 || true
    echo "check-unit: exposure level $score is above $MAX_EXPOSURE" >&2
    exit 1
fi
echo "check-unit: systemd-analyze security: exposure level $score (limit $MAX_EXPOSURE)"
