#!/usr/bin/env bash
# The admin API needs the bearer token (issue "teredo-controller", Tests):
#   teredo-controller with controller.auth.token_file; teredoctl without a token, with a wrong
#   token, and with "Bearer" plus nothing gets UNAUTHENTICATED for reads (agents list, config
#   history) and writes (config set, drain), and a refused write publishes nothing; with the token
#   every call works. (Only the admin API takes the token; agents on the unix socket connect
#   without it in the other controller_* tests.) Every call that changes state leaves one audit
#   line (caller, target, result), refused ones included, reads none. /healthz and /readyz answer
#   next to /metrics. SIGHUP after a token rotation: the new token works, the old one is refused;
#   SIGHUP with a file that does not load changes nothing. An access file (named principals with
#   roles) added by SIGHUP: a read token reads but its drain is PERMISSION_DENIED, an admin token
#   drains, the audit names each principal; a broken access file is refused with its file:line.
#   The controller runs alone in the host's namespace: no network namespaces.
#
# Usage: controller_auth.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,10 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"

title="controller admin API authentication (bearer token)"
chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
quiet() { "$@" >/dev/null; }
fleet_init
lab_say "== $title"
SECONDS=0
fleet_controller_start

printf 'server:\n  strict_rs: false\n' >"$LAB_DIR/defaults.yaml"
printf 'not-the-token\n' >"$LAB_DIR/wrong-token"
printf '\n' >"$LAB_DIR/empty-token"
declare -A creds=([none]="" [wrong]="--token-file $LAB_DIR/wrong-token"
  [empty]="--token-file $LAB_DIR/empty-token")
calls=("agents list" "config history" "stats fleet"
  "config set $LAB_DIR/defaults.yaml --role server" "drain --role server")

# unauth CRED CALL...: the call must fail with UNAUTHENTICATED (exit status 1).
unauth() {
  local cred=$1 out rc=0
  shift
  # shellcheck disable=SC2086  # word splitting of the credential options is intended
  out=$(fleet_ctl_raw ${creds[$cred]} "$@" 2>&1) || rc=$?
  lab_log "$out"
  [[ $rc == 1 && $out == *"UNAUTHENTICATED"* ]]
}
# unauth_file TOKEN_FILE: agents list with that token fails with UNAUTHENTICATED.
unauth_file() {
  local out rc=0
  out=$(fleet_ctl_raw --token-file "$1" agents list 2>&1) || rc=$?
  [[ $rc == 1 && $out == *"UNAUTHENTICATED"* ]]
}
for cred in none wrong empty; do
  for call in "${calls[@]}"; do
    # shellcheck disable=SC2086
    chk "token $cred: '$call' refused (UNAUTHENTICATED)" unauth "$cred" $call
  done
done
out=$(fleet_ctl_raw agents list 2>&1) || true
lab_say "     without a token: $out"
out=$(fleet_ctl_raw --token-file "$LAB_DIR/wrong-token" agents list 2>&1) || true
lab_say "     wrong token:     $out"
eq "refused writes published nothing (no history)" \
  "$(fleet_ctl --json config history)" "{}"

for call in "agents list" "config history" "stats fleet" "stats nat"; do
  # shellcheck disable=SC2086
  chk "with the token: '$call' works" quiet fleet_ctl $call
done
out=$(fleet_ctl config set "$LAB_DIR/defaults.yaml" --role server) || out="failed: $out"
lab_say "     $out"
chk "with the token: config set publishes version 1" grep -q "published version 1" <<<"$out"
chk "with the token: drain --role server works" quiet fleet_ctl drain --role server

# The audit log: one line per call that changes state, with its caller and target.
log="$LAB_DIR/$FLEET_CTL_NAME.log"
chk "audit: the published config set is logged with caller and version" grep -Eq \
  'msg="admin change" method=SetConfig caller=token:admin peer=[^ ]+ target="role server, version 1" result=ok' \
  "$log"
chk "audit: the drain is logged" grep -Eq 'msg="admin change" method=Drain caller=token:admin .*result=ok' \
  "$log"
chk "audit: a refused write is logged as refused (16: UNAUTHENTICATED)" grep -Eq \
  'msg="admin change" method=SetConfig caller=unauthenticated .*result=16' "$log"
chk "audit: reads are not logged" lab_not grep -q 'method=ListAgents' "$log"

