# bench/lib.sh: helpers shared by the benchmark scripts (sourced after tests/integration/lab/lab.sh).
# Measures the processes of one daemon started with lab_bg: CPU time, RSS, CPU pinning.
# Needs DAEMON_CPU set by the caller (pin_daemon).

# The daemon's processes: the session lab_bg started (Miredo forks a worker child and, for the
# relay, miredo-privproc; ours is one process).
daemon_pids() {
  lab__session_members "$1"
}

pin_daemon() {   # pin_daemon SESSION_PID [CPU]: every thread of every process onto CPU (DAEMON_CPU)
  local p
  for p in $(daemon_pids "$1"); do
    taskset -a -p -c "${2:-$DAEMON_CPU}" "$p" >/dev/null 2>&1 || true
  done
}

# CPU time in ns of all threads of the daemon's processes (/proc/PID/task/TID/schedstat: on-CPU
# time, the quantity of utime+stime in /proc/PID/stat but with ns rather than 10 ms resolution).
cpu_ns() {
  local p t total=0 run _
  for p in $(daemon_pids "$1"); do
    for t in /proc/"$p"/task/*/schedstat; do
      { read -r run _ <"$t"; } 2>/dev/null || continue
      total=$((total + run))
    done
  done
  printf '%s' "$total"
}

rss_kib() {   # VmRSS summed over the daemon's processes (kB)
  local p k v _ total=0
  for p in $(daemon_pids "$1"); do
    while read -r k v _; do
      [[ $k == VmRSS: ]] && total=$((total + v))
    done <"/proc/$p/status" 2>/dev/null || true
  done
  printf '%s' "$total"
}

