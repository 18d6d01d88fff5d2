#!/usr/bin/env bash
# Runs camwatch's tests on a fresh Debian/Ubuntu machine with Swift 6.3: installs the packages the build and
# the tests need, checks the systemd unit offline, then runs the whole test suite. `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-packages.sh --tests
# TensorBoard's own event reader, which checks camwatch's event files (PyPI, cached in ~/.cache).
bash Scripts/tensorboard/make-env.sh
# The trainer-side Python helper (python/, camwatch_torch): its own pytest suite, in a small venv with the CPU
# torch wheel (cached in ~/.cache). Skipped when arguments select Swift tests.
if [ $# -eq 0 ]; then bash Scripts/python-helper/test.sh; fi
# The systemd unit, checked offline: no `systemd-analyze verify` output, exposure at most 2.0.
bash deploy/check-unit.sh
# The documentation: every relative link and anchor resolves, no tracker issue is cited (a second).
python3 Scripts/testing/check_docs.py
# In parallel: the tests that measure wake-ups and timeouts run off Swift's cooperative pool (`.realTime`,
# Tests/CamwatchTestSupport/RealTime.swift), so numeric tests occupying the pool cannot delay them.
swift test --parallel "$@"
# A bounded run of the coverage-guided fuzzers (spec binder, PNG decoder, config and manifest parsers): 20 s each
# from the committed seeds; any crash, leak or runaway allocation fails the run (Scripts/faults/README.md).
# Skipped when arguments select tests.
if [ $# -eq 0 ]; then bash Scripts/faults/fuzz.sh 20; fi
