#!/usr/bin/env bash
# Builds the Teredo Fleet container image (deploy/container/Containerfile) with podman, on a
# machine that reaches no container registry: the Debian 12 base image is made here from Debian
# packages (debootstrap --variant=minbase bookworm, imported with podman) unless BASE_IMAGE names
# one. Tags the image REPOSITORY:VERSION (the Helm chart's image.repository and the project
# version, which is the chart's appVersion), writes an OCI archive for loading into a cluster's
# runtime and prints the image's size. Run as root on Debian 12; docs/containers.md.
#
# Usage: tools/build-images.sh [--prebuilt BUILD_DIR] [--tag TAG] [--out DIR] [--no-archive]
#                              [--no-cache] [--jobs N] [--print-ref]
#   (default)             the multi-stage build: the binaries are compiled in the build stage
#   --prebuilt BUILD_DIR  take teredo-server, teredo-relay, teredo-controller and teredoctl from
#                         BUILD_DIR (built on this Debian 12 host) instead of compiling them
#   --tag TAG             the image tag (default: the project version)
#   --out DIR             base image cache and OCI archive (default: $BUILD_DIR/images, with
#                         BUILD_DIR the --prebuilt dir, else $BUILD_DIR or build/)
#   --no-archive          skip the OCI archive
#   --no-cache            rebuild every layer (fresh Debian packages; for releases)
#   --jobs N              compile jobs in the build stage (default: all CPUs)
#   --print-ref           print the image reference (REPOSITORY:TAG) and exit
# Environment:
#   BASE_IMAGE        a Debian 12 image to build on instead of the debootstrapped one (pulled
#                     when not present locally)
#   DEBIAN_MIRROR     for debootstrap and the base's apt sources (http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR                             (http://deb.debian.org/debian-security)
#   IMAGE_REPOSITORY  (default: image.repository of helm/teredo-fleet/values.yaml)
#   IMAGE_SOURCE      the source label (default: the URL of the git remote "origin")
#   IMAGE_LICENSES    the licenses label, an SPDX expression (default NOASSERTION)
#   IMAGE_SIZE_LIMIT_MB  fail when the image is larger, uncompressed (default 80)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source-path=SCRIPTDIR source=container-env.sh
source "$root/tools/container-env.sh"

prebuilt=""
tag=""
out=""
archive=1
nocache=()
jobs=$(nproc)
print_ref=0
while (($# > 0)); do
  case $1 in
    --prebuilt) prebuilt=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-archive) archive=0; shift ;;
    --no-cache) nocache=(--no-cache); shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --print-ref) print_ref=1; shift ;;
    -h | --help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "build-images: unknown argument $1" >&2; exit 2 ;;
  esac
