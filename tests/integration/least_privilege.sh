#!/usr/bin/env bash
# Privileges are the minimum (README "Privileges"; deploy/systemd units): teredo-server runs as
# nobody with CAP_NET_RAW only and teredo-relay as nobody with CAP_NET_ADMIN + CAP_NET_RAW only
# (ambient capabilities set by setpriv, as systemd's AmbientCapabilities= does), and a real Miredo
# client behind a NAT qualifies and pings a native IPv6 host through them both ways. Once running,
# both have dropped every capability (CapEff = CapPrm = 0) and set no_new_privs. Each capability
# is needed: the server without CAP_NET_RAW and the relay without CAP_NET_ADMIN refuse to start
# (exit 2) and name the missing capability.
#
# Usage: least_privilege.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,10 "$@"
lab_init
# The daemons run as nobody: they must reach their config files (no secrets here) and their
# binaries, copied into the work dir because the build tree may sit under a private directory.
chmod 0711 "$LAB_DIR"
for role in server relay; do
  install -D -m 0755 "$(lab__teredo_bin "$role")" "$LAB_DIR/bin/services/$role/teredo-$role"
done
chmod -R a+rX "$LAB_DIR/bin"
TEREDO_BUILD_DIR="$LAB_DIR/bin"
# /dev/net/tun is mode 0666 on a stock Debian system (udev) but may be 0600 in containers: in a
# private mount namespace the relay gets a fresh /dev/net (tmpfs) holding a 0666 node of the same
# device (the host's /dev is left alone). Opening it is not the privilege; TUNSETIFF needs
# CAP_NET_ADMIN.
cat >"$LAB_DIR/with-tun.sh" <<'EOF_SH'
#!/bin/sh
mount -t tmpfs -o mode=0755,size=64k lab-tun /dev/net &&
  mknod -m 0666 /dev/net/tun c 10 200 && exec "$@"
EOF_SH
chmod 0755 "$LAB_DIR/with-tun.sh"
with_tun="unshare --mount --propagation private $LAB_DIR/with-tun.sh"

# as_nobody CAP...: a setpriv prefix that runs a command as nobody with exactly these
# capabilities (inheritable, ambient and bounding sets; nothing else).
as_nobody() {
  local caps="-all" c
  for c in "$@"; do caps+=",+$c"; done
  printf 'setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=%s --ambient-caps=%s --bounding-set=%s' \
    "$caps" "$caps" "$caps"
}

# status_of NAME FIELD: a field of /proc/PID/status of the daemon started as NAME.
status_of() {
  local entry pid
  for entry in "${LAB_PIDS[@]}"; do
    [[ ${entry#*:*:} == "$1" ]] || continue
    pid=${entry%%:*}
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$pid/status"
    return 0
  done
  return 1
}

lab_say "== teredo-server and teredo-relay as nobody, each with only the capabilities it needs"
lab_std_core
lab_std_client 1 masquerade 40001
LAB_TEREDO_WRAP=$(as_nobody net_raw) lab_teredo_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
LAB_TEREDO_WRAP="$with_tun $(as_nobody net_admin net_raw)" \
  lab_teredo_relay rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT"

# status_is NAME FIELD VALUE: for lab_wait_for (the drop follows readiness by microseconds).
status_is() { [[ $(status_of "$1" "$2") == "$3" ]]; }
for d in teredo-server-srv teredo-relay-rly; do
  lab_wait_for 5 status_is "$d" CapPrm 0000000000000000 || true
  lab_expect_eq "$d runs as nobody" "$(status_of "$d" Uid)" 65534 || true
  lab_expect_eq "$d has dropped every effective capability" "$(status_of "$d" CapEff)" \
    0000000000000000 || true
  lab_expect_eq "$d has dropped every permitted capability" "$(status_of "$d" CapPrm)" \
    0000000000000000 || true
  lab_expect_eq "$d runs with no_new_privs" "$(status_of "$d" NoNewPrivs)" 1 || true
done

lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_check "the Miredo client qualifies against the unprivileged server" \
  lab_wait_qualified cli1 20 || true
addr=$(lab_teredo_addr cli1 || true)
ping_ok() {   # ping_ok NS DST: first reply within 20 s (bubbles first), then 3 of 3
  lab_wait_for 20 lab_exec "$1" ping -6 -n -c 1 -W 1 "$2" &&
    lab_exec "$1" ping -6 -n -c 3 -i 0.3 -W 3 "$2" >/dev/null
}
lab_check "client -> native host through the unprivileged relay" ping_ok cli1 "$LAB_HOST6" || true
lab_check "native host -> client through the unprivileged relay" ping_ok host6 "$addr" || true
lab_stop teredo-server-srv
lab_stop teredo-relay-rly

# refused NS NAME WANT CAP...: the daemon (its config from above) started as nobody with only
# CAP... exits with status 2 and names WANT in its log.
refused() {
  local ns=$1 name=$2 want=$3 out rc=0
  shift 3
  # shellcheck disable=SC2046,SC2086  # the prefixes are split on purpose
  out=$(timeout 20 ip netns exec "$(lab_nsname "$ns")" $with_tun $(as_nobody "$@") \
    "$(lab__teredo_bin "${name#teredo-}")" --config "$LAB_DIR/$name-$ns.yaml" 2>&1) || rc=$?
  lab_log "$out"
  [[ $rc == 2 && $out == *"$want"* ]]
}
lab_check "teredo-server without CAP_NET_RAW refuses to start and says why" \
  refused srv teredo-server CAP_NET_RAW || true
lab_check "teredo-relay without CAP_NET_ADMIN refuses to start and says why" \
  refused rly teredo-relay CAP_NET_ADMIN net_raw || true
lab_result "least privilege: server (CAP_NET_RAW) and relay (CAP_NET_ADMIN, CAP_NET_RAW) as nobody"
