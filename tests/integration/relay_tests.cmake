# teredo-relay integration tests (included from tests/integration/CMakeLists.txt, which defines
# teredo_integration_test()). Each runs a lab of network namespaces (lab/lab.sh) as root.
set(_relay_test_relay services/relay/teredo-relay)
set(_relay_test_server services/server/teredo-server)

# Ours end to end, Miredo only as the client (X1 in docs/conformance.md): qualification, ping both
# ways and 300 kB TCP both ways through teredo-server and teredo-relay. Symmetric NAT works because
# the relay authenticates the client's reply bubble by its token address (R24) and learns the NAT's
# per-destination port instead of the embedded one.
foreach(_nat masquerade fullcone symmetric)
  teredo_integration_test(relay.all_teredo.${_nat} miredo_baseline.sh TIMEOUT 90
                          NEEDS ${_relay_test_relay} ${_relay_test_server}
                          ARGS --server teredo --relay teredo --nat ${_nat})
endforeach()
# Interop (X3): teredo-relay with Debian's miredo-server as the client's server.
teredo_integration_test(relay.miredo_server.masquerade miredo_baseline.sh TIMEOUT 90
                        NEEDS ${_relay_test_relay}
                        ARGS --server miredo --relay teredo --nat masquerade)
# On the wire with a real Miredo client and teredo-server: /metrics, /healthz, /readyz during
# traffic (no address labels); the bubble budget (RFC 4380 §5.2.6, R6: at most 4 indirect
# bubbles counted on the server's wire, then ICMPv6 unreachable at the native host); SIGTERM exits
# 0 within 5 s and takes the tun device and the 2001::/32 route with it.
teredo_integration_test(relay.behaviour relay_behaviour.sh TIMEOUT 90
                        NEEDS ${_relay_test_relay} ${_relay_test_server})
# Peer exhaustion and spoofed sources (R13, R21): 6000 distinct Teredo destinations against
# relay.max_peers 512 and a 256 KiB queue cap, plus 2000 Teredo datagrams with spoofed inner
# sources, while a trusted Miredo client pings: peers and queued bytes never over their caps,
# untrusted peers evicted (never the trusted one), spoofed packets counted and never on the tun,
# VmRSS under start + 32 MiB, >= 90 % of the client's pings answered.
teredo_integration_test(relay.exhaustion relay_exhaustion.sh TIMEOUT 90
                        NEEDS ${_relay_test_relay} ${_relay_test_server})
# Host-specific relay (RFC 4380 §3.4, relay.mode: host-specific) in the native host's namespace,
# no network relay anywhere: the Miredo client and the host ping each other through it; a packet
# from the host's unserved address is dropped (src_not_served); SIGTERM removes tun and route.
teredo_integration_test(relay.host_specific relay_host_specific.sh TIMEOUT 90
                        NEEDS ${_relay_test_relay} ${_relay_test_server})
# Least privilege (README "Privileges", deploy/systemd): server as nobody with CAP_NET_RAW only,
# relay as nobody with CAP_NET_ADMIN + CAP_NET_RAW only; a Miredo client qualifies and pings the
# native host both ways through them; both run with no capability left and no_new_privs; without
# its capability each refuses to start and names it.
teredo_integration_test(least_privilege least_privilege.sh TIMEOUT 90
                        NEEDS ${_relay_test_relay} ${_relay_test_server})
# Relay hijack through the symmetric-NAT bubble token (RFC 4380 §5.4.2, RFC 6081 §5.2), on the
# wire: an attacker on the public segment names itself as the server of a lure address (the
# victim's mapping) to get the relay's token, then claims a Miredo client's address with it from
# its own IPv4 address, and claims a host behind its own address (untrusted, bubble outstanding)
# with the lure's token; controls: the victim is reachable, the lure's bubble and token arrive,
# an honest symmetric-NAT client answering its token works. Both attacks are dropped as
# spoofed_source, the attacker receives nothing for its victims, the native host never sees the
# spoofed echo, the victim keeps working. Fails against a relay whose token hashes only the mapping.
teredo_integration_test(relay.hijack relay_hijack.sh TIMEOUT 90
                        NEEDS ${_relay_test_relay} ${_relay_test_server})
# Anycast relays announced by real BIRD 2 (docs/anycast.md): two relays announce 2001::/32 through
# their hosts' BIRD (deploy/bgp/bird.conf) to an upstream BIRD; a Miredo client behind a NAT; the
# controller. A path appears only once its relay is ready; drain withdraws it and a ping stream
# through the drain is counted; SIGKILL takes the path with the tun (loss and reconvergence
# reported); a relay with an invalid config or without CAP_NET_ADMIN never announces; decoy
# routes never leave the host; SIGTERM withdraws first and exits after relay.announce's grace.
teredo_integration_test(relay.anycast_bgp anycast_bgp.sh TIMEOUT 180
                        NEEDS ${_relay_test_relay} ${_relay_test_server}
                              tools/teredoctl/teredoctl services/controller/teredo-controller)
