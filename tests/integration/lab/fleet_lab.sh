# shellcheck shell=bash
# shellcheck disable=SC2034  # FLEET_* variables are this library's interface to its callers.
# teredo-controller helpers for the lab (sourced after lab.sh by tests/integration/controller_*.sh
# and tools/fleet-demo.sh): the controller in the host's namespace, agents in lab namespaces.
#
#   source tests/integration/lab/lab.sh
#   source tests/integration/lab/fleet_lab.sh
#   fleet_init                         # lab_init + controller paths, free ports, socket cleanup
#   fleet_controller_start             # agents on unix:$FLEET_SOCK, admin API on 127.0.0.1
#   fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" lab-srv    # managed teredo-server
#   fleet_relay rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT" lab-rly              # managed teredo-relay
#   fleet_ctl config set FILE --role server                              # teredoctl, authenticated
#   fleet_wait_synced 20 lab-srv 3     # connected, applied == desired == 3
#
# Why a unix socket: a process in a network namespace cannot reach the host's 127.0.0.1, but a
# unix socket lives in the file system and every namespace reaches it. The admin
# API stays on the host's 127.0.0.1 where teredoctl runs; its port (and the controller's /metrics
# port) are picked free at fleet_init, so parallel runs never collide.
#
# Everything is started with lab_bg, so lab.sh's teardown stops it; fleet_init's exit trap also
# removes the unix socket and the TLS files after the teardown (the work dir itself follows lab.sh:
# removed on success, kept on failure).
#
# Environment (optional): FLEET_TLS=1 with FLEET_TLS_DIR holding ca.pem, controller.pem/.key,
# operator.pem/.key (see fleet_make_pki) turns on mTLS for both controller listeners.

if [[ -n ${FLEET_LAB_SH_LOADED:-} ]]; then
  return 0
fi
FLEET_LAB_SH_LOADED=1
[[ -n ${LAB_SH_LOADED:-} ]] || {
  echo "fleet_lab.sh: source lab.sh first" >&2
  exit 2
}

declare -g FLEET_SOCK="" FLEET_STATE="" FLEET_TOKEN="" FLEET_CONF=""
declare -g FLEET_ADMIN_PORT="" FLEET_METRICS_PORT=""
declare -g FLEET_CTL_PID="" FLEET_CTL_NAME=controller FLEET_CTL_STARTS=0
declare -g FLEET_TLS=${FLEET_TLS:-0} FLEET_TLS_DIR=${FLEET_TLS_DIR:-}
declare -g FLEET_STATS_INTERVAL=${FLEET_STATS_INTERVAL:-2s}
# The namespace the controller runs in ("-": the host's; teredoctl then runs there too), and the
# address the agents' admin HTTP binds in their namespaces (0.0.0.0 to be scraped from another).
declare -g FLEET_CTL_NS=${FLEET_CTL_NS:--} FLEET_ADMIN_HOST=${FLEET_ADMIN_HOST:-127.0.0.1}
FLEET_SERVER_ADMIN_PORT=9544
FLEET_RELAY_ADMIN_PORT=9545

fleet__bin() {   # fleet__bin REL: a binary of the build dir, or die
  local bin="$TEREDO_BUILD_DIR/$1"
  [[ -x $bin ]] || lab_die "not built: $bin (set TEREDO_BUILD_DIR)"
  printf '%s' "$bin"
}

# fleet_free_port VAR: set VAR to a TCP port nobody listens on in the host's namespace (from a
# PID-based offset above 20000 upwards; ports handed out earlier in this run are skipped).
declare -g -A FLEET__PORTS_TAKEN=()
fleet_free_port() {
  local -n out=$1
  local p=$((20000 + ($$ * 7) % 20000)) i
  for ((i = 0; i < 2000; i++, p++)); do
    ((p < 60000)) || p=20000
    [[ -z ${FLEET__PORTS_TAKEN[$p]:-} ]] || continue
    if [[ -z $(ss -Htln "sport = :$p" 2>/dev/null) ]]; then
      FLEET__PORTS_TAKEN[$p]=1
      out=$p
      return 0
    fi
  done
  lab_die "no free TCP port on 127.0.0.1"
}

