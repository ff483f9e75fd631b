#!/usr/bin/env bash
# Bad configs are refused and shown, and the running config stays (issue "teredo-controller",
# Tests):
#   0. `config get --role server -o yaml` prints the role's keys in the file layout, and
#      `config set` of that file changes nothing; `config diff` of it finds no difference (0), of
#      an edited copy the changed line (2).
#   1. SetConfig validation: a YAML whose keys are each valid but whose merged config is not
#      (server.mtu 1400 with the public prefix) and an AgentConfig JSON that teredoctl cannot
#      pre-check (server.mtu 1000) are refused with INVALID_ARGUMENT (teredoctl exit status 3)
#      and field violations naming server.mtu; nothing is published (history unchanged) and the
#      agent is not pushed to.
#   2. Agent-side NACK: a per-agent override that the controller accepts but the agent cannot apply
#      live (server.primary_address/secondary_address: restart keys), set with `--wait`, which
#      exits 4 naming the agent that NACKed. The agent NACKs it:
#      `teredoctl agents get` shows the config NACKED with the NACK's version and reason (the keys),
#      `agents list` the LAST NACK column; the agent's /metrics count the NACK and keep the old
#      applied version; the server keeps answering RSs on its old address; the controller does not
#      resend the NACKed version.
#   3. `teredoctl config remove --agent` takes the override back: the agent ACKs again
#      (applied == desired); a live change set with `--wait` exits 0 once the agent applied it.
#   4. Retiring the server: `teredoctl agents forget` is refused while it is connected; once it is
#      stopped the controller counts it disconnected (what TeredoAgentsDisconnected alerts on),
#      and forgetting it removes it from `agents list` and from that count, with a history entry
#      that names the decommission, its author and the comment.
#
# Usage: controller_nack.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,18 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"

title="controller NACK and SetConfig refusal (bad configs shown, old config kept)"
SRV=lab-srv
PRB=198.51.100.50
SP=$FLEET_SERVER_ADMIN_PORT
chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
fleet_init
lab_say "== $title"
SECONDS=0

lab_router inet
lab_segment pub 198.51.100.1/24 2001:db8:1::1/64
lab_ns srv
lab_attach srv eth0 pub "$LAB_SRV_PRIMARY/24" "$LAB_SRV_SECONDARY/24" "$LAB_SRV_IPV6/64"
lab_ns prb
lab_attach prb eth0 pub "$PRB/24"
fleet_controller_start
fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$SRV"
chk "server agent connected" lab_wait_for 10 fleet_connected "$SRV"
v1=$(fleet_set server $'server:\n  strict_rs: false') || lab_die "config set --role server refused"
chk "server synced at v$v1" lab_wait_for 15 fleet_synced "$SRV" "$v1"
history_of() { fleet_ctl config history | awk 'NR > 1 {printf "v%s ", $1}'; }
# config get -o yaml prints what config set reads back unchanged.
fleet_ctl -o yaml config get --role server >"$LAB_DIR/server-defaults.yaml" ||
  lab_die "config get -o yaml failed"
sed 's/^/     /' "$LAB_DIR/server-defaults.yaml" >&2
chk "config get -o yaml: the role's keys in the file layout" \
  grep -qx "  strict_rs: false" "$LAB_DIR/server-defaults.yaml"
eq "config get -o yaml | config set: no change" \
  "$(fleet_ctl config set "$LAB_DIR/server-defaults.yaml" --role server 2>&1)" \
  "no change (version $v1)"
