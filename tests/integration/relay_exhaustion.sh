#!/usr/bin/env bash
# teredo-relay under a peer-exhaustion and spoofed-source attack, with a real Miredo client
# (behind a NAT, through teredo-server) pinging the native host all the while:
#   - the native host's namespace sends IPv6 to >= 5000 distinct Teredo destinations embedding our
#     server (mapped addresses 203.0.113.128/25 x random ports, nobody there): the relay creates an
#     untrusted peer and sends an indirect bubble for each (RFC 4380 §5.4.1), the table is capped
#     by relay.max_peers (R13 in docs/conformance.md) and evicts untrusted peers first;
#   - a namespace on the public segment sends Teredo datagrams to the relay whose inner IPv6
#     source is a Teredo address whose mapping is not the UDP source (the real client's address,
#     and random ones): RFC 4380 §5.4.2 step 2 / R21 -> dropped as spoofed_source, never on
#     the tun, never at the host.
# Asserted: peers <= cap and queued bytes <= cap at every sample; capacity evictions grow and the
# trusted client is never evicted; spoofed_source grows; the relay's VmRSS stays under start +
# 32 MiB; >= 90 % of the client's pings during the attack are answered.
#
# Usage: relay_exhaustion.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,18 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/relay_lab.sh
source "$here/lab/relay_lab.sh"

title="relay exhaustion (peer cap, spoofed sources, trusted client keeps working)"
client_port=40001
max_peers=512
queue_total=262144        # 256 KiB for all queues; 512 peers x one 1 kB packet would need ~540 kB
spray_count=6000          # distinct Teredo destinations (>= 5000)
spray_seconds=5
spoof_random=1000         # random spoofed Teredo sources (plus the real client's address)
spoof_repeat=2
ping_count=60             # 0.2 s apart: 12 s, covering the attack
rss_margin_kib=$((32 * 1024))
spoofer_ip=198.51.100.50
lab_init
lab_say "== $title"
SECONDS=0

lab_std_core
lab_std_client 1 masquerade "$client_port"
lab_ns spf
lab_attach spf eth0 pub "$spoofer_ip/24"
lab_teredo_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
relay_lab_start rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT" 1 "  max_peers: $max_peers
  queue_bytes_per_peer: 1280
  queue_bytes_total: $queue_total"
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$client_port"
lab_require_qualified cli1 20 "$title"
lab_check "qualified: $addr" true
lab_check "client reaches the native host (trusted peer)" \
  lab_wait_for 20 lab_exec cli1 ping -6 -n -c 1 -W 1 "$LAB_HOST6"
lab_check "native host reaches the client" \
  lab_wait_for 10 lab_exec host6 ping -6 -n -c 1 -W 1 "$addr"

# Captures of UDP to port 9999 (the spoofed packets' destination) on the relay's tun and at the
# host. Control: one genuine datagram from the client must show up on both, so a capture that
# sees nothing cannot pass the "no spoofed packet" checks by accident.
relay_lab_capture_start rly "$RELAY_LAB_IF" cap-tun "udp and dst port 9999"
relay_lab_capture_start host6 eth0 cap-host "udp and dst port 9999"
lab_exec cli1 "$LAB_PYTHON" -c "import socket; s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.sendto(b'relay-lab-control', ('$LAB_HOST6', 9999))"
lab_check "control datagram seen on the relay's tun" \
  lab_wait_for 5 test "$(relay_lab_capture_count cap-tun)" -ge 1
lab_check "control datagram seen at the host" \
  lab_wait_for 5 test "$(relay_lab_capture_count cap-host)" -ge 1
control_tun=$(relay_lab_capture_count cap-tun)
control_host=$(relay_lab_capture_count cap-host)

m0="$LAB_DIR/relay-metrics-0.txt"
m1="$LAB_DIR/relay-metrics-1.txt"
relay_lab_scrape rly "$m0" || lab_die "relay /metrics"
rss0=$(relay_lab_vmrss_kib)
rss_bound=$((rss0 + rss_margin_kib))
lab_say "  relay VmRSS at start: ${rss0} kB (bound ${rss_bound} kB)"

