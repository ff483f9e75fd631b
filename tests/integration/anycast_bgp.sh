#!/usr/bin/env bash
# Anycast relays announced by real BIRD (docs/anycast.md): two teredo-relays announce 2001::/32
# (relay.announce) through their hosts' BIRD running deploy/bgp/bird.conf to an upstream router's
# BIRD, which forwards the native IPv6 host's traffic to the best path. A real Miredo client
# behind a NAT qualifies with teredo-server; the controller manages both relays.
#
# Checks, from the upstream's BIRD and from the data path:
#   - a relay's path appears only once the relay is ready (BIRD up before the relay: no path);
#   - the upstream never holds any prefix but 2001::/32, although relay A's announce table also
#     holds decoys (a foreign prefix with the relay's protocol, the relay's prefix with another);
#   - pings from the native host to the client flow;
#   - drain relay A (teredoctl): its path is withdrawn, traffic moves to B; a ping stream through
#     the drain is counted (reported, and must lose nothing);
#   - undrain A: its path comes back (the upstream keeps B, the older path);
#   - SIGKILL relay B: its path goes with its tun, traffic moves to A; packets lost and the time to
#     reconverge are reported;
#   - B restarted with an invalid config, then without CAP_NET_ADMIN: it never announces;
#   - teredoctl agents and stats fleet show who announces what; the relay metrics agree;
#   - SIGTERM relay A: withdrawn at once while A keeps running through its grace, then it exits.
#
# Usage: anycast_bgp.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,22 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"
# shellcheck source-path=SCRIPTDIR source=lab/bgp_lab.sh
source "$here/lab/bgp_lab.sh"

chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# fast_wait TIMEOUT_S CMD...: poll CMD every 20 ms (lab_wait_for polls every 200 ms: too coarse
# for the timings this test reports).
fast_wait() {
  local deadline=$(($(now_ms) + $1 * 1000))
  shift
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.02
  done
}

PFX=2001::/32
A4=198.51.100.20
A6=2001:db8:1::20
B4=198.51.100.21
B6=2001:db8:1::21
RA=lab-rly-a
RB=lab-rly-b
GRACE_S=3
ANNOUNCE=$(printf '  announce:\n    enabled: true\n    withdraw_grace: %ss' "$GRACE_S")
title="anycast: two relays announced by BIRD, drain, crash, refusal"

fleet_init
lab_say "== $title"
SECONDS=0

# The lab: inet is the upstream router (no static route to 2001::/32: only BGP gives it one).
lab_std_base
lab_ns rlya
lab_attach rlya eth0 pub "$A4/24" "$A6/64"
lab_ns rlyb
lab_attach rlyb eth0 pub "$B4/24" "$B6/64"
lab_std_client 1 masquerade 40001

bgp_upstream inet 2001:db8:1::1 65000 "$A6" "$B6"
bgp_relay_speaker rlya "$A4" "$A6" "$BGP_RELAY_AS" 2001:db8:1::1 65000
lab_wait_for 30 bgp_established bird-upstream relay1 || lab_fail "BGP session with A" "not up"

# --- Relay A: no path before it is ready --------------------------------------------------------
sleep 2
eq "no path to $PFX while relay A's BIRD runs without the relay" "$(bgp_upstream_paths $PFX)" ""
fleet_controller_start
fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" lab-srv
t0=$(now_ms)
fleet_relay rlya "$A4" "$LAB_RLY_PORT" "$RA" "$ANNOUNCE"
ready_ms=$(($(now_ms) - t0))
chk "A's path at the upstream once A is ready" fast_wait 10 bgp_upstream_best_is $PFX "$A6"
lab_say "     relay A: /readyz after ${ready_ms} ms, path at the upstream after $(($(now_ms) - t0)) ms"

# Decoys in A's announce table: neither may leave the host (bird.conf's filters).
lab_exec rlya ip -6 route add 2001:db8:dead::/48 dev teredo table 100 proto 199
lab_exec rlya ip -6 route add 2001:0:4136::/48 dev teredo table 100 proto static

# --- Relay B --------------------------------------------------------------------------------------
bgp_relay_speaker rlyb "$B4" "$B6" "$BGP_RELAY_AS" 2001:db8:1::1 65000
lab_wait_for 30 bgp_established bird-upstream relay2 || lab_fail "BGP session with B" "not up"
sleep 2
chk "still one path while relay B's BIRD runs without the relay" bgp_upstream_path_count $PFX 1
fleet_relay rlyb "$B4" "$LAB_RLY_PORT" "$RB" "$ANNOUNCE"
chk "both relays' paths at the upstream" lab_wait_for 10 bgp_upstream_path_count $PFX 2
eq "A stays the best path (older)" "$(bgp_upstream_paths $PFX)" "$A6 $B6"

