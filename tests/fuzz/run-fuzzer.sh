#!/usr/bin/env bash
# run-fuzzer.sh BINARY SEED_DIR WORK_DIR SECONDS: runs a libFuzzer target for a bounded time on a
# copy of the checked-in seed corpus. Exit status is libFuzzer's: non-zero on any crash, leak or
# sanitizer report (the reproducer is left in WORK_DIR).
set -euo pipefail
bin=$(realpath -m "$1") seeds=$(realpath -m "$2") work=$(realpath -m "$3") secs=$4
[ -x "$bin" ] || { echo "fuzz target $bin was not built (tools/test.sh builds it)"; exit 1; }
rm -rf "$work" && mkdir -p "$work/corpus"
cp "$seeds"/* "$work/corpus/"
cd "$work"
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" corpus 2>&1 | tail -25