# /healthz and /readyz on admin.listen, next to /metrics.
http() { curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$FLEET_METRICS_PORT/$1"; }
eq "controller /healthz" "$(http healthz)" 200
eq "controller /readyz" "$(http readyz)" 200
eq "controller /metrics" "$(http metrics)" 200

# SIGHUP after a token rotation: the new token works at once, the old one no longer does.
cp "$FLEET_TOKEN" "$LAB_DIR/old-token"
printf 'rotated-%s\n' "$RANDOM$RANDOM" >"$FLEET_TOKEN"
kill -HUP "$FLEET_CTL_PID"
rotated() { quiet fleet_ctl agents list; }
chk "SIGHUP: the rotated token is accepted" lab_wait_for 5 rotated
chk "SIGHUP: the old token is refused" unauth_file "$LAB_DIR/old-token"
chk "SIGHUP: the controller is still running" lab_alive "$FLEET_CTL_NAME"
# A file that no longer loads changes nothing, and the controller keeps serving.
cp "$FLEET_CONF" "$LAB_DIR/good.yaml"
printf 'controller:\n  debounce: nonsense\n' >>"$FLEET_CONF"
kill -HUP "$FLEET_CTL_PID"
chk "SIGHUP with a bad file: refusal logged with the key" \
  lab_wait_for 5 grep -q 'msg="reload refused; the running config stays".*controller' "$log"
chk "SIGHUP with a bad file: the API still answers" rotated
cp "$LAB_DIR/good.yaml" "$FLEET_CONF"

# Named principals with roles (controller.auth.access_file), added by SIGHUP: a read token reads
# but cannot change anything, an admin token can; the audit names the principal.
viewer="viewer-$RANDOM$RANDOM-0123456789"
ops="ops-$RANDOM$RANDOM-0123456789"
printf '# name role kind credential\nviewer read token %s\nops admin token %s\n' \
  "$viewer" "$ops" >"$LAB_DIR/access"
printf '%s\n' "$viewer" >"$LAB_DIR/viewer-token"
printf '%s\n' "$ops" >"$LAB_DIR/ops-token"
sed -i "s|^    token_file: .*|&\n    access_file: \"$LAB_DIR/access\"|" "$FLEET_CONF"
kill -HUP "$FLEET_CTL_PID"
as_viewer() { fleet_ctl_raw --token-file "$LAB_DIR/viewer-token" "$@"; }
chk "access file: the read principal can list agents" lab_wait_for 5 quiet as_viewer agents list
out=$(as_viewer drain --role relay 2>&1) && rc=0 || rc=$?
lab_say "     read principal drains: $out"
chk "access file: the read principal cannot drain (PERMISSION_DENIED, exit 1)" \
  test "$rc" = 1 -a -n "$(grep PERMISSION_DENIED <<<"$out")"
chk "access file: the admin principal can drain" \
  quiet fleet_ctl_raw --token-file "$LAB_DIR/ops-token" drain --role relay
chk "access file: the token_file principal still works" quiet fleet_ctl agents list
chk "audit: the refused drain names the read principal (7: PERMISSION_DENIED)" grep -Eq \
  'msg="admin change" method=Drain caller=token:viewer .*result=7' "$log"
chk "audit: the drain names the admin principal" grep -Eq \
  'msg="admin change" method=Drain caller=token:ops .*result=ok' "$log"
# A broken access file is refused with its file:line; the principals in force stay.
cp "$LAB_DIR/access" "$LAB_DIR/access.good"
printf 'intruder superuser token %s\n' "$RANDOM$RANDOM-0123456789" >>"$LAB_DIR/access"
kill -HUP "$FLEET_CTL_PID"
chk "SIGHUP with a bad access file: refused with file:line and the role" lab_wait_for 5 grep -q \
  "reload refused.*$LAB_DIR/access:4: role .*superuser.*must be read or admin" "$log"
chk "SIGHUP with a bad access file: the read principal still reads" quiet as_viewer agents list
cp "$LAB_DIR/access.good" "$LAB_DIR/access"

# A teredoctl context file in place of the flags (TEREDOCTL_CONFIG).
printf 'current-context: lab\ncontexts:\n  lab:\n    controller: 127.0.0.1:%s\n    token-file: %s\n' \
  "$FLEET_ADMIN_PORT" "$LAB_DIR/ops-token" >"$LAB_DIR/teredoctl.yaml"
ctl_bin="$TEREDO_BUILD_DIR/tools/teredoctl/teredoctl"
chk "teredoctl with a context file and no flags: agents list works" \
  quiet env TEREDOCTL_CONFIG="$LAB_DIR/teredoctl.yaml" "$ctl_bin" agents list
out=$(TEREDOCTL_CONFIG="$LAB_DIR/teredoctl.yaml" "$ctl_bin" --context prod agents list 2>&1) &&
  rc=0 || rc=$?
eq "teredoctl --context naming no context: usage error (64)" "$rc" 64
chk "teredoctl --context naming no context: says so" grep -q "no such context" <<<"$out"

lab_say "   (${SECONDS}s)"
lab_result "$title"
