#!/usr/bin/env bash
# bench/run.sh: Teredo Fleet benchmarks, ours (teredo-server, teredo-relay) against Debian's
# Miredo 1.2.6 (miredo-server, miredo as a relay), measured in the same run on the same machine,
# alternating miredo, teredo, miredo, teredo, ... Every figure is printed as the median over the
# repetitions for each implementation and the ratio teredo/miredo. See docs/benchmarks.md.
#
#   sudo bench/run.sh [--reps N] [--quick] [--keep-json FILE] [--only PHASE,...]
#
# Phases (all by default, in this order): server (RS->RA), relay (throughput, memory per queued
# peer), flows (relay CPU per packet at a fixed rate, each direction, TCP- and UDP-shaped, 112 and
# 1280 bytes; saturation with 1 and 2 workers), floor (the same fixed-rate flows through the
# "kernel floor": bench/kfloor/teredo_floor.bpf.c, eBPF tc programs that only decapsulate and
# encapsulate, in the relay's namespace with no daemon; a third column "floor" in the report),
# memory (RSS at 100 k / 1 M / 10 M trusted peers and after they expired), tcp (iperf3 through the
# relay with a Miredo client: bench/relay_tcp.sh).
#
# The floor phase compiles its program with clang (-target bpf, libbpf-dev's headers; both from
# tools/setup.sh) and attaches it with tc; it is skipped with a message, not failed, where that
# cannot be done. Its CPU is the on-CPU time of rly's NAPI threads (threaded NAPI, pinned to the
# daemons' CPU), measured like a daemon's. See docs/benchmarks.md, "Kernel floor".
#
# Needs root (network namespaces). All traffic stays inside namespaces this script creates
# (tests/integration/lab/lab.sh: teardown on exit, INT and TERM; only processes it started are
# signalled, by PID). Bounded: the server and relay phases take about 17 s per implementation and
# repetition, flows about 70 s, tcp about 25 s, floor about 45 s per repetition; memory, once,
# about 3 minutes for Miredo and 12 for ours (10 M peers primed, then 2 x 240 s until expired).
#
# Environment
#   BENCH_BUILD_DIR   build tree to use/create (default: <repo>/build-bench, Release)
#   BENCH_REPS        repetitions per implementation (default 3; --reps)
#   BENCH_RS_RATE     the "moderate" RS rate for latency and CPU per RS (default 10000/s)
#   BENCH_RELAY_PEERS peers created for "relay RSS with N peers" (default 10000)
#   BENCH_NO_BUILD=1  do not run cmake/ninja (use the binaries as they are)
#   BENCH_NO_SETUP=1  do not run tools/setup.sh first (it installs the Debian packages the build
#                     and the lab need and extracts Debian's Miredo; idempotent, so on by default
#                     for a fresh clone)
#   BENCH_FIXED_RATE  offered packets/s of the fixed-rate flows (default 20000)
#   BENCH_NO_FLOOR=1  skip the floor phase
#   BENCH_FLOW_PEERS, BENCH_TCP_FLOWS  trusted peers of the UDP-shaped flows (default 10000) and
#                     flows of the TCP-shaped ones (default 4)
#   BENCH_PRIME_RATE  peers primed per second (default 100000)
#   BENCH_MEM_LEVELS  trusted-peer counts of the memory phase (default "100000 1000000 10000000")
#   BENCH_MEM_REPS    repetitions of the memory phase (default 1: RSS is stable to 1-2 %)
#   BENCH_MEM_TRUST_S our relay's trust_timeout in the memory phase (default 240: priming 10 M
#                     peers takes about 4 minutes, and they must all be trusted at once);
#                     BENCH_MEM_EXPIRE_S: extra wait after the entries' lifetime (2 x trust)
#                     before the "expired" RSS (default 15)
#   BENCH_TCP_RATE, BENCH_TCP_SECONDS  iperf3 -b for the fixed-rate TCP runs (default 100M) and
#                     the length of each run (default 5 s): see bench/relay_tcp.sh
#   BENCH_PERF=1     profile each fixed-rate flow with `perf record -g` and print the top symbols
#                     (perf's cost inflates that run's CPU figures: use it to look, not to rank)
#   BENCH_TEREDO_RELAY_YAML  extra lines for our relay's relay: section, e.g.
#                     "  offloads: false" (to compare settings; empty by default)
#   LAB_MIREDO_DIR    extracted Debian miredo (default: <build>/third_party/miredo, else
#                     <repo>/build/third_party/miredo)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$SRC/build-bench}
REPS=${BENCH_REPS:-3}
RS_RATE=${BENCH_RS_RATE:-10000}
RELAY_PEERS=${BENCH_RELAY_PEERS:-10000}
FIXED_RATE=${BENCH_FIXED_RATE:-20000}
FLOW_PEERS=${BENCH_FLOW_PEERS:-10000}
TCP_FLOWS=${BENCH_TCP_FLOWS:-4}
PRIME_RATE=${BENCH_PRIME_RATE:-100000}
MEM_LEVELS=${BENCH_MEM_LEVELS:-100000 1000000 10000000}
MEM_REPS=${BENCH_MEM_REPS:-}
MEM_EXPIRE_S=${BENCH_MEM_EXPIRE_S:-15}
MEM_TRUST_S=${BENCH_MEM_TRUST_S:-240}
# Miredo 1.2.6's relay refuses new peers beyond MAX_PEERS (1,048,576 when built with Judy, as
# Debian's is: libteredo/relay.c).
MIREDO_MAX_PEERS=1048576
KEEP_JSON=""
QUICK=0
PHASES="server relay flows floor memory tcp"
while (($# > 0)); do
  case $1 in
    --reps) REPS=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --keep-json) KEEP_JSON=$2; shift 2 ;;
    --only) PHASES=${2//,/ }; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --reps must be a positive integer" >&2; exit 2; }
MEM_REPS=${MEM_REPS:-1}
MEM_MAX_LEVEL=0
for level in $MEM_LEVELS; do
  [[ $level =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: BENCH_MEM_LEVELS: $level" >&2; exit 2; }
  ((level > MEM_MAX_LEVEL)) || { echo "run.sh: BENCH_MEM_LEVELS must increase" >&2; exit 2; }
  MEM_MAX_LEVEL=$level
done

# Durations (seconds). --quick halves the measuring windows (for trying the script out).
RS_SAT_S=2
RS_LAT_S=3
RELAY_S=2
SPRAY_S=2
FLOW_S=4
if ((QUICK)); then
  RS_SAT_S=1 RS_LAT_S=1.5 RELAY_S=1 SPRAY_S=1 FLOW_S=1
fi

# ---------------------------------------------------------------------------------------------
# Set-up and build (only what the benchmark runs)

if [[ ${BENCH_NO_SETUP:-0} != 1 ]]; then
  "$SRC/tools/setup.sh" >&2
fi
if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
  if [[ ! -f $BUILD/build.ninja ]]; then
    # -Wno-error=restrict: GCC 12 reports a false -Wrestrict inside std::string's operator+ at
    # -O3 (GCC PR 105329), which -Werror turns into a Release build failure.
    cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_CXX_FLAGS=-Wno-error=restrict >/dev/null
  fi
  ninja -C "$BUILD" -j2 teredo_load teredo-server teredo-relay >/dev/null
fi
LOAD="$BUILD/bench/teredo_load"
[[ -x $LOAD ]] || { echo "run.sh: $LOAD not built" >&2; exit 1; }

export TEREDO_BUILD_DIR=$BUILD
if [[ -z ${LAB_MIREDO_DIR:-} ]]; then
  if [[ -x $BUILD/third_party/miredo/usr/sbin/miredo ]]; then
    LAB_MIREDO_DIR=$BUILD/third_party/miredo
  else
    LAB_MIREDO_DIR=$SRC/build/third_party/miredo
  fi
fi
export LAB_MIREDO_DIR
: "${LAB_PREFIX:=tfb$$}"
export LAB_PREFIX

# shellcheck source-path=SCRIPTDIR source=../tests/integration/lab/lab.sh
source "$SRC/tests/integration/lab/lab.sh"
# shellcheck source=lib.sh
source "$SRC/bench/lib.sh"
lab_init

# CPUs: the load generator on one, the daemon on another (both when there is only one).
NCPU=$(nproc)
GEN_CPU=0
DAEMON_CPU=$((NCPU > 1 ? 1 : 0))

# ---------------------------------------------------------------------------------------------
# Topology (no router: direct veths, so nothing but the daemon under test forwards)
#
#   gen  eth0 198.51.100.50-53/24 ---- srv  eth0 198.51.100.10/24 + .11 (server under test)
#   gen  eth1 203.0.113.50/24     ---- rly  eth0 203.0.113.20/24 (relay under test, UDP 3545)
#        + 203.0.113.10 (the "Teredo server" embedded in the peers' addresses: receives the
#          relay's indirect bubbles)
#   rly  eth1 2001:db8:2::1/64    ---- sink eth0 2001:db8:2::2/64 (native IPv6 host; an nftables
#                                      counter counts what the relay delivers, then drops it)

SRV_P=198.51.100.10
SRV_S=198.51.100.11
GEN_BINDS=198.51.100.50,198.51.100.51,198.51.100.52,198.51.100.53
RLY_V4=203.0.113.20
RLY_PORT=3545
GEN_RLY=203.0.113.50
FAKE_SERVER=203.0.113.10
SINK6=2001:db8:2::2
MAPPED_BASE=192.0.2.0
MAPPED_NET=192.0.2.0/24

lab_ns gen
lab_ns srv
lab_ns rly
lab_ns sink
lab_link gen eth0 srv eth0
lab_addr gen eth0 198.51.100.50/24 198.51.100.51/24 198.51.100.52/24 198.51.100.53/24
lab_addr srv eth0 "$SRV_P/24" "$SRV_S/24"
lab_link gen eth1 rly eth0
lab_addr gen eth1 "$GEN_RLY/24" "$FAKE_SERVER/24"
lab_addr rly eth0 "$RLY_V4/24"
lab_link rly eth1 sink eth0
lab_addr rly eth1 2001:db8:2::1/64
lab_addr sink eth0 "$SINK6/64"
lab_route sink default via 2001:db8:2::1
cat >"$LAB_DIR/sink.nft" <<EOF
table inet bench {
  counter delivered {}
  counter delivered_tcp {}
  chain input {
    type filter hook input priority filter; policy accept;
    ip6 daddr $SINK6 udp dport 9 counter name delivered drop
    ip6 daddr $SINK6 tcp dport 5001 counter name delivered_tcp drop
  }
}
EOF
lab_run lab_exec sink nft -f "$LAB_DIR/sink.nft"
SINK_NETNS=/run/netns/$(lab_nsname sink)
# The socketless peers of `teredo_load prime` / `flow` have mapped addresses in MAPPED_NET: the
# relay routes them back to the generator, which counts and drops what arrives (it has no such
# address): `flushed` = a queued priming datagram the relay flushed to a newly trusted peer
# (IPv4/UDP length 8 + 40 + 8 + 5), `to_peers` = everything.
# GRO on the relay's links, as on any server NIC: bursts of one TCP flow reach the relay as one
# large packet when it can take them (UDP_GRO socket, tun with TSO), else one by one as before.
lab_exec rly ethtool -K eth0 gro on >/dev/null
lab_exec rly ethtool -K eth1 gro on >/dev/null
lab_route rly "$MAPPED_NET" via "$GEN_RLY"
lab_sysctl rly net.ipv4.conf.all.rp_filter=0
lab_sysctl rly net.ipv4.conf.eth0.rp_filter=0
cat >"$LAB_DIR/gen.nft" <<EOF
table ip bench {
  counter flushed {}
  counter to_peers {}
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    ip daddr $MAPPED_NET udp length 61 counter name flushed
    ip daddr $MAPPED_NET counter name to_peers drop
  }
}
EOF
lab_run lab_exec gen nft -f "$LAB_DIR/gen.nft"

# ---------------------------------------------------------------------------------------------
# Measuring helpers

RESULTS="$LAB_DIR/results.txt"   # lines: IMPL FIGURE VALUE
: >"$RESULTS"
JSONL="$LAB_DIR/runs.jsonl"      # every load-generator JSON line, tagged
: >"$JSONL"

record() {   # record IMPL FIGURE VALUE
  printf '%s %s %s\n' "$1" "$2" "$3" >>"$RESULTS"
}

jget() {   # jget JSON EXPR
  lab_json "$1" "$2"
}

load() {   # load NS TAG ARGS...: run the generator pinned to GEN_CPU; JSON line on stdout
  local ns=$1 tag=$2 out
  shift 2
  out=$(timeout 60 ip netns exec "$(lab_nsname "$ns")" taskset -c "$GEN_CPU" "$LOAD" "$@") ||
    lab_die "teredo_load $* failed"
  printf '{"tag":"%s","run":%s}\n' "$tag" "$out" >>"$JSONL"
  printf '%s' "$out"
}

nft_pb() {   # nft_pb NS FAMILY COUNTER: "PACKETS BYTES"
  local text
  text=$(lab_exec "$1" nft list counter "$2" bench "$3")
  [[ $text =~ packets\ ([0-9]+)\ bytes\ ([0-9]+) ]] || lab_die "nft counter $3 in $1: $text"
  printf '%s %s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
}

nft_counter() {   # nft_counter NS FAMILY COUNTER: its packet count
  local pb
  pb=$(nft_pb "$@")
  printf '%s' "${pb% *}"
}

sink_delivered() {
  nft_counter sink inet delivered
}

# ---------------------------------------------------------------------------------------------
# Server: RS -> RA

start_server() {   # start_server IMPL; sets SERVER_PID SERVER_NAME
  if [[ $1 == teredo ]]; then
    # One worker (Miredo's server is one thread) and no per-source RS limit: the load comes from
    # 4 source addresses, and the default 100 RS/s per address would be the figure otherwise.
    LAB_TEREDO_SERVER_EXTRA="  workers: 1
  rate_limit:
    rs_per_second: 0" lab_teredo_server srv "$SRV_P" "$SRV_S"
    SERVER_NAME=teredo-server-srv
  else
    lab_miredo_server srv "$SRV_P" "$SRV_S"
    SERVER_NAME=miredo-server-srv
  fi
  SERVER_PID=$LAB_LAST_PID
  sleep 0.3   # Miredo forks its worker after binding
  pin_daemon "$SERVER_PID"
}

bench_server() {   # bench_server IMPL REP
  local impl=$1 rep=$2 j c0 c1 sent
  start_server "$impl"
  # Warm-up: caches, page faults, the rate limiter and NAT tables' first entries.
  load gen "$impl/server/warmup/$rep" rs --server "$SRV_P" --bind "$GEN_BINDS" --rate 5000 \
    --duration 0.5 >/dev/null

  # Latency and CPU per RS at a fixed moderate rate (no queueing at either server).
  c0=$(cpu_ns "$SERVER_PID")
  j=$(load gen "$impl/server/rate/$rep" rs --server "$SRV_P" --bind "$GEN_BINDS" \
    --rate "$RS_RATE" --duration "$RS_LAT_S")
  c1=$(cpu_ns "$SERVER_PID")
  sent=$(jget "$j" 'd["sent"]')
  record "$impl" rs_lat_p50_us "$(jget "$j" 'd["latency_us"]["p50"]')"
  record "$impl" rs_lat_p99_us "$(jget "$j" 'd["latency_us"]["p99"]')"
  record "$impl" rs_rate_reply_ratio "$(jget "$j" 'd["reply_ratio"]')"
  record "$impl" rs_cpu_s_per_1M "$(lab_json "{\"c\":$((c1 - c0)),\"n\":$sent}" \
    'round(d["c"] / 1e9 / d["n"] * 1e6, 3) if d["n"] else 0')"

  # Saturation: as fast as the generator can send; replies/s is what the server sustains.
  j=$(load gen "$impl/server/sat/$rep" rs --server "$SRV_P" --bind "$GEN_BINDS" --rate 0 \
    --duration "$RS_SAT_S")
  record "$impl" rs_sat_replies_per_s "$(jget "$j" 'd["reply_rate"]')"
  record "$impl" rs_sat_offered_per_s "$(jget "$j" 'd["send_rate"]')"
  if [[ $(jget "$j" 'd["invalid"]') != 0 ]]; then
    lab_say "warning: $impl server: $(jget "$j" 'd["invalid"]') replies were not valid RAs"
  fi
  record "$impl" server_rss_kib "$(rss_kib "$SERVER_PID")"
  lab_stop "$SERVER_NAME"
}

# ---------------------------------------------------------------------------------------------
# Relay: client -> native IPv6, and memory per peer

start_relay() {   # start_relay IMPL [WORKERS [PIN [EXTRA_YAML]]]; sets RELAY_PID RELAY_NAME
  local workers=${2:-1} pin=${3:-1} extra=${4:-}
  if [[ $1 == teredo ]]; then
    extra=${extra:+$extra
}${BENCH_TEREDO_RELAY_YAML:-}
    LAB_TEREDO_RELAY_EXTRA="  workers: $workers${extra:+
$extra}" lab_teredo_relay rly "$RLY_V4" "$RLY_PORT"
    RELAY_NAME=teredo-relay-rly
  else
    lab_miredo_relay rly "$RLY_V4" "$RLY_PORT"
    RELAY_NAME=miredo-relay-rly
  fi
  RELAY_PID=$LAB_LAST_PID
  sleep 0.3
  # Both relays' tun devices get the same longer transmit queue (the kernel default of 500
  # packets overflows while a relay thread waits for a CPU on a shared machine).
  lab_exec rly ip link set dev teredo txqueuelen 4096
  if ((pin)); then
    pin_daemon "$RELAY_PID"
  fi
}

bench_relay() {   # bench_relay IMPL REP
  local impl=$1 rep=$2 j peers primed d0 d1 rss0 rss1
  start_relay "$impl"
  rss0=$(rss_kib "$RELAY_PID")
  d0=$(sink_delivered)
  j=$(load gen "$impl/relay/rx/$rep" relay-rx --relay "$RLY_V4:$RLY_PORT" --bind "$GEN_RLY" \
    --teredo-server "$FAKE_SERVER" --dst "$SINK6" --peers 64 --rate 0 --duration "$RELAY_S" \
    --prime-netns "$SINK_NETNS" --prime-timeout 5)
  sleep 0.3   # what the relay still had queued reaches the sink
  d1=$(sink_delivered)
  peers=$(jget "$j" 'd["peers"]')
  primed=$(jget "$j" 'd["primed"]')
  if [[ $primed == "$peers" ]]; then
    record "$impl" relay_rx_delivered_per_s "$(lab_json "{\"n\":$((d1 - d0))}" \
      "round(d['n'] / $RELAY_S, 1)")"
    record "$impl" relay_rx_offered_per_s "$(jget "$j" 'd["send_rate"]')"
  else
    lab_say "warning: $impl relay: only $primed of $peers peers became trusted; no throughput"
  fi

  # N untrusted peers, each with one queued datagram (RFC 4380 §5.4.1 case 3).
  load sink "$impl/relay/spray/$rep" spray6 --teredo-server "$FAKE_SERVER" \
    --mapped-base 203.0.113.100 --count "$RELAY_PEERS" --seconds "$SPRAY_S" >/dev/null
  sleep 0.5
  rss1=$(rss_kib "$RELAY_PID")
  record "$impl" relay_rss_idle_kib "$rss0"
  record "$impl" relay_rss_npeers_kib "$rss1"
  record "$impl" relay_bytes_per_peer "$(((rss1 - rss0) * 1024 / RELAY_PEERS))"
  if [[ $impl == teredo ]]; then
    local m="$LAB_DIR/relay-metrics-$rep.txt" n
    if lab_metrics rly "$m" 9545 && n=$(lab_metric "$m" teredo_relay_peers); then
      lab_say "  (teredo-relay reports $n peers after the spray of $RELAY_PEERS + 64)"
    fi
  fi
  lab_stop "$RELAY_NAME"
}

# ---------------------------------------------------------------------------------------------
# Relay fast path: CPU per packet at a fixed rate, each direction, UDP- and TCP-shaped, small and
# large; saturation with 1 and 2 workers; memory with 100 k / 1 M / 10 M trusted peers.

prime_peers() {   # prime_peers TAG FIRST COUNT: trusted peers FIRST..; prints how many now are
  # In chunks of at most 2 M peers (20 s at the default rate: each generator run is bounded).
  # A pass that loses datagrams (a busy machine) leaves peers untrusted: repeat it. In a later
  # pass an already trusted peer receives the priming datagram directly, a new one by a flush:
  # both count, so the last pass's count is the number of trusted peers of the chunk.
  local first=$2 left=$3 chunk f0 f1 pass n total=0
  while ((left > 0)); do
    chunk=$((left < 2000000 ? left : 2000000))
    n=0
    for pass in 1 2 3; do
      f0=$(nft_counter gen ip flushed)
      load gen "$1/$first/$pass" prime --relay "$RLY_V4:$RLY_PORT" --teredo-server \
        "$FAKE_SERVER" --mapped-base "$MAPPED_BASE" --native "$SINK6" \
        --native-netns "$SINK_NETNS" --first "$first" --count "$chunk" --rate "$PRIME_RATE" \
        >/dev/null
      sleep 0.3
      f1=$(nft_counter gen ip flushed)
      n=$((f1 - f0))
      # A pass that reached 99 % is done: the rest are datagrams lost on this busy machine in
      # that pass, not untrusted peers (an earlier pass already trusted most of them).
      ((n * 100 < chunk * 99)) || break
    done
    total=$((total + (n < chunk ? n : chunk)))
    first=$((first + chunk))
    left=$((left - chunk))
  done
  printf '%s' "$total"
}

# flow_segments DIR SHAPE SIZE: the packets of SIZE bytes counted at the receiving end, from the
# counter's packets and bytes, so that a GSO super-packet (one skb, one IP header, many segments'
# payloads: what a relay using segmentation offload hands to the kernel, which forwards it whole
# over veth) counts as the packets it carries: (bytes - H * skbs) / (SIZE - H), H the headers
# every packet carries (IPv4+UDP 28 towards the peers; IPv6+UDP 48 or IPv6+TCP 60 at the sink).
flow_segments() {
  local ns fam name h payload pkts bytes
  if [[ $1 == tx ]]; then
    ns=gen fam=ip name=to_peers h=28 payload=$3
  elif [[ $2 == tcp ]]; then
    ns=sink fam=inet name=delivered_tcp h=60 payload=$(($3 - 60))
  else
    ns=sink fam=inet name=delivered h=48 payload=$(($3 - 48))
  fi
  read -r pkts bytes <<<"$(nft_pb "$ns" "$fam" "$name")"
  printf '%s' "$(((bytes - h * pkts) / payload))"
}

# drop_counters IMPL: every drop and error counter a lost flow packet can show up in, one
# "WHERE NAME VALUE" per line: the kernel's SNMP and netstat counters (nstat) and each link's
# dropped and error statistics in the generator's, the relay's and the sink's namespaces, and for
# our relay its own drop counters by reason. Diffed around a flow sample (drop_diff), they say
# where the packets a sample lost went: a socket's receive buffer, a tun or veth queue, a route,
# or a relay drop reason.
drop_counters() {
  local ns m="$LAB_DIR/drops-metrics.txt"
  for ns in gen rly sink; do
    lab_exec "$ns" nstat -asz 2>/dev/null |
      awk -v ns="$ns" '$1 !~ /^#/ && $1 ~ /Drop|Discard|Err|Overflow|NoRoute|Full|Prune|Collapse/ {
        print ns, $1, $2 }'
    lab_exec "$ns" sh -c 'grep -H . /sys/class/net/*/statistics/*_dropped \
      /sys/class/net/*/statistics/*_errors 2>/dev/null' |
      awk -v ns="$ns" -F: '{ n = split($1, p, "/"); print ns, p[5] ":" p[n], $2 }'
  done
  if [[ $1 == teredo ]] && lab_metrics rly "$m" 9545; then
    grep -E '^teredo_relay_(packets_dropped|queue_dropped_packets)_total' "$m" |
      awk '{ print "relay", $1, $2 }'
  fi
}

