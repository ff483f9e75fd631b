#!/usr/bin/env bash
# teredo-relay against the hijack of a Teredo peer through its bubble token, on the wire. For a
# Teredo destination D it does not trust yet the relay sends an indirect bubble with a link-local
# "token" source to <server in D>:3544 (RFC 4380 §5.4.1) and, for symmetric NATs, accepts a reply
# bubble to that token from another port (RFC 6081 §5.2). The attacker, with its own public
# address A = 198.51.100.66, has native traffic sent to a "lure": the victim's flags and mapping
# with A as the server, so the relay's bubble for the lure, and its token, arrive at A:3544. It
# then claims the victim's address with that token (tools/lab/teredo_attack.py). A relay whose
# token only hashes the mapping, and that takes it from any IPv4 address, re-points the victim's
# entry to the attacker: native traffic for the victim goes to the attacker, and the attacker's
# packets with the victim's source reach native hosts.
# Controls (they must pass, or the checks prove nothing):
#   a. the native host pings the victim through the relay (5 of 5), also just before the attack;
#   b. the attacker receives the relay's indirect bubble for the lure at A:3544, from the relay,
#      and extracts its link-local token;
#   c. the token path works for its legitimate use: an honest client behind a symmetric NAT
#      (address with mapping A:45000, answering from A:45001) answers the relay's bubble to its
#      token, and the native host's pings to it are answered (relay.all_teredo.symmetric does the
#      same with a Miredo client behind a real symmetric NAT);
#   d. an echo request with the attacker's ICMPv6 identifier from a genuine source reaches the
#      native host's capture (once per capture).
# Attack 1, the victim a real Miredo client behind a NAT (203.0.113.11), trusted by the relay:
# from A:3544 and A:<victim's port>, the bubble "victim -> token", then an echo request as the
# victim to the native host. Checks:
#   i.   the native host's pings to the victim are still answered (at most one of 10 lost);
#   ii.  the attacker's sockets receive nothing addressed to the victim's Teredo address;
#   iii. the native host never sees the spoofed echo request (tcpdump in its namespace);
#   iv.  the attack packets reached the relay, and teredo_relay_packets_dropped_total
#        {reason="spoofed_source"} grew by exactly their number (RFC 4380 §5.4.2 step 2);
#   v.   the relay is still running and ready; the victim still reaches the native host.
# Attack 2, the token's binding to the whole address, at the one moment a token is accepted: the
# victim P is another host behind the attacker's own public address (mapping A:4242, server
# teredo-server); its entry is untrusted, a bubble outstanding, a packet queued (nobody answers).
# The attacker, from other ports of A (so P's IPv4 address matches), answers with the token of
# the lure (A as server, mapping A:4242). Checks: vi. nothing addressed to P reaches the
# attacker (not the queued packet either); vii. no spoofed echo at the native host; viii.
# spoofed_source grew by exactly the attack packets; the relay is still running.
#
# Usage: relay_hijack.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,40 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/relay_lab.sh
source "$here/lab/relay_lab.sh"

title="relay hijack through the bubble token (RFC 4380 §5.4.2, RFC 6081 §5.2)"
client_port=40001
atk_ip=198.51.100.66       # the attacker's own public address A, on the public segment
ctl_port_embedded=45000    # control c: the port in the honest client's Teredo address
ctl_port_nat=45001         # control c: its symmetric NAT's port towards the relay
p_port=4242                # attack 2: the port of P's mapping on A (the attacker cannot use it)
native_pings=10
echo_id=$((0x4854))        # ICMPv6 echo identifier of the attacker's spoofed echo requests
echo_filter="icmp6 and ip6[40] == 128 and ip6[44:2] == $echo_id"
no_json="{}"               # stands in for a missing JSON result
ATTACK="$LAB_SRC_DIR/tools/lab/teredo_attack.py"
relay_ep="$LAB_RLY_IPV4:$LAB_RLY_PORT"
quiet() { "$@" >/dev/null 2>&1; }
soft() { "$@" || true; }   # a failed check is counted, the later checks still run
must() {                   # a failed control makes the rest meaningless: stop with the summary
  "$@" || {
    lab_result "$title (${SECONDS}s)"
    exit 1
  }
}
attack() { lab_exec atk "$LAB_PYTHON" "$ATTACK" "$@"; }
attack_bg() {   # attack_bg NAME ARGS...: teredo_attack.py in the attacker's namespace, background
  local name=$1
  shift
  lab_bg atk "$name" "$LAB_PYTHON" "$ATTACK" "$@"
}
event() {   # event NAME EVENT: the last JSON line of that event in process NAME's log
  grep -F "\"event\": \"$2\"" "$LAB_DIR/$1.log" | tail -n 1
}
ping_received() {   # ping_received OUTPUT: the "N received" of a ping summary (0 if none)
  if [[ $1 =~ ([0-9]+)\ received ]]; then
    printf '%s' "${BASH_REMATCH[1]}"
  else
    printf '0'
  fi
}
ping6_ok() {   # ping6_ok NS DST: first wait for one reply, then 5 of 5 must come back.
  lab_wait_for 20 lab_exec "$1" ping -6 -n -c 1 -W 1 "$2" || return 1
  lab_exec "$1" ping -6 -n -q -c 5 -i 0.2 -W 2 "$2" >/dev/null
}
delta() {   # delta BEFORE AFTER SERIES: after - before ("missing" and status 1 if absent)
  local b a
  b=$(relay_lab_value "$1" "$3") || { printf 'missing'; return 1; }
  a=$(relay_lab_value "$2" "$3") || { printf 'missing'; return 1; }
  printf '%s' $((a - b))
}
ge() { [[ $1 =~ ^-?[0-9]+$ ]] && (($1 >= $2)); }
spoofed='teredo_relay_packets_dropped_total{reason="spoofed_source"}'
from_teredo='teredo_relay_packets_total{direction="from_teredo"}'