# --- The client and the data path -----------------------------------------------------------------
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_require_qualified cli1 20 "$title"
chk "client qualified: $addr" true
chk "native host -> client: 5 of 5 through A" fleet_ping host6 "$addr" 5
chk "client -> native host: 5 of 5" fleet_ping cli1 "$LAB_HOST6" 5

rly_metric() {   # rly_metric NS SERIES
  fleet_agent_metric "$1" "$FLEET_RELAY_ADMIN_PORT" "$2"
}
to_teredo='teredo_relay_packets_delivered_total{direction="to_teredo"}'
eq "A: teredo_relay_announced{prefix=$PFX}" "$(rly_metric rlya "teredo_relay_announced{prefix=\"$PFX\"}")" 1
eq "B: teredo_relay_announced{prefix=$PFX}" "$(rly_metric rlyb "teredo_relay_announced{prefix=\"$PFX\"}")" 1

announcing() {   # announcing N: the controller counts N relays announcing PFX
  local json
  json=$(fleet_ctl --json stats fleet 2>/dev/null) || return 1
  [[ $(lab_json "$json" 'next((int(a.get("relays_announcing", 0)) for a in
      d.get("announcements", []) if a["prefix"] == "2001::/32"), -1)') == "$1" ]]
}
chk "controller: 2 relays announce $PFX" lab_wait_for 15 announcing 2

# ping_stream NAME COUNT: COUNT pings, 20 per second, from the native host to the client, in the
# background (lab_bg NAME); ping_result NAME waits for it and prints "sent received".
ping_stream() {
  lab_bg host6 "$1" ping -6 -n -i 0.05 -W 1 -c "$2" "$addr"
}
ping_result() {
  lab_wait_for 60 lab_not lab_alive "$1" || true
  local log="$LAB_DIR/$1.log" sent=0 got=0
  if [[ $(<"$log") =~ ([0-9]+)\ packets\ transmitted,\ ([0-9]+)\ received ]]; then
    sent=${BASH_REMATCH[1]}
    got=${BASH_REMATCH[2]}
  fi
  printf '%s %s' "$sent" "$got"
}

# --- Drain A: withdrawn, traffic moves to B, nothing lost -----------------------------------------
ping_stream ping-drain 200
sleep 2
t0=$(now_ms)
chk "teredoctl drain $RA" fleet_ctl drain "$RA"
chk "A's path withdrawn after the drain" fast_wait 10 bgp_upstream_path_count $PFX 1
withdraw_ms=$(($(now_ms) - t0))
eq "the upstream's only path is B" "$(bgp_upstream_paths $PFX)" "$B6"
read -r sent got <<<"$(ping_result ping-drain)"
lab_say "     drain: withdrawn at the upstream ${withdraw_ms} ms after teredoctl; ping stream through the drain: $got of $sent answered, $((sent - got)) lost"
eq "ping stream through the drain: nothing lost" "$((sent - got))" 0
b0=$(rly_metric rlyb "$to_teredo")
chk "traffic now through B: 5 of 5" fleet_ping host6 "$addr" 5
b1=$(rly_metric rlyb "$to_teredo")
chk "B delivered them ($b0 -> $b1)" test $((b1 - b0)) -ge 5
eq "A: announce decision draining" \
  "$(rly_metric rlya 'teredo_relay_announce_decision{reason="draining"}')" 1
eq "A: withdraw transitions (draining)" \
  "$(rly_metric rlya 'teredo_relay_announce_transitions_total{action="withdraw",reason="draining"}')" 1
agents_row() {   # agents_row ID: the agent's line of `teredoctl agents list`
  fleet_ctl agents list 2>/dev/null | awk -v id="$1" '$1 == id'
}
a_row_shows_withdrawn() { [[ $(agents_row "$RA") == *"withdrawn (draining)"* ]]; }
chk "teredoctl agents list: A withdrawn (draining)" lab_wait_for 10 a_row_shows_withdrawn
lab_say "     $(fleet_ctl agents list | head -1)"
lab_say "     $(agents_row "$RA")"
lab_say "     $(agents_row "$RB")"
chk "controller: 1 relay announces $PFX" lab_wait_for 15 announcing 1

# --- Undrain A: its path comes back, B stays best ---------------------------------------------------
chk "teredoctl undrain $RA" fleet_ctl undrain "$RA"
chk "A's path back after the undrain" lab_wait_for 10 bgp_upstream_path_count $PFX 2
eq "B stays the best path (older)" "$(bgp_upstream_paths $PFX)" "$B6 $A6"

# --- SIGKILL B: its path goes with the tun, traffic moves to A -------------------------------------
b0=$(rly_metric rlyb "$to_teredo")
ping_stream ping-kill 300
sleep 2
b1=$(rly_metric rlyb "$to_teredo")
a1=$(rly_metric rlya "$to_teredo")
chk "the stream goes through B before the kill (B delivered $b0 -> $b1)" \
  test $((b1 - b0)) -ge 20
t0=$(now_ms)
chk "SIGKILL relay B" lab_kill teredo-relay-rlyb KILL
chk "B's path gone after the kill" fast_wait 10 bgp_upstream_path_count $PFX 1
gone_ms=$(($(now_ms) - t0))
eq "the upstream's only path is A" "$(bgp_upstream_paths $PFX)" "$A6"
read -r sent got <<<"$(ping_result ping-kill)"
lost=$((sent - got))
lab_say "     SIGKILL B: path withdrawn at the upstream after ${gone_ms} ms; ping stream: $got of $sent answered, $lost lost (about $((lost * 50)) ms without service at 20 pings/s)"
a2=$(rly_metric rlya "$to_teredo")
chk "the rest of the stream went through A (A delivered $a1 -> $a2)" test $((a2 - a1)) -ge 150
chk "traffic reconverged through A: 5 of 5" fleet_ping host6 "$addr" 5
chk "SIGKILL B: at most 2 s of pings lost ($lost)" test "$lost" -le 40

# --- B restarted broken: it never announces ----------------------------------------------------------
relay_bin="$TEREDO_BUILD_DIR/services/relay/teredo-relay"
cp "$LAB_DIR/teredo-relay-rlyb.yaml" "$LAB_DIR/rlyb-invalid.yaml"
printf '    prefixes: ["2001:db8::/32"]\n' >>"$LAB_DIR/rlyb-invalid.yaml"
lab_bg rlyb relay-b-invalid "$relay_bin" --config "$LAB_DIR/rlyb-invalid.yaml"
chk "B with an invalid config exits" lab_wait_for 10 lab_not lab_alive relay-b-invalid
chk "B says why: relay.announce.prefixes" grep -q "relay.announce.prefixes" \
  "$LAB_DIR/relay-b-invalid.log"
lab_bg rlyb relay-b-nocap capsh --drop=cap_net_admin -- -c \
  "exec '$relay_bin' --config '$LAB_DIR/teredo-relay-rlyb.yaml'"
chk "B without CAP_NET_ADMIN exits" lab_wait_for 10 lab_not lab_alive relay-b-nocap
chk "B says why: CAP_NET_ADMIN" grep -q "CAP_NET_ADMIN" "$LAB_DIR/relay-b-nocap.log"
sleep 3
eq "B never announced: the only path is still A" "$(bgp_upstream_paths $PFX)" "$A6"
eq "B's announce table is empty" "$(lab_exec rlyb ip -6 route show table 100)" ""

# --- Nothing but the configured prefix ever reached the upstream -------------------------------------
eq "the upstream holds only $PFX" "$(bgp_upstream_prefixes)" "$PFX"
eq "A's BIRD exports only $PFX" \
  "$(bgp_birdc bird-rlya show route export upstream | awk '$1 ~ /\// {print $1}' | xargs)" "$PFX"

# --- SIGTERM A: withdrawn first, then forwarding through the grace, then exit ------------------------
t0=$(now_ms)
chk "SIGTERM relay A" lab_kill teredo-relay-rlya TERM
chk "A's path withdrawn after SIGTERM" fast_wait 5 bgp_upstream_path_count $PFX 0
withdraw_ms=$(($(now_ms) - t0))
chk "A still running during its ${GRACE_S} s grace" lab_alive teredo-relay-rlya
chk "A exits after the grace" lab_wait_for $((GRACE_S + 10)) lab_not lab_alive teredo-relay-rlya
exit_ms=$(($(now_ms) - t0))
lab_say "     SIGTERM A: withdrawn at the upstream after ${withdraw_ms} ms, exited after ${exit_ms} ms (grace ${GRACE_S} s)"
chk "A exited after its grace, not before" test "$exit_ms" -ge $((GRACE_S * 1000))
eq "A's announce table is empty (the decoys went with the tun)" \
  "$(lab_exec rlya ip -6 route show table 100)" ""

lab_result "$title (${SECONDS}s)"
