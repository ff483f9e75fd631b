#!/usr/bin/env bash
# The README's main job: the local Teredo fleet demo, on a fresh Debian 12 machine, as root.
#
# Installs what is needed, builds everything (teredo-server, teredo-relay, teredo-controller,
# teredoctl), creates network namespaces (nothing outside them is touched but a unix socket and
# a work dir under /tmp, and the controller's admin API on 127.0.0.1) and starts the fleet:
# teredo-controller, teredo-server (two consecutive "public" addresses) and teredo-relay (routing
# 2001::/32), both managed by the controller, which pushes role defaults set with teredoctl; a
# real Miredo client behind a NAT and a native IPv6 host. It shows the client's Teredo address,
# pings the IPv6 host through the fleet and back, prints the fleet's status and statistics from
# teredoctl (agents, config versions, packets, peers, NAT classes, distinct clients), then keeps
# everything running until Ctrl-C and tears it all down.
#
# Usage: tools/fleet-demo.sh [--once] [--nat masquerade|fullcone|symmetric] [--no-build]
#                            [--containers [--image REF]]
#   --once        run the check and exit (status 0 only if the pings went through both ways, both
#                 agents run the pushed config and the fleet statistics count the client)
#   --no-build    use the binaries already built in $BUILD_DIR (default: build/)
#   --containers  run controller, server and relay as podman containers of the project's image,
#                 as the Helm chart runs them (non-root, read-only root, only their capabilities;
#                 tests/integration/lab/container_lab.sh), the image built first from the
#                 binaries of $BUILD_DIR (tools/build-images.sh --prebuilt; docs/containers.md)
#   --image REF   with --containers: run this local image instead (never pulled)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
once=0
build=1
nat=masquerade
containers=0
image=""
while (($# > 0)); do
  case $1 in
    --once) once=1; shift ;;
    --no-build) build=0; shift ;;
    --nat) nat=$2; shift 2 ;;
    --containers) containers=1; shift ;;
    --image) image=$2; shift 2 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "fleet-demo: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $nat in
  masquerade | fullcone | symmetric) ;;
  *) echo "fleet-demo: --nat must be masquerade, fullcone or symmetric" >&2; exit 2 ;;
esac
if [[ -n $image ]] && ((!containers)); then
  echo "fleet-demo: --image needs --containers" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "fleet-demo: run as root (it creates network namespaces)" >&2
  exit 1
fi
export TEREDO_BUILD_DIR=${BUILD_DIR:-$root/build}
if ((build)); then
  TEREDO_THIRD_PARTY="$TEREDO_BUILD_DIR/third_party" bash tools/setup.sh
  cmake -S . -B "$TEREDO_BUILD_DIR" -G Ninja >/dev/null
  ninja -C "$TEREDO_BUILD_DIR" teredo-server teredo-relay teredo-controller teredoctl
fi
if ((containers)) && [[ -z $image ]]; then
  bash tools/build-images.sh --prebuilt "$TEREDO_BUILD_DIR" --no-archive
  image=$(bash tools/build-images.sh --print-ref)
fi
export LAB_MIREDO_DIR=${LAB_MIREDO_DIR:-$TEREDO_BUILD_DIR/third_party/miredo}

# shellcheck source-path=SCRIPTDIR source=../tests/integration/lab/lab.sh
source "$root/tests/integration/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lab/fleet_lab.sh
source "$root/tests/integration/lab/fleet_lab.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/integration/lab/container_lab.sh
source "$root/tests/integration/lab/container_lab.sh"

SRV=demo-server
RLY=demo-relay
fleet_init
how="processes"
if ((containers)); then
  ctr_init "$image"
  how="podman containers of $image"
fi
# The well-known ports when they are free, so `teredoctl --token-file ...` needs no --controller.
[[ -n $(ss -Htln "sport = :9548" 2>/dev/null) ]] || FLEET_ADMIN_PORT=9548
[[ -n $(ss -Htln "sport = :9547" 2>/dev/null) ]] || FLEET_METRICS_PORT=9547
teredoctl="$TEREDO_BUILD_DIR/tools/teredoctl/teredoctl --controller 127.0.0.1:$FLEET_ADMIN_PORT"
teredoctl+=" --token-file $FLEET_TOKEN"
ok=1
fail() {
  lab_say "  FAILED: $*"
  ok=0
}

lab_say "== Teredo Fleet demo: controller + teredo-server + teredo-relay ($how)," \
  "Miredo client behind a $nat NAT"
lab_std_core
lab_std_client 1 "$nat" 40001

lab_say "== teredo-controller: agents on unix:$FLEET_SOCK, admin API on 127.0.0.1:$FLEET_ADMIN_PORT"
if ((containers)); then ctr_controller_start; else fleet_controller_start; fi
lab_say "== teredoctl config set: role defaults for servers and relays"
printf 'server:\n  rate_limit:\n    rs_per_second: 50\n    rs_burst: 100\n' \
  >"$LAB_DIR/server-defaults.yaml"
printf 'relay:\n  icmp_errors_per_second: 20\n  bubble:\n    min_interval: 1s\n' \
  >"$LAB_DIR/relay-defaults.yaml"
for role in server relay; do
  lab_say "   \$ teredoctl config set $role-defaults.yaml --role $role"
  sed 's/^/     | /' "$LAB_DIR/$role-defaults.yaml" >&2
  fleet_ctl config set "$LAB_DIR/$role-defaults.yaml" --role "$role" \
    --comment "fleet-demo $role defaults" | sed 's/^/     /' >&2
