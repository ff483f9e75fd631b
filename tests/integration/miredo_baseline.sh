#!/usr/bin/env bash
# End-to-end Teredo in a network-namespace lab: a Miredo client behind a NAT qualifies with a
# Teredo server, reaches a native IPv6 host through it and a relay, and TCP flows both ways.
# (X1 in docs/conformance.md; with --server/--relay teredo it is the interop test X1/X3.)
#
# Usage: miredo_baseline.sh [--nat masquerade|fullcone|symmetric]... [--server miredo|teredo]
#                           [--relay miredo|teredo]
#   Defaults: both masquerade and fullcone (each in its own lab), Miredo for every role.
#   Environment equivalents: LAB_NATS="masquerade fullcone", LAB_SERVER_IMPL, LAB_RELAY_IMPL.
#   TEREDO_BUILD_DIR, LAB_MIREDO_DIR, LAB_VERBOSE=1, LAB_KEEP=1: see lab/lab.sh.
# Exit status 0 only if every check passed; prints one PASS/FAIL line per NAT type.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
nats=()
server_impl=${LAB_SERVER_IMPL:-miredo}
relay_impl=${LAB_RELAY_IMPL:-miredo}
while (($# > 0)); do
  case $1 in
    --nat) nats+=("$2"); shift 2 ;;
    --server) server_impl=$2; shift 2 ;;
    --relay) relay_impl=$2; shift 2 ;;
    --build-dir) export TEREDO_BUILD_DIR=$2; shift 2 ;;
    --miredo-dir) export LAB_MIREDO_DIR=$2; shift 2 ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