drop_diff() {   # drop_diff BEFORE AFTER: the counters that moved, "WHERE NAME +N" joined by ", "
  awk 'NR == FNR { v[$1 " " $2] = $3; next }
       { d = $3 - v[$1 " " $2]; if (d > 0) { printf "%s%s %s +%d", sep, $1, $2, d; sep = ", " } }' \
    <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}

# measure_flow IMPL REP DIR SHAPE SIZE RATE: relay CPU ns per delivered packet and the loss at a
# fixed offered rate (RATE 0: as fast as the generator can; records delivered/s instead).
measure_flow() {
  local impl=$1 rep=$2 dir=$3 shape=$4 size=$5 rate=$6 key c0 c1 n0 n1 j sent got d0 d1 moved
  key="relay_${dir}_${shape}_${size}"
  if [[ $dir == tx ]]; then
    # Trust lasts 30 s after the last packet from a peer (RFC 4380 §5.2.4): refresh it.
    prime_peers "$impl/relay/refresh/$rep" 0 "$FLOW_PEERS" >/dev/null
  fi
  local perfpid="" perfdata="$LAB_DIR/perf-$impl-$key-$rep.data"
  if [[ -n ${BENCH_PERF:-} ]] && ((rate != 0)); then
    # Profile of the daemon during the measured window (perf's own cost inflates the CPU figure).
    perf record -q -g -o "$perfdata" -p "$(daemon_pids "$RELAY_PID" | paste -sd,)" \
      -- sleep "$FLOW_S" >/dev/null 2>&1 &
    perfpid=$!
  fi
  d0=$(drop_counters "$impl")
  c0=$(cpu_ns "$RELAY_PID")
  n0=$(flow_segments "$dir" "$shape" "$size")
  j=$(load gen "$impl/relay/$key/$rate/$rep" flow --dir "$dir" --shape "$shape" --size "$size" \
    --relay "$RLY_V4:$RLY_PORT" --teredo-server "$FAKE_SERVER" --mapped-base "$MAPPED_BASE" \
    --native "$SINK6" --native-netns "$SINK_NETNS" --peers "$FLOW_PEERS" --flows "$TCP_FLOWS" \
    --rate "$rate" --duration "$FLOW_S")
  sleep 0.3   # what the relay still holds reaches the far end
  n1=$(flow_segments "$dir" "$shape" "$size")
  c1=$(cpu_ns "$RELAY_PID")
  d1=$(drop_counters "$impl")
  sent=$(jget "$j" 'd["sent"]')
  got=$((n1 - n0))
  moved=$(drop_diff "$d0" "$d1")
  printf '{"tag":"%s","drops":"%s"}\n' "$impl/relay/$key/$rate/$rep" "$moved" >>"$JSONL"
  if ((rate != 0 && got < sent)); then
    lab_say "  $impl $key rep $rep lost $((sent - got)) of $sent; counters moved: ${moved:-none}"
  fi
  if [[ -n $perfpid ]]; then
    wait "$perfpid" || true
    lab_say "  perf $impl $key (self time, top 25):"
    perf report -i "$perfdata" --no-children --stdio --sort dso,symbol 2>/dev/null |
      grep -E '^ +[0-9.]+%' | head -25 | sed 's/^/    /' >&2 || true
  fi
  if ((rate == 0)); then
    echo "$(lab_json "{\"n\":$got,\"s\":$(jget "$j" 'd["duration_s"]')}" 'round(d["n"] / d["s"], 1)')"
    return
  fi
  record "$impl" "${key}_ns_per_pkt" "$(lab_json "{\"c\":$((c1 - c0)),\"n\":$got}" \
    'round(d["c"] / d["n"], 1) if d["n"] else 0')"
  record "$impl" "${key}_loss" "$(lab_json "{\"s\":$sent,\"n\":$got}" \
    'round(max(0, d["s"] - d["n"]) / d["s"], 5) if d["s"] else 1')"
}

bench_relay_flows() {   # bench_relay_flows IMPL REP
  local impl=$1 rep=$2 n dir shape size
  start_relay "$impl" 1 1
  n=$(prime_peers "$impl/relay/prime/$rep" 0 "$FLOW_PEERS")
  ((n >= FLOW_PEERS)) || lab_say "warning: $impl relay: $n of $FLOW_PEERS peers trusted"
  for dir in rx tx; do
    for shape in tcp udp; do
      for size in 112 1280; do
        measure_flow "$impl" "$rep" "$dir" "$shape" "$size" "$FIXED_RATE"
      done
    done
  done
  prime_peers "$impl/relay/refresh/$rep" 0 "$FLOW_PEERS" >/dev/null
  record "$impl" relay_sat_1w_per_s "$(measure_flow "$impl" "$rep" rx udp 112 0)"
  if [[ $impl == teredo ]]; then
    # Which offloads carried the packets (all four should, unless relay.offloads is off).
    local m="$LAB_DIR/flows-metrics-$rep.txt" o line=""
    if lab_metrics rly "$m" 9545; then
      for o in udp_gro udp_gso tun_tso tun_coalesce; do
        line+=" $o=$(lab_metric "$m" "teredo_relay_offload_packets_total{offload=\"$o\"}" ||
          echo n/a)"
      done
      lab_say "  teredo-relay packets through offloads:$line"
    fi
  fi
  lab_stop "$RELAY_NAME"

  # Two workers, both CPUs (Miredo has one receive thread whatever the machine: the same daemon,
  # unpinned).
  start_relay "$impl" 2 0
  prime_peers "$impl/relay/prime2/$rep" 0 "$FLOW_PEERS" >/dev/null
  record "$impl" relay_sat_2w_per_s "$(measure_flow "$impl" "$rep" rx udp 112 0)"
  lab_stop "$RELAY_NAME"
}

# bench_relay_memory IMPL REP: RSS idle, with 100 k / 1 M / 10 M trusted peers (nothing queued),
# and after every one of them expired.
bench_relay_memory() {
  local impl=$1 rep=$2 idle have=0 level n rss held
  # Priming 10 M peers takes minutes, trust lasts 30 s after a peer's last packet (RFC 4380
  # §5.2.4): ours keeps them trusted for MEM_TRUST_S instead, so that all of them are held at
  # once. Miredo's 30 s cannot be changed; its 1 M peers are primed within them.
  local trust=30
  if [[ $impl == teredo ]]; then
    trust=$MEM_TRUST_S
  fi
  start_relay "$impl" 1 1 "  max_peers: $((MEM_MAX_LEVEL + 100000))
  trust_timeout: ${trust}s"
  sleep 0.5
  idle=$(rss_kib "$RELAY_PID")
  record "$impl" relay_mem_idle_kib "$idle"
  cp "/proc/$RELAY_PID/smaps" "$LAB_DIR/mem-idle-smaps-$impl.txt" 2>/dev/null || true
  for level in $MEM_LEVELS; do
    if [[ $impl == miredo ]] && ((level > MIREDO_MAX_PEERS)); then
      lab_say "  (miredo holds at most $MIREDO_MAX_PEERS peers: no figure at $level)"
      continue
    fi
    n=$(prime_peers "$impl/relay/mem/$level/$rep" "$have" "$((level - have))")
    have=$level
    sleep 0.5
    rss=$(rss_kib "$RELAY_PID")
    # Bytes per peer the relay holds: ours reports it (on a busy machine priming 10 M peers can
    # outlast the first ones' trust); Miredo's levels are primed well within its 30 s.
    held=$level
    if [[ $impl == teredo ]] && lab_metrics rly "$LAB_DIR/mem-metrics.txt" 9545; then
      held=$(lab_metric "$LAB_DIR/mem-metrics.txt" teredo_relay_peers) || held=$level
      ((held > 0)) || held=$level
    fi
    cp "/proc/$RELAY_PID/smaps" "$LAB_DIR/mem-$level-smaps-$impl.txt" 2>/dev/null || true
    record "$impl" "relay_mem_${level}_kib" "$rss"
    record "$impl" "relay_mem_${level}_held" "$held"
    record "$impl" "relay_mem_${level}_bytes_per_peer" "$(((rss - idle) * 1024 / held))"
    lab_say "  $impl: $level peers primed, $n became trusted in this step, RSS $rss KiB," \
      "$held peers held"
  done
  # Trust lapses `trust` s after the last packet; the entry, now untrusted, is removed once it
  # has been idle as long again (Miredo: 30 + 30 s; ours: trust_timeout twice), at the next sweep.
  sleep "$((2 * trust + MEM_EXPIRE_S))"
  if [[ $impl == teredo ]]; then
    # Ours reports what it still holds: wait (bounded) until every entry is gone and one trim
    # period (10 s) has passed, so the figure is the one after expiry, not during the last sweeps.
    local waited=0
    held=-1
    while ((waited < 120)); do
      lab_metrics rly "$LAB_DIR/mem-metrics.txt" 9545 &&
        held=$(lab_metric "$LAB_DIR/mem-metrics.txt" teredo_relay_peers) || held=-1
      ((held == 0)) && break
      sleep 5
      waited=$((waited + 5))
    done
    ((waited == 0)) || sleep 11
    record "$impl" relay_mem_expired_held "$held"
    lab_say "  $impl: $held peers held ${waited}s after the expiry wait"
  fi
  cp "/proc/$RELAY_PID/smaps" "$LAB_DIR/mem-expired-smaps-$impl.txt" 2>/dev/null || true
  rss=$(rss_kib "$RELAY_PID")
  record "$impl" relay_mem_expired_kib "$rss"
  record "$impl" relay_mem_expired_over_idle "$(lab_json "{\"r\":$rss,\"i\":$idle}" \
    'round(d["r"] / d["i"], 3)')"
  lab_stop "$RELAY_NAME"
}

# ---------------------------------------------------------------------------------------------
# Kernel floor: bench/kfloor/teredo_floor.bpf.c, two tc programs in rly with no daemon that do
# only the bare minimum of a relay (rx: strip the IPv4+UDP header of datagrams to the relay's
# address and port, forward the IPv6 packet; tx: wrap IPv6 packets to 2001::/32 in IPv4+UDP
# towards the mapping in the Teredo address). No trust, no peer table: what the kernel alone
# costs per packet. It has no process; its CPU is that of threads all the same: rly's two links
# are switched to threaded NAPI (/sys/class/net/ethN/threaded), so that everything their
# receive does (GRO, the program, the redirect, the transmit to the far end and that end's
# receive) runs in a kernel thread "napi/ethN-ID" per link. Those threads are pinned to
# DAEMON_CPU and measured like a daemon (cpu_ns: schedstat on-CPU time), over the same
# fixed-rate window, per packet delivered.

FLOOR_OBJ="$LAB_DIR/teredo_floor.bpf.o"
FLOOR_NAPI=""   # PIDs of rly's NAPI threads while the floor phase runs

floor_build() {   # floor_build: compiles FLOOR_OBJ; on failure prints why and returns 1
  local cc multiarch a b c d
  local -a inc=()
  cc=$(command -v clang || command -v clang-14) || {
    echo "clang is not installed (tools/setup.sh installs it)"
    return 1
  }
  [[ -f /usr/include/bpf/bpf_helpers.h ]] || {
    echo "libbpf-dev is not installed (tools/setup.sh installs it)"
    return 1
  }
  # <linux/bpf.h> needs <asm/types.h>, which Debian keeps under the multiarch directory.
  multiarch=$("$cc" -print-multiarch 2>/dev/null || gcc -dumpmachine 2>/dev/null || true)
  [[ -z $multiarch ]] || inc=(-I "/usr/include/$multiarch")
  IFS=. read -r a b c d <<<"$RLY_V4"
  "$cc" -O2 -g -target bpf "${inc[@]}" -DRELAY_V4="$(printf '0x%02x%02x%02x%02x' "$a" "$b" "$c" \
    "$d")" -DRELAY_PORT="$RLY_PORT" -c "$SRC/bench/kfloor/teredo_floor.bpf.c" -o "$FLOOR_OBJ" \
    >"$LAB_DIR/floor-build.log" 2>&1 || {
    echo "$(basename "$cc") could not compile bench/kfloor/teredo_floor.bpf.c: $(grep -m1 \
      'error' "$LAB_DIR/floor-build.log" || head -1 "$LAB_DIR/floor-build.log")"
    return 1
  }
}

floor_detach() {   # removes the programs (and their clsact qdiscs) from rly's links
  local dev
  for dev in eth0 eth1; do
    lab_exec rly tc qdisc del dev "$dev" clsact 2>/dev/null || true
  done
}

floor_attach() {   # floor_attach: rx on eth0's ingress, tx on eth1's; on failure prints why
  local out
  floor_detach
  if ! out=$({ lab_exec rly tc qdisc add dev eth0 clsact &&
    lab_exec rly tc filter add dev eth0 ingress bpf direct-action obj "$FLOOR_OBJ" sec tc/rx &&
    lab_exec rly tc qdisc add dev eth1 clsact &&
    lab_exec rly tc filter add dev eth1 ingress bpf direct-action obj "$FLOOR_OBJ" sec tc/tx; } \
    2>&1); then
    floor_detach
    echo "tc could not load bench/kfloor/teredo_floor.bpf.c: $(grep -v '^$' <<<"$out" | tail -1)"
    return 1
  fi
}

floor_napi_cpu_ns() {   # on-CPU time (ns) of FLOOR_NAPI's threads
  local p run _ total=0
  for p in $FLOOR_NAPI; do
    { read -r run _ <"/proc/$p/schedstat"; } 2>/dev/null || continue
    total=$((total + run))
  done
  printf '%s' "$total"
}

# floor_flow REP DIR SHAPE SIZE: the floor's CPU ns per delivered packet and the loss at the
# fixed rate, recorded as implementation "floor" under the figures of measure_flow.
floor_flow() {
  local rep=$1 dir=$2 shape=$3 size=$4 key c0 c1 n0 n1 j sent got
  key="relay_${dir}_${shape}_${size}"
  c0=$(floor_napi_cpu_ns)
  n0=$(flow_segments "$dir" "$shape" "$size")
  j=$(load gen "floor/relay/$key/$FIXED_RATE/$rep" flow --dir "$dir" --shape "$shape" \
    --size "$size" --relay "$RLY_V4:$RLY_PORT" --teredo-server "$FAKE_SERVER" --mapped-base \
    "$MAPPED_BASE" --native "$SINK6" --native-netns "$SINK_NETNS" --peers "$FLOW_PEERS" \
    --flows "$TCP_FLOWS" --rate "$FIXED_RATE" --duration "$FLOW_S")
  sleep 0.3   # what is still on its way reaches the far end
  n1=$(flow_segments "$dir" "$shape" "$size")
  c1=$(floor_napi_cpu_ns)
  sent=$(jget "$j" 'd["sent"]')
  got=$((n1 - n0))
  if ((got * 2 < sent)); then
    lab_say "  warning: floor $key: $got of $sent delivered (the program did not forward)"
  fi
  record floor "${key}_ns_per_pkt" "$(lab_json "{\"c\":$((c1 - c0)),\"n\":$got}" \
    'round(d["c"] / d["n"], 1) if d["n"] else 0')"
  record floor "${key}_loss" "$(lab_json "{\"s\":$sent,\"n\":$got}" \
    'round(max(0, d["s"] - d["n"]) / d["s"], 5) if d["s"] else 1')"
}

bench_floor() {   # bench_floor REP (FLOOR_SKIP says why when there can be no floor figures)
  local rep=$1 dir shape size dev fwd4 fwd6 before p
  fwd4=$(lab_exec rly sysctl -n net.ipv4.conf.all.forwarding)
  fwd6=$(lab_exec rly sysctl -n net.ipv6.conf.all.forwarding)
  # bpf_fib_lookup answers only where forwarding is on, as for any router.
  lab_sysctl rly net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1
  # A veth hands a packet to its peer's NAPI (rather than to the sending CPU's backlog) only when
  # the peer has GRO on (rly's links do) and the sending link no TSO: off for the phase on the
  # generator's and the native host's links.
  lab_exec gen ethtool -K eth1 tso off >/dev/null
  lab_exec sink ethtool -K eth0 tso off >/dev/null
  # ... but no GRO merging (gro_max_size 0: IPv6 packets are never merged): in the daemons' runs
  # these links hand packets to the backlog one by one, and so they must here.
  lab_exec rly ip link set dev eth1 gro_max_size 0
  # Threaded NAPI: the kernel starts one thread per link; ours are the ones that were not there.
  before=" $(pgrep '^napi/' | paste -sd' ' || true) "
  for dev in eth0 eth1; do
    lab_exec rly sh -c "echo 1 >/sys/class/net/$dev/threaded" ||
      FLOOR_SKIP="cannot switch rly's $dev to threaded NAPI"
  done
  sleep 0.2
  FLOOR_NAPI=""
  for p in $(pgrep '^napi/eth' || true); do
    [[ $before == *" $p "* ]] || FLOOR_NAPI+="$p "
  done
  [[ -n $FLOOR_NAPI || -n $FLOOR_SKIP ]] || FLOOR_SKIP="no NAPI thread appeared for rly's links"
  for p in $FLOOR_NAPI; do
    taskset -p -c "$DAEMON_CPU" "$p" >/dev/null 2>&1 || true
  done
  lab_say "  floor: rly's NAPI threads: $(for p in $FLOOR_NAPI; do
    printf '%s(%s) ' "$(cat "/proc/$p/comm")" "$p"; done)"
  if [[ -z $FLOOR_SKIP ]] && FLOOR_SKIP=$(floor_attach); then
    for dir in rx tx; do
      for shape in tcp udp; do
        for size in 112 1280; do
          floor_flow "$rep" "$dir" "$shape" "$size"
        done
      done
    done
  fi
  floor_detach
  for dev in eth0 eth1; do
    lab_exec rly sh -c "echo 0 >/sys/class/net/$dev/threaded" || true
  done
  lab_exec rly ip link set dev eth1 gro_max_size 65536 || true
  lab_exec gen ethtool -K eth1 tso on >/dev/null || true
  lab_exec sink ethtool -K eth0 tso on >/dev/null || true
  FLOOR_NAPI=""
  lab_sysctl rly "net.ipv4.conf.all.forwarding=$fwd4" "net.ipv6.conf.all.forwarding=$fwd6"
}

