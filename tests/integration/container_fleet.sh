#!/usr/bin/env bash
# The fleet in containers (deploy/container/Containerfile, docs/containers.md):
#   1. The image is built from this build dir's binaries on the Debian 12 base made with
#      debootstrap (tools/build-images.sh --prebuilt; the base is made once and cached under
#      BUILD_DIR/images, nothing is pulled), with its OCI archive. It runs as a numeric non-root
#      user, is at most 80 MB uncompressed, carries the OCI labels (version = the project's, which
#      is the chart's appVersion), and the archive names it for containerd and holds that image.
#   2. teredo-controller, teredo-server and teredo-relay run as podman containers of it the way
#      the Helm chart runs its pods (tests/integration/lab/container_lab.sh): the image's user,
#      read-only root, no_new_privs, only the chart's capabilities (server NET_RAW; relay
#      NET_ADMIN + NET_RAW and /dev/net/tun; controller none), server and relay joined to the
#      lab's namespaces, the controller's state on a volume. Role defaults pushed with teredoctl
#      reach both agents; the image's own teredoctl (podman exec) lists them.
#   3. A real Miredo client behind a NAT qualifies and pings the native IPv6 host both ways
#      through them; once running, each daemon holds no capability (effective, permitted,
#      inheritable, ambient) and runs with no_new_privs as the image's user.
#   4. The controller's container is stopped and started again on the same volume: its history
#      is still there and both agents resync on their own.
# Exits 77 (ctest: skipped) when podman cannot run a container on this machine at all, saying why.
#
# Usage: container_fleet.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,22 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"
# shellcheck source-path=SCRIPTDIR source=lab/container_lab.sh
source "$here/lab/container_lab.sh"

title="the fleet in containers (image, chart's privileges, Miredo client through them)"
images="$TEREDO_BUILD_DIR/images"
[[ $(id -u) == 0 ]] || lab_die "must run as root"
container_env_setup "$images"
if ! reason=$(container_env_probe "$images"); then
  lab_say "integration.container_fleet: SKIPPED: $reason"
  exit 77
fi

# --- 1. The image ------------------------------------------------------------------------------
SECONDS=0
version=$(bash "$src/tools/build-images.sh" --print-ref)
version=${version##*:}
image="$(bash "$src/tools/build-images.sh" --tag ctest --print-ref)"
lab_say "== $image from the binaries of $TEREDO_BUILD_DIR (tools/build-images.sh --prebuilt)"
if ! bash "$src/tools/build-images.sh" --prebuilt "$TEREDO_BUILD_DIR" --tag ctest \
  >"$images/build-ctest.log" 2>&1; then
  tail -n 40 "$images/build-ctest.log" >&2
  lab_die "tools/build-images.sh failed (log: $images/build-ctest.log)"
fi
sed -n '/^== built in/,$p' "$images/build-ctest.log" >&2
build_seconds=$SECONDS
archive="$images/teredo-fleet-ctest.oci.tar"

chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
fleet_init
CTR_REMOVE_IMAGE=$image
ctr_init "$image"
lab_say "== $title"

user=$(podman image inspect --format '{{.Config.User}}' "$image")
numeric_non_root() { [[ $1 =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]]; }
chk "the image's user is numeric and not root ($user)" numeric_non_root "$user"
size=$(podman image inspect --format '{{.Size}}' "$image")
chk "the image is at most 80 MB uncompressed ($((size / 1000000)) MB)" test "$size" -le 80000000
labels=$(podman image inspect --format '{{json .Config.Labels}}' "$image")
eq "label version = the project version (the chart's appVersion)" \
  "$(lab_json "$labels" 'd.get("org.opencontainers.image.version")')" "$version"
eq "labels revision, source, licenses, created present; revision and licenses set" \
  "$(lab_json "$labels" '(all("org.opencontainers.image." + k in d for k in
    ("revision", "source", "licenses", "created")) and
    all(d.get("org.opencontainers.image." + k) for k in ("revision", "licenses")))')" true
# archive_ok: the OCI archive names the image for containerd and holds exactly this image.
archive_ok() {
  local id
  id=$(podman image inspect --format '{{.Id}}' "$image")
  "$LAB_PYTHON" - "$archive" "$image" "$id" <<'EOF_PY'
import json, sys, tarfile
path, name, image_id = sys.argv[1:]
with tarfile.open(path) as t:
    index = json.load(t.extractfile("index.json"))
    (m,) = index["manifests"]
    assert m["annotations"]["io.containerd.image.name"] == name, m["annotations"]
    manifest = json.load(t.extractfile("blobs/" + m["digest"].replace(":", "/")))
    assert manifest["config"]["digest"] == "sha256:" + image_id, manifest["config"]
EOF_PY
}
chk "the OCI archive names $image and holds it" archive_ok

