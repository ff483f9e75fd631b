#!/usr/bin/env bash
# The admin HTTP listener on IPv6 (admin.listen "[ipv6]:port"):
#   teredo-server (standalone) in its own namespace with admin.listen "[::1]:9544": /metrics,
#   /healthz and /readyz answer over IPv6 loopback (curl -g http://[::1]:9544/...), the metrics
#   are the server's (teredo_build_info, teredo_server_*), and nothing listens on 127.0.0.1:9544.
#   teredo-controller in another namespace with admin.listen "[::1]:9547" likewise serves its
#   /metrics (teredo_controller_*) and /readyz over IPv6. An address without brackets is refused by
#   --check-config with the key and file:line. Traffic stays inside the namespaces' loopback.
#
# Usage: admin_ipv6.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,10 "$@"

title="admin listener on IPv6 ([::1])"
chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
lab_init
lab_say "== $title"
SECONDS=0
server_bin="$TEREDO_BUILD_DIR/services/server/teredo-server"
ctl_bin="$TEREDO_BUILD_DIR/services/controller/teredo-controller"
[[ -x $server_bin && -x $ctl_bin ]] || lab_die "missing binaries under $TEREDO_BUILD_DIR"

lab_router inet
lab_segment pub 198.51.100.1/24 2001:db8:1::1/64
lab_ns srv
lab_attach srv eth0 pub "$LAB_SRV_PRIMARY/24" "$LAB_SRV_SECONDARY/24" "$LAB_SRV_IPV6/64"
lab_ns ctl

# get NS URL: the body of a GET and, on the last line, its HTTP status ("000": no answer).
get() { lab_exec "$1" curl -g -sS -m 2 -w '\n%{http_code}' "$2" 2>/dev/null || printf '\n000'; }
code() { get "$1" "$2" | tail -n 1; }

mkdir -p "$LAB_DIR/srv-state" "$LAB_DIR/ctl-state"
cat >"$LAB_DIR/server.yaml" <<END_SERVER
admin:
  listen: "[::1]:9544"
agent:
  id: lab-admin-ipv6
  state_dir: "$LAB_DIR/srv-state"
server:
  primary_address: "$LAB_SRV_PRIMARY"
  secondary_address: "$LAB_SRV_SECONDARY"
END_SERVER
lab_bg srv teredo-server "$server_bin" --config "$LAB_DIR/server.yaml"
ready6() { [[ $(code srv "http://[::1]:9544/readyz") == 200 ]]; }
chk "teredo-server: /readyz over IPv6 (200)" lab_wait_for 10 ready6
eq "teredo-server: /healthz over IPv6" "$(code srv "http://[::1]:9544/healthz")" 200
metrics=$(get srv "http://[::1]:9544/metrics")
eq "teredo-server: /metrics over IPv6" "$(tail -n 1 <<<"$metrics")" 200
chk "teredo-server: the metrics are the server's" grep -q '^teredo_server_' <<<"$metrics"
chk "teredo-server: with build info" grep -q '^teredo_build_info{' <<<"$metrics"
eq "teredo-server: nothing on 127.0.0.1:9544" "$(code srv "http://127.0.0.1:9544/metrics")" 000

printf 'ipv6-admin-token-%s\n' "$RANDOM$RANDOM" >"$LAB_DIR/token"
cat >"$LAB_DIR/controller.yaml" <<END_CONTROLLER
admin:
  listen: "[::1]:9547"
controller:
  agent_listen: "unix:$LAB_DIR/controller.sock"
  admin_listen: "127.0.0.1:9548"
  state_dir: "$LAB_DIR/ctl-state"
  auth:
    token_file: "$LAB_DIR/token"
END_CONTROLLER
lab_bg ctl teredo-controller "$ctl_bin" --config "$LAB_DIR/controller.yaml"
ctl_ready6() { [[ $(code ctl "http://[::1]:9547/readyz") == 200 ]]; }
chk "teredo-controller: /readyz over IPv6 (200)" lab_wait_for 10 ctl_ready6
metrics=$(get ctl "http://[::1]:9547/metrics")
chk "teredo-controller: /metrics over IPv6 are the controller's" \
  grep -q '^teredo_controller_' <<<"$metrics"

sed 's/"\[::1\]:9544"/"::1:9544"/' "$LAB_DIR/server.yaml" >"$LAB_DIR/bad.yaml"
out=$("$server_bin" --check-config "$LAB_DIR/bad.yaml" 2>&1) && rc=0 || rc=$?
lab_say "     $out"
eq "--check-config: an IPv6 address without brackets is refused (exit 1)" "$rc" 1
chk "--check-config: the refusal names file:line and the key" \
  grep -q 'bad.yaml:2:.*admin.listen: must be "ipv4:port" or "\[ipv6\]:port"' <<<"$out"

lab_say "   (${SECONDS}s)"
lab_result "$title"
