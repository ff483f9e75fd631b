#!/usr/bin/env bash
# check-helm.sh SRC_DIR BUILD_DIR: builds tools/helm-render (Debian's Go and sprig, offline) into
# BUILD_DIR/helm-render and runs tools/check-helm.py on helm/teredo-fleet with the daemons and
# promtool and BIRD of BUILD_DIR (ctest deploy.helm_chart).
set -euo pipefail
src=$1 build=$2
bash "$src/tools/helm-render/build.sh" "$build/helm-render"
exec /usr/bin/python3 "$src/tools/check-helm.py" --root "$src" --build-dir "$build" \
  --renderer "$build/helm-render/helm-render" \
  --promtool "$build/third_party/prometheus/usr/bin/promtool" \
  --bird "$build/third_party/bird/usr/sbin/bird"
