#!/usr/bin/env bash
# Teredo client to Teredo client through our server (X2 in docs/conformance.md): two Miredo clients,
# each behind its own NAT, qualify against teredo-server and ping each other's Teredo address.
# The first packets need the server (RFC 4380 §5.2.4: indirect bubbles relayed with an origin
# indication so the peer opens its NAT); afterwards the clients talk directly and the server
# sees no more of their traffic.
#
# Usage: client_to_client.sh [--nat masquerade|fullcone|symmetric] [--server teredo|miredo]
#                            [--build-dir DIR] [--miredo-dir DIR]
#   Defaults: masquerade (port-restricted cone: needs the bubbles), teredo-server.
# Lab: standard core (lab_std_core) without a relay; nat1/cli1 and nat2/cli2 (10.0.N.2).
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nat=masquerade
impl=teredo
while (($# > 0)); do
  case $1 in
    --nat) nat=$2; shift 2 ;;
    --server) impl=$2; shift 2 ;;
    --build-dir) export TEREDO_BUILD_DIR=$2; shift 2 ;;
    --miredo-dir) export LAB_MIREDO_DIR=$2; shift 2 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
lab_init
title="client_to_client server=$impl clients=miredo nat=$nat"
lab_say "== $title"
SECONDS=0

lab_std_core
lab_std_client 1 "$nat" 40001
lab_std_client 2 "$nat" 40002
lab_server "$impl" srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_miredo_client cli2 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40002

for n in 1 2; do
  if ! lab_wait_qualified "cli$n" 20; then
    lab_fail "cli$n qualified" "no Teredo address within 20 s"
    lab_result "$title"
    exit 1
  fi
done
a1=$(lab_teredo_addr cli1)
a2=$(lab_teredo_addr cli2)
chk "cli1 qualified: $a1" true
chk "cli2 qualified: $a2" true
read -r _ _ _ c1 <<<"$(lab_teredo_decode "$a1")"
read -r _ _ _ c2 <<<"$(lab_teredo_decode "$a2")"
eq "cli1 mapped behind nat1" "$c1" 203.0.113.11
eq "cli2 mapped behind nat2" "$c2" 203.0.113.12

fwd='teredo_server_packets_forwarded_total{path="udp_own_client"}'
if [[ $impl == teredo ]]; then
  lab_metrics srv "$LAB_DIR/metrics-0.txt"
fi

ping_first() {   # ping_first NS DST: one reply within 20 s (the bubbles' round trips included)
  lab_wait_for 20 lab_exec "$1" ping -6 -n -c 1 -W 1 "$2"
}
ping_n() {   # ping_n NS DST N: N of N replies
  lab_exec "$1" ping -6 -n -q -c "$3" -i 0.2 -W 2 "$2" >/dev/null
}
chk "cli1 -> cli2 first reply (via indirect bubbles)" ping_first cli1 "$a2"
chk "cli1 -> cli2 5 of 5" ping_n cli1 "$a2" 5
chk "cli2 -> cli1 5 of 5" ping_n cli2 "$a1" 5

if [[ $impl == teredo ]]; then
  lab_metrics srv "$LAB_DIR/metrics-1.txt"
  f0=$(lab_metric "$LAB_DIR/metrics-0.txt" "$fwd")
  f1=$(lab_metric "$LAB_DIR/metrics-1.txt" "$fwd")
  lab_say "     $fwd: $f0 -> $f1"
  chk "server relayed the indirect bubbles with an origin indication (udp_own_client grew)" \
    test "$f1" -gt "$f0"
  # Now the path is direct: 10 more pings each way do not pass the server.
  r1=$(lab_metric "$LAB_DIR/metrics-1.txt" teredo_server_packets_received_total)
  chk "cli1 -> cli2 10 of 10 (direct)" ping_n cli1 "$a2" 10
  chk "cli2 -> cli1 10 of 10 (direct)" ping_n cli2 "$a1" 10
  lab_metrics srv "$LAB_DIR/metrics-2.txt"
  f2=$(lab_metric "$LAB_DIR/metrics-2.txt" "$fwd")
  r2=$(lab_metric "$LAB_DIR/metrics-2.txt" teredo_server_packets_received_total)
  lab_say "     $fwd: $f1 -> $f2; packets received: $r1 -> $r2"
  eq "direct path: no packet of the 20 pings forwarded by the server" "$f2" "$f1"
  # Only qualification refreshes (RSs, at most one per client per few seconds) may arrive.
  chk "direct path: server received at most 4 packets during 20 pings ($((r2 - r1)))" \
    test "$((r2 - r1))" -le 4
fi
for p in "$impl-server-srv" miredo-client-cli1 miredo-client-cli2; do
  chk "$p still running" lab_alive "$p"
done
lab_result "$title (${SECONDS}s)"
