#!/usr/bin/env bash
# teredo-relay as a host-specific relay (RFC 4380 §3.4 and §7.3.1; relay.mode: host-specific):
# it runs in the native host's own namespace and serves only relay.host_addresses. There is no
# network relay at all: the router has no 2001::/32 route, so only that host can talk to Teredo
# clients, directly through its relay.
#   - a real Miredo client (behind a NAT, qualified by teredo-server) pings the host, and the
#     host pings the client: both work, through the host's relay (its counters move);
#   - another native host (no relay) cannot reach the client: proof that no network relay exists;
#   - the relay adds no 2001::/32 route, only source-specific ones from its host addresses, so a
#     packet from one of the host's other addresses (not in host_addresses) never enters the tun
#     (RFC 4380 §5.4.1 does not apply to it: this relay only relays for its host).
#
# Usage: relay_host_specific.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,15 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/relay_lab.sh
source "$here/lab/relay_lab.sh"

title="host-specific relay (relay.mode: host-specific)"
client_port=40001
hst_ipv4=198.51.100.40
hst_ipv6=2001:db8:1::40     # served (relay.host_addresses)
hst_other=2001:db8:1::41    # the same host's other address, not served
quiet() { "$@" >/dev/null 2>&1; }
soft() { "$@" || true; }   # a failed check is counted, the later checks still run
lab_init
lab_say "== $title"
SECONDS=0

lab_std_core
# No network relay: nothing in the "internet" routes the Teredo prefix.
lab_run ip -n "$(lab_nsname inet)" -6 route del 2001::/32
lab_std_client 1 masquerade "$client_port"
lab_ns hst
lab_attach hst eth0 pub "$hst_ipv4/24" "$hst_ipv6/64"
# Deprecated (preferred_lft 0): never picked as a source unless asked for with ping -I.
lab_run ip -n "$(lab_nsname hst)" -6 addr add "$hst_other/64" dev eth0 nodad preferred_lft 0
lab_teredo_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
# IPv6 forwarding stays off: a host-specific relay's host routes for nobody.
relay_lab_start hst "$hst_ipv4" "$LAB_RLY_PORT" 0 "  mode: host-specific
  host_addresses: [\"$hst_ipv6\"]"
lab_expect_eq "no 2001::/32 route in the router" \
  "$(ip -n "$(lab_nsname inet)" -6 route show 2001::/32)" ""
m0="$LAB_DIR/relay-metrics-0.txt"
m1="$LAB_DIR/relay-metrics-1.txt"
m2="$LAB_DIR/relay-metrics-2.txt"
relay_lab_scrape hst "$m0" || lab_die "relay /metrics"

lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$client_port"
lab_require_qualified cli1 20 "$title"
lab_check "qualified: $addr" true

ping6_ok() {   # ping6_ok NS DST [PING ARGS]: one reply within 20 s, then 5 of 5
  local ns=$1 dst=$2
  shift 2
  lab_wait_for 20 lab_exec "$ns" ping -6 -n -c 1 -W 1 "$@" "$dst" || return 1
  lab_exec "$ns" ping -6 -n -q -c 5 -i 0.2 -W 2 "$@" "$dst" >/dev/null
}
lab_check "ping client -> host $hst_ipv6" ping6_ok cli1 "$hst_ipv6"
lab_check "ping host -> client (from $hst_ipv6)" ping6_ok hst "$addr" -I "$hst_ipv6"
relay_lab_scrape hst "$m1" || lab_die "relay /metrics"
grew() {   # grew BEFORE AFTER SERIES
  local b a
  b=$(relay_lab_value "$1" "$3") || return 1
  a=$(relay_lab_value "$2" "$3") || return 1
  lab_log "$3: $b -> $a"
  ((a > b))
}
for series in 'teredo_relay_packets_delivered_total{direction="to_teredo"}' \
  'teredo_relay_packets_delivered_total{direction="from_teredo"}' \
  'teredo_relay_bubbles_sent_total{kind="indirect"}'; do
  soft lab_check "host relay metric grew: $series" grew "$m0" "$m1" "$series"
done

# Without a network relay, a native host other than ours cannot reach the client (and the ping
# above cannot have gone through some other relay).
soft lab_check "other native host cannot reach the client (no network relay)" \
  lab_not quiet lab_exec host6 ping -6 -n -q -c 2 -i 0.3 -W 1 "$addr"

# A packet from the host's unserved address: into the tun, dropped by the relay.
soft lab_check "ping host -> client from $hst_other fails" \
  lab_not quiet lab_exec hst ping -6 -n -q -c 3 -i 0.3 -W 1 -I "$hst_other" "$addr"
relay_lab_scrape hst "$m2" || lab_die "relay /metrics"
lab_say "  relay drops after the unserved ping:"
lab_metric_grep "$m2" 'teredo_relay_packets_dropped_total\{.*\} [1-9]' | sed 's/^/      /' >&2
# Routing, not the relay, keeps it out: the only 2001::/32 routes are source-specific.
routes=$(lab_exec hst ip -6 route show 2001::/32 2>&1 || true)
soft lab_check "only source-specific 2001::/32 routes ($(echo "$routes" | tr '\n' ';'))" \
  bash -c '[[ -n $1 ]] && ! grep -qv " from " <<<"$1"' _ "$routes"
t1=$(relay_lab_value "$m1" 'teredo_relay_packets_total{direction="to_teredo"}' || true)
t2=$(relay_lab_value "$m2" 'teredo_relay_packets_total{direction="to_teredo"}' || true)
soft lab_expect_eq "nothing from $hst_other entered the relay's tun" "$t2" "$t1"
d1=$(relay_lab_value "$m1" 'teredo_relay_packets_delivered_total{direction="to_teredo"}' || true)
d2=$(relay_lab_value "$m2" 'teredo_relay_packets_delivered_total{direction="to_teredo"}' || true)
soft lab_expect_eq "nothing from $hst_other delivered to the client" "$d2" "$d1"
# The served address still works afterwards.
soft lab_check "ping host -> client (from $hst_ipv6) still works" \
  quiet lab_exec hst ping -6 -n -q -c 2 -i 0.2 -W 2 -I "$hst_ipv6" "$addr"
soft lab_check "no address in any relay metric label" \
  lab_metrics_no_addresses "$m2" "$addr" "$hst_ipv6" "$hst_other" 203.0.113.11
soft lab_check "relay still running" lab_alive "$RELAY_LAB_NAME"

# The host keeps no Teredo route once its relay stops.
relay_lab_sigterm 5
lab_expect_eq "SIGTERM: exit status (after ${RELAY_LAB_EXIT_MS} ms)" "$RELAY_LAB_EXIT" 0
lab_check "SIGTERM: tun device gone from the host" lab_wait_for 2 lab_not relay_lab_has_tun hst
lab_expect_eq "SIGTERM: no 2001::/32 route left on the host" \
  "$(ip -n "$(lab_nsname hst)" -6 route show 2001::/32)" ""

lab_result "$title (${SECONDS}s)"
