# NAT-type detection tests (included from tests/integration/CMakeLists.txt, which defines
# teredo_integration_test()). Each runs a lab of network namespaces (lab/lab.sh, lab/nat_lab.sh)
# as root.
set(_nat_test_server services/server/teredo-server)

# S10 (docs/conformance.md): an RFC 4380 §5.2.1 black-box client (teredo_probe.py qualify, in place
# of pteredor and Get-NatType) behind full-cone, address-restricted, port-restricted, symmetric and
# UDP-blocking NATs concludes cone / restricted / restricted / symmetric / offline, every RA
# validated; teredo-server's NAT observation (2 s windows) must count each client under the same
# type, once per window, and under no other type. The NATs' filtering is checked directly too.
teredo_integration_test(nat_types nat_types.sh TIMEOUT 90 NEEDS ${_nat_test_server})
# The same client checks against Debian's miredo-server (the probe's verdicts against the
# reference server; no NAT observation there), plus the NATs' own filtering checks.
teredo_integration_test(nat_types.miredo nat_types.sh TIMEOUT 90 ARGS --server miredo)
