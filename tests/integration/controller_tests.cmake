# teredo-controller integration tests (included from tests/integration/CMakeLists.txt, which defines
# teredo_integration_test()). Each runs a lab of network namespaces (lab/lab.sh) as root, with the
# controller in the host's namespace (agents reach it on a unix socket in the lab's work dir, the
# admin API is on 127.0.0.1) and the helpers of lab/fleet_lab.sh.
set(_ctl_controller services/controller/teredo-controller)
set(_ctl_teredoctl tools/teredoctl/teredoctl)
set(_ctl_server services/server/teredo-server)
set(_ctl_relay services/relay/teredo-relay)
set(_ctl_all ${_ctl_controller} ${_ctl_teredoctl} ${_ctl_server} ${_ctl_relay})

# A config change made with teredoctl reaches server and relay and takes effect: server role
# defaults (RS rate limit) ACKed and visible in /metrics (teredo_config_applied_version) and in
# behaviour (a 40-RS burst fully answered before, limited to the pushed bucket after); relay role
# defaults (served_prefixes) cut a real Miredo client's pings at the relay (dst_not_served) and
# restore them; an agent whose content did not change is not pushed to.
teredo_integration_test(controller.config_push controller_config_push.sh TIMEOUT 120
                        NEEDS ${_ctl_all})
# The data plane never waits for the controller: SIGKILL it while a Miredo client pings through
# server and relay (10 of 10 both ways, agents report controller_connected 0 and keep their
# version); a server restarted meanwhile boots from its last-known-good file (pushed RS limit in
# force); the controller restarted on the same state_dir keeps its history and both agents resync
# on their own (connected, applied == desired), then take a new push.
teredo_integration_test(controller.outage controller_outage.sh TIMEOUT 120 NEEDS ${_ctl_all})
# Bad configs: SetConfig refuses a cross-key violation (YAML) and an out-of-range value (JSON,
# role and agent targets) with INVALID_ARGUMENT and field violations, publishing nothing; an
# override that needs a restart (primary/secondary address) is NACKed by the agent and shown by
# teredoctl (NACKED, version, reason, fields); the agent keeps its config and serves; the NACKed
# version is not resent; removing the override resyncs; `agents forget` is refused while the
# agent is connected and, once it is stopped, removes it (and the disconnected-agent series) with
# a history entry naming the decommission and its author.
teredo_integration_test(controller.nack controller_nack.sh TIMEOUT 120
                        NEEDS ${_ctl_controller} ${_ctl_teredoctl} ${_ctl_server})
# Admin API authentication: no token, a wrong token, an empty token file -> UNAUTHENTICATED for
# reads and writes, nothing published; with the token every call works; an audit line per change;
# /healthz and /readyz; SIGHUP rotates the token; named principals from an access file (read
# cannot drain: PERMISSION_DENIED; admin can), a broken access file refused with file:line.
teredo_integration_test(controller.auth controller_auth.sh TIMEOUT 60
                        NEEDS ${_ctl_controller} ${_ctl_teredoctl})
# Agent identity under mTLS (throwaway CA and certificates from the openssl CLI): an agent with
# A's certificate claiming B's id is refused (PERMISSION_DENIED) and never listed, the real B
# connects meanwhile, A as itself connects, A without a client certificate and teredoctl without
# the operator certificate are refused; a certificate without a token authorises no admin call
# (an agent's never; the operator's once the access file lists it).
teredo_integration_test(controller.mtls controller_mtls.sh TIMEOUT 60
                        NEEDS ${_ctl_controller} ${_ctl_teredoctl} ${_ctl_server})
# The README's first command, as CI runs it: tools/fleet-demo.sh --once --no-build with this build
# dir (controller, managed server and relay, role defaults pushed with teredoctl, a Miredo client
# behind a NAT pinging the native IPv6 host both ways, fleet statistics counting the client).
add_test(NAME integration.fleet_demo
         COMMAND bash ${CMAKE_SOURCE_DIR}/tools/fleet-demo.sh --once --no-build)
set(_demo_files "")
foreach(_bin IN LISTS _ctl_all)
  list(APPEND _demo_files ${CMAKE_BINARY_DIR}/${_bin})
endforeach()
set_tests_properties(integration.fleet_demo PROPERTIES
                     LABELS integration RUN_SERIAL TRUE TIMEOUT 120
                     ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR};LAB_MIREDO_DIR=${TEREDO_MIREDO_DIR}"
                     REQUIRED_FILES "${_demo_files}")
# deploy/grafana dashboards and deploy/prometheus rules against a live fleet: every
# metric and label matcher they use is in the scraped /metrics of controller, server and relay
# (with a Miredo client's traffic through them), and no label carries an address.
teredo_integration_test(observability observability.sh TIMEOUT 120 NEEDS ${_ctl_all})
# Monitoring that survives the controller: a real Prometheus (Debian's, on the lab network)
# scrapes the fleet with deploy/prometheus rules loaded; the agents-only recording rules have
# live series; killing the controller fires TeredoControllerDown while the agents' series and the
# client's traffic go on; stopping the relay fires TeredoAgentDown.
teredo_integration_test(prometheus_live prometheus_live.sh TIMEOUT 120 NEEDS ${_ctl_all})