fleet_ctl config diff "$LAB_DIR/server-defaults.yaml" --role server >/dev/null 2>&1 && rc=0 || rc=$?
eq "config diff of the unchanged file: exit status 0" "$rc" 0
sed 's/strict_rs: false/strict_rs: true/' "$LAB_DIR/server-defaults.yaml" >"$LAB_DIR/strict.yaml"
out=$(fleet_ctl config diff "$LAB_DIR/strict.yaml" --role server 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | sed 's/^/     /' >&2
eq "config diff of a changed file: exit status 2" "$rc" 2
chk "config diff shows the old and the new line" \
  grep -qzE -- '-   strict_rs: false.\+   strict_rs: true' <<<"$out"
h1=$(history_of)

# --- 1. SetConfig refusal ------------------------------------------------------------------------
lab_say "-- SetConfig refusals"
refused() {   # refused NAME FILE ARGS...: teredoctl config set must exit 3 with INVALID_ARGUMENT
  local name=$1 file=$2 out rc=0
  shift 2
  out=$(fleet_ctl config set "$file" "$@" 2>&1) || rc=$?
  printf '%s\n' "$out" | sed 's/^/     /' >&2
  eq "$name: teredoctl exit status (3 = INVALID_ARGUMENT)" "$rc" 3
  chk "$name: INVALID_ARGUMENT" grep -q "INVALID_ARGUMENT" <<<"$out"
  chk "$name: field violation names server.mtu" grep -qE "^ +[^ ]*server\.mtu: " <<<"$out"
}
printf 'server:\n  mtu: 1400\n' >"$LAB_DIR/bad-mtu.yaml"
refused "YAML server.mtu 1400 with the public prefix" "$LAB_DIR/bad-mtu.yaml" --role server
printf '{"server": {"server": {"mtu": 1000}}}\n' >"$LAB_DIR/bad-mtu.json"
refused "JSON server.mtu 1000 (role)" "$LAB_DIR/bad-mtu.json" --role server
refused "JSON server.mtu 1000 (agent override)" "$LAB_DIR/bad-mtu.json" --agent "$SRV"
eq "nothing published (history unchanged)" "$(history_of)" "$h1"
eq "agent untouched" "$(fleet_agent_versions "$SRV")" \
  "AGENT_STATE_CONNECTED applied=$v1 desired=$v1 sync=SYNC_STATE_SYNCED"

# --- 2. Agent-side NACK ----------------------------------------------------------------------------
lab_say "-- per-agent override the agent cannot apply live (restart keys), set with --wait"
printf 'server:\n  primary_address: "198.51.100.30"\n  secondary_address: "198.51.100.31"\n' \
  >"$LAB_DIR/restart-keys.yaml"
out=$(fleet_ctl config set "$LAB_DIR/restart-keys.yaml" --agent "$SRV" --wait \
  --wait-timeout 20 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | sed 's/^/     /' >&2
if [[ $out =~ published\ version\ ([0-9]+) ]]; then
  v2=${BASH_REMATCH[1]}
else
  lab_die "the override was refused by the controller"
fi
eq "config set --wait on a NACKing agent: exit status 4" "$rc" 4
chk "config set --wait names the agent that NACKed" grep -qx "$SRV: NACKED version $v2" <<<"$out"
nacked() {
  [[ $(fleet_agent "$SRV" 'd["agent"].get("sync_state")') == SYNC_STATE_NACKED ]]
}
chk "teredoctl shows v$v2 NACKED" lab_wait_for 15 nacked
eq "NACK version" "$(fleet_agent "$SRV" 'd["agent"]["last_nack"]["version"]')" "$v2"
reason=$(fleet_agent "$SRV" 'd["agent"]["last_nack"]["error_detail"]["message"]')
lab_say "     reason: $reason"
chk "NACK reason: needs a restart" grep -q "restart" <<<"$reason"
eq "NACK field violations" "$(fleet_agent "$SRV" \
  'sorted(v["field"] for v in d["agent"]["last_nack"]["error_detail"]["field_violations"])')" \
  '["server.primary_address","server.secondary_address"]'
eq "agent still applies v$v1, desired v$v2" "$(fleet_agent "$SRV" \
  '"%s/%s" % (d["agent"].get("applied_version"), d["agent"].get("desired_version"))')" "$v1/$v2"
get=$(fleet_ctl agents get "$SRV")
printf '%s\n' "$get" | sed 's/^/     /' >&2
chk "agents get: 'last NACK  version $v2'" grep -qE "^last NACK +version $v2 at " <<<"$get"
chk "agents get: reason line names server.primary_address" \
  grep -qE "^  server.primary_address +needs a restart" <<<"$get"
list=$(fleet_ctl agents list)
chk "agents list: NACKED and LAST NACK v$v2" \
  grep -qE "^$SRV +server +connected +NACKED +$v2 +$v1 .* v$v2 " <<<"$list"
eq "server /metrics teredo_config_updates_total{result=\"nack\"}" \
  "$(fleet_agent_metric srv "$SP" 'teredo_config_updates_total{result="nack"}')" 1
eq "server /metrics teredo_config_applied_version still v$v1" \
  "$(fleet_agent_metric srv "$SP" teredo_config_applied_version)" "$v1"
chk "server log: config rejected" grep -q "config rejected" "$LAB_DIR/teredo-server-srv.log"
chk "server alive" lab_alive teredo-server-srv
rs_answered() {   # the old config serves: an RS to the old primary address gets an RA
  lab_probe prb rs --server "$LAB_SRV_PRIMARY" --bind "$PRB:$1" --timeout 1.0 >/dev/null
  [[ $(lab_probe_q 'len([r for r in d["replies"] if r.get("is_ra")])') == 1 ]]
}
lab_probe_start prb
chk "old config still serving: RS to $LAB_SRV_PRIMARY answered" rs_answered 41000
chk "still listening on $LAB_SRV_PRIMARY:3544" lab_udp_listening srv "$LAB_SRV_PRIMARY" 3544
sleep 2   # the controller must not resend a NACKed version (the agent would NACK it again)
eq "not resent: one NACK after 2 s" \
  "$(fleet_agent_metric srv "$SP" 'teredo_config_updates_total{result="nack"}')" 1

# --- 3. Remove the override ----------------------------------------------------------------------
out=$(fleet_ctl config remove --agent "$SRV" --comment "undo") || lab_die "config remove failed"
lab_say "     $out"
[[ $out =~ version\ ([0-9]+) ]] && v3=${BASH_REMATCH[1]} || v3=missing
chk "override removed: agent synced at v$v3 (applied == desired)" \
  lab_wait_for 15 fleet_synced "$SRV" "$v3"
eq "server /metrics teredo_config_applied_version" \
  "$(fleet_agent_metric srv "$SP" teredo_config_applied_version)" "$v3"
chk "RS still answered" rs_answered 41001
printf 'server:\n  strict_rs: false\nlog:\n  level: debug\n' >"$LAB_DIR/debug.yaml"
out=$(fleet_ctl config set "$LAB_DIR/debug.yaml" --role server --wait --wait-timeout 20 2>&1) &&
  rc=0 || rc=$?
printf '%s\n' "$out" | sed 's/^/     /' >&2
eq "config set --wait on a healthy agent: exit status 0" "$rc" 0
chk "config set --wait reports the agent applied it" \
  grep -qE "^$SRV: applied version [0-9]+$" <<<"$out"

# --- 4. Retire the server: forget is refused while it is connected, then decommissions ----------
lab_say "-- retire $SRV"
ctl_metric() {   # ctl_metric SERIES: a series of the controller's /metrics
  curl -fsS -m 2 -o "$LAB_DIR/ctl.metrics" "http://127.0.0.1:$FLEET_METRICS_PORT/metrics" &&
    lab_metric "$LAB_DIR/ctl.metrics" "$1"
}
disconnected='teredo_controller_agents{role="server",state="disconnected"}'
out=$(fleet_ctl agents forget "$SRV" 2>&1) && rc=0 || rc=$?
lab_say "     while connected: $out"
chk "forget while connected: refused (FAILED_PRECONDITION, exit 1)" \
  test "$rc" = 1 -a -n "$(grep FAILED_PRECONDITION <<<"$out")"
chk "forget while connected: still known" fleet_connected "$SRV"
lab_stop teredo-server-srv
chk "stopped: the controller shows it disconnected" lab_wait_for 10 lab_not fleet_connected "$SRV"
eq "controller /metrics: one disconnected server (what TeredoAgentsDisconnected counts)" \
  "$(ctl_metric "$disconnected")" 1
out=$(fleet_ctl agents forget "$SRV" --comment "retired") || out="failed: $out"
lab_say "     $out"
chk "forget: recorded in a new version" grep -Eq "^forgot $SRV in version [0-9]+" <<<"$out"
eq "forget: agents list no longer has it" \
  "$(fleet_ctl --json agents list)" "{}"
eq "controller /metrics: no disconnected server left (the alert resolves)" \
  "$(ctl_metric "$disconnected")" 0
top=$(fleet_ctl config history | awk 'NR == 2')
lab_say "     history: $top"
chk "history: the decommission, who made it and why" \
  grep -Eq "forget agent $SRV +token:admin +retired" <<<"$top"

# The controller's structured log tells the same story.
ctl_log="$LAB_DIR/$FLEET_CTL_NAME.log"
chk "controller log: the agent's connection" \
  grep -Eq "msg=\"agent connected\" agent=$SRV role=server" "$ctl_log"
chk "controller log: the publishes with their author" \
  grep -Eq 'msg="config published" version=[0-9]+ change="set role server" author=token:admin' \
  "$ctl_log"
chk "controller log: the NACK with its reason" \
  grep -Eq "msg=\"config NACKed\" agent=$SRV version=$v2 error=.*primary_address" "$ctl_log"
chk "controller log: the disconnection" grep -Eq "msg=\"agent disconnected\" agent=$SRV" "$ctl_log"
lab_say "   (${SECONDS}s)"
lab_result "$title"
