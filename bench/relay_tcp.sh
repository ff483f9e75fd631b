#!/usr/bin/env bash
# bench/relay_tcp.sh: TCP through a relay with a real Teredo client, ours against Miredo's relay,
# for bench/run.sh (phase tcp). A Debian Miredo client behind a NAT qualifies with miredo-server
# (the same server for both relays: it carries no data) and runs iperf3 to a native IPv6 host,
# through the relay under test, in each direction:
#   - at a fixed rate both relays sustain (BENCH_TCP_RATE): relay CPU seconds per gigabyte;
#   - unlimited: the highest throughput (the Miredo client, one thread doing a system call per
#     packet on the other CPU, usually limits it before either relay does).
#
#   relay_tcp.sh RESULTS REPS   (appends "IMPL FIGURE VALUE" lines to RESULTS)
#
# Environment: BENCH_TCP_RATE (iperf3 -b, default 100M), BENCH_TCP_SECONDS (default 5),
# BENCH_TEREDO_RELAY_YAML (extra lines for our relay), BENCH_PERF (profile the fixed-rate runs),
# DAEMON_CPU/GEN_CPU (from run.sh), TEREDO_BUILD_DIR and LAB_MIREDO_DIR (exported by run.sh).
# Topology: the integration tests' standard lab (tests/integration/lab/lab.sh, lab_std_core): a
# router, the server srv, the relay rly, the native host host6 and one client cli1 behind a
# full-cone NAT. All traffic stays inside these namespaces; teardown on exit.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS=$1
REPS=$2
RATE=${BENCH_TCP_RATE:-100M}
SECS=${BENCH_TCP_SECONDS:-5}
NCPU=$(nproc)
GEN_CPU=${GEN_CPU:-0}
DAEMON_CPU=${DAEMON_CPU:-$((NCPU > 1 ? 1 : 0))}
: "${LAB_PREFIX:=tft$$}"
export LAB_PREFIX

# shellcheck source-path=SCRIPTDIR source=../tests/integration/lab/lab.sh
source "$SRC/tests/integration/lab/lab.sh"
# shellcheck source=lib.sh
source "$SRC/bench/lib.sh"

lab_init
lab_std_core
lab_std_client 1 fullcone 40001
lab_server miredo srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
lab_bg host6 iperf3-server taskset -c "$GEN_CPU" iperf3 -s -B "$LAB_HOST6" -p 5201
lab_wait_for 5 sh -c "ip netns exec '$(lab_nsname host6)' ss -H -tln 'sport = :5201' | grep -q ."

record() {
  printf '%s %s %s\n' "$1" "$2" "$3" >>"$RESULTS"
}

# iperf IMPL KEY RELAY_PID ARGS...: one iperf3 run from the client; records the relay's CPU s per
# GB received and returns the throughput (Mbit/s) on stdout.
iperf() {
  local impl=$1 key=$2 pid=$3 c0 c1 out perfpid="" perfdata
  shift 3
  if [[ -n ${BENCH_PERF:-} && " $* " != *" -b 0 "* ]]; then
    # Profile of the relay during the fixed-rate run (perf's own cost inflates the CPU figure).
    perfdata="$LAB_DIR/perf-tcp-$impl-$key-$rep.data"
    perf record -q -g -o "$perfdata" -p "$(daemon_pids "$pid" | paste -sd,)" \
      -- sleep "$SECS" >/dev/null 2>&1 &
    perfpid=$!
  fi
  c0=$(cpu_ns "$pid")
  out=$(timeout $((SECS + 30)) ip netns exec "$(lab_nsname cli1)" taskset -c "$GEN_CPU" \
    iperf3 -6 -c "$LAB_HOST6" -p 5201 -t "$SECS" -J "$@") || {
    lab_say "warning: $impl iperf3 $* failed"
    return 1
  }
  c1=$(cpu_ns "$pid")
  if [[ -n $perfpid ]]; then
    wait "$perfpid" || true
    lab_say "  perf $impl TCP $key (self time, top 25):"
    perf report -i "$perfdata" --no-children --stdio --sort dso,symbol 2>/dev/null |
      grep -E '^ +[0-9.]+%' | head -25 | sed 's/^/    /' >&2 || true
  fi
  lab_json "{\"c\":$((c1 - c0)),\"r\":$out}" \
    '"%s %s" % (round(d["c"] / 1e9 / (d["r"]["end"]["sum_received"]["bytes"] / 1e9), 3),
                round(d["r"]["end"]["sum_received"]["bits_per_second"] / 1e6, 1))'
}

for ((rep = 1; rep <= REPS; rep++)); do
  for impl in miredo teredo; do
    lab_say "bench: rep $rep/$REPS relay TCP (iperf3) $impl"
    if [[ $impl == teredo ]]; then
      LAB_TEREDO_RELAY_EXTRA=${BENCH_TEREDO_RELAY_YAML:-} lab_relay teredo rly "$LAB_RLY_IPV4" \
        "$LAB_RLY_PORT"
    else
      lab_relay miredo rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT"
    fi
    relay_pid=$LAB_LAST_PID
    relay_name=$impl-relay-rly
    sleep 0.3
    pin_daemon "$relay_pid"
    lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
    client_pid=$LAB_LAST_PID
    pin_daemon "$client_pid" "$GEN_CPU"
    lab_require_qualified cli1 20 "bench relay TCP $impl"
    # The client learns its way to the native host (RFC 4380 §5.2.9: ping, then the relay).
    lab_wait_for 20 lab_exec cli1 ping -6 -n -c 1 -W 1 "$LAB_HOST6" >/dev/null ||
      lab_die "$impl relay: the client cannot reach $LAB_HOST6"
    for dir in rx tx; do
      flag=()
      [[ $dir == tx ]] && flag=(-R)   # -R: host6 sends, towards the client
      if r=$(iperf "$impl" "$dir" "$relay_pid" -b "$RATE" "${flag[@]}"); then
        record "$impl" "relay_tcp_${dir}_cpu_s_per_gb" "${r% *}"
        record "$impl" "relay_tcp_${dir}_fixed_mbps" "${r#* }"
      fi
      if r=$(iperf "$impl" "$dir" "$relay_pid" -b 0 "${flag[@]}"); then
        record "$impl" "relay_tcp_${dir}_max_mbps" "${r#* }"
        record "$impl" "relay_tcp_${dir}_max_cpu_s_per_gb" "${r% *}"
      fi
    done
    lab_stop "miredo-client-cli1"
    lab_stop "$relay_name"
  done
done
