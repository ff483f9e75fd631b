#!/usr/bin/env bash
# Wire conformance of a Teredo server with crafted packets (tools/lab/teredo_probe.py):
# qualification S1-S9 and forwarding S20-S32 (docs/conformance.md).
#
# Usage: probe_server.sh [--server miredo|teredo] [--rs-policy strict|lenient] [--build-dir DIR]
#                        [--miredo-dir DIR]
#   --server miredo (default): Debian's miredo-server; Miredo's documented quirks are expected
#                              (auth header on RAs to auth-less RSs, lenient RS checks).
#   --server teredo:           our teredo-server; RFC-clean RA to auth-less RS; RS policy from
#                              --rs-policy (or LAB_RS_POLICY) strict (default: hop limit != 255,
#                              bad checksum and code != 0 dropped, RFC 4861 §6.1.1) or lenient
#                              (server.strict_rs: false: answered, like Miredo).
# Lab: srv 198.51.100.10/.11 (+2001:db8:1::10), probe "prb" 198.51.100.50 (+10.99.0.2 for S7),
# native host 2001:db8:2::2. Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
impl=${LAB_SERVER_IMPL:-miredo}
while (($# > 0)); do
  case $1 in
    --server) impl=$2; shift 2 ;;
    --rs-policy) export LAB_RS_POLICY=$2; shift 2 ;;
    --build-dir) export TEREDO_BUILD_DIR=$2; shift 2 ;;
    --miredo-dir) export LAB_MIREDO_DIR=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
policy=${LAB_RS_POLICY:-strict}
case $policy in
  strict | lenient) ;;
  *) echo "--rs-policy must be strict or lenient, not '$policy'" >&2; exit 2 ;;
esac
if [[ $impl == miredo ]]; then
  policy=lenient
elif [[ $policy == lenient ]]; then
  export LAB_TEREDO_SERVER_EXTRA="  strict_rs: false"
fi

# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_init
title="probe_server server=$impl rs_policy=$policy"
lab_say "== $title"
SECONDS=0

P=$LAB_SRV_PRIMARY
S=$LAB_SRV_SECONDARY
PRB=198.51.100.50
lab_router inet
lab_segment pub 198.51.100.1/24 2001:db8:1::1/64
lab_segment v6 2001:db8:2::1/64
lab_ns srv
lab_attach srv eth0 pub "$P/24" "$S/24" "$LAB_SRV_IPV6/64"
lab_ns host6
lab_attach host6 eth0 v6 "$LAB_HOST6/64"
lab_ns prb
lab_attach prb eth0 pub "$PRB/24" 10.99.0.2/32
lab_server "$impl" srv "$P" "$S"
srv_ns=$(lab_nsname srv)

# The server's link-local address: fe80::8000:f227:<~primary> (RFC 4380 §5.3.2; P4).
IFS=. read -r o1 o2 o3 o4 <<<"$P"
srv_ll=$(printf 'fe80::8000:f227:%x:%x' $(((o1 << 8 | o2) ^ 0xffff)) $(((o3 << 8 | o4) ^ 0xffff)))
pio_prefix=$(printf '2001:0:%x:%x::' $((o1 << 8 | o2)) $((o3 << 8 | o4)))

lab_probe_start prb
probe() { lab_log "probe $*"; lab_log "$(lab_probe prb "$@")"; }
expect() {
  lab_expect_eq "$1" "$(lab_probe_q "$2")" "$3" && return 0
  lab_say "       probe result: $(lab_probe_q 'd.get("error") or d')"
  return 1
}
teredo_addr() {   # teredo_addr SERVER IP PORT: RFC 4380 §4 with flags 0
  local s1 s2 s3 s4 c1 c2 c3 c4
  IFS=. read -r s1 s2 s3 s4 <<<"$1"
  IFS=. read -r c1 c2 c3 c4 <<<"$2"
  printf '2001:0:%x:%x:0:%x:%x:%x' $((s1 << 8 | s2)) $((s3 << 8 | s4)) $(($3 ^ 0xffff)) \
    $(((c1 << 8 | c2) ^ 0xffff)) $(((c3 << 8 | c4) ^ 0xffff))
}

