#!/usr/bin/env bash
# Fails when any tracked C, C++ or proto file differs from what clang-format would write.
set -euo pipefail
root=${1:-$(git rev-parse --show-toplevel)}
cd "$root"
fmt=$(command -v clang-format-14 || command -v clang-format)
mapfile -t files < <(git ls-files --cached --others --exclude-standard \
  '*.c' '*.cc' '*.h' '*.proto' | grep -v '^build' || true)
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! diff -q <("$fmt" --style=file "$f") "$f" >/dev/null; then
    echo "unformatted: $f (run: $fmt -i --style=file $f)"
    bad=1
  fi
done
echo "checked ${#files[@]} files with $($fmt --version | head -1)"
exit $bad
