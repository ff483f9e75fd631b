#!/usr/bin/env bash
# The systemd units of deploy/systemd under a real systemd (PID 1 of a podman container):
#   A Debian 12 root filesystem with systemd and the daemons' runtime libraries (debootstrap
#   --variant=minbase from the Debian mirror, cached as a tarball under BUILD_DIR/images) runs
#   /sbin/init in a privileged container without network (only the lab addresses the test puts
#   on a veth pair inside it). The build's binaries are mounted at /usr/local/bin and the units
#   installed unchanged in /etc/systemd/system.
#   1. teredo-server (Type=notify): `systemctl start` returns once it serves (/readyz 200 at that
#      moment, STATUS "serving"); it runs as a dynamic user with no capability left; `systemctl
#      reload` reloads in place (same PID, "config reloaded"); with WatchdogSec=3s (a drop-in)
#      a stopped (SIGSTOP, i.e. hung) daemon is killed by the watchdog and restarted.
#   2. teredo-controller: starts, is ready, runs as a dynamic user with no capability.
#   3. `systemctl stop` ends both cleanly (result success).
# Exits 77 (ctest: skipped) when podman cannot run a container on this machine, saying why.
#
# Usage: systemd_units.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,10 "$@"
# shellcheck source-path=SCRIPTDIR/../.. source=tools/container-env.sh
source "$src/tools/container-env.sh"

title="systemd units under a real systemd: notify, reload, watchdog, dynamic users"
chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
lab_init
lab_say "== $title"
SECONDS=0
images="$TEREDO_BUILD_DIR/images"
mkdir -p "$images"
container_env_setup "$images"
if ! why=$(container_env_probe "$images"); then
  lab_say "SKIP: $why"
  exit 77
fi
command -v debootstrap >/dev/null || lab_die "debootstrap is not installed (tools/setup.sh)"

# The root filesystem, made once per package list.
packages=systemd,systemd-sysv,dbus,libgrpc++1.51,libprotobuf32,libyaml-cpp0.7,libjudydebian1
packages+=,libprometheus-cpp-core1.0,libmicrohttpd12,libsystemd0,iproute2,curl,procps
key=$(printf '%s' "$packages" | sha256sum | cut -c1-12)
tarball="$images/systemd-rootfs-$key.tar"
image="localhost/teredo-systemd-test:$key"
if [[ ! -s $tarball ]]; then
  lab_say "-- debootstrap a systemd root filesystem (once; cached in $tarball)"
  rootfs="$LAB_DIR/rootfs"
  debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" \
    "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$LAB_DIR/debootstrap.log" 2>&1 ||
    lab_die "debootstrap failed (log: $LAB_DIR/debootstrap.log)"
  tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  rm -rf "$rootfs"
fi
if ! podman image exists "$image"; then
  podman import --message "teredo systemd test rootfs" "$tarball" "$image" >/dev/null ||
    lab_die "podman import failed"
fi

SD_CTR="$LAB_PREFIX-systemd"
# On exit: the journal of both units when something failed, the container removed (by name),
# then lab.sh's own exit handler with the script's status.
sd__on_exit() {
  local rc=$?
  if ((rc != 0)); then
    timeout 20 podman exec "$SD_CTR" journalctl -u teredo-server -u teredo-controller --no-pager \
      2>/dev/null | tail -n 40 >&2
  fi
  timeout 60 podman rm --force --ignore --time 5 "$SD_CTR" >/dev/null 2>&1 || true
  sd__status "$rc"
  lab__on_exit
}
sd__status() { return "$1"; }
trap 'sd__on_exit' EXIT
bin=(-v "$TEREDO_BUILD_DIR/services/server/teredo-server:/usr/local/bin/teredo-server:ro"
  -v "$TEREDO_BUILD_DIR/services/controller/teredo-controller:/usr/local/bin/teredo-controller:ro")
podman --runtime runc run -d --name "$SD_CTR" --privileged --systemd=always --network none \
  --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 "${bin[@]}" "$image" /sbin/init \
  >/dev/null || lab_die "podman run failed"