# fleet_init: lab_init, then the controller's paths and ports, and an exit trap that also removes
# the unix socket after lab.sh's teardown.
fleet_init() {
  lab_init
  FLEET_SOCK="$LAB_DIR/controller.sock"
  FLEET_STATE="$LAB_DIR/controller-state"
  FLEET_TOKEN="$LAB_DIR/admin-token"
  FLEET_CONF="$LAB_DIR/controller.yaml"
  fleet_free_port FLEET_ADMIN_PORT
  fleet_free_port FLEET_METRICS_PORT
  mkdir -p "$FLEET_STATE"
  # A random bearer token, readable by root only.
  (umask 077 && od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$FLEET_TOKEN")
  trap 'fleet__on_exit' EXIT
}

# Like lab.sh's exit handler (logs on failure, teardown, work dir removed on success), plus the
# unix socket and private keys, which go even when the work dir is kept.
fleet__on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  trap '' PIPE
  set +e
  ((rc == 0)) || lab_dump_logs
  lab_teardown
  rm -f -- "$FLEET_SOCK"
  if [[ -n $FLEET_TLS_DIR && $FLEET_TLS_DIR == "$LAB_DIR"/* ]]; then
    rm -f -- "$FLEET_TLS_DIR"/*.key
  fi
  if ((rc != 0)) || [[ $LAB_KEEP == 1 ]]; then
    lab_say "lab: work dir kept: $LAB_DIR"
  else
    rm -rf -- "$LAB_DIR"
  fi
  exit "$rc"
}

# fleet_make_pki DIR AGENT_ID...: a throwaway CA (openssl CLI), a controller certificate for the
# name "controller", an "operator" client certificate (teredoctl) and one client certificate per
# AGENT_ID (CN and DNS SAN = the id). Sets FLEET_TLS_DIR.
fleet_make_pki() {
  local dir=$1 id
  shift
  mkdir -p "$dir"
  FLEET_TLS_DIR=$dir
  lab_run openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=lab-ca" -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  fleet__leaf "$dir" controller serverAuth
  fleet__leaf "$dir" operator clientAuth
  for id in "$@"; do
    fleet__leaf "$dir" "$id" clientAuth
  done
}

fleet__leaf() {   # fleet__leaf DIR NAME EKU
  local dir=$1 name=$2 eku=$3
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' \
    "$name" "$eku" >"$dir/$name.ext"
  lab_run openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=$name" -keyout "$dir/$name.key" -out "$dir/$name.csr"
  lab_run openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 1 -extfile "$dir/$name.ext" -out "$dir/$name.pem"
}

# fleet_controller_config [EXTRA_YAML]: write the controller's YAML (kept across restarts, so a
# restart reuses the same state_dir). EXTRA_YAML: top-level lines appended verbatim.
fleet_controller_config() {
  local tls="" auth
  auth="  auth:
    token_file: \"$FLEET_TOKEN\""
  if [[ $FLEET_TLS == 1 ]]; then
    tls="tls:
  cert_file: \"$FLEET_TLS_DIR/controller.pem\"
  key_file: \"$FLEET_TLS_DIR/controller.key\"
  ca_file: \"$FLEET_TLS_DIR/ca.pem\"
  require_client_cert: true"
  fi
  cat >"$FLEET_CONF" <<EOF
# Generated by tests/integration/lab/fleet_lab.sh
admin:
  listen: "127.0.0.1:$FLEET_METRICS_PORT"
log:
  level: info
  format: text
controller:
  agent_listen: "unix:$FLEET_SOCK"
  admin_listen: "127.0.0.1:$FLEET_ADMIN_PORT"
  state_dir: "$FLEET_STATE"
$auth
  debounce: 100ms
  stats_interval: $FLEET_STATS_INTERVAL
$tls
${1:-}
EOF
}

# fleet_controller_start: start teredo-controller in the host's namespace (writes the config on
# the first start) and wait until the admin API answers. Sets FLEET_CTL_PID.
fleet_controller_start() {
  local bin
  bin=$(fleet__bin services/controller/teredo-controller)
  [[ -f $FLEET_CONF ]] || fleet_controller_config ""
  FLEET_CTL_STARTS=$((FLEET_CTL_STARTS + 1))
  FLEET_CTL_NAME="controller-$FLEET_CTL_STARTS"
  lab_bg "$FLEET_CTL_NS" "$FLEET_CTL_NAME" "$bin" --config "$FLEET_CONF"
  FLEET_CTL_PID=$LAB_LAST_PID
  lab_wait_for 10 fleet_ctl agents list ||
    lab_die "teredo-controller: admin API not answering (see $LAB_DIR/$FLEET_CTL_NAME.log)"
  [[ -S $FLEET_SOCK ]] || lab_die "teredo-controller: no agent socket $FLEET_SOCK"
}

# fleet_controller_kill [SIGNAL]: signal the controller by its PID (default KILL) and reap it.
fleet_controller_kill() {
  local sig=${1:-KILL} i
  [[ -n $FLEET_CTL_PID ]] || return 0
  disown "$FLEET_CTL_PID" 2>/dev/null || true   # no "Killed" job notice from bash
  kill "-$sig" "$FLEET_CTL_PID" 2>/dev/null || true
  lab_wait_for 5 lab_not lab_alive "$FLEET_CTL_NAME" || lab_die "controller survived SIG$sig"
  for i in "${!LAB_PIDS[@]}"; do
    if [[ ${LAB_PIDS[$i]%%:*} == "$FLEET_CTL_PID" ]]; then
      unset 'LAB_PIDS[i]'
    fi
  done
  LAB_PIDS=("${LAB_PIDS[@]}")
  FLEET_CTL_PID=""
}

# fleet_ctl ARGS...: teredoctl against this run's controller, authenticated (token, and the
# operator certificate under FLEET_TLS=1).
fleet_ctl() {
  fleet_ctl_raw --token-file "$FLEET_TOKEN" "$@"
}

# fleet_ctl_raw ARGS...: teredoctl with the controller address (and TLS) but no token.
fleet_ctl_raw() {
  local -a tls=()
  if [[ $FLEET_TLS == 1 ]]; then
    tls=(--tls-ca "$FLEET_TLS_DIR/ca.pem" --tls-cert "$FLEET_TLS_DIR/operator.pem"
      --tls-key "$FLEET_TLS_DIR/operator.key" --tls-server-name controller)
  fi
  local -a in_ns=()
  [[ $FLEET_CTL_NS == - ]] || in_ns=(lab_exec "$FLEET_CTL_NS")
  "${in_ns[@]}" "$(fleet__bin tools/teredoctl/teredoctl)" \
    --controller "127.0.0.1:$FLEET_ADMIN_PORT" --timeout 5 "${tls[@]}" "$@"
}

# fleet_agent ID EXPR: evaluate EXPR (Python, d = `teredoctl --json agents get ID`, i.e.
# {"agent": AgentStatus, "desired_config": ..., "last_report": ...}; proto JSON: uint64 values
# are strings, zero values are left out). Prints "<unknown agent>" when the controller has none.
fleet_agent() {
  local json
  json=$(fleet_ctl --json agents get "$1" 2>/dev/null) || {
    printf '<unknown agent>\n'
    return 0
  }
  lab_json "$json" "$2"
}

# fleet_agent_versions ID: "STATE applied=A desired=D sync=S" for logs and checks.
fleet_agent_versions() {
  fleet_agent "$1" '"%s applied=%s desired=%s sync=%s" % (d["agent"].get("state", "-"),
    d["agent"].get("applied_version", "0"), d["agent"].get("desired_version", "0"),
    d["agent"].get("sync_state", "-"))'
}

# fleet_synced ID [VERSION]: true when ID is connected and applied == desired (== VERSION).
fleet_synced() {
  local got want
  got=$(fleet_agent_versions "$1")
  if [[ -n ${2:-} ]]; then
    want="AGENT_STATE_CONNECTED applied=$2 desired=$2 sync=SYNC_STATE_SYNCED"
    [[ $got == "$want" ]]
  else
    [[ $got =~ ^AGENT_STATE_CONNECTED\ applied=([0-9]+)\ desired=([0-9]+) ]] &&
      [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]]
  fi
}

# fleet_connected ID: true while the controller shows ID connected.
fleet_connected() {
  [[ $(fleet_agent "$1" 'd["agent"].get("state")') == AGENT_STATE_CONNECTED ]]
}

# fleet_wait_synced TIMEOUT ID [VERSION]
fleet_wait_synced() {
  lab_wait_for "$1" fleet_synced "${@:2}"
}

# fleet_published OUTPUT: the version in teredoctl's "published version N; ..." line.
fleet_published() {
  [[ $1 =~ published\ version\ ([0-9]+) ]] || return 1
  printf '%s' "${BASH_REMATCH[1]}"
}

# fleet_set ROLE|--agent ID YAML_TEXT [COMMENT]: write YAML_TEXT to a file and `teredoctl config
# set` it for the role (server|relay) or the agent; prints the published version (status 1 and
# teredoctl's output on stderr if refused).
declare -g FLEET_SET_SEQ=0
fleet_set() {
  local target=$1 file out rc=0
  local -a sel
  shift
  if [[ $target == --agent ]]; then
    sel=(--agent "$1")
    shift
  else
    sel=(--role "$target")
  fi
  FLEET_SET_SEQ=$((FLEET_SET_SEQ + 1))
  file="$LAB_DIR/config-set-$FLEET_SET_SEQ.yaml"
  printf '%s\n' "$1" >"$file"
  out=$(fleet_ctl config set "$file" "${sel[@]}" --comment "${2:-lab}" 2>&1) || rc=$?
  printf '%s\n' "$out" >>"$LAB_DIR/teredoctl.log"
  if ((rc != 0)); then
    printf '%s\n' "$out" >&2
    return 1
  fi
  fleet_published "$out"
}

# --- Managed agents ------------------------------------------------------------------------------

# fleet__agent_yaml ID [TLS_CERT_NAME]: the agent: and controller: sections of a managed agent.
fleet__agent_yaml() {
  local id=$1 cert=${2:-} state=$3
  cat <<EOF
agent:
  id: "$id"
  state_dir: "$state"
controller:
  address: "unix:$FLEET_SOCK"
EOF
  if [[ $FLEET_TLS == 1 ]]; then
    cat <<EOF
  tls:
    ca_file: "$FLEET_TLS_DIR/ca.pem"
    server_name: controller
EOF
    if [[ -n $cert && $cert != none ]]; then
      cat <<EOF
    cert_file: "$FLEET_TLS_DIR/$cert.pem"
    key_file: "$FLEET_TLS_DIR/$cert.key"
EOF
    fi
  fi
}

# fleet__write_conf NAME ID CERT ADMIN_PORT SECTION EXTRA: a managed agent's config in
# $LAB_DIR/NAME.yaml (its state dir $LAB_DIR/NAME-state): admin and log, the agent: and
# controller: sections, then SECTION (the role's section header and keys) and EXTRA lines.
fleet__write_conf() {
  local name=$1 id=$2 cert=$3 port=$4 section=$5 extra=$6
  local state="$LAB_DIR/$name-state"
  mkdir -p "$state"
  {
    printf '# Generated by tests/integration/lab/fleet_lab.sh\n'
    printf 'admin:\n  listen: "%s:%s"\nlog:\n  level: info\n  format: text\n' \
      "$FLEET_ADMIN_HOST" "$port"
    fleet__agent_yaml "$id" "$cert" "$state"
    printf '%s\n' "$section"
    [[ -z $extra ]] || printf '%s\n' "$extra"
  } >"$LAB_DIR/$name.yaml"
}

# fleet_std_fleet SERVER_ID RELAY_ID [EXTRA_RELAY_YAML]: the standard lab (lab_std_core), a
# Miredo client's NAT (cli1 behind masquerade, port 40001; the client itself is not started), the
# controller, and teredo-server (ns srv) and teredo-relay (ns rly) managed by it under these agent
# ids. EXTRA_RELAY_YAML goes inside relay: as with fleet_relay (default: none).
fleet_std_fleet() {
  lab_std_core
  lab_std_client 1 masquerade 40001
  fleet_controller_start
  fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$1"
  fleet_relay rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT" "$2" "${3:-}"
}

# fleet_std_run TITLE: the start the controller scenarios share. Sets SRV and RLY (the agent
# ids), SP and RP (their admin ports), PRB (a probe address on the public link, in namespace
# prb), the soft checks chk and eq; starts the lab and the standard fleet; says TITLE.
fleet_std_run() {
  SRV=lab-srv
  RLY=lab-rly
  PRB=198.51.100.50
  SP=$FLEET_SERVER_ADMIN_PORT
  RP=$FLEET_RELAY_ADMIN_PORT
  chk() { lab_check "$@" || true; }
  eq() { lab_expect_eq "$@" || true; }
  fleet_init
  lab_say "== $1"
  SECONDS=0
  fleet_std_fleet "$SRV" "$RLY"
  lab_ns prb
  lab_attach prb eth0 pub "$PRB/24"
}

# fleet_server NS PRIMARY SECONDARY ID [EXTRA_SERVER_YAML] [TLS_CERT_NAME]: teredo-server managed
# by the controller (controller.address = the unix socket). EXTRA lines go inside server:
# (indented two spaces). TLS_CERT_NAME (FLEET_TLS=1): the client certificate to present
# (default ID; "none": TLS without a client certificate). The process name is teredo-server-NS. Waits for both sockets and /readyz.
fleet_server() {
  local ns=$1 p=$2 s=$3 id=$4 extra=${5:-} cert=${6:-$4} bin name="teredo-server-$1"
  bin=$(fleet__bin services/server/teredo-server)
  fleet__write_conf "$name" "$id" "$cert" "$FLEET_SERVER_ADMIN_PORT" \
    "$(printf 'server:\n  primary_address: "%s"\n  secondary_address: "%s"' "$p" "$s")" "$extra"
  lab_bg "$ns" "$name" "$bin" --config "$LAB_DIR/$name.yaml"
  lab_wait_for 10 lab_udp_listening "$ns" "$p" 3544 ||
    lab_die "teredo-server in $ns: not listening on $p:3544 (see $LAB_DIR/$name.log)"
  lab_wait_for 5 lab_udp_listening "$ns" "$s" 3544 ||
    lab_die "teredo-server in $ns: not listening on $s:3544"
  lab_wait_for 10 lab_admin_ready "$ns" "$FLEET_SERVER_ADMIN_PORT" ||
    lab_die "teredo-server in $ns: /readyz not OK (see $LAB_DIR/$name.log)"
}

# fleet_relay NS BIND PORT ID [EXTRA_RELAY_YAML] [TLS_CERT_NAME]: teredo-relay managed by the
# controller; IPv6 forwarding on in NS; waits for the socket, the tun, the 2001::/32 route and
# /readyz. The process name is teredo-relay-NS.
fleet_relay() {
  local ns=$1 bind=$2 port=$3 id=$4 extra=${5:-} cert=${6:-$4} bin name="teredo-relay-$1"
  bin=$(fleet__bin services/relay/teredo-relay)
  fleet__write_conf "$name" "$id" "$cert" "$FLEET_RELAY_ADMIN_PORT" \
    "$(printf 'relay:\n  bind_address: "%s"\n  port: %s\n  interface: teredo' "$bind" "$port")" \
    "$extra"
  lab_sysctl "$ns" net.ipv6.conf.all.forwarding=1
  lab_bg "$ns" "$name" "$bin" --config "$LAB_DIR/$name.yaml"
  lab_wait_for 10 lab_udp_listening "$ns" "$bind" "$port" ||
    lab_die "teredo-relay in $ns: not listening on $bind:$port (see $LAB_DIR/$name.log)"
  lab_wait_for 5 lab_link_up "$ns" teredo || lab_die "teredo-relay in $ns: tun not up"
  lab_route "$ns" 2001::/32 dev teredo
  lab_wait_for 10 lab_admin_ready "$ns" "$FLEET_RELAY_ADMIN_PORT" ||
    lab_die "teredo-relay in $ns: /readyz not OK (see $LAB_DIR/$name.log)"
}

# fleet_agent_metric NS PORT SERIES: one value from the agent's /metrics (lab_metric patterns);
# prints "missing" (status 1) when the series is absent or the scrape failed.
declare -g FLEET_SCRAPE_SEQ=0
fleet_agent_metric() {
  local f
  FLEET_SCRAPE_SEQ=$((FLEET_SCRAPE_SEQ + 1))
  f="$LAB_DIR/scrape-$1-$FLEET_SCRAPE_SEQ.txt"
  if lab_metrics "$1" "$f" "$2" 2>/dev/null && lab_metric "$f" "$3"; then
    return 0
  fi
  printf 'missing'
  return 1
}

# fleet_metric_is NS PORT SERIES VALUE: true when the series has exactly VALUE (for lab_wait_for).
fleet_metric_is() {
  [[ $(fleet_agent_metric "$1" "$2" "$3") == "$4" ]]
}

# fleet_ping NS DST COUNT: true when every one of COUNT pings (0.2 s apart) is answered, after a
# first reply within 20 s (a path may need a bubble exchange first).
fleet_ping() {
  lab_wait_for 20 lab_exec "$1" ping -6 -n -c 1 -W 1 "$2" || return 1
  lab_exec "$1" ping -6 -n -q -c "$3" -i 0.2 -W 2 "$2" >/dev/null
}

# fleet_ping_received NS DST COUNT: the number of replies to COUNT pings (0.2 s apart).
fleet_ping_received() {
  local out
  out=$(lab_exec "$1" ping -6 -n -q -c "$3" -i 0.2 -W 1 "$2" 2>&1) || true
  [[ $out =~ ([0-9]+)\ received ]] && printf '%s' "${BASH_REMATCH[1]}" || printf '0'
}
