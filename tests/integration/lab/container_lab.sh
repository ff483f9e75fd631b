# shellcheck shell=bash
# shellcheck disable=SC2034  # CTR_* variables are this library's interface to its callers.
# The fleet in containers (sourced after lab.sh and fleet_lab.sh by tools/fleet-demo.sh
# --containers and tests/integration/container_fleet.sh): teredo-controller, teredo-server and
# teredo-relay as podman containers of the project's image (deploy/container/Containerfile, built
# by tools/build-images.sh), run the way the Helm chart runs its pods:
#   - the image's own numeric non-root user, a read-only root file system (no tmpfs added),
#     no_new_privs (the chart's allowPrivilegeEscalation: false), every capability dropped but
#     NET_RAW for the server, NET_ADMIN + NET_RAW and /dev/net/tun for the relay, none for the
#     controller (podman gives a non-root user the added capabilities as ambient ones; the
#     daemons drop them once their sockets are open);
#   - each config mounted read-only at /etc/teredo/ROLE.yaml, the agents' state (last-known-good
#     config) at /var/lib/teredo, the controller's state on a podman volume at
#     /var/lib/teredo-controller and its admin token at /etc/teredo/admin/token;
#   - the relay's /dev/net/tun is a node of the same device with mode 0666, as udev makes it on a
#     stock Debian host (some hosts, containers among them, have it 0600, which the image's user
#     could not open); opening it is not the privilege, TUNSETIFF needs CAP_NET_ADMIN;
#   - server and relay joined to the lab's namespaces (--network ns:/run/netns/NAME); the
#     controller on the host's network, its admin API and /metrics on 127.0.0.1 as in
#     fleet_lab.sh; agents reach it on a unix socket in a directory the three containers share
#     (/run/teredo, read-only for the agents).
# /proc/sys stays read-only, as a Kubernetes pod has it: the relay writes none of its tun's IPv6
# sysctls that already hold their value, and only warns about the hardening ones it cannot set.
#
#   ctr_init IMAGE                 # after fleet_init: podman settings, the image, teardown on exit
#   ctr_controller_start           # like fleet_controller_start
#   ctr_controller_stop            # stop it (its volume stays)
#   ctr_server NS PRIMARY SECONDARY ID [EXTRA_SERVER_YAML]    # like fleet_server
#   ctr_relay NS BIND PORT ID [EXTRA_RELAY_YAML]              # like fleet_relay
#   ctr_name NAME / ctr_pid NAME / ctr_status NAME FIELD       # NAME: controller, teredo-server-NS...
#   CTR_REMOVE_IMAGE=REF           # an image (tag) of the caller's to remove on exit as well
#
# Containers (named $LAB_PREFIX-NAME, labelled teredo-fleet.lab=$LAB_PREFIX) run in the
# foreground of a lab_bg process, so their output is in $LAB_DIR/NAME.log; on exit every
# container and volume this run created is removed by name before lab.sh's teardown.

if [[ -n ${CONTAINER_LAB_SH_LOADED:-} ]]; then
  return 0
fi
CONTAINER_LAB_SH_LOADED=1
[[ -n ${FLEET_LAB_SH_LOADED:-} ]] || {
  echo "container_lab.sh: source lab.sh and fleet_lab.sh first" >&2
  exit 2
}
# shellcheck source-path=SCRIPTDIR source=../../../tools/container-env.sh
source "$LAB_SRC_DIR/tools/container-env.sh"

declare -g CTR_IMAGE="" CTR_UID="" CTR_GID="" CTR_RUN_DIR="" CTR_VOLUME="" CTR_TUN=""
declare -g CTR_REMOVE_IMAGE=${CTR_REMOVE_IMAGE:-}
declare -g -a CTR__CONTAINERS=() CTR__VOLUMES=()
# Exactly the capabilities the Helm chart adds (helm/teredo-fleet/templates/agents.yaml).
declare -g -A CTR_CAPS=([controller]="" [server]="NET_RAW" [relay]="NET_ADMIN NET_RAW")

