#!/usr/bin/env bash
# A config change made with teredoctl reaches teredo-server and teredo-relay through
# teredo-controller and takes effect (issue "teredo-controller", Tests):
#   1. Both agents connect over the controller's unix socket; before any push they run their
#      bootstrap files (applied version 0) and a 40-RS burst from one source is fully answered.
#   2. `teredoctl config set --role server` (rate_limit.rs_per_second 1, rs_burst 3): the server
#      ACKs it (teredoctl: applied == desired == V1; /metrics teredo_config_applied_version V1,
#      teredo_config_updates_total{result="ack"} 1), the relay is not touched (no snapshot), and
#      the same burst is now limited: RAs <= burst + rate x duration, the rest counted in
#      teredo_server_rate_limited_total{limiter="solicitation"}.
#   3. A real Miredo client behind a NAT pings the native IPv6 host through server and relay.
#   4. `teredoctl config set --role relay` (served_prefixes: a prefix without the host): the relay
#      ACKs V2, the server stays at V1, the client's pings now die at the relay
#      (teredo_relay_packets_dropped_total{reason="dst_not_served"} grows); served_prefixes ::/0
#      (V3) brings them back.
#
# Usage: controller_config_push.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,19 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"

title="controller config push (teredoctl -> controller -> server and relay)"
fleet_std_run "$title"

# --- 1. Connected, bootstrap config --------------------------------------------------------------
chk "server agent connected" lab_wait_for 10 fleet_connected "$SRV"
chk "relay agent connected" lab_wait_for 10 fleet_connected "$RLY"
eq "server before any push" "$(fleet_agent_versions "$SRV")" \
  "AGENT_STATE_CONNECTED applied=0 desired=0 sync=SYNC_STATE_SYNCED"
eq "server /metrics teredo_controller_connected" \
  "$(fleet_agent_metric srv "$SP" teredo_controller_connected)" 1
eq "relay /metrics teredo_controller_connected" \
  "$(fleet_agent_metric rly "$RP" teredo_controller_connected)" 1
eq "server /metrics teredo_config_applied_version (bootstrap)" \
  "$(fleet_agent_metric srv "$SP" teredo_config_applied_version)" 0

lab_probe_start prb
burst() {   # burst PORT: 40 RSs at 400/s from PRB:PORT; prints "RAS SPAN_S"
  lab_probe prb flood --server "$LAB_SRV_PRIMARY" --bind "$PRB:$1" --count 40 --pps 400 \
    --timeout 0.5 >/dev/null
  printf '%s %s' "$(lab_probe_q 'd["ras"]')" "$(lab_probe_q 'd["ras_span_s"]')"
}
limited() { fleet_agent_metric srv "$SP" 'teredo_server_rate_limited_total{limiter="solicitation"}'; }
l0=$(limited)
read -r ras span <<<"$(burst 41000)"
eq "bootstrap limits (100/s, burst 200): 40-RS burst fully answered" "$ras" 40
eq "bootstrap limits: nothing rate limited" "$(($(limited) - l0))" 0

# --- 2. Server role defaults ---------------------------------------------------------------------
lab_say "-- teredoctl config set --role server: rate_limit.rs_per_second 1, rs_burst 3"
v1=$(fleet_set server $'server:\n  rate_limit:\n    rs_per_second: 1\n    rs_burst: 3') ||
  lab_die "config set --role server refused"
chk "published version $v1" test "$v1" -ge 1
chk "server synced at v$v1 (applied == desired)" lab_wait_for 15 fleet_synced "$SRV" "$v1"
lab_say "     $(fleet_agent_versions "$SRV")"
eq "server /metrics teredo_config_applied_version" \
  "$(fleet_agent_metric srv "$SP" teredo_config_applied_version)" "$v1"
eq "server /metrics teredo_config_updates_total{result=\"ack\"}" \
  "$(fleet_agent_metric srv "$SP" 'teredo_config_updates_total{result="ack"}')" 1
chk "server log: controller config applied" \
  grep -q "controller config applied" "$LAB_DIR/teredo-server-srv.log"
eq "relay untouched by a server change" "$(fleet_agent_versions "$RLY")" \
  "AGENT_STATE_CONNECTED applied=0 desired=0 sync=SYNC_STATE_SYNCED"
eq "relay /metrics teredo_config_applied_version still 0" \
  "$(fleet_agent_metric rly "$RP" teredo_config_applied_version)" 0
l1=$(limited)
read -r ras span <<<"$(burst 42000)"
cap=$(awk -v t="$span" 'BEGIN {printf "%d", 3 + 1 * t + 2}')
lab_say "     burst of 40 RSs: $ras RAs, last after ${span}s (cap $cap)"
chk "pushed limits: RAs ($ras) <= burst + rate x duration ($cap)" test "$ras" -le "$cap"
chk "pushed limits: at least the burst answered ($ras >= 3)" test "$ras" -ge 3
eq "pushed limits: the rest counted as rate limited" "$(($(limited) - l1))" \
  "$((40 - ras))"

# --- 3. A real client through the fleet ----------------------------------------------------------
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_require_qualified cli1 20 "$title"
chk "client qualified: $addr" true
chk "ping client -> native host through the fleet" fleet_ping cli1 "$LAB_HOST6" 5
chk "ping native host -> client" fleet_ping host6 "$addr" 5

# --- 4. Relay role defaults ----------------------------------------------------------------------
lab_say "-- teredoctl config set --role relay: served_prefixes [2001:db8:99::/48] (not the host)"
notserved() {
  fleet_agent_metric rly "$RP" 'teredo_relay_packets_dropped_total{reason="dst_not_served"}'
}
d0=$(notserved)
v2=$(fleet_set relay $'relay:\n  served_prefixes: ["2001:db8:99::/48"]') ||
  lab_die "config set --role relay refused"
chk "relay synced at v$v2" lab_wait_for 15 fleet_synced "$RLY" "$v2"
eq "relay /metrics teredo_config_applied_version" \
  "$(fleet_agent_metric rly "$RP" teredo_config_applied_version)" "$v2"
eq "server keeps v$v1 (its content did not change)" "$(fleet_agent_versions "$SRV")" \
  "AGENT_STATE_CONNECTED applied=$v1 desired=$v1 sync=SYNC_STATE_SYNCED"
eq "client -> native host: no reply while the relay does not serve it" \
  "$(fleet_ping_received cli1 "$LAB_HOST6" 4)" 0
d1=$(notserved)
chk "relay dropped them as dst_not_served ($d0 -> $d1)" test "$d1" -ge "$((d0 + 4))"

v3=$(fleet_set relay $'relay:\n  served_prefixes: ["::/0"]') || lab_die "config set refused"
chk "relay synced at v$v3" lab_wait_for 15 fleet_synced "$RLY" "$v3"
chk "ping client -> native host works again" fleet_ping cli1 "$LAB_HOST6" 5
eq "relay /metrics teredo_config_updates_total{result=\"ack\"}" \
  "$(fleet_agent_metric rly "$RP" 'teredo_config_updates_total{result="ack"}')" 2

lab_say "-- teredoctl agents list"
fleet_ctl agents list | sed 's/^/     /' >&2
lab_say "-- teredoctl config history"
fleet_ctl config history | sed 's/^/     /' >&2
lab_say "   (${SECONDS}s)"
lab_result "$title"