# lure_token NAME ADDR: play the server named in the lure ADDR (A:3544) while the native host
# sends to ADDR; sets `token` (empty if no bubble came) and prints what arrived.
lure_token() {
  local name=$1 addr=$2 result
  token=""
  attack_bg "$name" token --bind "$atk_ip:3544" --peer "$addr" --seconds 10
  lab_wait_for 5 grep -q '"event": "listening"' "$LAB_DIR/$name.log" || return 1
  # Native traffic to the lure (attacker-controlled in the real world: a web page, a DNS name):
  # the relay bubbles it through "its server", the attacker. A bubble at most every 2 s.
  lab_bg host6 "$name-ping" ping -6 -n -c 4 -i 1 -W 1 "$addr"
  lab_wait_for 10 lab_not lab_alive "$name" || true
  lab_stop "$name-ping" || true
  lab_stop "$name" || true
  result=$(event "$name" token || true)
  lab_say "  b. lure $addr: ${result:-no bubble}"
  [[ -n $result ]] || return 1
  lab_expect_eq "b. the lure's bubble came from the relay" "$(lab_json "$result" 'd["from"]')" \
    "$relay_ep" || return 1
  lab_expect_eq "b. its source is a link-local token" "$(lab_json "$result" 'd["link_local"]')" \
    true || return 1
  token=$(lab_json "$result" 'd["token"]')
  lab_say "  token for the lure: $token"
}

# hijack NAME VICTIM TOKEN BIND...: start the attack in the background; sets `sent`.
hijack() {
  local name=$1 victim=$2 tok=$3 b
  shift 3
  local -a binds=()
  for b in "$@"; do
    binds+=(--bind "$b")
  done
  attack_bg "$name" hijack --relay "$relay_ep" "${binds[@]}" --victim "$victim" --token "$tok" \
    --dst "$LAB_HOST6" --echo-id "$echo_id" --seconds 30
  lab_wait_for 5 grep -q '"event": "sent"' "$LAB_DIR/$name.log" || return 1
  sent=$(lab_json "$(event "$name" sent)" 'd["packets"]')
  lab_say "  attacker sent $sent packets: $(event "$name" sent)"
}

# hijack_report NAME: print what the attacker received; sets `to_victim`.
hijack_report() {
  local result
  result=$(event "$1" result || true)
  to_victim=$(lab_json "${result:-$no_json}" 'd["to_victim"]')
  lab_say "  attacker received $(lab_json "${result:-$no_json}" 'd["received"]') datagrams," \
    "$to_victim addressed to the victim"
  grep -F '"event": "received"' "$LAB_DIR/$1.log" | head -n 5 | sed 's/^/      /' >&2 || true
}

lab_init
lab_say "== $title"
SECONDS=0

# Lab: lab_std_core (router; srv 198.51.100.10/.11 teredo-server, rly 198.51.100.20 teredo-relay
# with 2001::/32 routed to it, host6 2001:db8:2::2 native), nat1 (203.0.113.11, masquerade) with
# the Miredo client cli1 (10.0.1.2:40001) behind it, and atk (198.51.100.66) on the public segment.
lab_std_core
lab_std_client 1 masquerade "$client_port"
lab_ns atk
lab_attach atk eth0 pub "$atk_ip/24"
lab_teredo_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
relay_lab_start rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT" 1
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$client_port"
lab_require_qualified cli1 20 "$title"
victim=$addr
read -r v_server v_flags v_port v_ip <<<"$(lab_teredo_decode "$victim")"
lab_check "victim qualified: $victim (server $v_server, flags $v_flags, mapping $v_ip:$v_port)" true
must lab_expect_eq "victim's mapping is its NAT's public address" "$v_ip:$v_port" \
  "203.0.113.11:$client_port"