# ctr_init IMAGE: after fleet_init. Points podman at the repository's settings, checks IMAGE is
# present (never pulled), prepares the shared socket directory and the admin token for the
# image's user, and installs the exit handler that removes this run's containers and volumes.
ctr_init() {
  local user major minor
  CTR_IMAGE=$1
  trap 'ctr__on_exit' EXIT
  [[ $FLEET_TLS != 1 ]] || lab_die "container_lab.sh: FLEET_TLS is not supported"
  container_env_setup "$TEREDO_BUILD_DIR/images"
  podman image exists "$CTR_IMAGE" ||
    lab_die "no image $CTR_IMAGE (build it: tools/build-images.sh --prebuilt $TEREDO_BUILD_DIR)"
  user=$(podman image inspect --format '{{.Config.User}}' "$CTR_IMAGE")
  [[ $user =~ ^([1-9][0-9]*):([1-9][0-9]*)$ ]] ||
    lab_die "$CTR_IMAGE runs as '$user', not a numeric non-root user:group"
  CTR_UID=${BASH_REMATCH[1]}
  CTR_GID=${BASH_REMATCH[2]}
  CTR_RUN_DIR="$LAB_DIR/ctr-run"
  install -d -m 0700 -o "$CTR_UID" -g "$CTR_GID" "$CTR_RUN_DIR" "$LAB_DIR/ctr-admin"
  install -m 0400 -o "$CTR_UID" -g "$CTR_GID" "$FLEET_TOKEN" "$LAB_DIR/ctr-admin/token"
  FLEET_SOCK="$CTR_RUN_DIR/controller.sock"
  read -r major minor < <(stat -c '%t %T' /dev/net/tun) || lab_die "no /dev/net/tun on this host"
  CTR_TUN="$LAB_DIR/ctr-tun"
  lab_run mknod -m 0666 "$CTR_TUN" c "$((16#$major))" "$((16#$minor))"
  CTR_VOLUME="$LAB_PREFIX-controller-state"
}

# The exit handler: containers and volumes first (by name), then fleet_lab.sh's handler (logs on
# failure, lab.sh's teardown, socket and work dir) with the script's exit status.
ctr__on_exit() {
  local rc=$?
  trap - EXIT
  set +e
  ctr_teardown
  ctr__status "$rc"
  fleet__on_exit
}
ctr__status() { return "$1"; }