done
die() {
  echo "build-images: $*" >&2
  exit 1
}
version=$(sed -nE 's/^project\(teredo_fleet VERSION ([0-9][0-9.]*).*/\1/p' CMakeLists.txt)
[[ -n $version ]] || die "no project VERSION in CMakeLists.txt"
tag=${tag:-$version}
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "bad tag: $tag"
repo=${IMAGE_REPOSITORY:-$(/usr/bin/python3 -c '
import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["image"]["repository"])' helm/teredo-fleet/values.yaml)}
image="$repo:$tag"
if ((print_ref)); then
  printf '%s\n' "$image"
  exit 0
fi
[[ $(id -u) == 0 ]] || die "run as root (podman's system storage, debootstrap)"
command -v podman >/dev/null || die "podman is not installed (tools/setup.sh installs it)"
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number"
if [[ -n $prebuilt ]]; then
  prebuilt=$(cd "$prebuilt" && pwd)
  out=${out:-$prebuilt/images}
else
  out=${out:-${BUILD_DIR:-$root/build}/images}
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
container_env_setup "$out"

# The revision label: the commit the binaries were built from. --prebuilt binaries name theirs
# (`--version`, fixed when their build dir was configured); otherwise it is HEAD. "-dirty" when
# the tree has uncommitted changes.
revision=""
if [[ -n $prebuilt ]]; then
  built=$("$prebuilt/tools/teredoctl/teredoctl" --version 2>/dev/null || true)
  if [[ $built =~ \(([0-9a-f]{7,40})\)$ ]]; then
    revision=$(git rev-parse --verify -q "${BASH_REMATCH[1]}^{commit}" 2>/dev/null ||
      printf '%s' "${BASH_REMATCH[1]}")
  fi
else
  revision=$(git rev-parse HEAD 2>/dev/null || true)
fi
revision=${revision:-unknown}
if [[ $revision != unknown && -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  revision+="-dirty"
fi
source_url=${IMAGE_SOURCE-$(git remote get-url origin 2>/dev/null || true)}
# Never a credential in a label: drop any user:password@ from the URL.
source_url=$(printf '%s' "$source_url" | sed -E 's#^([a-z+]+://)[^/@]*@#\1#')
licenses=${IMAGE_LICENSES:-NOASSERTION}
limit_mb=${IMAGE_SIZE_LIMIT_MB:-80}
started=$SECONDS

# --- The base image -----------------------------------------------------------------------------
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
base_local=localhost/debian:bookworm-minbase

# make_base: Debian 12 minbase from the Debian mirror, cached as a tarball under $out/base and
# imported into podman's storage as $base_local (once; later runs reuse either).
make_base() {
  local cache="$out/base" tarball work
  tarball="$cache/debian-bookworm-minbase.tar"
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9   # a concurrent run makes it once, the other waits
  if podman image exists "$base_local"; then
    exec 9>&-
    return 0
  fi
  if [[ ! -s $tarball ]]; then
    command -v debootstrap >/dev/null || die "debootstrap is not installed (tools/setup.sh)"
    echo "== base image: debootstrap --variant=minbase bookworm from $mirror"
    work=$(mktemp -d "$cache/rootfs.XXXXXX")
    if ! debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1; then
      tail -n 20 "$cache/debootstrap.log" >&2
      rm -rf -- "$work"
      die "debootstrap failed (log: $cache/debootstrap.log)"
    fi
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s bookworm-security main\n' \
      "$mirror" "$mirror" "$security" >"$work/rootfs/etc/apt/sources.list"
    # Nothing of this host in the image, no package caches, no device nodes.
    rm -f "$work/rootfs/etc/resolv.conf" "$work/rootfs/etc/hostname" "$work/rootfs/etc/machine-id"
    find "$work/rootfs/var/cache/apt" "$work/rootfs/var/lib/apt/lists" "$work/rootfs/var/log" \
      "$work/rootfs/tmp" "$work/rootfs/dev" -mindepth 1 \( -type f -o -type c -o -type b -o -type l \) -delete
    find "$work/rootfs/dev" -mindepth 1 -depth -type d -delete
    tar --numeric-owner --sort=name -C "$work/rootfs" -cf "$tarball.tmp" .
    mv -f "$tarball.tmp" "$tarball"
    rm -rf -- "$work"
  fi
  echo "== base image: podman import $tarball as $base_local"
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' --message "debootstrap --variant=minbase bookworm" \
    "$tarball" "$base_local" >/dev/null
  exec 9>&-
}

pull=(--pull=never)
if [[ -n ${BASE_IMAGE:-} ]]; then
  base=$BASE_IMAGE
  podman image exists "$base" || pull=(--pull=missing)
else
  base=$base_local
  make_base
fi

# --- The build context --------------------------------------------------------------------------
build_args=(--build-arg "BASE_IMAGE=$base" --build-arg "VERSION=$version"
  --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url"
  --build-arg "LICENSES=$licenses" --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
if [[ -n $prebuilt ]]; then
  # The binaries must match the rootfs stage's Debian 12 libraries.
  # shellcheck disable=SC1091
  [[ $(. /etc/os-release && echo "$ID $VERSION_ID") == "debian 12" ]] ||
    die "--prebuilt needs binaries built on Debian 12 (this host is not)"
  context="$out/context"
  rm -rf -- "$context"
  mkdir -p "$context/prebuilt/usr/bin" "$context/deploy/container"
  for bin in services/server/teredo-server services/relay/teredo-relay \
    services/controller/teredo-controller tools/teredoctl/teredoctl; do
    [[ -x $prebuilt/$bin ]] || die "not built: $prebuilt/$bin"
    install -s -m 0755 "$prebuilt/$bin" "$context/prebuilt/usr/bin/"
  done
  cp deploy/container/assemble-rootfs.sh "$context/deploy/container/"
  build_args+=(--build-arg BINARIES=prebuilt)
  echo "== image $image from the binaries of $prebuilt, on $base"
else
  context=$root
  build_args+=(--build-arg BINARIES=build --build-arg "JOBS=$jobs")
  echo "== image $image: compiled in the build stage ($jobs jobs), on $base"
fi

podman build "${pull[@]}" "${nocache[@]}" --network host --layers --format oci \
  -f "$root/deploy/container/Containerfile" "${build_args[@]}" -t "$image" "$context"
[[ -z $prebuilt ]] || rm -rf -- "$context"

# --- Checks, archive, sizes ---------------------------------------------------------------------
user=$(podman image inspect --format '{{.Config.User}}' "$image")
[[ $user =~ ^[1-9][0-9]*:[1-9][0-9]*$ ]] || die "$image runs as '$user', not a numeric non-root user"
size=$(podman image inspect --format '{{.Size}}' "$image")
size_mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1000000 }')
if reason=$(container_env_probe "$out"); then
  for bin in teredo-server teredo-relay teredo-controller teredoctl; do
    podman run --rm --pull=never --network none --read-only --cap-drop all "$image" "$bin" --version \
      >/dev/null || die "$bin --version fails in $image"
  done
  smoke="each binary runs (--version)"
else
  smoke="not run: $reason"
fi

archive_line="(not written: --no-archive)"
digest_line=""
if ((archive)); then
  file="$out/teredo-fleet-$tag.oci.tar"
  layout=$(mktemp -d "$out/oci.XXXXXX")
  rm -rf -- "$layout"
  podman save -q --format oci-dir -o "$layout" "$image" >/dev/null
  # containerd (ctr import, kind load) names an imported image by this annotation.
  /usr/bin/python3 - "$layout/index.json" "$image" <<'EOF'
import json, sys
path, name = sys.argv[1], sys.argv[2]
index = json.load(open(path))
for m in index["manifests"]:
    m.setdefault("annotations", {})["io.containerd.image.name"] = name
    m["annotations"]["org.opencontainers.image.ref.name"] = name.rsplit(":", 1)[1]
json.dump(index, open(path, "w"), separators=(",", ":"))
EOF
  tar --numeric-owner --sort=name -C "$layout" -cf "$file.tmp" oci-layout index.json blobs
  mv -f "$file.tmp" "$file"
  rm -rf -- "$layout"
  archive_line="$file ($(awk -v s="$(stat -c %s "$file")" 'BEGIN { printf "%.1f", s / 1000000 }') MB)"
  digest_line=$(tar -xOf "$file" index.json | /usr/bin/python3 -c '
import json, sys
print(json.load(sys.stdin)["manifests"][0]["digest"])')
fi

echo "== built in $((SECONDS - started)) s"
printf '  image        %s (id %s)\n' "$image" "$(podman image inspect --format '{{.Id}}' "$image" | cut -c1-12)"
printf '  size         %s MB uncompressed (limit %s MB)\n' "$size_mb" "$limit_mb"
printf '  user         %s\n' "$user"
printf '  smoke test   %s\n' "$smoke"
printf '  OCI archive  %s\n' "$archive_line"
[[ -z $digest_line ]] ||
  printf '  digest       %s (the archive'"'"'s manifest; a registry push reports its own)\n' "$digest_line"
printf '  labels       version=%s revision=%s source=%s licenses=%s\n' "$version" \
  "${revision:-none}" "${source_url:-none}" "$licenses"
if awk -v s="$size" -v l="$limit_mb" 'BEGIN { exit !(s > l * 1000000) }'; then
  die "$image is $size_mb MB, over the $limit_mb MB limit"
fi
