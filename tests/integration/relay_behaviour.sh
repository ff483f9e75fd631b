#!/usr/bin/env bash
# teredo-relay on the wire, with a real Miredo client behind a NAT and teredo-server:
#   1. /metrics, /healthz, /readyz during traffic: packets both directions, indirect bubbles,
#      peers >= 1, never an address in a label.
#   2. Bubble budget (RFC 4380 §5.2.6, R6 in docs/conformance.md): the native host pings a Teredo
#      address nobody answers for; the relay sends at most 4 indirect bubbles (counted on the
#      server's wire), then the host gets ICMPv6 Destination Unreachable (type 1) and the queue
#      is dropped.
#   3. Clean shutdown: SIGTERM -> exit status 0 within 5 s; the tun device and the 2001::/32
#      route are gone from the relay's namespace.
#
# Usage: relay_behaviour.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,13 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/relay_lab.sh
source "$here/lab/relay_lab.sh"

title="relay behaviour (metrics, bubble budget, SIGTERM)"
client_port=40001
lab_init
lab_say "== $title"
SECONDS=0

lab_std_core
lab_std_client 1 masquerade "$client_port"
lab_teredo_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
relay_lab_start rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT" 1
lab_expect_eq "relay /healthz before traffic" "$(lab_http_code rly /healthz 9545)" 200
lab_expect_eq "relay /readyz before traffic" "$(lab_http_code rly /readyz 9545)" 200
m0="$LAB_DIR/relay-metrics-0.txt"
lab_check "relay /metrics before traffic" relay_lab_scrape rly "$m0"

lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$client_port"
lab_require_qualified cli1 20 "$title"
lab_check "qualified: $addr" true

# ---------------------------------------------------------------------------------------------
# 1. Metrics across pings both ways.
ping6_ok() {   # ping6_ok NS DST: first wait for one reply, then 5 of 5 must come back.
  lab_wait_for 20 lab_exec "$1" ping -6 -n -c 1 -W 1 "$2" || return 1
  lab_exec "$1" ping -6 -n -q -c 5 -i 0.2 -W 2 "$2" >/dev/null
}
lab_check "ping client -> native host $LAB_HOST6" ping6_ok cli1 "$LAB_HOST6"
lab_check "ping native host -> client $addr" ping6_ok host6 "$addr"

m1="$LAB_DIR/relay-metrics-1.txt"
lab_check "relay /metrics after pings" relay_lab_scrape rly "$m1"
lab_say "  relay metrics after pings:"
lab_metric_grep "$m1" 'teredo_relay_(packets|bubbles_sent|packets_delivered)_total\{' \
  'teredo_relay_peers ' 'teredo_relay_packets_dropped_total\{.*\} [1-9]' | sed 's/^/      /' >&2
grew() {   # grew BEFORE AFTER SERIES: strictly larger after than before
  local b a
  b=$(relay_lab_value "$1" "$3") || { lab_say "       $3 missing in $1"; return 1; }
  a=$(relay_lab_value "$2" "$3") || { lab_say "       $3 missing in $2"; return 1; }
  lab_log "$3: $b -> $a"
  ((a > b))
}
soft() { "$@" || true; }   # a failed check is counted, the later checks still run
for series in 'teredo_relay_packets_total{direction="to_teredo"}' \
  'teredo_relay_packets_total{direction="from_teredo"}' \
  'teredo_relay_packets_delivered_total{direction="to_teredo"}' \
  'teredo_relay_packets_delivered_total{direction="from_teredo"}' \
  'teredo_relay_bubbles_sent_total{kind="indirect"}' \
  teredo_relay_bubbles_received_total; do
  soft lab_check "metric grew: $series" grew "$m0" "$m1" "$series"
done
peers=$(relay_lab_value "$m1" teredo_relay_peers || true)
soft lab_check "teredo_relay_peers >= 1 ($peers)" test "$peers" -ge 1 2>/dev/null
direct=$(relay_lab_value "$m1" 'teredo_relay_bubbles_sent_total{kind="direct"}' || true)
soft lab_expect_eq "no direct bubbles (relay.behind_nat: false)" "$direct" 0
soft lab_check "no address in any relay metric label (nor this lab's addresses anywhere)" \
  lab_metrics_no_addresses "$m1" "$addr" 203.0.113.11 10.0.1.2 "$LAB_HOST6"
soft lab_expect_eq "relay /healthz after traffic" "$(lab_http_code rly /healthz 9545)" 200
soft lab_expect_eq "relay /readyz after traffic" "$(lab_http_code rly /readyz 9545)" 200

