#!/usr/bin/env bash
# NAT-type detection through simulated NATs (S10 in docs/conformance.md): a black-box
# RFC 4380 §5.2.1 client (tools/lab/teredo_probe.py qualify: what pteredor and Microsoft's
# Get-NatType do) qualifies against teredo-server from behind each NAT type, twice, each time
# from a fresh socket (T = 1 s, N = 3), and must conclude:
#   full-cone (fullcone)                 -> cone        (the cone RA comes from the secondary)
#   address-restricted (addrrestricted)  -> restricted
#   port-restricted (Linux masquerade)   -> restricted
#   symmetric (masquerade fully-random)  -> symmetric   (two mapped ports)
#   UDP blocked (blocked)                -> offline
# Every RA is validated (nonce echo, origin indication, destination, one PIO embedding the
# primary). The server's own NAT observation (server.nat_observation, window 2 s) must agree:
# over the windows a client's qualifications span, teredo_server_nat_classifications_total
# counts it under the client's verdict and under no other NAT type ("unknown" aside); the
# offline client's RSs never reach the server (its received datagrams are exactly the others').
# The NATs are checked to filter as named (full-cone, address- and port-restricted).
#
# Usage: nat_types.sh [--server teredo|miredo] [--build-dir DIR] [--miredo-dir DIR]
#   --server miredo: the same client checks against Debian's miredo-server (a cross-check of the
#   probe against the reference server; it has no NAT observation, so no server checks).
# Environment: NAT_TYPES_TIMELINE=1 prints every case's RS timeline; NAT_TYPES_ALIGN_OFFSET
# (default 0.5) is where in a second the RSs leave.
# Lab: srv 198.51.100.10/.11 on "pub"; natN 203.0.113.1N on "wan" with cliN 10.0.N.2 behind it
# (tests/integration/lab/nat_lab.sh). Cases run one after the other (deltas of the server's
# counters are per client); the offline one runs alongside, it never reaches the server.
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
impl=teredo
while (($# > 0)); do
  case $1 in
    --server) impl=$2; shift 2 ;;
    --build-dir) export TEREDO_BUILD_DIR=$2; shift 2 ;;
    --miredo-dir) export LAB_MIREDO_DIR=$2; shift 2 ;;
    -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
# shellcheck source-path=SCRIPTDIR source=lab/nat_lab.sh
source "$here/lab/nat_lab.sh"
chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
lab_init
[[ $impl == teredo || $impl == miredo ]] || lab_die "--server must be teredo or miredo"
title="nat_types server=$impl"
lab_say "== $title"
SECONDS=0

P=$LAB_SRV_PRIMARY
S=$LAB_SRV_SECONDARY
WINDOW=2       # server.nat_observation.window, seconds (the minimum is 1 s)
T=1            # qualification: wait per RS
N=3            # qualification: RSs per phase
PORT=40000     # client port of the first run; the second uses PORT+1
# Each case starts 0.5 s into one of the server's windows (CLOCK_MONOTONIC / WINDOW, as its
# observer counts them) and its RSs leave T = 1 s apart, so which RSs share a window is the same
# on every run, and no RS is near a window boundary.
QUALIFY=(qualify --server "$P" --secondary "$S" --timeout "$T" --retries "$N" --runs 2
  --align "$WINDOW" --align-offset "${NAT_TYPES_ALIGN_OFFSET:-0.5}")

lab_router inet
lab_segment pub 198.51.100.1/24 2001:db8:1::1/64
lab_segment wan 203.0.113.1/24
lab_ns srv
lab_attach srv eth0 pub "$P/24" "$S/24" "$LAB_SRV_IPV6/64"
natlab_client 1 fullcone "$PORT" $((PORT + 3))
natlab_client 2 addrrestricted "$PORT" $((PORT + 3))
natlab_client 3 masquerade
natlab_client 4 symmetric
natlab_client 5 blocked "$PORT" $((PORT + 3))
LAB_TEREDO_SERVER_EXTRA="  nat_observation:
    enabled: true
    window: ${WINDOW}s"
lab_server "$impl" srv "$P" "$S"

# The offline case first, in the background: 2 x 2 x N x T seconds of silence.
lab_bg cli5 qualify-blocked /bin/sh -c \
  "exec $LAB_PYTHON $LAB_PROBE ${QUALIFY[*]} --bind 10.0.5.2:$PORT >$LAB_DIR/qualify-blocked.json"