in_ctr() { podman exec "$SD_CTR" "$@"; }
booted() { [[ $(in_ctr systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
chk "systemd is PID 1 and running" lab_wait_for 60 booted

for unit in teredo-server teredo-controller; do
  podman cp "$src/deploy/systemd/$unit.service" "$SD_CTR:/etc/systemd/system/$unit.service"
done
in_ctr sh -ec '
  ip link add lab0 type veth peer name lab1
  ip link set lab0 up && ip link set lab1 up
  ip addr add 198.51.100.10/24 dev lab0 && ip addr add 198.51.100.11/24 dev lab0
  mkdir -p /etc/teredo
  printf "agent:\n  id: sd-server\n  state_dir: /var/lib/teredo-server\nserver:\n  primary_address: 198.51.100.10\n  secondary_address: 198.51.100.11\n" >/etc/teredo/server.yaml
  printf "systemd-test-token-0123456789\n" >/etc/teredo/admin-token
  chmod 0644 /etc/teredo/admin-token
  printf "controller:\n  state_dir: /var/lib/teredo-controller\n  auth:\n    token_file: /etc/teredo/admin-token\n" >/etc/teredo/controller.yaml
  systemctl daemon-reload' || lab_die "cannot prepare the container"
prop() { in_ctr systemctl show -p "$2" --value "$1"; }
caps_none() {   # caps_none PID: no effective, permitted or ambient capability
  [[ $(in_ctr grep -cE '^Cap(Eff|Prm|Amb):[[:space:]]+0+$' "/proc/$1/status") == 3 ]]
}

# --- 1. teredo-server ---------------------------------------------------------------------------
lab_say "-- teredo-server"
chk "systemctl start teredo-server returns success" in_ctr systemctl start teredo-server
eq "active as soon as start returned" "$(in_ctr systemctl is-active teredo-server)" active
eq "and serving at that moment: /readyz" \
  "$(in_ctr curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:9544/readyz)" 200
eq "the status it notified" "$(prop teredo-server StatusText)" serving
eq "Type=notify with the unit's watchdog" \
  "$(prop teredo-server Type) $(prop teredo-server WatchdogUSec)" "notify 30s"
pid=$(prop teredo-server MainPID)
uid=$(in_ctr stat -c %u "/proc/$pid")
lab_say "     MainPID $pid, uid $uid"
chk "runs as a dynamic user (uid $uid in 61184..65519)" test "$uid" -ge 61184 -a "$uid" -le 65519
chk "holds no capability once running" caps_none "$pid"
chk "systemctl reload teredo-server" in_ctr systemctl reload teredo-server
eq "reloaded in place (same PID)" "$(prop teredo-server MainPID)" "$pid"
reloaded() { in_ctr journalctl -u teredo-server --no-pager | grep -q 'config reloaded'; }
chk "the daemon reloaded its file" lab_wait_for 5 reloaded
# A hung daemon: the watchdog (3 s in a drop-in) kills it and Restart= starts it again.
in_ctr sh -ec 'mkdir -p /etc/systemd/system/teredo-server.service.d
  printf "[Service]\nWatchdogSec=3s\n" >/etc/systemd/system/teredo-server.service.d/test.conf
  systemctl daemon-reload && systemctl restart teredo-server'
pid=$(prop teredo-server MainPID)
restarts=$(prop teredo-server NRestarts)
in_ctr kill -STOP "$pid"
restarted() { [[ $(prop teredo-server NRestarts) -gt $restarts && $(prop teredo-server MainPID) != "$pid" ]]; }
chk "a hung teredo-server is restarted by the watchdog" lab_wait_for 20 restarted
chk "the journal says why (watchdog timeout)" \
  lab_wait_for 5 sh -c "podman exec $SD_CTR journalctl -u teredo-server --no-pager | grep -q 'Watchdog timeout'"
eq "serving again" "$(in_ctr systemctl is-active teredo-server)" active

# --- 2. teredo-controller -----------------------------------------------------------------------
lab_say "-- teredo-controller"
chk "systemctl start teredo-controller returns success" in_ctr systemctl start teredo-controller
eq "active and ready: /readyz" \
  "$(in_ctr curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:9547/readyz)" 200
cpid=$(prop teredo-controller MainPID)
cuid=$(in_ctr stat -c %u "/proc/$cpid")
chk "runs as a dynamic user (uid $cuid)" test "$cuid" -ge 61184 -a "$cuid" -le 65519
chk "holds no capability" caps_none "$cpid"

# --- 3. Stop ------------------------------------------------------------------------------------
in_ctr systemctl stop teredo-server teredo-controller
eq "both stopped" "$(in_ctr systemctl is-active teredo-server teredo-controller | tr '\n' ' ')" \
  "inactive inactive "
eq "and ended cleanly" "$(prop teredo-server Result) $(prop teredo-controller Result)" \
  "success success"

lab_say "   (${SECONDS}s)"
lab_result "$title"
