#!/usr/bin/env bash
# The data plane never waits for the controller (issue "teredo-controller", Tests; see
# docs/architecture.md):
#   1. Server and relay managed by teredo-controller, both synced to a pushed version V; a real
#      Miredo client behind a NAT pings the native IPv6 host both ways through them.
#   2. SIGKILL the controller: both agents notice (/metrics teredo_controller_connected 0), keep
#      running V (teredo_config_applied_version), and the client's pings keep working both ways.
#   3. Restart teredo-server while the controller is down: it boots from its last-known-good
#      file (applied version V, the pushed RS limit in force: a burst is limited) and serves
#      the client again.
#   4. Restart the controller with the same state_dir: it still has V and its history; both
#      agents redial on their own and teredoctl shows them connected with applied == desired == V;
#      a new push (V+1) reaches them.
#
# Usage: controller_outage.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,15 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"

title="controller outage (SIGKILL, data plane unaffected, restart and resync)"
fleet_std_run "$title"

# --- 1. Synced fleet, client pinging -------------------------------------------------------------
vs=$(fleet_set server $'server:\n  rate_limit:\n    rs_per_second: 1\n    rs_burst: 3') ||
  lab_die "config set --role server refused"
v=$(fleet_set relay $'relay:\n  icmp_errors_per_second: 20') || lab_die "config set refused"
chk "server synced at v$vs" lab_wait_for 15 fleet_synced "$SRV" "$vs"
chk "relay synced at v$v" lab_wait_for 15 fleet_synced "$RLY" "$v"
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_require_qualified cli1 20 "$title"
chk "client qualified: $addr" true
chk "ping client -> native host" fleet_ping cli1 "$LAB_HOST6" 3
chk "ping native host -> client" fleet_ping host6 "$addr" 3

# --- 2. SIGKILL ----------------------------------------------------------------------------------
lab_say "-- SIGKILL teredo-controller (PID $FLEET_CTL_PID)"
fleet_controller_kill KILL
chk "server /metrics teredo_controller_connected 0" \
  lab_wait_for 10 fleet_metric_is srv "$SP" teredo_controller_connected 0
chk "relay /metrics teredo_controller_connected 0" \
  lab_wait_for 10 fleet_metric_is rly "$RP" teredo_controller_connected 0
ctl_down() { ! fleet_ctl agents list >/dev/null 2>&1; }
chk "teredoctl cannot reach the controller" ctl_down
eq "client -> native host while the controller is dead: 10 of 10" \
  "$(fleet_ping_received cli1 "$LAB_HOST6" 10)" 10
eq "native host -> client while the controller is dead: 10 of 10" \
  "$(fleet_ping_received host6 "$addr" 10)" 10
eq "server still runs v$vs" "$(fleet_agent_metric srv "$SP" teredo_config_applied_version)" "$vs"
eq "relay still runs v$v" "$(fleet_agent_metric rly "$RP" teredo_config_applied_version)" "$v"
chk "server alive" lab_alive teredo-server-srv
chk "relay alive" lab_alive teredo-relay-rly

# --- 3. Agent restart without a controller: last-known-good ----------------------------------------
lab_say "-- restart teredo-server while the controller is down"
lab_stop teredo-server-srv
mv "$LAB_DIR/teredo-server-srv.log" "$LAB_DIR/teredo-server-srv-1.log"
fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$SRV"
chk "server log: booted from the last-known-good config" \
  grep -q "booted from the last-known-good config" "$LAB_DIR/teredo-server-srv.log"
eq "restarted server runs v$vs from its LKG file" \
  "$(fleet_agent_metric srv "$SP" teredo_config_applied_version)" "$vs"
lab_probe_start prb
lab_probe prb flood --server "$LAB_SRV_PRIMARY" --bind "$PRB:41000" --count 30 --pps 300 \
  --timeout 0.5 >/dev/null
ras=$(lab_probe_q 'd["ras"]')
chk "LKG rate limit in force: a 30-RS burst got $ras RAs (<= 3 + 1 x duration + 2)" \
  test "$ras" -le 6
chk "ping client -> native host after the server restart" fleet_ping cli1 "$LAB_HOST6" 3

# --- 4. Controller restart -----------------------------------------------------------------------
lab_say "-- restart teredo-controller (same state_dir)"
fleet_controller_start
hist=$(fleet_ctl config history)
chk "history survived the SIGKILL (v$v present)" grep -qE "^$v +" <<<"$hist"
chk "server resynced: connected, applied == desired == v$vs" \
  lab_wait_for 40 fleet_synced "$SRV" "$vs"
chk "relay resynced: connected, applied == desired == v$v" lab_wait_for 40 fleet_synced "$RLY" "$v"
lab_say "     server: $(fleet_agent_versions "$SRV")"
lab_say "     relay:  $(fleet_agent_versions "$RLY")"
eq "server /metrics teredo_controller_connected 1" \
  "$(fleet_agent_metric srv "$SP" teredo_controller_connected)" 1
v2=$(fleet_set relay $'relay:\n  icmp_errors_per_second: 30') || lab_die "config set refused"
chk "a new push after the restart (v$v2) reaches the relay" \
  lab_wait_for 15 fleet_synced "$RLY" "$v2"
chk "ping client -> native host at the end" fleet_ping cli1 "$LAB_HOST6" 3

lab_say "-- teredoctl agents list"
fleet_ctl agents list | sed 's/^/     /' >&2
lab_say "   (${SECONDS}s)"
lab_result "$title"
