#!/usr/bin/env bash
# Installs everything the build, the tests and the fleet demo need on Debian 12, as root.
# Idempotent: a second run installs nothing new. Also fetches Debian's miredo and miredo-server
# packages (apt-get download + dpkg -x, never installed as services) into build/third_party/
# for the interop tests and the demo, promtool from the prometheus package the same way, and the
# buf CLI from npm for `buf lint`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
third_party=${TEREDO_THIRD_PARTY:-$root/build/third_party}

packages=(
  # build
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev grpc-proto
  libjudy-dev prometheus-cpp-dev libyaml-cpp-dev libgtest-dev libgmock-dev libsqlite3-dev
  libcli11-dev
  # fuzzing, sanitizers, style
  clang-14 libclang-rt-14-dev clang-format-14
  # integration tests and demo: namespaces, NAT, traffic, captures
  iproute2 nftables iputils-ping tcpdump iperf3 netcat-openbsd curl procps psmisc util-linux
  openssl systemd
  python3 python3-scapy python3-yaml libcap2-bin kmod
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

# Debian's Miredo as a real peer for interop tests. Extracted, never installed or started as a
# service; tests run it in private mount and network namespaces with lab addresses only.
mkdir -p "$third_party"
if [ ! -x "$third_party/miredo/usr/sbin/miredo" ] || [ ! -x "$third_party/miredo/usr/sbin/miredo-server" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download miredo miredo-server libjudydebian1 >/dev/null 2>&1) || {
    apt-get update -q
    (cd "$tmp" && apt-get download miredo miredo-server libjudydebian1)
  }
  rm -rf "$third_party/miredo"
  mkdir -p "$third_party/miredo"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$third_party/miredo"; done
  rm -rf "$tmp"
fi

# promtool (checks and unit-tests deploy/prometheus rules) from Debian's prometheus package,
# extracted like Miredo: installing the package would also start a Prometheus server.
if [ ! -x "$third_party/prometheus/usr/bin/promtool" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || {
    apt-get update -q
    (cd "$tmp" && apt-get download prometheus)
  }
  rm -rf "$third_party/prometheus"
  mkdir -p "$third_party/prometheus"
  dpkg -x "$tmp"/prometheus_*.deb "$third_party/prometheus"
  rm -rf "$tmp"
fi

# BIRD 2 (parses the BGP sidecar configs the Helm chart generates, `bird -p`) from Debian's bird2
# package with its libssh, extracted like Miredo: installing it would also start a BIRD daemon.
if [ ! -x "$third_party/bird/usr/sbin/bird" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download bird2 libssh-gcrypt-4 >/dev/null 2>&1) || {
    apt-get update -q
    (cd "$tmp" && apt-get download bird2 libssh-gcrypt-4)
  }
  rm -rf "$third_party/bird"
  mkdir -p "$third_party/bird"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$third_party/bird"; done
  rm -rf "$tmp"
fi

# buf (protobuf lint) from the npm registry, into the build tree.
if [ ! -x "$third_party/npm/node_modules/.bin/buf" ]; then
  mkdir -p "$third_party/npm"
  npm install --silent --no-audit --no-fund --prefix "$third_party/npm" @bufbuild/buf >/dev/null
fi
echo "setup: ok (miredo in $third_party/miredo, promtool in $third_party/prometheus/usr/bin," \
  "bird in $third_party/bird/usr/sbin, buf in $third_party/npm/node_modules/.bin)"
