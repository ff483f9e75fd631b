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