# --- Qualification ----------------------------------------------------------------------------
ra_checks() {   # ra_checks TAG FROM_ADDR (on the single reply in $R)
  local tag=$1 from=$2
  expect "$tag exactly one reply" 'len(d["replies"])' 1
  expect "$tag answered from" 'd["replies"][0]["from"]' "$from:3544"
  expect "$tag is an RA, valid checksum" \
    '[d["replies"][0]["icmpv6"][k] for k in ("type","code","checksum_ok")]' '[134,0,true]'
  expect "$tag nonce echoed, confirmation 0" \
    '[d["replies"][0]["nonce_echo"], d["replies"][0]["auth"]["confirmation"]]' '[true,0]'
  expect "$tag origin = RS source" 'd["replies"][0]["origin_is_sender"]' true
  expect "$tag IPv6 src = server link-local" 'd["replies"][0]["ipv6"]["src"]' "$srv_ll"
  expect "$tag IPv6 dst = RS source, hop limit 255" \
    '[d["replies"][0]["dst_is_rs_src"], d["replies"][0]["ipv6"]["hlim"]]' '[true,255]'
  expect "$tag one PIO 2001:0:<primary>::/64 A=1" \
    '[(p["prefix"], p["prefix_len"], p["a"]) for p in d["replies"][0]["ra"]["pio"]]' \
    "[[\"$pio_prefix\",64,1]]"
  expect "$tag MTU option absent or 1280" 'd["replies"][0]["ra"]["mtu"] in ([], [1280])' true
  expect "$tag RA size 109 or 117 (+13 auth)" 'd["replies"][0]["len"] in (117, 109)' true
}

probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8
ra_checks "S1 non-cone RS to primary:" "$P"
probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --cone
ra_checks "S2 cone RS to primary:" "$S"
probe rs --server "$S" --bind "$PRB:40000" --timeout 0.8 --cone
ra_checks "S3 cone RS to secondary:" "$P"
probe rs --server "$S" --bind "$PRB:40000" --timeout 0.8
ra_checks "S4 non-cone RS to secondary:" "$S"

probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --no-auth
expect "S5 RS without auth: one RA" 'len(d["replies"])' 1
if [[ $impl == miredo ]]; then
  # Miredo's SendRA bug (docs/server-policies.md, row 1b): an auth header is always sent, nonce
  # from stale bytes.
  expect "S5 (Miredo quirk) RA carries an auth header anyway" '"auth" in d["replies"][0]' true
else
  expect "S5 RA to auth-less RS has no auth header" '"auth" in d["replies"][0]' false
fi
probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --auth-id 0102 --auth-value 0a0b0c
expect "S5 RS with ID/AU values still answered, nonce echoed" \
  '[len(d["replies"]), d["replies"][0]["nonce_echo"]]' '[1,true]'

probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --src fe80::ffff:ffff:fffe
expect "S6 Windows non-cone source: RA from primary to that source" \
  '[d["replies"][0]["from"], d["replies"][0]["ipv6"]["dst"]]' "[\"$P:3544\",\"fe80::ffff:ffff:fffe\"]"
probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --src fe80::8000:ffff:ffff:fffe
expect "S6 Windows cone source: RA from secondary" 'd["replies"][0]["from"]' "$S:3544"

probe rs --server "$P" --bind 10.99.0.2:40000 --timeout 0.8 \
  --capture "$srv_ns:eth0:udp and src port 3544"
expect "S7 RS from private IPv4 10.99.0.2: nothing sent" 'len(d["captured"][0]["packets"])' 0

probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --src 2001:db8::1
expect "S8 RS from a global IPv6 source: no reply" 'len(d["replies"])' 0
probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --dst ff02::1
expect "S8 RS to ff02::1: no reply" 'len(d["replies"])' 0

want_s9=1
if [[ $policy == strict ]]; then
  want_s9=0
fi
probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --hlim 64
expect "S9 RS hop limit 64 ($policy): replies" 'len(d["replies"])' "$want_s9"
probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --bad-checksum
expect "S9 RS bad checksum ($policy): replies" 'len(d["replies"])' "$want_s9"
probe rs --server "$P" --bind "$PRB:40000" --timeout 0.8 --code 1
expect "S9 RS code 1 ($policy): replies" 'len(d["replies"])' "$want_s9"

# --- Forwarding -------------------------------------------------------------------------------
# "A" is the probe socket PRB:40000 (source 'auto' = Teredo address mapping it); "B" is a second
# socket PRB:40001, a client of this server; "C" (PRB:40002) is a client of another server.
addr_a=$(teredo_addr "$P" "$PRB" 40000)
addr_b=$(teredo_addr "$P" "$PRB" 40001)
addr_c=$(teredo_addr 198.51.100.30 "$PRB" 40002)
trailer=030e0000cb0071020fa1c633640a0dac

probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  --trailer "$trailer" bubble --src auto --dst "$addr_b"
expect "S20 bubble A->B: B gets it from primary:3544" \
  '[(r["on"], r["from"]) for r in d["replies"]]' "[[\"$PRB:40001\",\"$P:3544\"]]"
expect "S20 origin indication = A's IPv4:port" \
  '(d["replies"][0]["origin"]["ip"], d["replies"][0]["origin"]["port"])' "[\"$PRB\",40000]"
expect "S20 IPv6 bubble unchanged" \
  '[d["replies"][0]["ipv6"][k] for k in ("src","dst","plen","nh")]' "[\"$addr_a\",\"$addr_b\",0,59]"
expect "S33 RFC 6081 trailers relayed intact" 'd["replies"][0].get("trailers_hex")' "$trailer"

probe send --to "$S" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  bubble --src auto --src-server "$P" --dst "$addr_b"
expect "S21 bubble via secondary: still sent from primary" \
  '[r["from"] for r in d["replies"]]' "[\"$P:3544\"]"

probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40002" --timeout 0.8 \
  bubble --src auto --dst "$addr_c"
if [[ $impl == miredo ]]; then
  expect "S22 (Miredo) bubble to another server's client: forwarded, no origin" \
    '[(r["from"], "origin" in r) for r in d["replies"]]' "[[\"$P:3544\",false]]"
else
  expect "S22 bubble to another server's client: never with an origin indication" \
    'any("origin" in r for r in d["replies"])' false
fi

# RFC 4380 §5.3.1 case 6: a Teredo source whose mapping is not the UDP source (a client of
# another server behind a port-symmetric NAT, RFC 6081 §6.1) towards one of our clients. Miredo
# applies case 6 to non-Teredo sources only and drops it; we relay it, and the origin
# indication names the port it really came from. Towards another server's client: dropped.
mismatched=$(teredo_addr "$P" "$PRB" 40009)
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  bubble --src "$mismatched" --dst "$addr_b"
if [[ $impl == miredo ]]; then
  expect "S23 (Miredo) mismatched Teredo source to our client: dropped" 'len(d["replies"])' 0
else
  expect "S23 mismatched Teredo source to our client: relayed, origin = real sender" \
    '[(r["on"], r["origin"]["ip"], r["origin"]["port"], r["ipv6"]["src"]) for r in d["replies"]]' \
    "[[\"$PRB:40001\",\"$PRB\",40000,\"$mismatched\"]]"
fi
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40002" --timeout 0.8 \
  bubble --src "$mismatched" --dst "$addr_c"
expect "S23 mismatched Teredo source to another server's client: dropped" 'len(d["replies"])' 0

probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  bubble --src fe80::abcd:1234:5678:9abc --dst "$addr_b"
expect "S24 relay indirect bubble (link-local src) to our client: origin = relay" \
  '[(r["on"], r["origin"]["ip"], r["origin"]["port"]) for r in d["replies"]]' \
  "[[\"$PRB:40001\",\"$PRB\",40000]]"
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40002" --timeout 0.8 \
  bubble --src fe80::abcd:1234:5678:9abc --dst "$addr_c"
expect "S25 relay bubble to another server's client: dropped" 'len(d["replies"])' 0

for bad in 10.1.2.3 127.0.0.1 224.1.1.1 255.255.255.255; do
  probe send --to "$P" --bind "$PRB:40000" --timeout 0.6 \
    --capture "$srv_ns:eth0:udp and src port 3544" \
    bubble --src auto --dst "$(teredo_addr "$P" "$bad" 40001)"
  expect "S26 Teredo destination embedding $bad: nothing sent" \
    'len(d["captured"][0]["packets"])' 0
done

probe send --to "$P" --bind "$PRB:40000" --timeout 1.0 --capture "$srv_ns:any:udp port 3544" \
  bubble --src auto --dst "$(teredo_addr "$P" "$P" 3544)"
expect "S27 destination = server's own primary:3544: no loop (<= 2 server-sent packets)" \
  'len([p for p in d["captured"][0]["packets"] if p.get("udp",{}).get("sport") == 3544]) <= 2' \
  true

