# shellcheck shell=bash
# shellcheck disable=SC2034  # LAB_* variables are this library's interface to its callers.
# Teredo Fleet network-namespace lab: a library sourced by the integration and interop tests and by
# the demo. Nothing here touches the host's own network: every address lives inside namespaces
# this library creates, and teardown removes exactly what it created.
#
#   source tests/integration/lab/lab.sh
#   lab_init                      # per-run prefix, work dir, traps (teardown on exit/INT/TERM)
#   lab_router                    # "inet": IPv4+IPv6 forwarding between segments
#   lab_segment pub 198.51.100.1/24 2001:db8:1::1/64
#   lab_ns srv; lab_attach srv eth0 pub 198.51.100.10/24 198.51.100.11/24 2001:db8:1::10/64
#   lab_miredo_server srv 198.51.100.10 198.51.100.11
#   ...
#
# Conventions
# - Namespace arguments are SHORT names ("srv"); the real name is "${LAB_PREFIX}-srv"
#   (lab_nsname srv). LAB_PREFIX defaults to "tf$$" so parallel runs never collide.
# - Background processes are started with lab_bg only. Each one runs in its own session
#   (setsid), its PID and start time are recorded, its output goes to $LAB_DIR/NAME.log.
#   Teardown signals only those sessions (SIGTERM, then SIGKILL after LAB_KILL_GRACE seconds),
#   then deletes only this run's namespaces. It runs on normal exit, on failure and on SIGINT/TERM.
# - Quiet by default. LAB_VERBOSE=1 traces lab steps and shows every command's output.
#   On failure (non-zero exit) the logs of all started processes are dumped to stderr and the
#   work dir is kept (LAB_KEEP=1 keeps it always).
# - Intended for non-interactive scripts run as root with `set -euo pipefail`.
#
# Environment
#   LAB_MIREDO_DIR    extracted Debian miredo (default $TEREDO_BUILD_DIR/third_party/miredo)
#   TEREDO_BUILD_DIR  our build tree (default /work/main/build): services/{server,relay}/...
#   LAB_VERBOSE, LAB_KEEP, LAB_PREFIX, LAB_KILL_GRACE (default 3 s)
#
# Address plan (never 192.0.2.0/24: the host's own subnet; not 100.64/10, 198.18/15, 192.0.0/24,
# 240/4 either: our global-unicast policy treats those as non-global):
#   198.51.100.0/24 + 2001:db8:1::/64  segment "pub": router .1/::1, servers, relays, probes
#   203.0.113.0/24                     segment "wan": router .1, NAT boxes' public side
#   2001:db8:2::/64                    segment "v6":  router ::1, native IPv6 hosts
#   10.0.N.0/24                        private LAN behind NAT box N

if [[ -n ${LAB_SH_LOADED:-} ]]; then
  return 0
fi
LAB_SH_LOADED=1

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Defaults relative to this checkout (lab.sh lives in tests/integration/lab/).
[[ -n ${LAB_MIREDO_DIR:-} ]] || LAB__MIREDO_DEFAULT=1
: "${TEREDO_BUILD_DIR:=$(cd "$LAB_LIB_DIR/../../.." && pwd)/build}"
: "${LAB_MIREDO_DIR:=$TEREDO_BUILD_DIR/third_party/miredo}"

# lab_args HELP_LINES "$@": the options every lab script takes. --build-dir DIR (our build
# tree; Miredo is looked for in its third_party/ unless --miredo-dir or LAB_MIREDO_DIR says
# otherwise), --miredo-dir DIR, -h (prints lines HELP_LINES, e.g. 2,13, of the script).
lab_args() {
  local help=$1
  shift
  while (($# > 0)); do
    case $1 in
      --build-dir)
        export TEREDO_BUILD_DIR=$2
        [[ -z ${LAB__MIREDO_DEFAULT:-} ]] || export LAB_MIREDO_DIR=$2/third_party/miredo
        shift 2
        ;;
      --miredo-dir) export LAB_MIREDO_DIR=$2 LAB__MIREDO_DEFAULT=""; shift 2 ;;
      -h | --help) sed -n "${help}p" "$0"; exit 0 ;;
      *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
  done
}
: "${LAB_VERBOSE:=0}"
: "${LAB_KEEP:=0}"
: "${LAB_KILL_GRACE:=3}"
LAB_PYTHON=/usr/bin/python3
LAB_SRC_DIR=$(cd "$LAB_LIB_DIR/../../.." && pwd)
LAB_PROBE="$LAB_SRC_DIR/tools/lab/teredo_probe.py"

declare -g -a LAB_NAMESPACES=()   # full names, creation order
declare -g -a LAB_PIDS=()         # "pid:starttime:name"
declare -g -A LAB_SEG_GW4=()      # segment -> router IPv4 (no prefix length)
declare -g -A LAB_SEG_GW6=()      # segment -> router IPv6
declare -g LAB_PORT_SEQ=0
declare -g LAB_LAST_PID=""
declare -g LAB_FAILURES=0
declare -g LAB_CHECKS=0
declare -g LAB_DONE=0

# ---------------------------------------------------------------------------------------------
# Messages and checks

lab_log() {   # verbose-only trace
  if [[ $LAB_VERBOSE == 1 ]]; then
    printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2
  fi
}

lab_say() {   # always shown
  printf '%s\n' "$*" >&2
}

lab_die() {
  printf 'lab: error: %s\n' "$*" >&2
  exit 1
}

# lab_run CMD...: run a setup command; quiet unless verbose, but on failure show the command and
# its output and return its status.
lab_run() {
  local out rc=0
  if [[ $LAB_VERBOSE == 1 ]]; then
    printf '[lab] + %s\n' "$*" >&2
  fi
  out=$("$@" 2>&1) || rc=$?
  if [[ -n ${LAB_DIR:-} && -d ${LAB_DIR:-/nonexistent} ]]; then
    { printf '+ %s\n' "$*"; [[ -z $out ]] || printf '%s\n' "$out"; } >>"$LAB_DIR/lab.log"
  fi
  if ((rc != 0)); then
    printf 'lab: command failed (%d): %s\n%s\n' "$rc" "$*" "$out" >&2
    return "$rc"
  fi
  if [[ $LAB_VERBOSE == 1 && -n $out ]]; then
    printf '%s\n' "$out" >&2
  fi
  return 0
}

