#!/usr/bin/env bash
# The admin API needs the bearer token (issue "teredo-controller", Tests):
#   teredo-controller with controller.auth.token_file; teredoctl without a token, with a wrong
#   token, and with "Bearer" plus nothing gets UNAUTHENTICATED for reads (agents list, config
#   history) and writes (config set, drain), and a refused write publishes nothing; with the token
#   every call works. (Only the admin API takes the token; agents on the unix socket connect
#   without it in the other controller_* tests.) The controller runs alone in the host's
#   namespace: no network namespaces.
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

lab_say "   (${SECONDS}s)"
lab_result "$title"
