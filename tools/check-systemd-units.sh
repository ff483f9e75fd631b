#!/usr/bin/env bash
# check-systemd-units.sh SRC_DIR BUILD_DIR: `systemd-analyze verify` on deploy/systemd/*.service
# and their drop-ins (deploy/systemd/*.service.d/*.conf, loaded from beside the unit as systemd
# does from /etc/systemd/system), with their /usr/local/bin/ paths pointed at the build tree's
# binaries (verify checks that the executables exist). Any message from systemd-analyze (unknown
# key, bad value, missing binary) fails the check.
# Then the relay with its anycast drop-in as systemd loads it (verify's debug dump of the unit):
# the drop-in is applied, BIRD is wanted and ordered before the relay (so the relay stops first
# and withdraws while BIRD runs), the stop timeout leaves the relay its withdraw grace
# (kDefaultWithdrawGrace, lib/config/config.h) with 10s to spare, and CAP_NET_ADMIN, which an
# announcing relay keeps, is in its ambient and bounding sets.
set -euo pipefail
src=$1 build=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
point() {
  sed -e "s|/usr/local/bin/teredo-server|$build/services/server/teredo-server|g" \
    -e "s|/usr/local/bin/teredo-relay|$build/services/relay/teredo-relay|g" \
    -e "s|/usr/local/bin/teredo-controller|$build/services/controller/teredo-controller|g" \
    "$1" >"$2"
}
units=0 dropins=0
for unit in "$src"/deploy/systemd/*.service; do
  point "$unit" "$tmp/$(basename "$unit")"
  units=$((units + 1))
done
for conf in "$src"/deploy/systemd/*.service.d/*.conf; do
  [[ -e $conf ]] || continue
  dir=$(basename "$(dirname "$conf")")
  mkdir -p "$tmp/$dir"
  point "$conf" "$tmp/$dir/$(basename "$conf")"
  dropins=$((dropins + 1))
done
out=$(systemd-analyze verify "$tmp"/*.service 2>&1) || { printf '%s\n' "$out"; exit 1; }
if [[ -n $out ]]; then
  printf '%s\n' "$out"
  exit 1
fi

# "1min 30s", "30s", "500ms" (systemd's format_timespan) -> milliseconds.
to_ms() {
  local total=0 part n
  for part in $1; do
    n=${part%%[a-z]*}
    case ${part#"$n"} in
      ms) total=$((total + n)) ;;
      s) total=$((total + n * 1000)) ;;
      min) total=$((total + n * 60000)) ;;
      h) total=$((total + n * 3600000)) ;;
      *) echo "check-systemd-units: cannot read the time span '$1'" >&2; return 1 ;;
    esac
  done
  echo "$total"
}
problems=0
fail() {
  echo "check-systemd-units: teredo-relay.service with anycast.conf: $*"
  problems=$((problems + 1))
}
if [[ ! -f $tmp/teredo-relay.service.d/anycast.conf ]]; then
  fail "deploy/systemd/teredo-relay.service.d/anycast.conf is missing"
else
  dump=$(SYSTEMD_LOG_LEVEL=debug systemd-analyze verify "$tmp/teredo-relay.service" 2>&1 || true)
  prop() { printf '%s\n' "$dump" | sed -n "s/^[[:space:]]*$1: //p"; }
  prop 'DropIn Path' | grep -qx "$tmp/teredo-relay.service.d/anycast.conf" ||
    fail "systemd did not load the drop-in"
  prop Wants | grep -q '^bird\.service ' || fail "does not want bird.service"
  prop After | grep -q '^bird\.service ' || fail "is not ordered after bird.service"
  grace_ms=$(sed -n \
    's/^inline constexpr std::chrono::milliseconds kDefaultWithdrawGrace{\([0-9]*\)};$/\1/p' \
    "$src/lib/config/config.h")
  [[ -n $grace_ms ]] || fail "no kDefaultWithdrawGrace in lib/config/config.h"
  stop=$(prop TimeoutStopSec | head -1)
  stop_ms=$(to_ms "$stop") || stop_ms=0
  if [[ -n $grace_ms ]] && ((stop_ms < grace_ms + 10000)); then
    fail "TimeoutStopSec $stop leaves no 10s beyond withdraw_grace (${grace_ms}ms)"
  fi
  for set in AmbientCapabilities CapabilityBoundingSet; do
    prop "$set" | grep -qw cap_net_admin || fail "$set lacks cap_net_admin"
  done
fi
((problems == 0)) || exit 1
echo "check-systemd-units: $units units and $dropins drop-in(s) verified;" \
  "the relay's anycast drop-in orders it after BIRD and stops it within ${stop:-?}"
