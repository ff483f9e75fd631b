#!/usr/bin/env bash
# Agent identity under mutual TLS (issue "teredo-controller", Tests): the controller
# checks the id against the client certificate when mTLS is on:
#   A throwaway CA, a controller certificate and client certificates for lab-srv-a, lab-srv-b and
#   an operator are made with the openssl CLI in the lab's work dir. teredo-controller runs with
#   tls.cert_file/key_file/ca_file and require_client_cert (both listeners, over the unix socket).
#   1. Agent A (namespace srv) presents A's certificate but claims B's id: refused
#      (PERMISSION_DENIED logged by the agent, never "stream up"); teredoctl does not know lab-srv-b.
#   2. The real B (namespace alt, B's certificate) connects as lab-srv-b with its own address,
#      while the impostor keeps being refused.
#   3. A with its own id and certificate connects; A without a client certificate is refused.
#   4. The admin API needs the operator certificate too: teredoctl with the token but no client
#      certificate fails; with it, it works. A certificate without a token authorises nothing
#      (an agent's is refused for reads and writes, and so is the operator's) until the access
#      file names it (added by SIGHUP): then the operator's drains, and the audit names it.
#
# Usage: controller_mtls.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,16 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"

title="controller mTLS (an agent presenting another agent's id is refused)"
A=lab-srv-a
B=lab-srv-b
ALT_PRIMARY=198.51.100.30
ALT_SECONDARY=198.51.100.31
chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
quiet() { "$@" >/dev/null; }
command -v openssl >/dev/null || lab_die "missing tool: openssl"
fleet_init
lab_say "== $title"
SECONDS=0

fleet_make_pki "$LAB_DIR/pki" "$A" "$B"
FLEET_TLS=1
chk "certificate of $A has CN=$A" grep -q "CN *= *$A" \
  <<<"$(openssl x509 -in "$LAB_DIR/pki/$A.pem" -noout -subject)"
lab_router inet
lab_segment pub 198.51.100.1/24 2001:db8:1::1/64
lab_ns srv
lab_attach srv eth0 pub "$LAB_SRV_PRIMARY/24" "$LAB_SRV_SECONDARY/24" "$LAB_SRV_IPV6/64"
lab_ns alt
lab_attach alt eth0 pub "$ALT_PRIMARY/24" "$ALT_SECONDARY/24" 2001:db8:1::30/64
fleet_controller_start

refused_logged() {   # refused_logged LOG: the agent logged a refused stream and never got one up
  grep -q "controller stream down.*code=7" "$1" && ! grep -q "controller stream up" "$1"
}
known() { fleet_ctl agents get "$1" >/dev/null 2>&1; }

# --- 1. Impostor ---------------------------------------------------------------------------------
lab_say "-- agent A (certificate $A) claims agent.id $B"
fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$B" "" "$A"
srv_log="$LAB_DIR/teredo-server-srv.log"
chk "A's stream refused (PERMISSION_DENIED, code 7)" lab_wait_for 10 refused_logged "$srv_log"
lab_say "     $(grep -m1 "controller stream down" "$srv_log" || true)"
chk "refusal names the certificate mismatch" grep -q "matches neither the CN nor a SAN" "$srv_log"
chk "teredoctl: $B unknown (NOT_FOUND)" lab_not known "$B"
eq "teredoctl: no agents" "$(fleet_ctl --json agents list)" "{}"
eq "A's /metrics teredo_controller_connected" \
  "$(fleet_agent_metric srv "$FLEET_SERVER_ADMIN_PORT" teredo_controller_connected)" 0
chk "A keeps serving anyway (/readyz)" lab_admin_ready srv "$FLEET_SERVER_ADMIN_PORT"

# --- 2. The real B -------------------------------------------------------------------------------
lab_say "-- agent B (certificate $B) as $B"
fleet_server alt "$ALT_PRIMARY" "$ALT_SECONDARY" "$B"
chk "B connected" lab_wait_for 10 fleet_connected "$B"
eq "the $B the controller knows is B (its addresses)" \
  "$(fleet_agent "$B" '",".join(d["agent"]["addresses"])')" "$ALT_PRIMARY,$ALT_SECONDARY"