done
lab_say "== teredo-server ($SRV) and teredo-relay ($RLY), controller.address unix:$FLEET_SOCK"
# A short NAT observation window in the bootstrap file (it is sized at start), so the client is
# classified within seconds rather than after the default 60 s.
server_start=fleet_server
relay_start=fleet_relay
if ((containers)); then
  server_start=ctr_server
  relay_start=ctr_relay
fi
"$server_start" srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$SRV" $'  nat_observation:\n    window: 5s'
"$relay_start" rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT" "$RLY"
lab_wait_for 15 fleet_synced "$SRV" 1 || fail "$SRV did not apply config version 1"
lab_wait_for 15 fleet_synced "$RLY" 2 || fail "$RLY did not apply config version 2"
lab_say "   $SRV: $(fleet_agent_versions "$SRV")"
lab_say "   $RLY: $(fleet_agent_versions "$RLY")"

lab_say "== Miredo client behind the NAT"
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_wait_qualified cli1 20 || lab_die "the Miredo client did not qualify (logs in $LAB_DIR)"
addr=$(lab_teredo_addr cli1)
lab_say "client qualified: $addr"
lab_say "  = $(lab_teredo_decode "$addr")   (server flags port client)"

lab_say "== ping -6 client -> native host $LAB_HOST6"
lab_wait_for 20 lab_exec cli1 ping -6 -n -c 1 -W 1 "$LAB_HOST6" || true
lab_exec cli1 ping -6 -n -c 3 -i 0.3 -W 3 "$LAB_HOST6" >&2 || fail "client -> native host"
lab_say "== ping -6 native host -> client $addr"
lab_exec host6 ping -6 -n -c 3 -i 0.3 -W 3 "$addr" >&2 || fail "native host -> client"

# Agents report every controller.stats_interval (2 s here): wait until the fleet counts the client.
counted() {   # distinct clients, RSs and NAT classifications (window 5 s) reported
  local json
  json=$(fleet_ctl --json stats nat 2>/dev/null) || return 1
  [[ $(lab_json "$json" '(int(d.get("distinct_clients", "0")) >= 1 and
      sum(int(v) for k, v in d.get("router", {}).items() if k.startswith("rs_")) >= 1 and
      sum(int(v) for v in d.get("nat", {}).values()) >= 1)') == true ]]
}
relay_counted() {
  local json
  json=$(fleet_ctl --json stats fleet --role relay 2>/dev/null) || return 1
  [[ $(lab_json "$json" 'int(d["fleet"].get("counters", {}).get("traffic", {})
      .get("udp_received", {}).get("packets", "0"))') -ge 1 ]]
}
lab_wait_for 20 counted ||
  fail "the controller's statistics do not count the client (distinct, RS, NAT class)"
lab_wait_for 15 relay_counted || fail "the controller's statistics show no relay traffic"

lab_say "== teredo-server statistics (/metrics in its namespace, non-zero series)"
lab_exec srv curl -s 127.0.0.1:9544/metrics | grep -E '^teredo_' | grep -vE ' 0$' >&2 || true
lab_say "== teredo-relay statistics (/metrics in its namespace, non-zero series)"
lab_exec rly curl -s 127.0.0.1:9545/metrics | grep -E '^teredo_' | grep -vE ' 0$' >&2 || true
lab_say "== Fleet status: teredoctl agents list"
fleet_ctl agents list >&2 || fail "teredoctl agents list"
lab_say "== teredoctl config history"
fleet_ctl config history >&2 || fail "teredoctl config history"
lab_say "== Fleet statistics: teredoctl stats fleet"
fleet_ctl stats fleet >&2 || fail "teredoctl stats fleet"
lab_say "== NAT classes and distinct clients: teredoctl stats nat"
fleet_ctl stats nat >&2 || fail "teredoctl stats nat"
if ((containers)); then
  lab_say "== Containers (podman ps; user and capabilities of each daemon, from /proc)"
  podman ps --filter "label=teredo-fleet.lab=$LAB_PREFIX" \
    --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}' >&2
  for c in controller teredo-server-srv teredo-relay-rly; do
    lab_say "   $(ctr_name "$c"): uid $(ctr_status "$c" Uid)," \
      "CapEff $(ctr_status "$c" CapEff), CapPrm $(ctr_status "$c" CapPrm)," \
      "read-only root $(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$(ctr_name "$c")")"
  done
fi

if ((ok)); then
  lab_say "RESULT: the Miredo client reached the native IPv6 host through the fleet and back;" \
    "both agents run the controller's config and the fleet statistics count the client"
else
  lab_say "RESULT: FAILED (logs in $LAB_DIR)"
fi
if ((once)); then
  ((ok)) && exit 0 || exit 1
fi

lab_say "Fleet running; namespaces: $(ip netns list | grep -o "^$LAB_PREFIX-[a-z0-9]*" | tr '\n' ' ')"
lab_say "Try: ip netns exec $(lab_nsname cli1) ping -6 $LAB_HOST6"
lab_say "     $teredoctl agents list"
lab_say "     $teredoctl stats fleet"
if ((containers)); then
  lab_say "     podman ps --filter label=teredo-fleet.lab=$LAB_PREFIX"
fi
lab_say "Ctrl-C to stop and tear everything down."
# Ctrl-C or SIGTERM ends the demo normally: lab.sh's exit handler stops every process it started
# (by PID), deletes the namespaces, the unix socket and the work dir.
sleeper=""
stop_demo() {
  lab_say "fleet-demo: stopping"
  [[ -z $sleeper ]] || kill "$sleeper" 2>/dev/null || true
  exit 0
}
trap stop_demo INT TERM
while true; do
  sleep 3600 &
  sleeper=$!
  wait "$sleeper" || true
done
