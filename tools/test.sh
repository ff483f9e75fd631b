#!/usr/bin/env bash
# The README's test command: on a fresh Debian 12 machine, as root, installs what is needed,
# builds everything (plus the libFuzzer targets with clang-14 and sanitizers) and runs every
# test: unit, style, fuzz (bounded), integration and interop in network namespaces.
# Ends with ctest's summary; exits non-zero on any failure.
#
# Environment: BUILD_DIR (default ./build), TEREDO_FUZZ_SECONDS (default 60),
# CTEST_ARGS (extra ctest arguments, e.g. "-L unit").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-$root/build}
jobs=$(nproc)

if [ "$(id -u)" -ne 0 ]; then
  echo "tools/test.sh: run as root (integration tests create network namespaces)" >&2
  exit 1
fi

TEREDO_THIRD_PARTY="$build/third_party" bash tools/setup.sh

echo "== building libFuzzer targets (clang-14, ASan+UBSan)"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build/fuzz" -G Ninja -DTEREDO_FUZZ_ONLY=ON \
  -DTEREDO_SANITIZE=address,undefined >/dev/null
ninja -C "$build/fuzz" -j"$jobs"

echo "== building everything (GCC)"
cmake -S . -B "$build" -G Ninja -DTEREDO_STRICT_TESTS=ON -DTEREDO_FUZZ_DIR="$build/fuzz" \
  -DTEREDO_FUZZ_SECONDS="${TEREDO_FUZZ_SECONDS:-60}" >/dev/null
ninja -C "$build" -j"$jobs"

echo "== running every test"
cd "$build"
# Unit, style and fuzz tests run in parallel; integration tests are RUN_SERIAL.
# A test that skips itself says why in a "NAME: SKIPPED: reason" line: those are repeated after
# the run, and then ctest's summary line once more, so the output still ends with it.
set +e
# shellcheck disable=SC2086
ctest --output-on-failure -j"$jobs" --timeout 900 ${CTEST_ARGS:-} 2>&1 | tee ctest-output.txt
rc=${PIPESTATUS[0]}
set -e
if grep -q ': SKIPPED: ' Testing/Temporary/LastTest.log 2>/dev/null; then
  echo "Why they were skipped:"
  grep -h ': SKIPPED: ' Testing/Temporary/LastTest.log | sed 's/^/\t/'
  grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' ctest-output.txt | tail -1
fi
exit "$rc"