if ((${#nats[@]} == 0)); then
  read -r -a nats <<<"${LAB_NATS:-masquerade fullcone}"
fi

# Several NAT types: one fresh lab (one process) per type.
if ((${#nats[@]} > 1)); then
  rc=0
  for nat in "${nats[@]}"; do
    "$0" --nat "$nat" --server "$server_impl" --relay "$relay_impl" || rc=1
  done
  exit "$rc"
fi
nat=${nats[0]}

# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"

client_port=40001
title="baseline server=$server_impl relay=$relay_impl client=miredo nat=$nat"
lab_init
lab_say "== $title"
SECONDS=0

lab_std_core
lab_std_client 1 "$nat" "$client_port"
lab_server "$server_impl" srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
# Our server: its admin endpoints answer and /metrics is captured before any client exists.
metric_series=(
  'teredo_server_packets_received_total\{'
  'teredo_server_router_solicitations_total\{'
  'teredo_server_router_advertisements_sent_total\{'
  'teredo_server_packets_forwarded_total\{'
  'teredo_server_rate_limited_total\{'
  'teredo_server_packets_dropped_total\{.*\} [1-9]'
)
if [[ $server_impl == teredo ]]; then
  lab_expect_eq "teredo-server /healthz" "$(lab_http_code srv /healthz)" 200
  lab_expect_eq "teredo-server /readyz" "$(lab_http_code srv /readyz)" 200
  lab_check "teredo-server /metrics before the client" lab_metrics srv "$LAB_DIR/metrics-before.txt"
fi
lab_relay "$relay_impl" rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT"
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$client_port"

# 1. Qualification: the Teredo address embeds the server's primary address and the NAT mapping.
lab_require_qualified cli1 20 "$title"
lab_check "qualified: $addr" true
read -r t_server t_flags t_port t_client <<<"$(lab_teredo_decode "$addr")"
lab_expect_eq "address embeds server primary" "$t_server" "$LAB_SRV_PRIMARY"
lab_expect_eq "address embeds NAT public IPv4" "$t_client" 203.0.113.11
mapping=$(lab_nat_mapping nat1 udp 10.0.1.2 "$client_port" "$LAB_SRV_PRIMARY" 3544)
lab_expect_eq "address embeds NAT mapped port (conntrack)" "$t_port" "${mapping#* }"
if [[ $nat == fullcone ]]; then
  lab_expect_eq "full-cone mapping keeps the port" "$t_port" "$client_port"
fi
# RFC 5991: only the random bits may be set (never U/G), cone bit 0 for Miredo.
lab_expect_eq "flags: U/G/R clear" "$(printf '0x%04x' $((t_flags & 0x4300)))" 0x0000

# 2. ICMPv6 both ways (the first exchange sets up the relay path: echo test, bubbles).
ping6_ok() {   # ping6_ok NS DST: first wait for one reply, then 3 of 3 must come back.
  lab_wait_for 20 lab_exec "$1" ping -6 -n -c 1 -W 1 "$2" || return 1
  lab_exec "$1" ping -6 -n -q -c 3 -i 0.2 -W 2 "$2" >/dev/null
}
lab_check "ping client -> native host $LAB_HOST6" ping6_ok cli1 "$LAB_HOST6"
lab_check "ping native host -> client $addr" ping6_ok host6 "$addr"

# 2b. Our server's counters moved: the client's RSs were answered with plain RAs, and its echo
# request to the native host (Miredo's direct-connectivity test) left through the raw socket.
if [[ $server_impl == teredo ]]; then
  # Counted like every check, but the other metric checks still run after a failure.
  lab_check_soft() { lab_check "$@" || true; }
  lab_expect_eq_soft() { lab_expect_eq "$@" || true; }
  before="$LAB_DIR/metrics-before.txt"
  after="$LAB_DIR/metrics-after.txt"
  lab_check_soft "teredo-server /metrics after qualification and pings" lab_metrics srv "$after"
  lab_say "  teredo-server metrics before the client:"
  lab_metric_grep "$before" "${metric_series[@]}" | sed 's/^/      /' >&2
  lab_say "  teredo-server metrics after qualification and pings:"
  lab_metric_grep "$after" "${metric_series[@]}" | sed 's/^/      /' >&2
  metric_grew() {   # metric_grew SERIES: strictly larger after than before
    local b a
    b=$(lab_metric "$before" "$1") || { lab_say "       $1 missing before"; return 1; }
    a=$(lab_metric "$after" "$1") || { lab_say "       $1 missing after"; return 1; }
    lab_log "$1: $b -> $a"
    ((a > b))
  }
  for series in teredo_server_packets_received_total \
    'teredo_server_router_advertisements_sent_total{kind="plain*"}' \
    'teredo_server_packets_forwarded_total{path="ipv6"}'; do
    lab_check_soft "metric grew: $series" metric_grew "$series"
  done
  lab_check_soft "no address in any metric label (nor this lab's client addresses anywhere)" \
    lab_metrics_no_addresses "$after" "$addr" 203.0.113.11 10.0.1.2 "$LAB_HOST6"
  # The address check itself can fail: a planted address label must be caught.
  printf 'teredo_planted_total{peer="203.0.113.11"} 1\n' >"$LAB_DIR/metrics-planted.txt"
  planted_caught() { ! lab_metrics_no_addresses "$LAB_DIR/metrics-planted.txt" >/dev/null; }
  lab_check_soft "address check catches a planted address label" planted_caught
  lab_expect_eq_soft "teredo-server /healthz after traffic" "$(lab_http_code srv /healthz)" 200
  lab_expect_eq_soft "teredo-server /readyz after traffic" "$(lab_http_code srv /readyz)" 200
fi

# 3. TCP both ways with the byte count and content checked.
payload="$LAB_DIR/payload.bin"
head -c 300000 /dev/urandom >"$payload"
want_sum=$(sha256sum <"$payload")
tcp_transfer() {   # tcp_transfer FROM_NS TO_NS TO_ADDR PORT
  local from=$1 to=$2 to_addr=$3 port=$4 out="$LAB_DIR/recv-$2-$4.bin" name="nc-listen-$2-$4"
  lab_bg "$to" "$name" sh -c "exec nc -6 -l -s '$to_addr' -p '$port' >'$out'"
  lab_wait_for 5 sh -c "ip netns exec '$(lab_nsname "$to")' ss -H -tln 'sport = :$port' | grep ."
  timeout 30 ip netns exec "$(lab_nsname "$from")" nc -6 -N -w 10 "$to_addr" "$port" \
    <"$payload" || return 1
  lab_wait_for 10 lab_not lab_alive "$name" || return 1
  local size sum
  size=$(stat -c %s "$out")
  sum=$(sha256sum <"$out")
  lab_log "received $size bytes in $to"
  [[ $size == 300000 && $sum == "$want_sum" ]]
}
lab_check "TCP client -> host (300000 bytes, sha256)" tcp_transfer cli1 host6 "$LAB_HOST6" 5001
lab_check "TCP host -> client (300000 bytes, sha256)" tcp_transfer host6 cli1 "$addr" 5002
if [[ $relay_impl == teredo ]]; then
  # The transfers above crossed the relay's fast path (relay.offloads, relay.io_uring): TCP
  # super-packets read from the tun and split, decapsulated segments coalesced into one tun
  # write. The receivers' checksums and the sha256 comparisons are what prove them right.
  offloads="$LAB_DIR/relay-metrics.txt"
  if lab_check "teredo-relay /metrics after the transfers" lab_metrics rly "$offloads" 9545; then
    line=""
    for o in udp_gro udp_gso tun_tso tun_coalesce tun_io_uring; do
      line+=" $o=$(lab_metric "$offloads" "teredo_relay_offload_packets_total{offload=\"$o\"}" ||
        echo missing)"
      line+="/$(lab_metric "$offloads" "teredo_relay_offload_active{offload=\"$o\"}" || echo -)"
    done
    lab_say "  teredo-relay packets through offloads (count/active):$line"
    # host6 sends with TSO and the router forwards the super-packets whole: a relay whose tun
    # took TSO must have read some as such (coalescing depends on timing: reported only).
    tso_used() {
      [[ $(lab_metric "$offloads" 'teredo_relay_offload_active{offload="tun_tso"}') == 0 ]] ||
        (($(lab_metric "$offloads" 'teredo_relay_offload_packets_total{offload="tun_tso"}') > 0))
    }
    lab_check "host -> client TCP read from the tun as super-packets and split" tso_used
    # relay.io_uring (on by default): where the kernel gave the workers their rings, every tun
    # read and batch of writes went through them.
    ring_used() {
      [[ $(lab_metric "$offloads" 'teredo_relay_offload_active{offload="tun_io_uring"}') == 0 ]] ||
        (($(lab_metric "$offloads" 'teredo_relay_offload_packets_total{offload="tun_io_uring"}') > 0))
    }
    lab_check "tun reads and writes through the workers' io_uring" ring_used
  fi
fi

# 4. Everything still running (no crash during the exchange).
for p in "$server_impl-server-srv" "$relay_impl-relay-rly" miredo-client-cli1; do
  lab_check "$p still running" lab_alive "$p"
done

lab_log "elapsed ${SECONDS}s"
lab_result "$title (${SECONDS}s)"
