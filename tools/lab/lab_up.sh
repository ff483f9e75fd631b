#!/usr/bin/env bash
# Bring up the standard Teredo lab (tests/integration/lab/lab.sh) for a demo or for poking at by
# hand, and keep it up until Ctrl-C (or --for SECONDS); everything is torn down on exit.
#
# Usage: tools/lab/lab_up.sh [--server miredo|teredo] [--relay miredo|teredo]
#                            [--nat masquerade|fullcone|symmetric]... [--for SECONDS]
#   One Miredo client per --nat (cli1 behind nat1, cli2 behind nat2, ...); default: one client
#   behind a masquerade NAT. TEREDO_BUILD_DIR / LAB_MIREDO_DIR / LAB_VERBOSE as in lab.sh.
# Prints the namespace names and example commands once every client has qualified.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
server_impl=miredo
relay_impl=miredo
nats=()
hold=0
while (($# > 0)); do
  case $1 in
    --server) server_impl=$2; shift 2 ;;
    --relay) relay_impl=$2; shift 2 ;;
    --nat) nats+=("$2"); shift 2 ;;
    --for) hold=$2; shift 2 ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
((${#nats[@]} > 0)) || nats=(masquerade)
((${#nats[@]} <= 9)) || { echo "at most 9 clients" >&2; exit 2; }

# shellcheck source-path=SCRIPTDIR source=../../tests/integration/lab/lab.sh
source "$src/tests/integration/lab/lab.sh"
lab_init
lab_std_core
lab_server "$server_impl" srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
lab_relay "$relay_impl" rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT"
n=0
for nat in "${nats[@]}"; do
  n=$((n + 1))
  lab_std_client "$n" "$nat" $((40000 + n))
  lab_miredo_client "cli$n" "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" $((40000 + n))
done
for i in $(seq 1 "$n"); do
  lab_wait_qualified "cli$i" 20 || lab_die "cli$i did not qualify (see $LAB_DIR)"
done

lab_say "Teredo lab up (server=$server_impl relay=$relay_impl), work dir $LAB_DIR"
lab_say "  namespaces: $(ip netns list | grep -o "^$LAB_PREFIX-[a-z0-9]*" | tr '\n' ' ')"
lab_say "  server $LAB_SRV_PRIMARY/$LAB_SRV_SECONDARY in $(lab_nsname srv)," \
  "relay $LAB_RLY_IPV4:$LAB_RLY_PORT in $(lab_nsname rly)," \
  "native host $LAB_HOST6 in $(lab_nsname host6)"
for i in $(seq 1 "$n"); do
  addr=$(lab_teredo_addr "cli$i")
  lab_say "  cli$i (${nats[$((i - 1))]} NAT): $addr = $(lab_teredo_decode "$addr")"
done
lab_say "  try: ip netns exec $(lab_nsname cli1) ping -6 -c 3 $LAB_HOST6"
lab_say "       ip netns exec $(lab_nsname host6) ping -6 -c 3 $(lab_teredo_addr cli1)"
lab_say "       ip netns exec $(lab_nsname srv) curl -s 127.0.0.1:9544/metrics   (teredo-server)"
lab_say "  logs: $LAB_DIR/*.log; Ctrl-C tears everything down."
if ((hold > 0)); then
  sleep "$hold"
else
  while true; do sleep 3600; done
fi