# lab_check NAME CMD...: one test assertion; prints "ok NAME" or "FAIL NAME" and counts it.
lab_check() {
  local name=$1
  shift
  LAB_CHECKS=$((LAB_CHECKS + 1))
  if "$@"; then
    lab_say "  ok   $name"
    return 0
  fi
  LAB_FAILURES=$((LAB_FAILURES + 1))
  lab_say "  FAIL $name"
  return 1
}

# lab_expect_eq NAME GOT WANT
lab_expect_eq() {
  LAB_CHECKS=$((LAB_CHECKS + 1))
  if [[ $2 == "$3" ]]; then
    lab_say "  ok   $1 ($2)"
    return 0
  fi
  LAB_FAILURES=$((LAB_FAILURES + 1))
  lab_say "  FAIL $1: got '$2', want '$3'"
  return 1
}

# lab_fail NAME MESSAGE: record a failed check without running anything.
lab_fail() {
  LAB_CHECKS=$((LAB_CHECKS + 1))
  LAB_FAILURES=$((LAB_FAILURES + 1))
  lab_say "  FAIL $1: $2"
}

# lab_result TITLE: prints the PASS/FAIL line; returns non-zero if any check failed.
lab_result() {
  if ((LAB_FAILURES == 0 && LAB_CHECKS > 0)); then
    lab_say "PASS: $1 ($LAB_CHECKS checks)"
    return 0
  fi
  lab_say "FAIL: $1 ($LAB_FAILURES of $LAB_CHECKS checks failed)"
  return 1
}

# ---------------------------------------------------------------------------------------------
# Lifecycle

# lab_init: checks prerequisites, creates the work dir and installs the teardown traps.
lab_init() {
  [[ $(id -u) == 0 ]] || lab_die "must run as root (network namespaces)"
  local tool
  for tool in ip nft unshare setsid timeout; do
    command -v "$tool" >/dev/null || lab_die "missing tool: $tool"
  done
  : "${LAB_PREFIX:=tf$$}"
  [[ $LAB_PREFIX =~ ^[a-zA-Z0-9]+$ ]] || lab_die "LAB_PREFIX must be alphanumeric"
  LAB_DIR=$(mktemp -d "/tmp/${LAB_PREFIX}.XXXXXX")
  chmod 755 "$LAB_DIR"   # miredo drops to nobody; its files stay readable
  : >"$LAB_DIR/lab.log"
  set +m   # background jobs must not be process-group leaders (setsid would fork)
  trap 'lab__on_exit' EXIT
  trap 'lab_say "lab: interrupted"; exit 130' INT
  trap 'lab_say "lab: terminated"; exit 143' TERM
  lab_log "prefix $LAB_PREFIX, work dir $LAB_DIR"
}

lab__on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  # A reader that went away (`script | head`) must not kill us half-way through the teardown:
  # with SIGPIPE ignored a failed write is just an error.
  trap '' PIPE
  set +e
  if ((rc != 0)); then
    lab_dump_logs
  fi
  lab_teardown
  if ((rc != 0)) || [[ $LAB_KEEP == 1 ]]; then
    [[ -z ${LAB_DIR:-} ]] || lab_say "lab: work dir kept: $LAB_DIR"
  else
    [[ -z ${LAB_DIR:-} ]] || rm -rf -- "$LAB_DIR"
  fi
  exit "$rc"
}

