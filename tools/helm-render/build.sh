#!/usr/bin/env bash
# build.sh OUT_DIR: builds OUT_DIR/helm-render offline with Debian's Go toolchain and Go packages
# (golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev; tools/setup.sh
# installs them), in GOPATH mode. Debian ships sprig v3 and semver v3 without the /v3 directory
# their import paths use, so a private GOPATH maps those two paths onto them.
set -euo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$(realpath -m "$1")
gp="$out/gopath"
for m in sprig semver; do
  mkdir -p "$gp/src/github.com/Masterminds/$m"
  ln -sfn "/usr/share/gocode/src/github.com/Masterminds/$m" "$gp/src/github.com/Masterminds/$m/v3"
done
cd "$src"
GO111MODULE=off GOPATH="$gp:/usr/share/gocode" GOCACHE="$out/gocache" GOFLAGS= \
  go build -o "$out/helm-render" .