metrics() {   # metrics NAME: scrape the server's /metrics into $LAB_DIR/metrics-NAME.prom
  lab_metrics srv "$LAB_DIR/metrics-$1.prom" || lab_die "cannot scrape /metrics"
}
classes() {   # classes FILE: "cone restricted symmetric unknown" classification totals
  local c out=()
  for c in cone restricted symmetric unknown; do
    out+=("$(lab_metric "$1" "teredo_server_nat_classifications_total{nat_type=\"$c\"}" ||
      echo missing)")
  done
  printf '%s' "${out[*]}"
}
sent_total=0   # RSs the clients that reach the server sent (from the probe's own accounting)

# timeline JSON_FILE: every RS of a case as the server's observer saw it (window index, RS kind,
# address reached, mapped port), with what lib/teredo/nat_observer.cc's rules make of each window
# (replayed here, each window closed exactly at its end); printed when a server check fails.
timeline() {
  "$LAB_PYTHON" - "$1" "$WINDOW" <<'EOF_PY'
import json, sys
d, w = json.load(open(sys.argv[1])), int(sys.argv[2])
rs = []
for i, r in enumerate(d["runs"]):
    for k, s in enumerate(r["steps"]):
        port = (r.get("mapped_secondary") if k == 2 else r.get("mapped", {})) or {}
        for t in s["sent_at"]:
            rs.append((t, i + 1, s["cone"], k == 2, port.get("port")))
rs.sort()
t0 = rs[0][0]
# Replay of NatObserver::observe/classify (per client IPv4, 30 s port pairing).
o = {"pp": None, "pa": None, "sp": None, "sa": None, "cones": 0, "after": False, "win": None}
def classify(o):
    if o["pa"] is not None and o["sa"] is not None and abs(o["pa"] - o["sa"]) <= 30:
        return "restricted" if o["pp"] == o["sp"] else "symmetric"
    return "cone" if o["cones"] >= 2 and not o["after"] else "unknown"
out = []
for t, run, cone, sec, port in rs:
    win = int(t) // w
    if o["win"] is not None and win != o["win"]:
        out.append("       window %d closes -> %s" % (o["win"], classify(o)))
        o["cones"], o["after"] = 0, False
    o["win"] = win
    if sec:
        o["sp"], o["sa"] = port, int(t)
    else:
        o["pp"], o["pa"] = port, int(t)
    if cone:
        o["cones"] += 1
    elif o["cones"]:
        o["after"] = True
    out.append("     +%6.3f s  window %d  run %d  %-5s RS -> %-9s mapped port %s" % (
        t - t0, win, run, "cone" if cone else "plain", "secondary" if sec else "primary", port))
out.append("       window %d closes -> %s" % (o["win"], classify(o)))
print("\n".join(out))
EOF_PY
}

# run_case N NAME VERDICT: qualify twice from cliN, check the verdicts and RAs, then the server's
# classifications over the windows the qualifications touched.
run_case() {
  local n=$1 name=$2 want=$3 out c i
  local -a b a
  lab_say "-- $name (cli$n behind nat$n, 203.0.113.1$n): expect $want"
  [[ $impl != teredo ]] || metrics "$name-before"
  out=$(lab_probe "cli$n" "${QUALIFY[@]}" --bind "10.0.$n.2:$PORT") ||
    lab_die "qualify in cli$n failed"
  printf '%s\n' "$out" >"$LAB_DIR/qualify-$name.json"
  eq "S10 $name: verdict of both runs" "$(lab_json "$out" 'd["verdicts"]')" \
    "[\"$want\",\"$want\"]"
  eq "S10 $name: no invalid datagram received" \
    "$(lab_json "$out" 'sum(len(s["rejected"]) for r in d["runs"] for s in r["steps"])')" 0
  eq "S10 $name: mapped IPv4 is nat$n's" \
    "$(lab_json "$out" 'sorted({r["mapped"]["ip"] for r in d["runs"]})')" "[\"203.0.113.1$n\"]"
  case $want in
    cone)
      eq "S10 $name: cone RA came from the secondary" \
        "$(lab_json "$out" 'sorted({r["steps"][0]["ra"]["from"] for r in d["runs"]})')" \
        "[\"$S:3544\"]"
      ;;
    restricted | symmetric)
      eq "S10 $name: plain RAs came from the address solicited" \
        "$(lab_json "$out" 'sorted({(r["steps"][1]["ra"]["from"], r["steps"][2]["ra"]["from"])
          for r in d["runs"]})')" "[[\"$P:3544\",\"$S:3544\"]]"
      ;;
  esac
  if [[ $want == symmetric ]]; then
    eq "S10 $name: secondary saw another port" \
      "$(lab_json "$out" 'all(r["mapped"]["port"] != r["mapped_secondary"]["port"]
        for r in d["runs"])')" true
  fi
  sent_total=$((sent_total +
    $(lab_json "$out" 'sum(s["sent"] for r in d["runs"] for s in r["steps"])')))
  [[ $impl == teredo ]] || return 0
  # The last RS's window closes at most WINDOW s later; rotation runs on a 1 s tick.
  sleep $((WINDOW + 2))
  metrics "$name-after"
  read -r -a b <<<"$(classes "$LAB_DIR/metrics-$name-before.prom")"
  read -r -a a <<<"$(classes "$LAB_DIR/metrics-$name-after.prom")"
  local -A delta=()
  local names=(cone restricted symmetric unknown) shown=""
  for i in 0 1 2 3; do
    if [[ ${a[i]} == missing || ${b[i]} == missing ]]; then
      lab_fail "S10 $name: server metrics" "teredo_server_nat_classifications_total missing"
      return 0
    fi
    delta[${names[i]}]=$((a[i] - b[i]))
    shown+="${names[i]}+${delta[${names[i]}]} "
  done
  lab_say "     server classifications during $name: ${shown% }"
  local fails=$LAB_FAILURES
  chk "S10 $name: server counted it as $want" test "${delta[$want]}" -ge 1
  # NatObserver (lib/teredo/nat_observer.h): each client is classified once per window it was
  # seen in.
  eq "S10 $name: server classified it once per window its RSs reached" \
    "$((delta[cone] + delta[restricted] + delta[symmetric] + delta[unknown]))" \
    "$(lab_json "$out" "len({int(t) // $WINDOW for r in d['runs'] for s in r['steps'] \
      for t in s['sent_at']})")"
  local wrong=""
  for c in cone restricted symmetric; do
    [[ $c == "$want" || ${delta[$c]} == 0 ]] || wrong+="$c+${delta[$c]} "
  done
  eq "S10 $name: server counted it as no other NAT type" "${wrong% }" ""
  if ((LAB_FAILURES != fails)) || [[ ${NAT_TYPES_TIMELINE:-0} == 1 ]]; then
    lab_say "     the client's RSs as the server saw them (its windows: ${WINDOW} s):"
    timeline "$LAB_DIR/qualify-$name.json" >&2
  fi
}