# lab_dump_logs: print the tail of every started process's log (called automatically on failure).
lab_dump_logs() {
  local entry name log
  [[ -n ${LAB_DIR:-} ]] || return 0
  for entry in "${LAB_PIDS[@]}"; do
    name=${entry#*:*:}
    log="$LAB_DIR/$name.log"
    [[ -f $log ]] || continue
    printf '===== %s (%s) =====\n' "$name" "$log" >&2
    tail -n "${LAB_LOG_LINES:-60}" -- "$log" >&2
  done
  for log in "$LAB_DIR"/*-hook.log; do
    [[ -f $log ]] || continue
    printf '===== %s =====\n' "$log" >&2
    tail -n 20 -- "$log" >&2
  done
}

# /proc/PID/stat field 22 (start time in clock ticks); empty if the process is gone.
lab__starttime() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
  stat=${stat##*) }
  # Fields after ")": state(3) ppid(4) ... starttime is field 22, i.e. index 19 here.
  local -a f
  read -r -a f <<<"$stat"
  printf '%s' "${f[19]}"
}

# Members of session SID (our lab_bg processes are session leaders), excluding nothing else.
lab__session_members() {
  local sid=$1 d stat
  local -a f
  for d in /proc/[0-9]*; do
    { read -r stat <"$d/stat"; } 2>/dev/null || continue
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    # f[0]=state f[1]=ppid f[2]=pgrp f[3]=session
    if [[ ${f[3]} == "$sid" ]]; then
      printf '%s\n' "${d#/proc/}"
    fi
  done
}

# Signal every process of the session started as PID (only if PID is still ours or already gone
# while its session lives on: a session id cannot be reused while any member exists).
lab__signal_session() {
  local pid=$1 start=$2 sig=$3 now member
  now=$(lab__starttime "$pid")
  if [[ -n $now && $now != "$start" ]]; then
    return 0   # PID reused by an unrelated process: not ours
  fi
  for member in $(lab__session_members "$pid"); do
    kill "-$sig" "$member" 2>/dev/null || true
  done
}

lab_stop() {   # lab_stop NAME: stop one started process (and its session) by its lab_bg name
  local want=$1 entry pid start name i
  for i in "${!LAB_PIDS[@]}"; do
    entry=${LAB_PIDS[$i]}
    pid=${entry%%:*}
    start=${entry#*:}
    start=${start%%:*}
    name=${entry#*:*:}
    [[ $name == "$want" ]] || continue
    lab__signal_session "$pid" "$start" TERM
    for _ in $(seq 1 $((LAB_KILL_GRACE * 10))); do
      [[ -n $(lab__session_members "$pid") ]] || break
      sleep 0.1
    done
    lab__signal_session "$pid" "$start" KILL
    wait "$pid" 2>/dev/null || true
    unset 'LAB_PIDS[i]'
    LAB_PIDS=("${LAB_PIDS[@]}")
    return 0
  done
  return 1
}

# lab_teardown: stop every recorded process, delete every namespace of this run. Idempotent.
lab_teardown() {
  local entry pid start alive deadline i ns
  ((LAB_DONE == 0)) || return 0
  LAB_DONE=1
  for ((i = ${#LAB_PIDS[@]} - 1; i >= 0; i--)); do
    entry=${LAB_PIDS[$i]}
    pid=${entry%%:*}
    start=${entry#*:}
    start=${start%%:*}
    lab__signal_session "$pid" "$start" TERM
  done
  deadline=$((SECONDS + LAB_KILL_GRACE))
  while ((SECONDS < deadline)); do
    alive=0
    for entry in "${LAB_PIDS[@]}"; do
      pid=${entry%%:*}
      if [[ -n $(lab__session_members "$pid") ]]; then
        alive=1
        break
      fi
    done
    ((alive == 1)) || break
    sleep 0.1
  done
  for entry in "${LAB_PIDS[@]}"; do
    pid=${entry%%:*}
    start=${entry#*:}
    start=${start%%:*}
    lab__signal_session "$pid" "$start" KILL
    wait "$pid" 2>/dev/null || true
  done
  for ((i = ${#LAB_NAMESPACES[@]} - 1; i >= 0; i--)); do
    ns=${LAB_NAMESPACES[$i]}
    ip netns delete "$ns" 2>/dev/null || true
  done
  LAB_PIDS=()
  LAB_NAMESPACES=()
  lab_log "teardown done"
}

# ---------------------------------------------------------------------------------------------
# Namespaces, links, addresses

lab_nsname() {
  printf '%s-%s' "$LAB_PREFIX" "$1"
}

# lab_exec NS CMD...: run CMD inside NS (foreground).
lab_exec() {
  local ns=$1
  shift
  ip netns exec "$(lab_nsname "$ns")" "$@"
}

# lab_sysctl NS KEY=VALUE...
lab_sysctl() {
  local ns=$1 kv
  shift
  for kv in "$@"; do
    lab_run ip netns exec "$(lab_nsname "$ns")" sysctl -q -w "$kv"
  done
}

# lab_ns NAME: new namespace with lo up, no IPv6 DAD delays, no reverse-path filtering.
lab_ns() {
  local name=$1 full
  [[ $name =~ ^[a-zA-Z0-9_]+$ ]] || lab_die "bad namespace name: $name"
  full=$(lab_nsname "$name")
  lab_run ip netns add "$full"
  LAB_NAMESPACES+=("$full")
  lab_run ip -n "$full" link set lo up
  lab_sysctl "$name" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
    net.ipv6.conf.default.dad_transmits=0 net.ipv4.conf.all.rp_filter=0 \
    net.ipv4.conf.default.rp_filter=0 net.ipv6.conf.default.accept_ra=0
}

# lab_link NS1 IF1 NS2 IF2: a veth pair between two namespaces, both ends up.
lab_link() {
  local n1 n2
  n1=$(lab_nsname "$1")
  n2=$(lab_nsname "$3")
  lab_run ip link add name "$2" netns "$n1" type veth peer name "$4" netns "$n2"
  lab_run ip -n "$n1" link set "$2" up
  lab_run ip -n "$n2" link set "$4" up
}

# lab_addr NS IF ADDR/LEN...: add IPv4 or IPv6 addresses (IPv6 without DAD); link up.
lab_addr() {
  local ns=$1 ifname=$2 a full
  shift 2
  full=$(lab_nsname "$ns")
  for a in "$@"; do
    if [[ $a == *:* ]]; then
      lab_run ip -n "$full" -6 addr add "$a" dev "$ifname" nodad
    else
      lab_run ip -n "$full" -4 addr add "$a" dev "$ifname"
    fi
  done
  lab_run ip -n "$full" link set "$ifname" up
}

# lab_route NS ROUTE-ARGS...: `ip route replace` inside NS (family from the destination).
lab_route() {
  local ns=$1 fam=-4
  shift
  if [[ $1 == *:* || $* == *" via "*:* ]]; then
    fam=-6
  fi
  lab_run ip -n "$(lab_nsname "$ns")" "$fam" route replace "$@"
}

# lab_router [NAME]: the "internet" namespace (default "inet") with IPv4/IPv6 forwarding.
LAB_ROUTER=inet
lab_router() {
  LAB_ROUTER=${1:-inet}
  lab_ns "$LAB_ROUTER"
  lab_sysctl "$LAB_ROUTER" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# lab_segment SEG ROUTER-ADDR/LEN...: a bridge SEG in the router namespace carrying the given
# router addresses (they become the gateways of namespaces attached with lab_attach).
lab_segment() {
  local seg=$1 full a
  shift
  full=$(lab_nsname "$LAB_ROUTER")
  lab_run ip -n "$full" link add name "$seg" type bridge stp_state 0 mcast_snooping 0
  lab_addr "$LAB_ROUTER" "$seg" "$@"
  for a in "$@"; do
    if [[ $a == *:* ]]; then
      LAB_SEG_GW6[$seg]=${a%/*}
    else
      LAB_SEG_GW4[$seg]=${a%/*}
    fi
  done
}

# lab_attach NS IF SEG ADDR/LEN...: veth from NS (interface IF) into segment SEG's bridge, with the
# given addresses; default routes via the segment's router unless NS already has one.
lab_attach() {
  local ns=$1 ifname=$2 seg=$3 port full
  shift 3
  LAB_PORT_SEQ=$((LAB_PORT_SEQ + 1))
  port="p${LAB_PORT_SEQ}-${seg:0:8}"
  lab_link "$ns" "$ifname" "$LAB_ROUTER" "$port"
  lab_run ip -n "$(lab_nsname "$LAB_ROUTER")" link set "$port" master "$seg"
  if (($# > 0)); then
    lab_addr "$ns" "$ifname" "$@"
  fi
  full=$(lab_nsname "$ns")
  local has4=0 has6=0 a
  for a in "$@"; do
    if [[ $a == *:* ]]; then has6=1; else has4=1; fi
  done
  if ((has4)) && [[ -n ${LAB_SEG_GW4[$seg]:-} ]] &&
    [[ -z $(ip -n "$full" -4 route show default) ]]; then
    lab_run ip -n "$full" -4 route add default via "${LAB_SEG_GW4[$seg]}"
  fi
  if ((has6)) && [[ -n ${LAB_SEG_GW6[$seg]:-} ]] &&
    [[ -z $(ip -n "$full" -6 route show default) ]]; then
    lab_run ip -n "$full" -6 route add default via "${LAB_SEG_GW6[$seg]}"
  fi
}

# lab_ipv4_of NS IF: the first IPv4 address of IF (no prefix length).
lab_ipv4_of() {
  local out
  out=$(ip -n "$(lab_nsname "$1")" -4 -o addr show dev "$2")
  out=${out#* inet }
  printf '%s' "${out%%/*}"
}

# ---------------------------------------------------------------------------------------------
# NAT (nftables, inside the NAT box namespace)

# lab_nat NS TYPE WAN_IF [CLIENT_IP CLIENT_UDP_PORT]
#   masquerade  Linux conntrack masquerade: endpoint-independent mapping (source port kept when
#               free), address-and-port-dependent filtering: a port-restricted cone NAT.
#   fullcone    fixed-port SNAT of CLIENT_IP:PORT to WAN_IP:PORT plus DNAT of WAN UDP PORT back to
#               the client: anyone may reach the mapping (full cone). Needs CLIENT_IP and PORT.
#   symmetric   masquerade fully-random: a new random port per destination.
# Unsolicited traffic from the WAN to the LAN is dropped, as a real NAT box does, and so is
# unsolicited traffic to the box itself: accepted locally (port unreachable), such a packet would
# leave a conntrack entry that clashes with the LAN client's own reply flow, and masquerade would
# then give that reply a new source port (it breaks Teredo's direct bubbles, RFC 4380 §5.2.4).
lab_nat() {
  local ns=$1 type=${2:-masquerade} wan=$3 cip=${4:-} cport=${5:-} wanip rules
  wanip=$(lab_ipv4_of "$ns" "$wan")
  [[ -n $wanip ]] || lab_die "lab_nat: $ns/$wan has no IPv4 address"
  lab_sysctl "$ns" net.ipv4.ip_forward=1
  local post="oifname \"$wan\" masquerade" pre=""
  case $type in
    masquerade) ;;
    symmetric) post="oifname \"$wan\" masquerade fully-random" ;;
    fullcone)
      [[ -n $cip && -n $cport ]] || lab_die "lab_nat fullcone needs CLIENT_IP CLIENT_PORT"
      post="oifname \"$wan\" ip saddr $cip udp sport $cport snat to $wanip:$cport
    oifname \"$wan\" masquerade"
      pre="iifname \"$wan\" udp dport $cport dnat to $cip:$cport"
      ;;
    *) lab_die "lab_nat: unknown type $type" ;;
  esac
  rules="table ip labnat {
  chain nat_pre {
    type nat hook prerouting priority dstnat; policy accept;
    $pre
  }
  chain nat_post {
    type nat hook postrouting priority srcnat; policy accept;
    $post
  }
  chain filter_forward {
    type filter hook forward priority filter; policy accept;
    iifname \"$wan\" ct state established,related accept
    iifname \"$wan\" ct status dnat accept
    iifname \"$wan\" drop
  }
  chain filter_input {
    type filter hook input priority filter; policy accept;
    iifname \"$wan\" ct state established,related accept
    iifname \"$wan\" drop
  }
}"
  printf '%s\n' "$rules" >"$LAB_DIR/nat-$ns.nft"
  lab_run ip netns exec "$(lab_nsname "$ns")" nft -f "$LAB_DIR/nat-$ns.nft"
}

# lab_nat_mapping NS PROTO LAN_IP LAN_PORT DST_IP DST_PORT: prints "PUBLIC_IP PUBLIC_PORT", the
# NAT's mapping for that flow, from the NAT box's conntrack table (empty if none).
lab_nat_mapping() {
  local ns=$1 proto=$2 sip=$3 sport=$4 dip=$5 dport=$6 line
  local -a t
  while IFS= read -r line; do
    [[ $line == *" $proto "* ]] || continue
    [[ $line == *"src=$sip dst=$dip sport=$sport dport=$dport "* ]] || continue
    # Reply tuple: src=DST dst=PUBLIC sport=DST_PORT dport=PUBLIC_PORT
    line=${line#*"dport=$dport "}
    line=${line#*src="$dip" dst=}
    read -r -a t <<<"$line"
    printf '%s %s' "${t[0]}" "${t[2]#dport=}"
    return 0
  done <<<"$(lab_exec "$ns" cat /proc/net/nf_conntrack 2>/dev/null)"
}

# ---------------------------------------------------------------------------------------------
# Processes

# lab_bg NS NAME CMD...: start CMD in NS in the background, in its own session, output to
# $LAB_DIR/NAME.log; the PID is recorded for teardown and left in LAB_LAST_PID.
# NS may be "-" for the host namespace (only for tools that enter namespaces themselves).
lab_bg() {
  local ns=$1 name=$2 pid start
  shift 2
  [[ $name =~ ^[a-zA-Z0-9_.-]+$ ]] || lab_die "bad process name: $name"
  local log="$LAB_DIR/$name.log"
  lab_log "start [$ns] $name: $*"
  if [[ $ns == - ]]; then
    setsid "$@" >"$log" 2>&1 </dev/null &
  else
    setsid ip netns exec "$(lab_nsname "$ns")" "$@" >"$log" 2>&1 </dev/null &
  fi
  pid=$!
  start=$(lab__starttime "$pid")
  LAB_PIDS+=("$pid:${start:-0}:$name")
  LAB_LAST_PID=$pid
}

# lab_pid NAME: prints the PID of the process started (lab_bg) as NAME, while that PID is still
# that process; status 1 otherwise.
lab_pid() {
  local entry pid start
  for entry in "${LAB_PIDS[@]}"; do
    [[ ${entry#*:*:} == "$1" ]] || continue
    pid=${entry%%:*}
    start=${entry#*:}
    start=${start%%:*}
    [[ $(lab__starttime "$pid") == "$start" ]] || return 1
    printf '%s' "$pid"
    return 0
  done
  return 1
}

# lab_alive NAME: true while the process started as NAME is running.
lab_alive() {
  local pid
  pid=$(lab_pid "$1") || return 1
  [[ $(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) != Z ]]
}

# lab_kill NAME SIGNAL: sends SIGNAL to the process started as NAME (not to its session), e.g. a
# crash (KILL) or a service manager's stop (TERM) without waiting for the exit.
lab_kill() {
  local pid
  pid=$(lab_pid "$1") || return 1
  kill "-$2" "$pid"
}

# lab_not CMD...: negation usable as a command (e.g. lab_wait_for 5 lab_not lab_alive NAME).
lab_not() {
  ! "$@"
}

# lab_wait_for TIMEOUT_SECONDS CMD...: poll CMD (quietly) every 0.2 s until it succeeds.
lab_wait_for() {
  local timeout=$1 deadline
  shift
  deadline=$(($(date +%s%N) / 1000000 + timeout * 1000))
  while true; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if (($(date +%s%N) / 1000000 >= deadline)); then
      lab_log "timeout after ${timeout}s: $*"
      return 1
    fi
    sleep 0.2
  done
}

# lab_udp_listening NS ADDR PORT: true when something in NS listens on UDP ADDR:PORT.
lab_udp_listening() {
  local out
  out=$(lab_exec "$1" ss -H -uln "src $2:$3" 2>/dev/null) || return 1
  [[ -n $out ]]
}

# lab_link_up NS IF: true once IF exists and is up.
lab_link_up() {
  local out
  out=$(ip -n "$(lab_nsname "$1")" link show dev "$2" 2>/dev/null) || return 1
  [[ $out == *",UP"* || $out == *"<UP"* ]]
}

# ---------------------------------------------------------------------------------------------
# Miredo (Debian 1.2.6, extracted by tools/setup.sh; never installed)

lab__miredo_check() {
  [[ -x $LAB_MIREDO_DIR/usr/sbin/miredo ]] ||
    lab_die "miredo not found in $LAB_MIREDO_DIR (run tools/setup.sh)"
}

# Miredo has compiled-in paths: /usr/libexec/miredo/miredo-privproc and /etc/miredo/client-hook.
# Neither directory exists on the host and we never write there. Instead each Miredo process runs
# in a private mount namespace in which /etc and /usr/libexec are read-only overlays: the host's
# directory plus a per-instance stage directory holding just those two files.
lab__miredo_stage() {
  local name=$1 stage="$LAB_DIR/$1-root" hooklog="$LAB_DIR/$1-hook.log"
  mkdir -p "$stage/etc/miredo" "$stage/libexec/miredo"
  cp "$LAB_MIREDO_DIR/usr/libexec/miredo/miredo-privproc" "$stage/libexec/miredo/"
  # The client hook: miredo-privproc runs it as root with IFACE, STATE (up/down/destroy), ADDRESS,
  # LLADDRESS, MTU (and OLD_*) to configure the tun interface. Debian's hook also manages a
  # "teredo" policy-routing table that does not exist here; this one does only what a client in
  # the lab needs: addresses, MTU and a last-resort default route, with `ip` only.
  cat >"$stage/etc/miredo/client-hook" <<EOF
#!/bin/sh
# Generated by tests/integration/lab/lab.sh for $name.
echo "\$(date +%T) STATE=\$STATE IFACE=\$IFACE ADDRESS=\$ADDRESS LLADDRESS=\$LLADDRESS MTU=\$MTU" >>"$hooklog"
[ "\$STATE" = destroy ] && exit 0
ip -6 route flush dev "\$IFACE" 2>/dev/null
ip -6 address flush dev "\$IFACE" 2>/dev/null
ip link set dev "\$IFACE" "\$STATE" || exit 1
[ -n "\$MTU" ] && ip link set dev "\$IFACE" mtu "\$MTU"
if [ "\$STATE" = up ]; then
  ip -6 address add "\$LLADDRESS/64" dev "\$IFACE" nodad || exit 1
  ip -6 address add "\$ADDRESS/32" dev "\$IFACE" nodad || exit 1
  ip -6 route add default dev "\$IFACE" metric 1029 || exit 1
fi
exit 0
EOF
  chmod 755 "$stage/etc/miredo/client-hook"
  cat >"$stage/run.sh" <<EOF
#!/bin/sh
# Runs inside "unshare --mount --propagation private": nothing here is visible to the host.
set -e
mount -t overlay "lab-$name-etc" -o "lowerdir=$stage/etc:/etc" /etc
mount -t overlay "lab-$name-libexec" -o "lowerdir=$stage/libexec:/usr/libexec" /usr/libexec
export LD_LIBRARY_PATH="$LAB_MIREDO_DIR/usr/lib/x86_64-linux-gnu"
exec "\$@"
EOF
  chmod 755 "$stage/run.sh"
}

# lab__miredo_start NS NAME CONF BINARY: run a Miredo daemon in the foreground, privileges dropped
# to nobody, inside a private mount namespace.
lab__miredo_start() {
  local ns=$1 name=$2 conf=$3 bin=$4
  lab__miredo_stage "$name"
  lab_bg "$ns" "$name" unshare --mount --propagation private "$LAB_DIR/$name-root/run.sh" \
    "$LAB_MIREDO_DIR/usr/sbin/$bin" -f -u nobody -c "$conf" -p "$LAB_DIR/$name.pid"
}

# lab_miredo_client NS SERVER1 SERVER2 [BINDPORT] [IFNAME]: Miredo client (RelayType client).
# Binds the address NS uses to reach SERVER1. Waits until the tun interface exists (not until
# qualified: use lab_wait_qualified).
lab_miredo_client() {
  local ns=$1 s1=$2 s2=$3 port=${4:-0} ifname=${5:-teredo} bind route name
  lab__miredo_check
  route=$(lab_exec "$ns" ip -4 route get "$s1")
  bind=${route#* src }
  bind=${bind%% *}
  name="miredo-client-$ns"
  cat >"$LAB_DIR/$name.conf" <<EOF
RelayType client
InterfaceName $ifname
ServerAddress $s1
ServerAddress2 $s2
BindAddress $bind
BindPort $port
EOF
  lab__miredo_start "$ns" "$name" "$LAB_DIR/$name.conf" miredo
  lab_wait_for 10 ip -n "$(lab_nsname "$ns")" link show dev "$ifname" ||
    lab_die "miredo client in $ns: no $ifname interface (see $LAB_DIR/$name.log)"
}

# lab_miredo_relay NS BIND [PORT] [IFNAME]: Miredo relay (RelayType relay, i.e. cone) on BIND.
# Miredo adds the 2001::/32 route on its tun but does not enable forwarding: this does.
lab_miredo_relay() {
  local ns=$1 bind=$2 port=${3:-3545} ifname=${4:-teredo} name
  lab__miredo_check
  name="miredo-relay-$ns"
  cat >"$LAB_DIR/$name.conf" <<EOF
RelayType relay
InterfaceName $ifname
BindAddress $bind
BindPort $port
EOF
  lab_sysctl "$ns" net.ipv6.conf.all.forwarding=1
  lab__miredo_start "$ns" "$name" "$LAB_DIR/$name.conf" miredo
  lab_wait_for 10 lab_udp_listening "$ns" "$bind" "$port" ||
    lab_die "miredo relay in $ns: not listening on $bind:$port (see $LAB_DIR/$name.log)"
  lab_wait_for 5 lab_link_up "$ns" "$ifname" ||
    lab_die "miredo relay in $ns: $ifname not up"
  lab_route "$ns" 2001::/32 dev "$ifname"
}

# lab_miredo_server NS PRIMARY SECONDARY: miredo-server on UDP 3544 of both addresses. NS needs
# native IPv6 (a default IPv6 route) to forward clients' echo requests.
lab_miredo_server() {
  local ns=$1 p=$2 s=$3 name
  lab__miredo_check
  name="miredo-server-$ns"
  cat >"$LAB_DIR/$name.conf" <<EOF
ServerBindAddress $p
ServerBindAddress2 $s
EOF
  lab__miredo_start "$ns" "$name" "$LAB_DIR/$name.conf" miredo-server
  lab_wait_for 10 lab_udp_listening "$ns" "$p" 3544 ||
    lab_die "miredo-server in $ns: not listening on $p:3544 (see $LAB_DIR/$name.log)"
  lab_wait_for 5 lab_udp_listening "$ns" "$s" 3544 ||
    lab_die "miredo-server in $ns: not listening on $s:3544"
}

# ---------------------------------------------------------------------------------------------
# Our binaries (teredo-server, teredo-relay). Config keys follow lib/config (schemas.cc) and
# deploy/examples/{server,relay}.yaml. Standalone: no controller section.
#   LAB_TEREDO_SERVER_EXTRA / LAB_TEREDO_RELAY_EXTRA: extra YAML lines (indented two spaces)
#     appended inside the server: / relay: section, e.g. "  strict_rs: false".
#   LAB_TEREDO_SERVER_CONFIG / LAB_TEREDO_RELAY_CONFIG: a YAML template used instead of the
#     generated file (placeholders @PRIMARY@, @SECONDARY@, @BIND@, @PORT@, @IFNAME@, @STATE_DIR@).
#   LAB_TEREDO_WRAP: a command prefix for the daemon (split on spaces), e.g. a setpriv line that
#     starts it as an unprivileged user with only the capabilities it needs.

lab__teredo_bin() {
  local bin="$TEREDO_BUILD_DIR/services/$1/teredo-$1"
  [[ -x $bin ]] || lab_die "teredo-$1 not built: $bin (set TEREDO_BUILD_DIR)"
  printf '%s' "$bin"
}

lab__subst_config() {   # lab__subst_config TEMPLATE OUT KEY=VALUE...
  local tmpl=$1 out=$2 kv text
  shift 2
  text=$(cat "$tmpl")
  for kv in "$@"; do
    text=${text//@${kv%%=*}@/${kv#*=}}
  done
  printf '%s\n' "$text" >"$out"
}

# lab_admin_ready NS [PORT]: true when /readyz on 127.0.0.1:PORT (default 9544) answers 200.
lab_admin_ready() {
  local port=${2:-9544}
  lab_exec "$1" curl -fsS -m 1 -o /dev/null "http://127.0.0.1:$port/readyz"
}

# lab_teredo_server NS PRIMARY SECONDARY: our teredo-server with a generated YAML config.
lab_teredo_server() {
  local ns=$1 p=$2 s=$3 bin name conf state
  bin=$(lab__teredo_bin server)
  name="teredo-server-$ns"
  conf="$LAB_DIR/$name.yaml"
  state="$LAB_DIR/$name-state"
  mkdir -p "$state"
  if [[ -n ${LAB_TEREDO_SERVER_CONFIG:-} ]]; then
    lab__subst_config "$LAB_TEREDO_SERVER_CONFIG" "$conf" "PRIMARY=$p" "SECONDARY=$s" \
      "STATE_DIR=$state"
  else
    cat >"$conf" <<EOF
# Generated by tests/integration/lab/lab.sh
admin:
  listen: "127.0.0.1:9544"
log:
  level: info
  format: text
agent:
  id: lab-server-$ns
  state_dir: "$state"
server:
  primary_address: "$p"
  secondary_address: "$s"
${LAB_TEREDO_SERVER_EXTRA:-}
EOF
  fi
  # shellcheck disable=SC2086  # LAB_TEREDO_WRAP is a command prefix, split on purpose
  lab_bg "$ns" "$name" ${LAB_TEREDO_WRAP:-} "$bin" --config "$conf"
  lab_wait_for 10 lab_udp_listening "$ns" "$p" 3544 ||
    lab_die "teredo-server in $ns: not listening on $p:3544 (see $LAB_DIR/$name.log)"
  lab_wait_for 5 lab_udp_listening "$ns" "$s" 3544 ||
    lab_die "teredo-server in $ns: not listening on $s:3544"
  if command -v curl >/dev/null; then
    lab_wait_for 10 lab_admin_ready "$ns" 9544 ||
      lab_die "teredo-server in $ns: /readyz not OK (see $LAB_DIR/$name.log)"
  fi
}

# lab_teredo_relay NS BIND [PORT] [IFNAME]: our teredo-relay. Enables IPv6 forwarding and makes sure
# 2001::/32 is routed to its tun interface.
lab_teredo_relay() {
  local ns=$1 bind=$2 port=${3:-3545} ifname=${4:-teredo} bin name conf state
  bin=$(lab__teredo_bin relay)
  name="teredo-relay-$ns"
  conf="$LAB_DIR/$name.yaml"
  state="$LAB_DIR/$name-state"
  mkdir -p "$state"
  if [[ -n ${LAB_TEREDO_RELAY_CONFIG:-} ]]; then
    lab__subst_config "$LAB_TEREDO_RELAY_CONFIG" "$conf" "BIND=$bind" "PORT=$port" \
      "IFNAME=$ifname" "STATE_DIR=$state"
  else
    cat >"$conf" <<EOF
# Generated by tests/integration/lab/lab.sh
admin:
  listen: "127.0.0.1:9545"
log:
  level: info
  format: text
agent:
  id: lab-relay-$ns
  state_dir: "$state"
relay:
  bind_address: "$bind"
  port: $port
  interface: $ifname
${LAB_TEREDO_RELAY_EXTRA:-}
EOF
  fi
  lab_sysctl "$ns" net.ipv6.conf.all.forwarding=1
  # shellcheck disable=SC2086
  lab_bg "$ns" "$name" ${LAB_TEREDO_WRAP:-} "$bin" --config "$conf"
  lab_wait_for 10 lab_udp_listening "$ns" "$bind" "$port" ||
    lab_die "teredo-relay in $ns: not listening on $bind:$port (see $LAB_DIR/$name.log)"
  lab_wait_for 5 lab_link_up "$ns" "$ifname" || lab_die "teredo-relay in $ns: $ifname not up"
  lab_route "$ns" 2001::/32 dev "$ifname"
  if command -v curl >/dev/null; then
    lab_wait_for 10 lab_admin_ready "$ns" 9545 ||
      lab_die "teredo-relay in $ns: /readyz not OK (see $LAB_DIR/$name.log)"
  fi
}

# ---------------------------------------------------------------------------------------------
# Admin HTTP of our binaries (inside their namespace, loopback only)

# lab_http_code NS URL_PATH [PORT]: the HTTP status of GET 127.0.0.1:PORT/URL_PATH (000 if none).
lab_http_code() {
  local port=${3:-9544}
  lab_exec "$1" curl -sS -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$2" \
    2>/dev/null || true
}

# lab_metrics NS OUT [PORT]: save /metrics (Prometheus text) of the agent in NS to OUT.
lab_metrics() {
  local port=${3:-9544}
  lab_exec "$1" curl -fsS -m 2 -o "$2" "http://127.0.0.1:$port/metrics"
}

# lab_metric FILE SERIES: the value of SERIES (name with labels as exposed, e.g.
# 'teredo_server_packets_forwarded_total{path="ipv6"}') in a saved /metrics FILE. SERIES may be a
# shell-style pattern ('..._total{kind="plain*"}'): the sum of the matching series; a bare metric
# NAME sums all its label sets. Prints an integer when the value is one; nothing (status 1) when
# no series matches, so a renamed metric fails the caller's check.
lab_metric() {
  "$LAB_PYTHON" - "$1" "$2" <<'EOF_PY'
import fnmatch, sys
want = sys.argv[2]
total, found = 0.0, False
for line in open(sys.argv[1]):
    if not line.strip() or line.startswith("#"):
        continue
    series, _, value = line.rstrip("\n").rpartition(" ")
    name = series.split("{", 1)[0]
    if fnmatch.fnmatchcase(series, want) or ("{" not in want and name == want):
        total += float(value)
        found = True
if not found:
    sys.exit(1)
print(int(total) if total == int(total) else total)
EOF_PY
}

# lab_metric_grep FILE REGEX...: the sample lines of FILE whose series matches one REGEX (for logs).
lab_metric_grep() {
  local file=$1 re
  shift
  for re in "$@"; do
    grep -E "^($re)" "$file" || true
  done
}

# lab_metrics_no_addresses FILE [LITERAL...]: true when no label value in FILE holds an IPv4 or
# IPv6 address literal (metrics must never be labelled by address: unbounded cardinality and
# personal data; the one exception, a configured announce prefix, is explained below), and no
# LITERAL (e.g. this lab's client addresses) appears anywhere in FILE.
# Prints the offending lines otherwise.
lab_metrics_no_addresses() {
  "$LAB_PYTHON" - "$@" <<'EOF_PY'
import ipaddress, re, sys
path, literals = sys.argv[1], sys.argv[2:]
label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# The one exception: the `prefix` label of the anycast announcement metrics carries a prefix
# from relay.announce.prefixes (e.g. "2001::/32"): configured, at most 8 per relay, never a
# client's address. Only there, and only as a network in CIDR notation.
prefix_metrics = {"teredo_relay_announced", "teredo_controller_prefix_announcers",
                  "teredo_controller_prefix_relays_configured"}
def configured_prefix(name, key, value):
    if name not in prefix_metrics or key != "prefix" or "/" not in value:
        return False
    try:
        ipaddress.IPv6Network(value); return True
    except ValueError:
        return False
v4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9.])")
v6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
bad = []
for line in open(path):
    line = line.rstrip("\n")
    for lit in literals:
        if lit and lit in line:
            bad.append("literal %s: %s" % (lit, line))
    if line.startswith("#"):
        continue
    name = line.split("{", 1)[0].split(" ", 1)[0]
    for key, value in label.findall(line[:line.rindex("}") + 1] if "}" in line else ""):
        if configured_prefix(name, key, value):
            continue
        hits = v4.findall(value)
        for cand in v6.findall(value):
            try:
                ipaddress.IPv6Address(cand.strip(".")); hits.append(cand)
            except ValueError:
                pass
        if hits:
            bad.append("address %s in label value: %s" % (hits, line))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF_PY
}

# Role dispatch: IMPL is "miredo" or "teredo".
lab_server() {   # lab_server IMPL NS PRIMARY SECONDARY
  case $1 in
    miredo) lab_miredo_server "${@:2}" ;;
    teredo) lab_teredo_server "${@:2}" ;;
    *) lab_die "server implementation must be miredo or teredo, not '$1'" ;;
  esac
}

lab_relay() {   # lab_relay IMPL NS BIND [PORT]
  case $1 in
    miredo) lab_miredo_relay "${@:2}" ;;
    teredo) lab_teredo_relay "${@:2}" ;;
    *) lab_die "relay implementation must be miredo or teredo, not '$1'" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Teredo addresses

# lab_teredo_addr NS [IFNAME]: the client's global Teredo address (2001:0::/32) on its tun; empty
# if not qualified yet.
lab_teredo_addr() {
  local line a
  while read -r line; do
    a=${line#* inet6 }
    a=${a%%/*}
    if [[ $a == 2001:0:* ]]; then
      printf '%s' "$a"
      return 0
    fi
  done <<<"$(ip -n "$(lab_nsname "$1")" -6 -o addr show dev "${2:-teredo}" scope global 2>/dev/null)"
  return 1
}

# lab_wait_qualified NS TIMEOUT [IFNAME]: wait for a Teredo address on NS's tun.
lab_wait_qualified() {
  lab_wait_for "$2" lab_teredo_addr "$1" "${3:-teredo}"
}

# lab_require_qualified NS SECONDS TITLE: waits for NS's Miredo client to qualify; without an
# address the run cannot go on, so it fails the check, prints the result of TITLE and exits 1.
# Sets `addr` to the Teredo address.
lab_require_qualified() {
  if ! lab_wait_qualified "$1" "$2"; then
    lab_fail qualified "no Teredo address on $1 within $2 s"
    lab_result "$3"
    exit 1
  fi
  addr=$(lab_teredo_addr "$1")
}

# lab_teredo_decode ADDR: prints "SERVER FLAGS PORT CLIENT" (flags as 0xhhhh), RFC 4380 §4.
lab_teredo_decode() {
  "$LAB_PYTHON" - "$1" <<'EOF'
import ipaddress, sys
a = ipaddress.IPv6Address(sys.argv[1]).packed
if a[:4] != b"\x20\x01\x00\x00":
    sys.exit("not a Teredo address")
server = ipaddress.IPv4Address(a[4:8])
flags = int.from_bytes(a[8:10], "big")
port = int.from_bytes(a[10:12], "big") ^ 0xFFFF
client = ipaddress.IPv4Address(bytes(b ^ 0xFF for b in a[12:16]))
print(f"{server} 0x{flags:04x} {port} {client}")
EOF
}

# ---------------------------------------------------------------------------------------------
# The standard lab (used by the baseline, interop and demo scripts)
#
#   inet (router) --- segment pub: 198.51.100.0/24, 2001:db8:1::/64
#                 |     srv  198.51.100.10 + .11, 2001:db8:1::10  (Teredo server; native IPv6)
#                 |     rly  198.51.100.20, 2001:db8:1::20       (relay; inet routes 2001::/32 here)
#                 |     alt  198.51.100.30/.31/.40 reserved for a second server or relay
#                 +-- segment wan: 203.0.113.0/24
#                 |     natN 203.0.113.1N (wan) --- lan 10.0.N.1/24 --- cliN 10.0.N.2
#                 +-- segment v6: 2001:db8:2::/64
#                       host6 2001:db8:2::2                      (native IPv6 host)

LAB_SRV_PRIMARY=198.51.100.10
LAB_SRV_SECONDARY=198.51.100.11
LAB_SRV_IPV6=2001:db8:1::10
LAB_RLY_IPV4=198.51.100.20
LAB_RLY_IPV6=2001:db8:1::20
LAB_RLY_PORT=3545
LAB_HOST6=2001:db8:2::2

# lab_std_core: router, the three segments, srv (no daemon), rly (no daemon), host6, and the
# 2001::/32 route towards rly.
lab_std_core() {
  lab_std_base
  lab_ns rly
  lab_attach rly eth0 pub "$LAB_RLY_IPV4/24" "$LAB_RLY_IPV6/64"
  lab_route inet 2001::/32 via "$LAB_RLY_IPV6"
}

# lab_std_base: the standard core without a relay (and so without a route to 2001::/32): router
# inet, segments pub, wan and v6, the server's namespace srv, the native host host6.
lab_std_base() {
  lab_router inet
  lab_segment pub 198.51.100.1/24 2001:db8:1::1/64
  lab_segment wan 203.0.113.1/24
  lab_segment v6 2001:db8:2::1/64
  lab_ns srv
  lab_attach srv eth0 pub "$LAB_SRV_PRIMARY/24" "$LAB_SRV_SECONDARY/24" "$LAB_SRV_IPV6/64"
  lab_ns host6
  lab_attach host6 eth0 v6 "$LAB_HOST6/64"
}

# lab_std_client N NAT_TYPE [CLIENT_PORT]: NAT box natN (wan 203.0.113.1N) and client cliN
# (10.0.N.2) behind it. CLIENT_PORT is the client's fixed UDP port (needed by fullcone).
lab_std_client() {
  local n=$1 type=$2 port=${3:-}
  lab_ns "nat$n"
  lab_attach "nat$n" wan wan "203.0.113.1$n/24"
  lab_ns "cli$n"
  lab_link "nat$n" lan "cli$n" eth0
  lab_addr "nat$n" lan "10.0.$n.1/24"
  lab_addr "cli$n" eth0 "10.0.$n.2/24"
  lab_route "cli$n" default via "10.0.$n.1"
  lab_nat "nat$n" "$type" wan "10.0.$n.2" "$port"
}

# ---------------------------------------------------------------------------------------------
# Crafted packets (tools/lab/teredo_probe.py) and JSON queries

declare -g LAB_PROBE_NS=""

# lab_probe_start NS: keep one probe process ("serve" mode) running inside NS, so the scapy import
# is paid once per test; lab_probe NS and lab_probe_q then talk to it over a coprocess.
lab_probe_start() {
  local ns=$1 full start
  full=$(lab_nsname "$ns")
  [[ -z $LAB_PROBE_NS ]] || lab_die "lab_probe_start: already serving in $LAB_PROBE_NS"
  coproc LAB_PROBE_CO {
    exec setsid ip netns exec "$full" "$LAB_PYTHON" "$LAB_PROBE" serve 2>>"$LAB_DIR/probe-$ns.log"
  }
  start=$(lab__starttime "$LAB_PROBE_CO_PID")
  LAB_PIDS+=("$LAB_PROBE_CO_PID:${start:-0}:probe-$ns")
  LAB_PROBE_NS=$ns
}

# lab_probe NS ARGS...: run one probe command inside NS; its JSON on stdout (one line when served).
lab_probe() {
  local ns=$1 line
  shift
  if [[ $ns == "$LAB_PROBE_NS" ]]; then
    printf '%q ' "$@" >&"${LAB_PROBE_CO[1]}"
    printf '\n' >&"${LAB_PROBE_CO[1]}"
    IFS= read -r -t 60 line <&"${LAB_PROBE_CO[0]}" || lab_die "probe in $ns: no answer"
    printf '%s\n' "$line"
    return 0
  fi
  lab_exec "$ns" "$LAB_PYTHON" "$LAB_PROBE" "$@"
}

# lab_probe_q EXPR: evaluate EXPR (Python, d = the served probe's last result); see lab_json.
lab_probe_q() {
  local line
  [[ -n $LAB_PROBE_NS ]] || lab_die "lab_probe_q: no served probe (lab_probe_start)"
  printf '?%s\n' "${1//$'\n'/ }" >&"${LAB_PROBE_CO[1]}"
  IFS= read -r -t 10 line <&"${LAB_PROBE_CO[0]}" || lab_die "probe: no answer to query"
  printf '%s\n' "$line"
}

# lab_json JSON EXPR: evaluate the Python expression EXPR with d = the parsed JSON text; prints
# scalars plainly (true/false for booleans) and anything else as compact JSON.
lab_json() {
  "$LAB_PYTHON" -c '
import json, sys
d = json.loads(sys.argv[1])
try:
    v = eval(sys.argv[2], {"d": d, "len": len, "any": any, "all": all, "sorted": sorted})
except (KeyError, IndexError, TypeError) as e:
    v = "<%s: %s>" % (type(e).__name__, e)
if isinstance(v, bool):
    print("true" if v else "false")
elif isinstance(v, (str, int, float)) or v is None:
    print(v)
else:
    print(json.dumps(v, sort_keys=True, separators=(",", ":")))
' "$1" "$2"
}