# The attack, with the client pinging throughout.
lab_bg cli1 ping-during-attack ping -6 -n -i 0.2 -c "$ping_count" -W 1 "$LAB_HOST6"
sleep 1
lab_bg host6 spray "$LAB_PYTHON" "$RELAY_LAB_LOAD" spray6 --server "$LAB_SRV_PRIMARY" \
  --prefix 203.0.113.128/25 --count "$spray_count" --seconds "$spray_seconds" --size 1000
lab_bg spf spoof "$LAB_PYTHON" "$RELAY_LAB_LOAD" spoof --relay "$LAB_RLY_IPV4:$LAB_RLY_PORT" \
  --bind "$spoofer_ip:40000" --server "$LAB_SRV_PRIMARY" --src "$addr" --random "$spoof_random" \
  --repeat "$spoof_repeat" --dst "$LAB_HOST6" --dport 9999 --seconds "$spray_seconds"

samples=0 max_seen=0 max_queued=0 max_rss=0 over_cap=0 over_queue=0 over_rss=0
sample="$LAB_DIR/relay-metrics-sample.txt"
deadline=$((SECONDS + spray_seconds + 10))
while ((SECONDS < deadline)); do
  if relay_lab_scrape rly "$sample"; then
    samples=$((samples + 1))
    p=$(relay_lab_value "$sample" teredo_relay_peers || echo 999999999)
    q=$(relay_lab_value "$sample" teredo_relay_queued_bytes || echo 999999999)
    ((p <= max_seen)) || max_seen=$p
    ((q <= max_queued)) || max_queued=$q
    ((p <= max_peers)) || over_cap=$((over_cap + 1))
    ((q <= queue_total)) || over_queue=$((over_queue + 1))
  fi
  r=$(relay_lab_vmrss_kib || true)
  if [[ -n $r ]]; then
    ((r <= max_rss)) || max_rss=$r
    ((r <= rss_bound)) || over_rss=$((over_rss + 1))
  fi
  lab_alive spray || lab_alive spoof || break
  sleep 0.4
done
lab_check "attack senders finished in time" lab_wait_for 5 lab_not lab_alive spray
lab_check "spoofer finished in time" lab_wait_for 5 lab_not lab_alive spoof
lab_check "client's ping finished" lab_wait_for 15 lab_not lab_alive ping-during-attack
sleep 0.5
lab_stop cap-tun || true
lab_stop cap-host || true
lab_check "relay /metrics after the attack" relay_lab_scrape rly "$m1"
lab_say "  spray: $(tail -n 1 "$LAB_DIR/spray.log")"
lab_say "  spoof: $(tail -n 1 "$LAB_DIR/spoof.log")"
lab_say "  $samples samples: max peers $max_seen (cap $max_peers), max queued $max_queued B" \
  "(cap $queue_total), max VmRSS $max_rss kB"
lab_say "  relay metrics after the attack:"
lab_metric_grep "$m1" 'teredo_relay_peer_evictions_total' 'teredo_relay_peers_created_total' \
  'teredo_relay_bubbles_sent_total' 'teredo_relay_packets_total' \
  'teredo_relay_queue_dropped_packets_total\{.*\} [1-9]' \
  'teredo_relay_packets_dropped_total\{.*\} [1-9]' 'teredo_socket_kernel_drops_total' |
  sed 's/^/      /' >&2

delta() {   # delta SERIES: after - before (prints "missing" and fails if absent)
  local b a
  b=$(relay_lab_value "$m0" "$1") || { printf 'missing'; return 1; }
  a=$(relay_lab_value "$m1" "$1") || { printf 'missing'; return 1; }
  printf '%s' $((a - b))
}
soft() { "$@" || true; }
ge() { [[ $1 =~ ^-?[0-9]+$ ]] && (($1 >= $2)); }