echo_filter="icmp6 and ip6[40] == 128"
probe send --to "$P" --bind "$PRB:40000" --timeout 0.8 --trailer 01040a0b0c0d \
  --capture "$srv_ns:eth0:$echo_filter" echo --src auto --dst "$LAB_HOST6"
expect "S28 echo request to native IPv6: forwarded once, source unchanged, no trailer" \
  '[(p["native"]["ipv6"]["src"], p["native"]["ipv6"]["dst"], "trailers" in p["native"]) for p in d["captured"][0]["packets"]]' \
  "[[\"$addr_a\",\"$LAB_HOST6\",false]]"
probe send --to "$P" --bind "$PRB:40000" --timeout 0.8 --capture "$srv_ns:eth0:$echo_filter" \
  echo --src auto --dst "$LAB_HOST6" --size 1000
expect "S29 1000-byte echo request to native IPv6: dropped (size cap)" \
  'len(d["captured"][0]["packets"])' 0
probe send --to "$P" --bind "$PRB:40000" --timeout 0.8 --capture "$srv_ns:eth0:ip6" \
  echo --src auto --dst fe80::1
expect "S32 echo request to fe80::1: not forwarded" \
  'len([p for p in d["captured"][0]["packets"] if p["native"]["ipv6"]["dst"] == "fe80::1"])' 0

# --- Reflection through RFC 6081 trailers (docs/security.md) -----------------------------------
# One datagram with a spoofable source must not make the server send kilobytes of chosen bytes
# to a third party: every size cap measures what would be relayed, trailers included. The S33
# bubble above (same sockets, 16 bytes of trailers) is the positive control: this setup relays.
# Miredo relays all of these: it is the reflector the checks guard against.
relayed_if_miredo=0
[[ $impl == miredo ]] && relayed_if_miredo=1
big_trailer=$("$LAB_PYTHON" -c 'print(("7fff" + "aa" * 255) * 4)')  # 4 unknown trailers, 1028 B
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  --trailer "$big_trailer" bubble --src auto --dst "$addr_b"
expect "reflection: bubble + 1028 bytes of trailers to our client: relayed $relayed_if_miredo" \
  'len(d["replies"])' "$relayed_if_miredo"
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40002" --timeout 0.8 \
  --trailer "$big_trailer" bubble --src auto --dst "$addr_c"
expect "reflection: the same to another server's client: relayed $relayed_if_miredo" \
  'len(d["replies"])' "$relayed_if_miredo"
at_cap=$("$LAB_PYTHON" -c 'print("7f56" + "aa" * 86)')  # 40 + 88 = 128 bytes, the default cap
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  --trailer "$at_cap" bubble --src auto --dst "$addr_b"
expect "bubble of exactly 128 bytes (88 of trailers): relayed intact" \
  '[len(d["replies"]), d["replies"][0].get("trailers_hex") if d["replies"] else None]' \
  "[1,\"$at_cap\"]"
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  --trailer "$("$LAB_PYTHON" -c 'print("7f44" + "aa" * 68)')" echo --src auto --dst "$addr_b"
expect "reflection: 60-byte echo + 70 bytes of trailers (130 > 128): relayed $relayed_if_miredo" \
  'len(d["replies"])' "$relayed_if_miredo"
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  --trailer 0105aabb bubble --src auto --dst "$addr_b"
expect "malformed trailer (length past the end): relayed $relayed_if_miredo" \
  'len(d["replies"])' "$relayed_if_miredo"
probe send --to "$P" --bind "$PRB:40000" --listen "$PRB:40001" --timeout 0.8 \
  --trailer 03080000c633640a0dd9 echo --src auto --dst "$addr_b"
expect "Alternate Address trailer on an echo (bubbles only, RFC 6081): relayed $relayed_if_miredo" \
  'len(d["replies"])' "$relayed_if_miredo"
if [[ $impl == teredo ]]; then
  m="$LAB_DIR/server-metrics.txt"
  lab_check "server /metrics" lab_metrics srv "$m"
  # Two of each: the two oversized bubbles, S29 and the echo with trailers, the two malformed.
  for reason in bubble_too_big icmpv6_too_big malformed_trailer; do
    lab_expect_eq "dropped as $reason (counted)" \
      "$(lab_metric "$m" "teredo_server_packets_dropped_total{reason=\"$reason\"}" || echo none)" \
      2
  done
fi

lab_check "server still running" lab_alive "$impl-server-srv"
lab_result "$title (${SECONDS}s)"
