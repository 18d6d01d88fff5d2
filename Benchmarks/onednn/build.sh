#!/bin/sh
# Builds conv_bench next to this script (needs Debian's libdnnl-dev: apt-get install -y libdnnl-dev).
set -e
cd "$(dirname "$0")"
nice -n 19 cc -O2 -Wall -Wextra -std=c11 -D_POSIX_C_SOURCE=200809L -o conv_bench conv_bench.c -ldnnl -lm
nice -n 19 cc -O2 -Wall -Wextra -std=c11 -D_GNU_SOURCE -o mdwe_exec mdwe_exec.c
