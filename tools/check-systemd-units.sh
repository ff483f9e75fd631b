#!/usr/bin/env bash
# check-systemd-units.sh SRC_DIR BUILD_DIR: `systemd-analyze verify` on deploy/systemd/*.service,
# with their /usr/local/bin/ paths pointed at the build tree's binaries (verify checks that the
# executables exist). Any message from systemd-analyze (unknown key, bad value, missing binary)
# fails the check.
set -euo pipefail
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in "$src"/deploy/systemd/*.service; do
  sed -e "s|/usr/local/bin/teredo-server|$build/services/server/teredo-server|g" \
    -e "s|/usr/local/bin/teredo-relay|$build/services/relay/teredo-relay|g" \
    -e "s|/usr/local/bin/teredo-controller|$build/services/controller/teredo-controller|g" \
    "$unit" >"$tmp/$(basename "$unit")"
done
out=$(systemd-analyze verify "$tmp"/*.service 2>&1) || { printf '%s\n' "$out"; exit 1; }
if [[ -n $out ]]; then
  printf '%s\n' "$out"
  exit 1
fi
echo "check-systemd-units: $(ls "$tmp" | wc -l) units verified"
