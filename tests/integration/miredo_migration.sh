#!/usr/bin/env bash
# Moving a Miredo server over (README "Migrating from Miredo"): a real Miredo client qualifies
# against Debian's miredo-server with the lab's miredo-server.conf; `teredoctl config from-miredo`
# converts that file; miredo-server is stopped and teredo-server started with the converted
# YAML on the same addresses; the client, started again, qualifies against teredo-server and gets
# the same Teredo server address in its Teredo address.
#
# Usage: miredo_migration.sh [--build-dir DIR] [--miredo-dir DIR]   (root; see lab/lab.sh)
# Exit status 0 only if every check passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lab/lab.sh
source "$here/lab/lab.sh"
lab_args 2,10 "$@"
lab_init

lab_say "== miredo-server -> teredo-server with the converted config"
lab_std_core
lab_std_client 1 masquerade 40001
lab_miredo_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_check "the Miredo client qualifies against miredo-server" lab_wait_qualified cli1 20 || true
before=$(lab_teredo_addr cli1 || true)
lab_stop miredo-client-cli1
lab_stop miredo-server-srv

converted="$LAB_DIR/converted-server.yaml"
convert() {
  "$TEREDO_BUILD_DIR/tools/teredoctl/teredoctl" config from-miredo \
    "$LAB_DIR/miredo-server-srv.conf" --role server >"$converted" 2>"$LAB_DIR/convert.err"
}
lab_check "teredoctl config from-miredo converts miredo-server.conf" convert || true
lab_log "$(cat "$converted" "$LAB_DIR/convert.err")"
lab_check "the converted file names the Miredo directives" \
  grep -q "# ServerBindAddress2 $LAB_SRV_SECONDARY, line 2" "$converted" || true

LAB_TEREDO_SERVER_CONFIG=$converted lab_teredo_server srv "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY"
lab_miredo_client cli1 "$LAB_SRV_PRIMARY" "$LAB_SRV_SECONDARY" 40001
lab_check "the same client qualifies against teredo-server" lab_wait_qualified cli1 20 || true
after=$(lab_teredo_addr cli1 || true)
# 2001:0:SSSS:SSSS:...: the server's primary address is bits 32-63 of the Teredo address.
server_part() { cut -d: -f1-4 <<<"$1"; }
lab_expect_eq "the Teredo address embeds the same server address" \
  "$(server_part "$after")" "$(server_part "$before")" || true
lab_result "Miredo server migration with teredoctl config from-miredo"