# Spoofed echo requests would reach the native host: capture the echo requests with the
# attacker's identifier there. Only that identifier: Miredo sends echo requests of its own to
# native peers through its server (RFC 4380 §5.2.9), whenever it sees fit.
relay_lab_capture_start host6 eth0 cap-echo1 "$echo_filter"

# ---------------------------------------------------------------------------------------------
# Controls.
must lab_check "a. native host pings the victim through the relay" ping6_ok host6 "$victim"
must lab_check "d. victim's echo request with the attacker's identifier reaches the native host" \
  quiet lab_exec cli1 ping -6 -n -c 1 -W 2 -e "$echo_id" "$LAB_HOST6"
must lab_check "d. the capture at the native host saw it" \
  lab_wait_for 5 test "$(relay_lab_capture_count cap-echo1)" -ge 1
control_echo1=$(relay_lab_capture_count cap-echo1)

# c. The legitimate use of the token (RFC 6081 §5.2): an honest client whose NAT gives it another
# port towards the relay than the one in its address. Its server is A too (it receives the
# relay's bubble on A:3544, as its server would forward it), its mapped address is A as well.
ctl_addr=$(attack addr --server "$atk_ip" --mapped "$atk_ip:$ctl_port_embedded")
attack_bg ctl-client client --server-bind "$atk_ip:3544" --bind "$atk_ip:$ctl_port_nat" \
  --addr "$ctl_addr" --echoes 3 --seconds 15
must lab_check "c. honest symmetric-NAT client listening" \
  lab_wait_for 5 grep -q '"event": "listening"' "$LAB_DIR/ctl-client.log"
ctl_ping=$(lab_exec host6 ping -6 -n -c 3 -i 0.5 -W 2 "$ctl_addr" 2>&1 || true)
lab_wait_for 10 lab_not lab_alive ctl-client || lab_stop ctl-client || true
ctl_result=$(event ctl-client client || true)
lab_say "  c. client $ctl_addr (mapping $atk_ip:$ctl_port_embedded, answers from :$ctl_port_nat):"
lab_say "     ${ctl_result:-no result}"
must lab_expect_eq "c. native host's pings to the honest client answered" \
  "$(ping_received "$ctl_ping")" 3
must lab_expect_eq "c. the client answered a token and 3 echo requests from its other port" \
  "$(lab_json "${ctl_result:-$no_json}" 'len(d["tokens"]) >= 1 and d["echo_replies"]')" 3

# b. The lure: the victim's flags and mapping, the attacker as the server.
lure=$(attack addr --like "$victim" --server "$atk_ip")
must lab_check "b. attacker got the token of the lure" lure_token lure-token "$lure"

# ---------------------------------------------------------------------------------------------
# Attack 1: the victim's entry is trusted (its answers refresh it just before).
m0="$LAB_DIR/relay-metrics-0.txt"
m1="$LAB_DIR/relay-metrics-1.txt"
must lab_check "a. victim answers the native host just before the attack" \
  quiet lab_exec host6 ping -6 -n -c 1 -W 2 "$victim"
must lab_check "relay /metrics before attack 1" relay_lab_scrape rly "$m0"
must lab_check "attack 1 sent" hijack hijack1 "$victim" "$token" "$atk_ip:3544" "$atk_ip:$v_port"
sent1=$sent
# i. Native traffic to the victim after the attack; the attacker listens meanwhile.
ping_out=$(lab_exec host6 ping -6 -n -c "$native_pings" -i 0.2 -W 1 "$victim" 2>&1 || true)
printf '%s\n' "$ping_out" >"$LAB_DIR/ping-victim-after.txt"
received=$(ping_received "$ping_out")
lab_stop hijack1 || true
lab_stop cap-echo1 || true
must lab_check "relay /metrics after attack 1" relay_lab_scrape rly "$m1"
hijack_report hijack1
lab_say "  relay metrics after attack 1:"
lab_metric_grep "$m1" 'teredo_relay_packets_dropped_total\{.*\} [1-9]' \
  'teredo_relay_bubbles_received_total' | sed 's/^/      /' >&2

soft lab_check "i. native host's pings to the victim still answered ($received of $native_pings)" \
  ge "$received" $((native_pings - 1))