# ---------------------------------------------------------------------------------------------
# 2. Bubble budget: a Teredo destination embedding our server whose mapping nobody answers from
# (203.0.113.200 is unassigned on the wan segment). RFC 4380 §5.2.6 / R6: a bubble only when
# a packet arrives, >= 2 s after the previous one, at most 4; then unreachable.
phantom=$(relay_lab_teredo_addr "$LAB_SRV_PRIMARY" 203.0.113.200 4242)
lab_say "  phantom destination $phantom (mapped 203.0.113.200:4242)"
relay_lab_capture_start srv eth0 cap-bubbles \
  "udp and src host $LAB_RLY_IPV4 and dst port 3544 and $(relay_lab_bpf_inner_dst "$phantom")"
relay_lab_capture_start host6 eth0 cap-unreach "icmp6 and ip6[40] == 1"
m2="$LAB_DIR/relay-metrics-2.txt"
m3="$LAB_DIR/relay-metrics-3.txt"
soft lab_check "relay /metrics before the phantom pings" relay_lab_scrape rly "$m2"
# Echo requests 1 s apart: bubbles with the packets at 0, 2, 4 and 6 s, unreachable from 8 s;
# 14 of them, so that even with bubbles at 0, 3, 6 and 9 s (jitter just under the 2 s spacing)
# some arrive after the budget is spent.
ping_out=$(lab_exec host6 ping -6 -n -c 14 -i 1 -W 1 "$phantom" 2>&1 || true)
printf '%s\n' "$ping_out" >"$LAB_DIR/ping-phantom.txt"
sleep 0.5
lab_stop cap-bubbles || true
lab_stop cap-unreach || true
soft lab_check "relay /metrics after the phantom pings" relay_lab_scrape rly "$m3"
bubbles=$(relay_lab_capture_count cap-bubbles)
unreach=$(relay_lab_capture_count cap-unreach)
lab_say "  server saw $bubbles bubbles for the phantom; host saw $unreach ICMPv6 type 1"
soft lab_check "relay sent 1..4 indirect bubbles for the phantom ($bubbles, server wire)" \
  test "$bubbles" -ge 1 -a "$bubbles" -le 4
soft lab_expect_eq "exactly the budget: 4 bubbles" "$bubbles" 4
soft lab_check "ping on the host reports Destination unreachable" \
  grep -q "Destination unreachable" "$LAB_DIR/ping-phantom.txt"
soft lab_check "host received ICMPv6 type 1 ($unreach)" test "$unreach" -ge 1
soft lab_check "no echo reply from the phantom" lab_not grep -q "bytes from" "$LAB_DIR/ping-phantom.txt"
soft lab_check "metric grew: packets_dropped_total{reason=\"peer_unreachable\"}" \
  grew "$m2" "$m3" 'teredo_relay_packets_dropped_total{reason="peer_unreachable"}'
soft lab_check "metric grew: icmpv6_errors_sent_total" \
  grew "$m2" "$m3" teredo_relay_icmpv6_errors_sent_total
b2=$(relay_lab_value "$m2" 'teredo_relay_bubbles_sent_total{kind="indirect"}' || true)
b3=$(relay_lab_value "$m3" 'teredo_relay_bubbles_sent_total{kind="indirect"}' || true)
soft lab_check "indirect bubble metric grew by 1..4 ($b2 -> $b3)" \
  test $((b3 - b2)) -ge 1 -a $((b3 - b2)) -le 4

# The trusted client still works after all that.
quiet() { "$@" >/dev/null 2>&1; }
soft lab_check "ping client -> native host after the phantom" \
  quiet lab_exec cli1 ping -6 -n -q -c 3 -i 0.2 -W 2 "$LAB_HOST6"

# ---------------------------------------------------------------------------------------------
# 3. SIGTERM: exit 0 within 5 s, tun and route gone.
lab_check "relay still running before SIGTERM" lab_alive "$RELAY_LAB_NAME"
lab_check "tun and 2001::/32 route present before SIGTERM" relay_lab_has_route rly
relay_lab_sigterm 5
lab_expect_eq "SIGTERM: exit status (after ${RELAY_LAB_EXIT_MS} ms)" "$RELAY_LAB_EXIT" 0
lab_check "SIGTERM: exited within 5 s (${RELAY_LAB_EXIT_MS} ms)" test "$RELAY_LAB_EXIT_MS" -lt 5000
lab_check "SIGTERM: tun device '$RELAY_LAB_IF' gone" lab_wait_for 2 lab_not relay_lab_has_tun rly
lab_expect_eq "SIGTERM: no 2001::/32 route left in the relay namespace" \
  "$(ip -n "$(lab_nsname rly)" -6 route show 2001::/32)" ""
if grep -qiE 'fatal|abort|sanitizer' "$LAB_DIR/$RELAY_LAB_NAME.log"; then
  lab_fail "relay log clean" "$(grep -iE 'fatal|abort|sanitizer' "$LAB_DIR/$RELAY_LAB_NAME.log" | head -3)"
fi

lab_result "$title (${SECONDS}s)"