# ctr_teardown: remove every container and volume this run created (and CTR_REMOVE_IMAGE).
# Idempotent.
ctr_teardown() {
  local v
  if ((${#CTR__CONTAINERS[@]} > 0)); then
    timeout 60 podman rm --force --ignore --time 5 "${CTR__CONTAINERS[@]}" >/dev/null 2>&1 ||
      lab_say "lab: could not remove containers ${CTR__CONTAINERS[*]}"
    CTR__CONTAINERS=()
  fi
  for v in "${CTR__VOLUMES[@]}"; do
    if podman volume exists "$v"; then
      timeout 30 podman volume rm "$v" >/dev/null 2>&1 || lab_say "lab: could not remove volume $v"
    fi
  done
  CTR__VOLUMES=()
  if [[ -n $CTR_REMOVE_IMAGE ]] && podman image exists "$CTR_REMOVE_IMAGE"; then
    timeout 30 podman rmi "$CTR_REMOVE_IMAGE" >/dev/null 2>&1 ||
      lab_say "lab: could not remove image $CTR_REMOVE_IMAGE"
  fi
  CTR_REMOVE_IMAGE=""
}

ctr_name() {   # ctr_name NAME: the container's name
  printf '%s-%s' "$LAB_PREFIX" "$1"
}

# ctr_pid NAME: the host PID of the container's process (the daemon); empty if not running.
ctr_pid() {
  local pid
  pid=$(podman inspect --format '{{.State.Pid}}' "$(ctr_name "$1")" 2>/dev/null) || return 1
  [[ $pid =~ ^[1-9][0-9]*$ ]] || return 1
  printf '%s' "$pid"
}

# ctr_status NAME FIELD: a field of /proc/PID/status of the daemon in container NAME (first
# value: Uid prints the real uid).
ctr_status() {
  local pid
  pid=$(ctr_pid "$1") || return 1
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$pid/status"
}

# ctr__run NAME ROLE NETWORK [PODMAN_OPTION...]: start the image's teredo-ROLE with
# /etc/teredo/ROLE.yaml ($LAB_DIR/NAME.yaml) as container $LAB_PREFIX-NAME in the background
# (lab_bg NAME: output in $LAB_DIR/NAME.log).
ctr__run() {
  local name=$1 role=$2 network=$3 cname cap
  shift 3
  local -a opts=(--rm --name "$(ctr_name "$name")" --label "teredo-fleet.lab=$LAB_PREFIX"
    --pull=never --network "$network" --read-only --read-only-tmpfs=false
    --security-opt no-new-privileges --cap-drop all)
  for cap in ${CTR_CAPS[$role]}; do
    opts+=(--cap-add "$cap")
  done
  opts+=(--volume "$LAB_DIR/$name.yaml:/etc/teredo/$role.yaml:ro" "$@")
  cname=$(ctr_name "$name")
  CTR__CONTAINERS+=("$cname")
  lab_bg - "$name" podman run "${opts[@]}" "$CTR_IMAGE" "teredo-$role" \
    --config "/etc/teredo/$role.yaml"
}

# ctr_controller_start: teredo-controller in a container on the host's network (the config is
# written on the first start, the state volume created then too); waits for its admin API.
ctr_controller_start() {
  if [[ ! -f $LAB_DIR/controller.yaml ]]; then
    cat >"$LAB_DIR/controller.yaml" <<EOF
# Generated by tests/integration/lab/container_lab.sh (paths inside the container)
admin:
  listen: "127.0.0.1:$FLEET_METRICS_PORT"
log:
  level: info
  format: text
controller:
  agent_listen: "unix:/run/teredo/controller.sock"
  admin_listen: "127.0.0.1:$FLEET_ADMIN_PORT"
  state_dir: /var/lib/teredo-controller
  auth:
    token_file: /etc/teredo/admin/token
  debounce: 100ms
  stats_interval: $FLEET_STATS_INTERVAL
EOF
    lab_run podman volume create --label "teredo-fleet.lab=$LAB_PREFIX" "$CTR_VOLUME"
    CTR__VOLUMES+=("$CTR_VOLUME")
  fi
  FLEET_CTL_STARTS=$((FLEET_CTL_STARTS + 1))
  FLEET_CTL_NAME=controller
  ctr__run controller controller host \
    --volume "$CTR_VOLUME:/var/lib/teredo-controller" \
    --volume "$LAB_DIR/ctr-admin:/etc/teredo/admin:ro" \
    --volume "$CTR_RUN_DIR:/run/teredo"
  FLEET_CTL_PID=$LAB_LAST_PID
  lab_wait_for 30 fleet_ctl agents list ||
    lab_die "teredo-controller container: admin API not answering (see $LAB_DIR/controller.log)"
  [[ -S $FLEET_SOCK ]] || lab_die "teredo-controller container: no agent socket $FLEET_SOCK"
}

# ctr_controller_stop: stop the controller's container (SIGTERM, as Kubernetes does) and wait
# until it is gone (its podman run reaps and removes it); its volume stays for the next
# ctr_controller_start.
ctr_controller_stop() {
  local cname
  cname=$(ctr_name controller)
  lab_run podman kill --signal TERM "$cname"
  lab_wait_for 20 lab_not lab_alive controller || lab_die "the controller's container did not stop"
  lab_stop controller || true
  lab_wait_for 10 lab_not podman container exists "$cname" ||
    lab_die "container $cname was not removed"
  FLEET_CTL_PID=""
}

# ctr__agent_conf NAME ID ADMIN_PORT SECTION EXTRA: a managed agent's config (container paths)
# in $LAB_DIR/NAME.yaml and its state directory $LAB_DIR/NAME-state, owned by the image's user.
ctr__agent_conf() {
  local name=$1 id=$2 port=$3 section=$4 extra=$5
  install -d -m 0700 -o "$CTR_UID" -g "$CTR_GID" "$LAB_DIR/$name-state"
  {
    printf '# Generated by tests/integration/lab/container_lab.sh (paths inside the container)\n'
    printf 'admin:\n  listen: "127.0.0.1:%s"\nlog:\n  level: info\n  format: text\n' "$port"
    printf 'agent:\n  id: "%s"\n  state_dir: /var/lib/teredo\n' "$id"
    printf 'controller:\n  address: "unix:/run/teredo/controller.sock"\n'
    printf '%s\n' "$section"
    [[ -z $extra ]] || printf '%s\n' "$extra"
  } >"$LAB_DIR/$name.yaml"
}

# ctr_server NS PRIMARY SECONDARY ID [EXTRA_SERVER_YAML]: teredo-server in a container joined to
# NS, managed by the controller; waits for both sockets and /readyz. Name: teredo-server-NS.
ctr_server() {
  local ns=$1 p=$2 s=$3 id=$4 extra=${5:-} name="teredo-server-$1"
  ctr__agent_conf "$name" "$id" "$FLEET_SERVER_ADMIN_PORT" \
    "$(printf 'server:\n  primary_address: "%s"\n  secondary_address: "%s"' "$p" "$s")" "$extra"
  ctr__run "$name" server "ns:/run/netns/$(lab_nsname "$ns")" \
    --volume "$LAB_DIR/$name-state:/var/lib/teredo" --volume "$CTR_RUN_DIR:/run/teredo:ro"
  lab_wait_for 30 lab_udp_listening "$ns" "$p" 3544 ||
    lab_die "teredo-server container in $ns: not listening on $p:3544 (see $LAB_DIR/$name.log)"
  lab_wait_for 5 lab_udp_listening "$ns" "$s" 3544 ||
    lab_die "teredo-server container in $ns: not listening on $s:3544"
  lab_wait_for 10 lab_admin_ready "$ns" "$FLEET_SERVER_ADMIN_PORT" ||
    lab_die "teredo-server container in $ns: /readyz not OK (see $LAB_DIR/$name.log)"
}

# ctr_relay NS BIND PORT ID [EXTRA_RELAY_YAML]: teredo-relay in a container joined to NS,
# managed by the controller, with /dev/net/tun; IPv6 forwarding on in NS; waits for the socket,
# the tun, the 2001::/32 route and /readyz. Name: teredo-relay-NS.
ctr_relay() {
  local ns=$1 bind=$2 port=$3 id=$4 extra=${5:-} name="teredo-relay-$1"
  ctr__agent_conf "$name" "$id" "$FLEET_RELAY_ADMIN_PORT" \
    "$(printf 'relay:\n  bind_address: "%s"\n  port: %s\n  interface: teredo' "$bind" "$port")" \
    "$extra"
  lab_sysctl "$ns" net.ipv6.conf.all.forwarding=1
  ctr__run "$name" relay "ns:/run/netns/$(lab_nsname "$ns")" --device "$CTR_TUN:/dev/net/tun" \
    --volume "$LAB_DIR/$name-state:/var/lib/teredo" --volume "$CTR_RUN_DIR:/run/teredo:ro"
  lab_wait_for 30 lab_udp_listening "$ns" "$bind" "$port" ||
    lab_die "teredo-relay container in $ns: not listening on $bind:$port (see $LAB_DIR/$name.log)"
  lab_wait_for 5 lab_link_up "$ns" teredo || lab_die "teredo-relay container in $ns: tun not up"
  lab_route "$ns" 2001::/32 dev teredo
  lab_wait_for 10 lab_admin_ready "$ns" "$FLEET_RELAY_ADMIN_PORT" ||
    lab_die "teredo-relay container in $ns: /readyz not OK (see $LAB_DIR/$name.log)"
}
