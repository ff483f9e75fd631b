# The fleet in containers (included from tests/integration/CMakeLists.txt): the project's image
# (deploy/container/Containerfile) built from this build dir's binaries on a Debian 12 base made
# with debootstrap and cached in images/ of the build dir (tools/build-images.sh --prebuilt;
# nothing pulled), then teredo-controller, teredo-server and teredo-relay as podman containers run
# as the Helm chart runs them (the image's non-root user, read-only root, only the chart's
# capabilities, the controller's state on a volume): a real Miredo client pings the native IPv6
# host both ways through them, the daemons hold no capability once running, the controller's
# history survives a restart of its container. Skipped (exit 77), saying why, when podman cannot
# run a container on the machine at all. The first run on a machine makes the base image
# (debootstrap from the Debian mirror): about 2 minutes for the whole test, 30 s once it exists.
set(_ctr_bins services/controller/teredo-controller tools/teredoctl/teredoctl
              services/server/teredo-server services/relay/teredo-relay)
teredo_integration_test(container_fleet container_fleet.sh TIMEOUT 600 NEEDS ${_ctr_bins})
set_tests_properties(integration.container_fleet PROPERTIES SKIP_RETURN_CODE 77)
# The systemd units under a real systemd (PID 1 of a privileged podman container on a Debian 12
# root filesystem with systemd, made once with debootstrap and cached in images/ of the build
# dir): Type=notify start returns once the server serves, dynamic users without capabilities,
# reload in place, a hung server killed by the watchdog and restarted, the controller likewise
# ready; clean stops. Skipped (exit 77) when podman cannot run a container. About a minute the
# first time (debootstrap), 15 s after.
teredo_integration_test(systemd_units systemd_units.sh TIMEOUT 600
                        NEEDS services/server/teredo-server services/controller/teredo-controller)
set_tests_properties(integration.systemd_units PROPERTIES SKIP_RETURN_CODE 77)