# --- 2. The fleet in containers ----------------------------------------------------------------
SRV=ctr-server
RLY=ctr-relay
lab_std_core
lab_std_client 1 masquerade 40001
ctr_controller_start
vs=$(fleet_set server $'server:\n  rate_limit:\n    rs_per_second: 50\n    rs_burst: 100') ||
  lab_die "config set --role server refused"
vr=$(fleet_set relay $'relay:\n  icmp_errors_per_second: 20') || lab_die "config set --role relay refused"
ctr_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$SRV"
ctr_relay rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT" "$RLY"
# As in a Kubernetes pod, /proc/sys is read-only in the relay's container: the relay skips the
# hardening sysctls of its tun with a warning and runs (docs/containers.md).
chk "relay container: /proc/sys read-only, tun hardening sysctls reported, relay running" \
  grep -q 'hardening sysctl of the tun device could not be set' "$LAB_DIR/teredo-relay-rly.log"
chk "teredo-server container synced at v$vs" lab_wait_for 15 fleet_synced "$SRV" "$vs"
chk "teredo-relay container synced at v$vr" lab_wait_for 15 fleet_synced "$RLY" "$vr"
image_ctl_lists() {   # the image's teredoctl, in the controller's container, sees both agents
  local json
  json=$(podman exec "$(ctr_name controller)" teredoctl --controller "127.0.0.1:$FLEET_ADMIN_PORT" \
    --token-file /etc/teredo/admin/token --json agents list) || return 1
  [[ $(lab_json "$json" 'sorted(a["agent_id"] for a in d.get("agents", []))') == \
    "[\"$RLY\",\"$SRV\"]" ]]
}
chk "the image's teredoctl lists both agents" image_ctl_lists

for c in controller:controller teredo-server-srv:server teredo-relay-rly:relay; do
  name=${c%%:*}
  role=${c#*:}
  want=""
  for cap in ${CTR_CAPS[$role]}; do want+="${want:+ }CAP_$cap"; done
  got=$(podman inspect --format '{{range .EffectiveCaps}}{{.}} {{end}}' "$(ctr_name "$name")")
  eq "$name container: exactly the chart's capabilities" "${got% }" "$want"
  eq "$name container: read-only root file system" \
    "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$(ctr_name "$name")")" true
done

# --- 3. Traffic; privileges of the running daemons ---------------------------------------------
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
if lab_wait_qualified cli1 20; then
  addr=$(lab_teredo_addr cli1)
  chk "the Miredo client qualifies against the teredo-server container: $addr" true
  chk "ping client -> native host through the containers" fleet_ping cli1 "$LAB_HOST6" 3
  chk "ping native host -> client through the containers" fleet_ping host6 "$addr" 3
else
  lab_fail qualified "no Teredo address on cli1 within 20 s"
fi
status_is() { [[ $(ctr_status "$1" "$2") == "$3" ]]; }
for name in controller teredo-server-srv teredo-relay-rly; do
  # The drop follows readiness by microseconds.
  lab_wait_for 5 status_is "$name" CapPrm 0000000000000000 || true
  eq "$name runs as the image's user" "$(ctr_status "$name" Uid)" "$CTR_UID"
  for f in CapEff CapPrm CapInh CapAmb; do
    eq "$name holds no capability ($f)" "$(ctr_status "$name" "$f")" 0000000000000000
  done
  eq "$name runs with no_new_privs" "$(ctr_status "$name" NoNewPrivs)" 1
done

# --- 4. The controller's state on its volume ---------------------------------------------------
owned() {   # the volume holds the controller's files, owned by the image's user
  local dir
  dir=$(podman volume inspect --format '{{.Mountpoint}}' "$CTR_VOLUME") || return 1
  [[ -n $(find "$dir" -mindepth 1 -print -quit) && -z $(find "$dir" ! -uid "$CTR_UID" -print -quit) ]]
}
chk "the controller's state is on volume $CTR_VOLUME, owned by $CTR_UID" owned
lab_say "-- the controller's container stopped and started again on the same volume"
ctr_controller_stop
ctr_controller_start
history_kept() {
  local json
  json=$(fleet_ctl --json config history) || return 1
  [[ $(lab_json "$json" 'sorted(int(e.get("version", 0)) for e in d.get("versions", []))') == \
    "[$vs,$vr]" ]]
}
chk "the config history survived the restart (versions $vs, $vr)" history_kept
chk "teredo-server resynced on its own" lab_wait_for 30 fleet_synced "$SRV" "$vs"
chk "teredo-relay resynced on its own" lab_wait_for 30 fleet_synced "$RLY" "$vr"

lab_say "image built in $build_seconds s; whole test $SECONDS s"
lab_result "$title"