sent=$(lab_json "$(tail -n 1 "$LAB_DIR/spray.log")" 'd["distinct"]' 2>/dev/null || echo 0)
soft lab_check "spray reached >= 5000 distinct Teredo destinations ($sent)" ge "$sent" 5000
spoofed_sent=$(lab_json "$(tail -n 1 "$LAB_DIR/spoof.log")" 'd["sent"]' 2>/dev/null || echo 0)
soft lab_check "spoofer sent its datagrams ($spoofed_sent)" ge "$spoofed_sent" 1000

# Peer table.
soft lab_check "sampled during the attack ($samples samples)" ge "$samples" 5
soft lab_expect_eq "samples with teredo_relay_peers > $max_peers" "$over_cap" 0
soft lab_check "the attack filled the table (max peers seen $max_seen >= 90 % of the cap)" \
  ge "$max_seen" $((max_peers * 9 / 10))
final_peers=$(relay_lab_value "$m1" teredo_relay_peers || echo missing)
soft lab_check "teredo_relay_peers <= $max_peers after the attack ($final_peers)" \
  test "$final_peers" -le "$max_peers"
d=$(delta 'teredo_relay_peer_evictions_total{cause="capacity"}' || true)
soft lab_check "capacity evictions grew by >= $((spray_count - max_peers)) * 0.9 ($d)" \
  ge "$d" $(((spray_count - max_peers) * 9 / 10))
d=$(delta 'teredo_relay_peer_evictions_total{cause="capacity_trusted"}' || true)
soft lab_expect_eq "no trusted peer evicted for capacity" "$d" 0
d=$(delta 'teredo_relay_peers_created_total{result="created"}' || true)
soft lab_check "peers created for >= 90 % of the destinations ($d)" ge "$d" $((spray_count * 9 / 10))
d=$(delta 'teredo_relay_bubbles_sent_total{kind="indirect"}' || true)
soft lab_check "indirect bubbles for >= 90 % of the destinations ($d)" \
  ge "$d" $((spray_count * 9 / 10))

# Queues.
soft lab_expect_eq "samples with queued bytes > $queue_total" "$over_queue" 0
d=$(delta 'teredo_relay_queue_dropped_packets_total{cause="global_full"}' || true)
soft lab_check "global queue cap enforced (global_full drops: $d)" ge "$d" 1

# Spoofed sources.
d=$(delta 'teredo_relay_packets_dropped_total{reason="spoofed_source"}' || true)
soft lab_check "spoofed_source drops grew by >= 90 % of what was sent ($d of $spoofed_sent)" \
  ge "$d" $((spoofed_sent * 9 / 10))
soft lab_expect_eq "no spoofed datagram on the relay's tun (beyond the control)" \
  "$(relay_lab_capture_count cap-tun)" "$control_tun"
soft lab_expect_eq "no spoofed datagram at the host (beyond the control)" \
  "$(relay_lab_capture_count cap-host)" "$control_host"

# Memory and the trusted client.
soft lab_expect_eq "samples with VmRSS > start + 32 MiB (max $max_rss kB)" "$over_rss" 0
received=0
if [[ $(grep 'packets transmitted' "$LAB_DIR/ping-during-attack.log") =~ ([0-9]+)\ received ]]; then
  received=${BASH_REMATCH[1]}
fi
lab_say "  client ping during the attack: $(grep 'packets transmitted' "$LAB_DIR/ping-during-attack.log" || echo none)"
soft lab_check "trusted client: >= 90 % of $ping_count pings answered ($received)" \
  ge "$received" $((ping_count * 9 / 10))
soft lab_check "relay still running" lab_alive "$RELAY_LAB_NAME"
soft lab_expect_eq "relay /readyz after the attack" "$(lab_http_code rly /readyz 9545)" 200
soft lab_check "no address in any relay metric label" \
  lab_metrics_no_addresses "$m1" "$addr" 203.0.113.11 "$spoofer_ip" "$LAB_HOST6"

lab_result "$title (${SECONDS}s)"