run_case 1 fullcone cone
run_case 2 addrrestricted restricted
run_case 3 portrestricted restricted
run_case 4 symmetric symmetric

# The NATs filter as named (otherwise a verdict could be right for the wrong reason): each client
# sends one datagram from port PORT+3 to P:7; then srv sends to its mapping from P:3545 (the
# address contacted, another port) and from S:7 (an address never contacted).
#   full-cone: both arrive; address-restricted: only P's; port-restricted: neither.
lab_say "-- NAT filtering (inbound to a mapping from P:3545 and S:7 after the client sent to P:7)"
for n in 1 2 3; do
  lab_bg "cli$n" "filter-$n" /bin/sh -c "exec $LAB_PYTHON $LAB_PROBE send --to $P:7 \
    --bind 10.0.$n.2:$((PORT + 3)) --timeout 3 hex 6e6174 >$LAB_DIR/filter-$n.json"
done
for n in 1 2 3; do
  lab_wait_for 10 lab_udp_listening "cli$n" "10.0.$n.2" $((PORT + 3)) ||
    lab_die "filter probe in cli$n did not start"
done
sleep 0.3
lab_exec srv "$LAB_PYTHON" - "$P" "$S" $((PORT + 3)) <<'EOF_PY'
import socket, sys
p, s, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
for src in ((p, 3545), (s, 7)):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(src)
    for n in (1, 2, 3):
        sock.sendto(b"filter-test", ("203.0.113.1%d" % n, port))
    sock.close()
EOF_PY
want_filter=("" "[\"$P:3545\",\"$S:7\"]" "[\"$P:3545\"]" "[]")
names_filter=("" fullcone addrrestricted portrestricted)
for n in 1 2 3; do
  lab_wait_for 10 lab_not lab_alive "filter-$n" || lab_die "filter probe in cli$n still running"
  eq "NAT ${names_filter[n]}: inbound sources admitted" \
    "$(lab_json "$(cat "$LAB_DIR/filter-$n.json")" 'sorted(r["from"] for r in d["replies"])')" \
    "${want_filter[n]}"
done

lab_say "-- blocked (cli5 behind nat5, UDP dropped): expect offline"
lab_wait_for 30 lab_not lab_alive qualify-blocked || lab_die "offline qualification still running"
out=$(cat "$LAB_DIR/qualify-blocked.json")
eq "S10 blocked: verdict of both runs" "$(lab_json "$out" 'd["verdicts"]')" \
  '["offline","offline"]'
eq "S10 blocked: cone and plain phases both tried N times" \
  "$(lab_json "$out" 'sorted({tuple(s["sent"] for s in r["steps"]) for r in d["runs"]})')" \
  "[[$N,$N]]"
if [[ $impl == teredo ]]; then
  metrics end
  eq "S10 blocked: server received only the other clients' RSs" \
    "$(lab_metric "$LAB_DIR/metrics-end.prom" teredo_server_packets_received_total)" "$sent_total"
fi
chk "$impl-server still running" lab_alive "$impl-server-srv"

lab_say "   ($SECONDS s)"
lab_result "$title"