soft lab_expect_eq "ii. attacker received nothing addressed to the victim" "$to_victim" 0
soft lab_expect_eq "iii. no spoofed echo request at the native host (beyond control d)" \
  "$(relay_lab_capture_count cap-echo1)" "$control_echo1"
d=$(delta "$m0" "$m1" "$from_teredo" || true)
soft lab_check "iv. the attack packets reached the relay (from_teredo +$d >= $sent1)" \
  ge "$d" "$sent1"
soft lab_expect_eq "iv. spoofed_source drops grew by the attack packets" \
  "$(delta "$m0" "$m1" "$spoofed" || true)" "$sent1"
soft lab_check "v. relay still running" lab_alive "$RELAY_LAB_NAME"
soft lab_expect_eq "v. relay /readyz after the attack" "$(lab_http_code rly /readyz 9545)" 200
# The victim's own echo request, with the attacker's identifier: control d for capture 2.
relay_lab_capture_start host6 eth0 cap-echo2 "$echo_filter"
soft lab_check "v. victim still reaches the native host" \
  quiet lab_exec cli1 ping -6 -n -c 1 -W 2 -e "$echo_id" "$LAB_HOST6"
soft lab_check "d. capture 2 at the native host saw it" \
  lab_wait_for 5 test "$(relay_lab_capture_count cap-echo2)" -ge 1
control_echo2=$(relay_lab_capture_count cap-echo2)

# ---------------------------------------------------------------------------------------------
# Attack 2: P, behind the attacker's public address (mapping A:4242), untrusted with a bubble
# outstanding and a packet queued; the attacker answers from other ports of A with the token of
# its lure (A as server, mapping A:4242). Only the token's binding to the whole address (server
# field included) tells the two apart: P's IPv4 address is the attacker's.
p_addr=$(attack addr --server "$LAB_SRV_PRIMARY" --mapped "$atk_ip:$p_port")
lure2=$(attack addr --server "$atk_ip" --mapped "$atk_ip:$p_port")
m2="$LAB_DIR/relay-metrics-2.txt"
m3="$LAB_DIR/relay-metrics-3.txt"
m4="$LAB_DIR/relay-metrics-4.txt"
m5="$LAB_DIR/relay-metrics-5.txt"
lab_say "  attack 2: P $p_addr, lure $lure2"
must lab_check "relay /metrics before P is bubbled" relay_lab_scrape rly "$m2"
lab_exec host6 ping -6 -n -c 1 -W 1 "$p_addr" >/dev/null 2>&1 || true
must lab_check "relay /metrics after P is bubbled" relay_lab_scrape rly "$m3"
d=$(delta "$m2" "$m3" 'teredo_relay_bubbles_sent_total{kind="indirect"}' || true)
must lab_check "the relay bubbled P and queued the packet (indirect bubbles +$d)" ge "$d" 1
must lab_check "b. attacker got the token of the second lure" lure_token lure-token2 "$lure2"
must lab_check "relay /metrics before attack 2" relay_lab_scrape rly "$m4"
must lab_check "attack 2 sent" hijack hijack2 "$p_addr" "$token" "$atk_ip:3544" \
  "$atk_ip:$((p_port + 1))"
sent2=$sent
# Native traffic to P after the attack (nobody answers it: no reply is expected).
lab_exec host6 ping -6 -n -c 5 -i 0.2 -W 1 "$p_addr" >/dev/null 2>&1 || true
lab_stop hijack2 || true
lab_stop cap-echo2 || true
must lab_check "relay /metrics after attack 2" relay_lab_scrape rly "$m5"
hijack_report hijack2
soft lab_expect_eq "vi. attacker received nothing addressed to P (not its queued packet)" \
  "$to_victim" 0
soft lab_expect_eq "vii. no spoofed echo request at the native host (beyond control d)" \
  "$(relay_lab_capture_count cap-echo2)" "$control_echo2"
d=$(delta "$m4" "$m5" "$from_teredo" || true)
soft lab_check "viii. the attack packets reached the relay (from_teredo +$d >= $sent2)" \
  ge "$d" "$sent2"
soft lab_expect_eq "viii. spoofed_source drops grew by the attack packets" \
  "$(delta "$m4" "$m5" "$spoofed" || true)" "$sent2"
soft lab_check "relay still running" lab_alive "$RELAY_LAB_NAME"
if grep -qiE 'fatal|abort|sanitizer' "$LAB_DIR/$RELAY_LAB_NAME.log"; then
  lab_fail "relay log clean" \
    "$(grep -iE 'fatal|abort|sanitizer' "$LAB_DIR/$RELAY_LAB_NAME.log" | head -3)"
fi

lab_result "$title (${SECONDS}s)"
