#!/usr/bin/env bash
# The service manager protocol (sd_notify) as a Type=notify unit with WatchdogSec= sees it, with
# the test in systemd's place: it binds the notification socket ($NOTIFY_SOCKET, a unix datagram
# socket in the lab's work dir) and records every message.
#   teredo-server (standalone, in its namespace) started with $WATCHDOG_USEC=3s: READY=1 once it
#   serves (its /readyz is 200 by then), WATCHDOG=1 repeatedly (once a second), RELOADING=1 then READY=1
#   around a SIGHUP, STOPPING=1 on SIGTERM. A stopped (SIGSTOP) daemon feeds no watchdog, which
#   is what makes systemd restart a hung one.
#   teredo-controller started without a watchdog: READY=1 and no WATCHDOG=1.
# No systemd is involved: the units' keys are checked by style.systemd_units.
#
# Usage: service_notify.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,10 "$@"

title="sd_notify: READY, WATCHDOG, RELOADING, STOPPING"
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

# listen NAME: a notification socket $LAB_DIR/NAME.sock whose messages go, one per line with
# newlines turned into "|", to $LAB_DIR/NAME.msgs.
listen() {
  lab_bg - "notify-$1" "$LAB_PYTHON" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode(errors="replace").replace("\n", "|") + "\n")
' "$LAB_DIR/$1.sock" "$LAB_DIR/$1.msgs"
  : >"$LAB_DIR/$1.msgs"
  lab_wait_for 5 test -S "$LAB_DIR/$1.sock" || lab_die "notification socket $1 not bound"
}
msgs() { cat "$LAB_DIR/$1.msgs"; }
count() { grep -c "$2" "$LAB_DIR/$1.msgs" || true; }

# --- teredo-server with a watchdog ---------------------------------------------------------------
listen server
mkdir -p "$LAB_DIR/srv-state"
cat >"$LAB_DIR/server.yaml" <<END_SERVER
agent:
  id: lab-notify
  state_dir: "$LAB_DIR/srv-state"
server:
  primary_address: "$LAB_SRV_PRIMARY"
  secondary_address: "$LAB_SRV_SECONDARY"
END_SERVER
lab_bg srv teredo-server env NOTIFY_SOCKET="$LAB_DIR/server.sock" WATCHDOG_USEC=3000000 \
  "$server_bin" --config "$LAB_DIR/server.yaml"
server_pid=$LAB_LAST_PID   # ip netns exec and env exec: the daemon's own PID
ready_sent() { [[ $(count server '^READY=1') -ge 1 ]]; }
chk "teredo-server: READY=1" lab_wait_for 10 ready_sent
chk "teredo-server: serving when it says so (/readyz 200)" lab_admin_ready srv 9544
chk "teredo-server: the STATUS says serving" grep -q '^READY=1|STATUS=serving' \
  "$LAB_DIR/server.msgs"
before=$(count server '^WATCHDOG=1$')
sleep 4
pets=$(($(count server '^WATCHDOG=1$') - before))
lab_say "     WATCHDOG=1 x$pets in 4 s"
chk "teredo-server: the watchdog is fed again and again (at least twice in 4 s)" \
  test "$pets" -ge 2
signal_server() { kill "-$1" "$server_pid"; }
signal_server STOP
before=$(count server '^WATCHDOG=1$')
sleep 3
eq "teredo-server stopped (SIGSTOP): no WATCHDOG=1 for 3 s" \
  "$(($(count server '^WATCHDOG=1$') - before))" 0
signal_server CONT
fed_again() { (($(count server '^WATCHDOG=1$') > before)); }
chk "teredo-server continued: the watchdog is fed again" lab_wait_for 5 fed_again
signal_server HUP
reloaded() { msgs server | tail -n 20 | grep -A1 '^RELOADING=1$' | grep -q '^READY=1'; }
chk "SIGHUP: RELOADING=1, then READY=1" lab_wait_for 5 reloaded
signal_server TERM
chk "SIGTERM: STOPPING=1" lab_wait_for 5 grep -q '^STOPPING=1$' "$LAB_DIR/server.msgs"
lab_say "     server: $(sort "$LAB_DIR/server.msgs" | uniq -c | tr -s ' ' | tr '\n' ';')"

# --- teredo-controller without a watchdog --------------------------------------------------------
listen controller
printf 'notify-token-%s\n' "$RANDOM$RANDOM" >"$LAB_DIR/token"
mkdir -p "$LAB_DIR/ctl-state"
cat >"$LAB_DIR/controller.yaml" <<END_CONTROLLER
admin:
  listen: "127.0.0.1:0"
controller:
  agent_listen: "unix:$LAB_DIR/agents.sock"
  admin_listen: "127.0.0.1:0"
  state_dir: "$LAB_DIR/ctl-state"
  auth:
    token_file: "$LAB_DIR/token"
END_CONTROLLER
lab_bg - teredo-controller env NOTIFY_SOCKET="$LAB_DIR/controller.sock" \
  "$ctl_bin" --config "$LAB_DIR/controller.yaml"
ctl_ready() { [[ $(count controller '^READY=1') -ge 1 ]]; }
chk "teredo-controller: READY=1" lab_wait_for 10 ctl_ready
sleep 2
eq "teredo-controller without \$WATCHDOG_USEC: no WATCHDOG=1" "$(count controller '^WATCHDOG=1$')" 0
lab_stop teredo-controller
chk "teredo-controller SIGTERM: STOPPING=1" grep -q '^STOPPING=1$' "$LAB_DIR/controller.msgs"

lab_say "   (${SECONDS}s)"
lab_result "$title"