# ---------------------------------------------------------------------------------------------
# Run: alternate the implementations, servers first, then relays.

lab_say "bench: $REPS repetitions, generator on CPU $GEN_CPU, daemons on CPU $DAEMON_CPU," \
  "work dir $LAB_DIR"
phase() { [[ " $PHASES " == *" $1 "* ]]; }
# run_phase PHASE REPS TITLE FUNCTION: FUNCTION IMPL REP for each repetition, Miredo first.
run_phase() {
  local rep impl
  phase "$1" || return 0
  for ((rep = 1; rep <= $2; rep++)); do
    for impl in miredo teredo; do
      lab_say "bench: rep $rep/$2 $3 $impl"
      "$4" "$impl" "$rep"
    done
  done
}
run_phase server "$REPS" server bench_server
run_phase relay "$REPS" relay bench_relay
run_phase flows "$REPS" "relay fast path" bench_relay_flows
if phase floor; then
  FLOOR_SKIP=""
  if ((NCPU < 2)); then
    FLOOR_SKIP="one CPU only: the generator's work would be counted"
  elif [[ -n ${BENCH_NO_FLOOR:-} ]]; then
    FLOOR_SKIP="BENCH_NO_FLOOR is set"
  else
    FLOOR_SKIP=$(floor_build) || true
  fi
  for ((rep = 1; rep <= REPS && ${#FLOOR_SKIP} == 0; rep++)); do
    lab_say "bench: rep $rep/$REPS relay fast path floor (eBPF tc programs, no daemon)"
    bench_floor "$rep"
  done
  [[ -z $FLOOR_SKIP ]] || lab_say "bench: kernel floor skipped: $FLOOR_SKIP"
fi
run_phase memory "$MEM_REPS" "relay memory" bench_relay_memory

if phase tcp; then
  # Its own lab (the integration tests' standard topology with a Miredo client), same CPUs.
  GEN_CPU=$GEN_CPU DAEMON_CPU=$DAEMON_CPU LAB_PREFIX=tft$$ \
    bash "$SRC/bench/relay_tcp.sh" "$RESULTS" "$REPS" ||
    lab_say "warning: the TCP phase failed (figures missing below)"
fi

[[ -z $KEEP_JSON ]] || cp "$JSONL" "$KEEP_JSON"

"$LAB_PYTHON" - "$RESULTS" "$REPS" "$MEM_LEVELS" <<'EOF_PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    impl, fig, value = line.split()
    rows.setdefault(fig, {}).setdefault(impl, []).append(float(value))
figures = [
    ("rs_sat_replies_per_s", "server RS->RA at saturation (replies/s)", "higher"),
    ("rs_sat_offered_per_s", "  offered RS/s in that run", "info"),
    ("rs_lat_p50_us", "server RA latency p50 (us) at fixed rate", "lower"),
    ("rs_lat_p99_us", "server RA latency p99 (us) at fixed rate", "lower"),
    ("rs_rate_reply_ratio", "  RAs/RSs at that rate", "info"),
    ("rs_cpu_s_per_1M", "server CPU s per 1M RS (fixed rate)", "lower"),
    ("server_rss_kib", "server RSS after load (KiB)", "lower"),
    ("relay_rx_delivered_per_s", "relay client->IPv6 delivered (pkt/s)", "higher"),
    ("relay_rx_offered_per_s", "  offered pkt/s in that run", "info"),
    ("relay_rss_idle_kib", "relay RSS idle (KiB)", "lower"),
    ("relay_rss_npeers_kib", "relay RSS with N peers (KiB)", "lower"),
    ("relay_bytes_per_peer", "relay RSS growth per peer (bytes)", "lower"),
]
for d in ("rx", "tx"):
    for shape in ("tcp", "udp"):
        for size in ("112", "1280"):
            k = "relay_%s_%s_%s" % (d, shape, size)
            what = "%s %s-shaped %sB" % ("client->IPv6" if d == "rx" else "IPv6->client",
                                         shape.upper(), size)
            figures.append((k + "_ns_per_pkt", "relay CPU ns/pkt " + what, "lower"))
            figures.append((k + "_loss", "  loss at the fixed rate", "info"))
figures += [
    ("relay_sat_1w_per_s", "relay saturation 1 worker (pkt/s)", "higher"),
    ("relay_sat_2w_per_s", "relay saturation 2 workers (pkt/s)", "higher"),
    ("relay_mem_idle_kib", "relay RSS idle, memory run (KiB)", "lower"),
]
for level in sys.argv[3].split():
    figures.append(("relay_mem_%s_kib" % level, "relay RSS %s trusted peers (KiB)" % level,
                    "lower"))
    figures.append(("relay_mem_%s_held" % level, "  peers held at that moment", "info"))
    figures.append(("relay_mem_%s_bytes_per_peer" % level, "  bytes per peer held", "lower"))
figures += [
    ("relay_mem_expired_kib", "relay RSS after all expired (KiB)", "lower"),
    ("relay_mem_expired_over_idle", "  RSS after expiry / idle", "lower"),
    ("relay_mem_expired_held", "  peers still held then (ours reports it)", "info"),
]
for d, what in (("rx", "client->IPv6"), ("tx", "IPv6->client")):
    figures += [
        ("relay_tcp_%s_cpu_s_per_gb" % d, "relay CPU s/GB, iperf3 TCP %s, fixed" % what, "lower"),
        ("relay_tcp_%s_fixed_mbps" % d, "  Mbit/s received at that rate", "info"),
        ("relay_tcp_%s_max_mbps" % d, "iperf3 TCP %s max (Mbit/s)" % what, "higher"),
        ("relay_tcp_%s_max_cpu_s_per_gb" % d, "  relay CPU s/GB at max", "lower"),
    ]
# The kernel floor (phase floor) has figures of the fixed-rate flows only: a third column, and
# its ratio to Miredo, after the others on those lines.
floor = any("floor" in d for d in rows.values())
print("%-44s %14s %14s %9s  %s" % ("figure (median of %s)" % sys.argv[2], "miredo", "teredo",
                                    "t/m", "better") +
      ("   %14s %9s" % ("floor", "f/m") if floor else ""))
for key, title, better in figures:
    d = rows.get(key, {})
    m = statistics.median(d["miredo"]) if d.get("miredo") else None
    t = statistics.median(d["teredo"]) if d.get("teredo") else None
    ratio = "%.2f" % (t / m) if m and t is not None else "n/a"
    fmt = lambda v: "n/a" if v is None else ("%.0f" % v if abs(v) >= 1000 else "%.4g" % v)
    line = "%-44s %14s %14s %9s  %s" % (title, fmt(m), fmt(t), ratio, better)
    if d.get("floor"):
        f = statistics.median(d["floor"])
        line = "%-50s %14s %9s" % (line, fmt(f), "%.2f" % (f / m) if m else "n/a")
    print(line)
print()
print("all samples (miredo | teredo):")
for key, title, _ in figures:
    d = rows.get(key, {})
    print("  %-26s %s | %s" % (key, " ".join("%g" % v for v in d.get("miredo", [])),
                               " ".join("%g" % v for v in d.get("teredo", []))))
if floor:
    print()
    print("kernel floor samples (eBPF tc programs, no daemon):")
    for key, title, _ in figures:
        if rows.get(key, {}).get("floor"):
            print("  %-26s %s" % (key, " ".join("%g" % v for v in rows[key]["floor"])))
EOF_PY
