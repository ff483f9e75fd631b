#!/usr/bin/env bash
# Monitoring that survives the controller, with a real Prometheus (Debian's, extracted by
# tools/setup.sh, started by this test in its own namespace on the lab network):
#   The managed fleet runs with the controller in namespace mon and the agents' admin HTTP on
#   0.0.0.0 in their namespaces. Prometheus in mon scrapes all three every second, with
#   deploy/prometheus/teredo-rules.yaml loaded (its `for:` durations cut to 5 s so the test need
#   not wait minutes; the durations themselves are promtool-tested). A Miredo client pings the
#   native IPv6 host through the fleet.
#   1. Every target is up; the recording rules built on the agents alone
#      (teredo:relay_packets:rate5m, teredo:server_packets_received:rate5m,
#      teredo:agents_ready:sum) have series from the live traffic; no alert fires.
#   2. The controller is killed: TeredoControllerDown fires (with its runbook_url), while the
#      agents' own series go on (targets up, ready, relay traffic still counted) and the client
#      still reaches the native host.
#   3. The relay is stopped: TeredoAgentDown fires for it (role relay).
# Traffic stays inside the lab namespaces; Prometheus listens on mon's loopback.
#
# Usage: prometheus_live.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,10 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"

title="live Prometheus: rules on the fleet's metrics, alerts with the controller down"
SRV=prom-server
RLY=prom-relay
MON=198.51.100.60
chk() { lab_check "$@" || true; }
eq() { lab_expect_eq "$@" || true; }
prometheus="$TEREDO_BUILD_DIR/third_party/prometheus/usr/bin/prometheus"
[[ -x $prometheus ]] || lab_die "missing $prometheus (tools/setup.sh extracts it)"

FLEET_CTL_NS=mon
FLEET_ADMIN_HOST=0.0.0.0
fleet_init
lab_say "== $title"
SECONDS=0
lab_std_core
lab_std_client 1 masquerade 40001
lab_ns mon
lab_attach mon eth0 pub "$MON/24"
fleet_controller_start
fleet_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" "$SRV"
fleet_relay rly "$LAB_RLY_IPV4" "$LAB_RLY_PORT" "$RLY"
lab_wait_for 15 fleet_connected "$SRV" || lab_die "$SRV did not connect"
lab_wait_for 15 fleet_connected "$RLY" || lab_die "$RLY did not connect"

# The rules as shipped, with every `for:` cut to 5 s.
sed -E 's/^( +for: ).*/\15s/' "$src/deploy/prometheus/teredo-rules.yaml" >"$LAB_DIR/rules.yaml"
cat >"$LAB_DIR/prometheus.yml" <<END_CONFIG
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - "$LAB_DIR/rules.yaml"
scrape_configs:
  - job_name: teredo-controller
    static_configs:
      - targets: ["127.0.0.1:$FLEET_METRICS_PORT"]
  - job_name: teredo-server
    static_configs:
      - targets: ["$LAB_SRV_PRIMARY:$FLEET_SERVER_ADMIN_PORT"]
  - job_name: teredo-relay
    static_configs:
      - targets: ["$LAB_RLY_IPV4:$FLEET_RELAY_ADMIN_PORT"]
END_CONFIG
lab_bg mon prometheus "$prometheus" --config.file="$LAB_DIR/prometheus.yml" \
  --storage.tsdb.path="$LAB_DIR/prometheus-data" --web.listen-address=127.0.0.1:9090

# query EXPR: the instant query's result list as JSON ("[]" when the API does not answer).
query() {
  local out
  out=$(lab_exec mon curl -fsS -m 2 -G --data-urlencode "query=$1" \
    http://127.0.0.1:9090/api/v1/query 2>/dev/null) || {
    printf '[]'
    return 0
  }
  lab_json "$out" 'd["data"]["result"]'
}
# count EXPR: how many series the query returns.
count() { lab_json "$(query "$1")" 'len(d)'; }
has() { [[ $(count "$1") -ge 1 ]]; }
firing() { has "ALERTS{alertname=\"$1\",alertstate=\"firing\"${2:-}}"; }

# --- 1. Everything up, rules from live traffic --------------------------------------------------
all_up() { [[ $(count 'up == 1') == 3 ]]; }
chk "Prometheus scrapes controller, server and relay (up == 1 for all three)" \
  lab_wait_for 30 all_up
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_wait_qualified cli1 20 || lab_die "the Miredo client did not qualify (logs in $LAB_DIR)"
chk "client -> native host through the fleet" fleet_ping cli1 "$LAB_HOST6" 3
chk "teredo:relay_packets:rate5m > 0 from the relay's own counters" \
  lab_wait_for 30 has 'teredo:relay_packets:rate5m{direction="from_teredo"} > 0'
chk "teredo:server_packets_received:rate5m > 0 from the server's own counters" \
  lab_wait_for 30 has 'teredo:server_packets_received:rate5m > 0'
chk "teredo:agents_ready:sum: the relay is ready" \
  lab_wait_for 10 has 'teredo:agents_ready:sum{role="relay"} == 1'
chk "teredo:agents_ready:sum: the server is ready" has 'teredo:agents_ready:sum{role="server"} == 1'
chk "the controller's fleet series are there too" has 'teredo_fleet_packets_total'
eq "no alert fires on a healthy fleet" "$(count 'ALERTS{alertstate="firing"}')" 0

# --- 2. Controller down --------------------------------------------------------------------------
lab_say "-- kill teredo-controller"
fleet_controller_kill KILL
chk "TeredoControllerDown fires" lab_wait_for 30 firing TeredoControllerDown
rules=$(lab_exec mon curl -fsS -m 2 http://127.0.0.1:9090/api/v1/rules 2>/dev/null) || rules='{}'
runbook=$(lab_json "$rules" '[r["annotations"]["runbook_url"] for g in d["data"]["groups"]
  for r in g["rules"] if r.get("name") == "TeredoControllerDown"][0]')
eq "TeredoControllerDown's runbook" "$runbook" "docs/runbooks.md#teredocontrollerdown"
eq "the controller's target is down" "$(count 'up{job="teredo-controller"} == 0')" 1
eq "the agents' targets are still up" "$(count 'up{job=~"teredo-server|teredo-relay"} == 1')" 2
chk "client -> native host with the controller down" fleet_ping cli1 "$LAB_HOST6" 3
relay_packets() {
  lab_json "$(query 'sum(teredo_relay_packets_total{direction="from_teredo"})')" \
    'int(float(d[0]["value"][1])) if d else 0'
}
before=$(relay_packets)
fleet_ping cli1 "$LAB_HOST6" 3 >/dev/null || true
grew() { (($(relay_packets) > before)); }
chk "the relay's own counters keep growing in Prometheus (from $before)" lab_wait_for 10 grew
chk "the agents are still counted ready" has 'teredo:agents_ready:sum{role="relay"} == 1'
eq "no agent-down alert for the running agents" \
  "$(count 'ALERTS{alertname="TeredoAgentDown",alertstate="firing"}')" 0

# --- 3. Relay down -------------------------------------------------------------------------------
lab_say "-- stop teredo-relay"
lab_stop teredo-relay-rly
chk "TeredoAgentDown fires for the relay" lab_wait_for 30 firing TeredoAgentDown ',role="relay"'
eq "and not for the server" \
  "$(count 'ALERTS{alertname="TeredoAgentDown",alertstate="firing",role="server"}')" 0

lab_say "   (${SECONDS}s)"
lab_result "$title"
