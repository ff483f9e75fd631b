# shellcheck shell=bash
# shellcheck disable=SC2034  # BGP_* variables are this library's interface to its callers.
# BIRD 2 in the lab (sourced after lab.sh by tests/integration/anycast_bgp.sh): an upstream router
# speaking eBGP with the relays, and each relay host's BIRD running deploy/bgp/bird.conf. Every
# daemon runs in a lab namespace with its own control socket under $LAB_DIR and is started with
# lab_bg, so lab.sh's teardown stops exactly these processes.
#
#   source tests/integration/lab/lab.sh
#   source tests/integration/lab/bgp_lab.sh
#   bgp_upstream inet 2001:db8:1::1 65000 2001:db8:1::20 2001:db8:1::21
#   bgp_relay_speaker rlya 198.51.100.20 2001:db8:1::20 65010 2001:db8:1::1 65000
#   bgp_upstream_paths 2001::/32        # "2001:db8:1::20 2001:db8:1::21", best first
#
# BIRD comes from Debian's bird2, extracted by tools/setup.sh into third_party/bird (never
# installed, so no bird.service is ever started on the machine).

if [[ -n ${BGP_LAB_SH_LOADED:-} ]]; then
  return 0
fi
BGP_LAB_SH_LOADED=1
[[ -n ${LAB_SH_LOADED:-} ]] || {
  echo "bgp_lab.sh: source lab.sh first" >&2
  exit 2
}

: "${BGP_BIRD_DIR:=$TEREDO_BUILD_DIR/third_party/bird}"
BGP_BIRD="$BGP_BIRD_DIR/usr/sbin/bird"
BGP_BIRDC="$BGP_BIRD_DIR/usr/sbin/birdc"
declare -g BGP_UPSTREAM_NS=""

bgp__check() {
  [[ -x $BGP_BIRD && -x $BGP_BIRDC ]] ||
    lab_die "BIRD not found in $BGP_BIRD_DIR (run tools/setup.sh)"
}

# bgp__start NS NAME CONF: BIRD in the foreground (lab_bg), control socket $LAB_DIR/NAME.ctl;
# waits until it answers on that socket.
bgp__start() {
  local ns=$1 name=$2 conf=$3
  bgp__check
  lab_run "$BGP_BIRD" -p -c "$conf"
  lab_bg "$ns" "$name" "$BGP_BIRD" -f -c "$conf" -s "$LAB_DIR/$name.ctl" -P "$LAB_DIR/$name.pid"
  lab_wait_for 10 bgp_birdc "$name" show status ||
    lab_die "$name: BIRD does not answer (see $LAB_DIR/$name.log)"
}

# bgp_birdc NAME ARGS...: birdc on that daemon's socket.
bgp_birdc() {
  local name=$1
  shift
  "$BGP_BIRDC" -s "$LAB_DIR/$name.ctl" "$@"
}

# bgp_upstream NS ADDR AS NEIGHBOR...: the upstream router's BIRD in NS: eBGP with every
# NEIGHBOR (AS BGP_RELAY_AS), importing everything they send (so that a leak would show) and
# installing the best path in NS's main table (so that NS forwards to the chosen relay).
# `prefer older`: between equal paths the one held longer stays best, so that a relay coming back
# does not pull the traffic back (RFC 5004), which keeps each step of the test about one change.
BGP_RELAY_AS=65010
bgp_upstream() {
  local ns=$1 addr=$2 as=$3 n i=0 conf
  shift 3
  BGP_UPSTREAM_NS=$ns
  conf="$LAB_DIR/bird-upstream.conf"
  {
    printf 'log stderr all;\nrouter id 198.51.100.1;\n'
    printf 'protocol device { scan time 10; }\n'
    printf 'protocol kernel { ipv6 { import none; export all; }; }\n'
    printf 'template bgp relay {\n  local %s as %s;\n  hold time 9;\n  keepalive time 3;\n' \
      "$addr" "$as"
    printf '  prefer older on;\n  ipv6 { import all; export none; };\n}\n'
    for n in "$@"; do
      i=$((i + 1))
      printf 'protocol bgp relay%s from relay { neighbor %s as %s; }\n' "$i" "$n" "$BGP_RELAY_AS"
    done
  } >"$conf"
  bgp__start "$ns" bird-upstream "$conf"
}

# bgp_relay_speaker NS ROUTER_ID LOCAL_ADDR LOCAL_AS NEIGHBOR NEIGHBOR_AS: the relay host's BIRD
# running the shipped deploy/bgp/bird.conf with only its EDIT lines changed (and logging to
# stderr instead of syslog).
bgp_relay_speaker() {
  local ns=$1 rid=$2 laddr=$3 las=$4 nb=$5 nbas=$6 conf="$LAB_DIR/bird-$1.conf"
  sed -e "s|^log syslog all;|log stderr all;|" \
    -e "s|^router id [^;]*;|router id $rid;|" \
    -e "s|^\\(  local \\)[^ ]* as [0-9]*;|\\1$laddr as $las;|" \
    -e "s|^\\(  neighbor \\)[^ ]* as [0-9]*;|\\1$nb as $nbas;|" \
    "$LAB_SRC_DIR/deploy/bgp/bird.conf" >"$conf"
  if ! grep -q "router id $rid;" "$conf" || ! grep -q "local $laddr as $las;" "$conf" ||
    ! grep -q "neighbor $nb as $nbas;" "$conf"; then
    lab_die "deploy/bgp/bird.conf: its EDIT lines changed shape; update bgp_relay_speaker"
  fi
  bgp__start "$ns" "bird-$ns" "$conf"
}

# bgp_established NAME PROTO: true once that BGP session is Established.
bgp_established() {
  bgp_birdc "$1" show protocols "$2" | grep -q Established
}

# bgp_upstream_paths PREFIX: the next hops of the upstream's paths to PREFIX, best first, one
# line ("" when none).
bgp_upstream_paths() {
  local out best="" others=""
  out=$(bgp_birdc bird-upstream show route for "$1" all 2>/dev/null) || return 0
  # Lines like "2001::/32  unicast [relay1 12:00:00.000] * (100) [AS65010?]" then
  # "  via 2001:db8:1::20 on eth0"; the "*" marks the best path.
  local star=0 line
  while IFS= read -r line; do
    if [[ $line =~ unicast\ \[ ]]; then
      [[ $line == *" * "* ]] && star=1 || star=0
    elif [[ $line =~ ^[[:space:]]+via\ ([0-9a-f:]+) ]]; then
      if ((star)); then best=${BASH_REMATCH[1]}; else others+=" ${BASH_REMATCH[1]}"; fi
    fi
  done <<<"$out"
  printf '%s' "$(echo "$best$others" | xargs)"
}

# bgp_upstream_best_is PREFIX NEXTHOP: true when the best path to PREFIX goes via NEXTHOP.
bgp_upstream_best_is() {
  local paths
  paths=$(bgp_upstream_paths "$1")
  [[ ${paths%% *} == "$2" ]]
}

# bgp_upstream_path_count PREFIX N: true when the upstream has exactly N paths to PREFIX.
bgp_upstream_path_count() {
  local paths
  paths=$(bgp_upstream_paths "$1")
  local -a a=()
  [[ -z $paths ]] || read -r -a a <<<"$paths"
  ((${#a[@]} == $2))
}

# bgp_upstream_prefixes: every prefix the upstream holds (its only routes come from BGP: the
# kernel protocol imports nothing), sorted, space-separated.
bgp_upstream_prefixes() {
  bgp_birdc bird-upstream show route 2>/dev/null |
    awk '$1 ~ /\// {print $1}' | sort -u | xargs
}
