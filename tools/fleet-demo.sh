#!/usr/bin/env bash
# The README's main job: the local Teredo fleet demo, on a fresh Debian 12 machine, as root.
#
# Installs what is needed, builds everything, creates network namespaces (nothing outside them
# is touched) and starts the fleet in them: teredo-server (two consecutive "public" addresses),
# a relay routing 2001::/32 (teredo-relay once it exists, Debian's Miredo relay until then), a
# real Miredo client behind a NAT and a native IPv6 host. It shows the client's Teredo address,
# pings the IPv6 host through the fleet and back, prints the fleet's statistics, then keeps
# everything running until Ctrl-C and tears it all down.
#
# Usage: tools/fleet-demo.sh [--once] [--nat masquerade|fullcone|symmetric] [--no-build]
#   --once   run the check and exit (status 0 only if the ping went through)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
once=0
build=1
nat=masquerade
while (($# > 0)); do
  case $1 in
    --once) once=1; shift ;;
    --no-build) build=0; shift ;;
    --nat) nat=$2; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "fleet-demo: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "fleet-demo: run as root (it creates network namespaces)" >&2
  exit 1
fi
export TEREDO_BUILD_DIR=${BUILD_DIR:-$root/build}
if ((build)); then
  TEREDO_THIRD_PARTY="$TEREDO_BUILD_DIR/third_party" bash tools/setup.sh
  cmake -S . -B "$TEREDO_BUILD_DIR" -G Ninja >/dev/null
  ninja -C "$TEREDO_BUILD_DIR" teredo-server
fi
export LAB_MIREDO_DIR=${LAB_MIREDO_DIR:-$TEREDO_BUILD_DIR/third_party/miredo}

relay_impl=miredo
[ -x "$TEREDO_BUILD_DIR/services/relay/teredo-relay" ] && relay_impl=teredo

# shellcheck source=../tests/integration/lab/lab.sh
source "$root/tests/integration/lab/lab.sh"
lab_init
lab_say "== Teredo Fleet demo: server=teredo relay=$relay_impl client=miredo behind a $nat NAT"
lab_std_core
lab_server teredo srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
lab_relay "$relay_impl" rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT"
lab_std_client 1 "$nat" 40001
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_wait_qualified cli1 20 || lab_die "the Miredo client did not qualify (logs in $LAB_DIR)"
addr=$(lab_teredo_addr cli1)
lab_say "client qualified: $addr"
lab_say "  = $(lab_teredo_decode "$addr")"

ok=1
lab_say "== ping -6 client -> native host $LAB_HOST6"
lab_exec cli1 ping -6 -c 3 -i 0.3 -W 3 "$LAB_HOST6" || ok=0
lab_say "== ping -6 native host -> client $addr"
lab_exec host6 ping -6 -c 3 -i 0.3 -W 3 "$addr" || ok=0

lab_say "== teredo-server statistics (/metrics, non-zero series)"
lab_exec srv curl -s 127.0.0.1:9544/metrics | grep -E '^teredo_' | grep -vE ' 0$' || true
if [ "$relay_impl" = teredo ]; then
  lab_say "== teredo-relay statistics (/metrics, non-zero series)"
  lab_exec rly curl -s 127.0.0.1:9545/metrics | grep -E '^teredo_' | grep -vE ' 0$' || true
fi

if ((ok)); then
  lab_say "RESULT: the Miredo client reached the native IPv6 host through the fleet and back"
else
  lab_say "RESULT: ping FAILED (logs in $LAB_DIR)"
fi
if ((once)); then
  ((ok)) && exit 0 || exit 1
fi
lab_say "Fleet running; namespaces: $(ip netns list | grep -o "^$LAB_PREFIX-[a-z0-9]*" | tr '\n' ' ')"
lab_say "Try: ip netns exec $(lab_nsname cli1) ping -6 $LAB_HOST6    Ctrl-C to stop and tear down."
while true; do sleep 3600; done