sleep 2   # A keeps redialling meanwhile
eq "the impostor never got a stream" "$(grep -c "controller stream up" "$srv_log" || true)" 0
chk "the impostor was refused again" test "$(grep -c "code=7" "$srv_log")" -ge 2
eq "exactly one agent connected" \
  "$(lab_json "$(fleet_ctl --json agents list)" 'len(d["agents"])')" 1

# --- 3. A as itself; A without a certificate -------------------------------------------------------
lab_say "-- agent A as $A with its own certificate"
lab_stop teredo-server-srv
mv "$srv_log" "$LAB_DIR/teredo-server-srv-impostor.log"
fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$A"
chk "A connected as $A" lab_wait_for 10 fleet_connected "$A"
lab_say "-- agent A without a client certificate"
lab_stop teredo-server-srv
mv "$srv_log" "$LAB_DIR/teredo-server-srv-own.log"
ctl_log="$LAB_DIR/$FLEET_CTL_NAME.log"
fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$A" "" none
no_cert_refused() { grep -q "controller stream down" "$srv_log"; }
chk "A without a certificate: stream refused" lab_wait_for 10 no_cert_refused
lab_say "     $(grep -m1 "controller stream down" "$srv_log" || true)"
chk "A without a certificate: never up" lab_not grep -q "controller stream up" "$srv_log"
chk "teredoctl: $A disconnected" lab_wait_for 5 lab_not fleet_connected "$A"

# --- 4. Admin API under mTLS -----------------------------------------------------------------------
no_client_cert() {
  "$TEREDO_BUILD_DIR/tools/teredoctl/teredoctl" --controller "127.0.0.1:$FLEET_ADMIN_PORT" \
    --timeout 3 --tls-ca "$LAB_DIR/pki/ca.pem" --tls-server-name controller \
    --token-file "$FLEET_TOKEN" agents list >/dev/null 2>&1
}
chk "teredoctl with the token but no client certificate: refused" lab_not no_client_cert
chk "teredoctl with the operator certificate: works" quiet fleet_ctl agents list
# A certificate of the fleet's CA alone authorises nothing: not an agent's, not even the
# operator's until the access file lists it.
as_cert() {   # as_cert NAME ARGS...: teredoctl with NAME's certificate and no token
  local name=$1
  shift
  "$TEREDO_BUILD_DIR/tools/teredoctl/teredoctl" --controller "127.0.0.1:$FLEET_ADMIN_PORT" \
    --timeout 3 --tls-ca "$LAB_DIR/pki/ca.pem" --tls-server-name controller \
    --tls-cert "$LAB_DIR/pki/$name.pem" --tls-key "$LAB_DIR/pki/$name.key" "$@"
}
refused_unauth() { local out; out=$(as_cert "$@" 2>&1) && return 1; [[ $out == *UNAUTHENTICATED* ]]; }
chk "agent $A's certificate, no token: drain refused (UNAUTHENTICATED)" \
  refused_unauth "$A" drain --role server
chk "agent $A's certificate, no token: even reads refused" refused_unauth "$A" agents list
chk "operator certificate, no token, not listed: refused" refused_unauth operator agents list
printf 'oncall admin cert operator\n' >"$LAB_DIR/access"
sed -i "s|^    token_file: .*|&\n    access_file: \"$LAB_DIR/access\"|" "$FLEET_CONF"
kill -HUP "$FLEET_CTL_PID"
chk "operator certificate listed in the access file: drain works" \
  lab_wait_for 5 quiet as_cert operator drain --role server
chk "audit: the drain names the certificate principal" grep -Eq \
  'msg="admin change" method=Drain caller=cert:oncall .*result=ok' "$ctl_log"
chk "audit: the agent certificate's refused drain names it" grep -Eq \
  "msg=\"admin change\" method=Drain caller=cert\\?$A .*result=16" "$ctl_log"
chk "agent $A's certificate is still refused" refused_unauth "$A" agents list

lab_say "-- teredoctl agents list"
fleet_ctl agents list | sed 's/^/     /' >&2
[[ -s $ctl_log ]] && lab_log "$(cat "$ctl_log")"
lab_say "   (${SECONDS}s)"
lab_result "$title"
