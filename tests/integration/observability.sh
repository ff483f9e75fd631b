#!/usr/bin/env bash
# The dashboards and alerting rules in deploy/ use only what the services really export:
# teredo-controller, teredo-server and teredo-relay run as a managed fleet in
# namespaces, a Miredo client qualifies and pings through them (so traffic counters move), their
# three /metrics are scraped, and tools/check-observability.py checks every metric name and every
# label matcher of deploy/grafana/*.json and deploy/prometheus/*-rules.yaml against the scrapes.
# The scrapes also carry no address in any label. The relay announces its prefix
# (relay.announce.enabled, the default 2001::/32 into table 100 of its own namespace), so the
# announcement metrics of the relay and the controller are exported too. The fleet runs with
# mTLS (a throwaway CA from the openssl CLI), so the certificate expiry series are exported.
#
# Usage: observability.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,10 "$@"
# shellcheck source-path=SCRIPTDIR source=lab/fleet_lab.sh
source "$here/lab/fleet_lab.sh"

SRV=obs-server
RLY=obs-relay
fleet_init
# With mTLS, so that the certificate expiry series (teredo_tls_*) are exported too.
FLEET_TLS=1
fleet_make_pki "$LAB_DIR/pki" "$SRV" "$RLY"
lab_say "== dashboards and rules against a live fleet's /metrics"
fleet_std_fleet "$SRV" "$RLY" $'  announce:\n    enabled: true'
lab_wait_for 15 fleet_connected "$SRV" || lab_fail "$SRV connected" "not within 15 s"
lab_wait_for 15 fleet_connected "$RLY" || lab_fail "$RLY connected" "not within 15 s"

lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_wait_qualified cli1 20 || lab_die "the Miredo client did not qualify (logs in $LAB_DIR)"
lab_check "client -> native host through the fleet" fleet_ping cli1 "$LAB_HOST6" 3 || true

# The agents report every controller.stats_interval: wait until the controller has the relay's
# traffic, so the fleet series carry real values too.
relay_reported() {
  local json
  json=$(fleet_ctl --json stats fleet --role relay 2>/dev/null) || return 1
  [[ $(lab_json "$json" 'int(d["fleet"].get("counters", {}).get("traffic", {})
      .get("udp_received", {}).get("packets", "0"))') -ge 1 ]]
}
lab_wait_for 20 relay_reported || lab_fail "relay traffic reported" "the controller shows none"
# The controller's per-prefix series appear once the relay reports its announcement.
controller_announcers_is() {
  local f="$LAB_DIR/metrics-controller-announce.txt"
  curl -fsS -m 2 -o "$f" "http://127.0.0.1:$FLEET_METRICS_PORT/metrics" 2>/dev/null &&
    [[ $(lab_metric "$f" 'teredo_controller_prefix_announcers{prefix="2001::/32"}') == "$1" ]]
}
lab_check "the relay announces 2001::/32" lab_wait_for 10 fleet_metric_is rly \
  "$FLEET_RELAY_ADMIN_PORT" 'teredo_relay_announced{prefix="2001::/32"}' 1 || true
lab_check "the controller counts 1 relay announcing 2001::/32" \
  lab_wait_for 20 controller_announcers_is 1 || true

ctl="$LAB_DIR/metrics-controller.txt"
srv="$LAB_DIR/metrics-server.txt"
rly="$LAB_DIR/metrics-relay.txt"
lab_check "controller /metrics scraped" \
  curl -fsS -m 2 -o "$ctl" "http://127.0.0.1:$FLEET_METRICS_PORT/metrics" || true
lab_check "teredo-server /metrics scraped" lab_metrics srv "$srv" 9544 || true
lab_check "teredo-relay /metrics scraped" lab_metrics rly "$rly" 9545 || true

check() {
  local out rc=0
  out=$("$LAB_PYTHON" "$LAB_SRC_DIR/tools/check-observability.py" --root "$LAB_SRC_DIR" \
    --scrape "$ctl" "$srv" "$rly" 2>&1) || rc=$?
  printf '%s\n' "$out" | sed 's/^/    /' >&2
  return "$rc"
}
lab_check "every metric and label matcher in deploy/ is exported by the fleet" check || true
# lab_metrics_no_addresses checks one FILE (further arguments are literals): one call per scrape.
no_addresses() {
  local f rc=0
  for f in "$@"; do
    lab_metrics_no_addresses "$f" || rc=1
  done
  return "$rc"
}
lab_check "no address in any label of the three scrapes" no_addresses "$ctl" "$srv" "$rly" || true
lab_result "observability: dashboards and rules against live metrics"
