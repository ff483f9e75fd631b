#!/usr/bin/env bash
# Installs everything the build, the tests and the fleet demo need on Debian 12, as root.
# Idempotent: a second run installs nothing new. Also fetches Debian's miredo and miredo-server
# packages (apt-get download + dpkg -x, never installed as services) into build/third_party/
# for the interop tests and the demo, BIRD 2 and promtool the same way, and the
# buf CLI from npm for `buf lint`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
third_party=${TEREDO_THIRD_PARTY:-$root/build/third_party}

packages=(
  # build
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev grpc-proto
  libjudy-dev prometheus-cpp-dev libyaml-cpp-dev libgtest-dev libgmock-dev libsqlite3-dev
  libcli11-dev libmicrohttpd-dev libsystemd-dev liburing-dev
  # fuzzing, sanitizers, style
  clang-14 libclang-rt-14-dev clang-format-14
  # integration tests and demo: namespaces, NAT, traffic, captures
  iproute2 nftables iputils-ping tcpdump iperf3 netcat-openbsd curl procps psmisc util-linux
  ethtool
  # the benchmark's kernel floor (bench/kfloor): an eBPF program built with clang at bench time
  clang libbpf-dev
  openssl systemd
  python3 python3-scapy python3-yaml libcap2-bin kmod
  # the libraries of Debian's BIRD 2 (extracted below, like Miredo)
  libreadline8 libssh-gcrypt-4 libtinfo6
  # the Helm chart's check: Go text/template + sprig renderer, Kubernetes models, JSON schema
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
  python3-kubernetes python3-jsonschema
  # container images and the fleet in containers (tools/build-images.sh, fleet-demo --containers,
  # integration.container_fleet): rootful podman with runc, the base image from debootstrap
  podman runc debootstrap debian-archive-keyring
)
# buf (protobuf lint) comes from npm; use the machine's Node.js when it has one.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian packages that tests run but must never run as services: extracted (apt-get download +
# dpkg -x) into $third_party/DIR, never installed. `extract DIR BIN... -- PACKAGE...` does it
# unless every BIN (relative to DIR) is already there.
extract() {
  local dir=$1 tmp deb ok=1
  shift
  while [ "$1" != -- ]; do
    [ -x "$third_party/$dir/$1" ] || ok=0
    shift
  done
  shift
  [ "$ok" = 0 ] || return 0
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download "$@" >/dev/null 2>&1) || {
    apt-get update -q
    (cd "$tmp" && apt-get download "$@")
  }
  rm -rf "${third_party:?}/$dir"
  mkdir -p "$third_party/$dir"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$third_party/$dir"; done
  rm -rf "$tmp"
}
mkdir -p "$third_party"
# Miredo, a real peer for interop tests; tests run it in private mount and network namespaces
# with lab addresses only.
extract miredo usr/sbin/miredo usr/sbin/miredo-server -- miredo miredo-server libjudydebian1
# BIRD 2, the BGP speaker of the anycast test (integration.relay.anycast_bgp) and the parser of
# the Helm chart's sidecar configs (`bird -p`): installing bird2 would enable and start a
# bird.service on this machine. The test runs its daemons in lab namespaces with their own
# control sockets.
extract bird usr/sbin/bird usr/sbin/birdc -- bird2
# promtool (checks and unit-tests deploy/prometheus rules): installing prometheus would start a
# Prometheus server.
extract prometheus usr/bin/promtool -- prometheus

# buf (protobuf lint) from the npm registry, into the build tree.
if [ ! -x "$third_party/npm/node_modules/.bin/buf" ]; then
  mkdir -p "$third_party/npm"
  npm install --silent --no-audit --no-fund --prefix "$third_party/npm" @bufbuild/buf >/dev/null
fi
echo "setup: ok (miredo in $third_party/miredo, bird in $third_party/bird/usr/sbin, promtool in" \
  "$third_party/prometheus/usr/bin, buf in $third_party/npm/node_modules/.bin)"
