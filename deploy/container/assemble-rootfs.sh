#!/bin/bash
# assemble-rootfs.sh STAGE OUT UID GID: the runtime image's whole file tree, built in the
# Containerfile's rootfs stage (Debian 12 with the runtime libraries installed).
#
# STAGE/usr/bin holds the stripped binaries. OUT receives:
#   /usr/bin/{teredo-server,teredo-relay,teredo-controller,teredoctl}
#   every shared library they load (ldd), with the loader, under the same paths as in Debian
#   (usr-merged: /lib, /lib64, /bin, /sbin are links into /usr)
#   /usr/share/doc/PACKAGE/copyright for each Debian package a file was taken from, and its dpkg
#   status entry in /var/lib/dpkg/status.d/PACKAGE (what image scanners read), /etc/os-release
#   /usr/share/doc/teredo-fleet/debian-packages.txt: those packages and versions
#   /etc/passwd, /etc/group (root, teredo = UID:GID, nobody), /etc/nsswitch.conf
#   /etc/teredo (configs are mounted here), /var/lib/teredo (agents' state) and
#   /var/lib/teredo-controller (the controller's state), the last two owned by UID:GID
# It fails when a binary needs a library that is not installed or a file that no Debian package
# owns: nothing unaccounted for goes into the image.
set -euo pipefail
stage=$1 out=$2 uid=$3 gid=$4
[[ $uid =~ ^[1-9][0-9]*$ && $gid =~ ^[1-9][0-9]*$ ]] || {
  echo "assemble-rootfs: UID and GID must be numeric and not 0" >&2
  exit 2
}
mkdir -p "$out"
chmod 0755 "$out"

# The usr-merge links, as in the base.
for d in bin sbin lib lib32 lib64 libx32; do
  if [[ -L /$d ]]; then
    ln -s "$(readlink "/$d")" "$out/$d"
  fi
done
mkdir -p "$out/usr/bin" "$out/usr/sbin" "$out/usr/lib"

bins=()
for b in "$stage"/usr/bin/*; do
  install -m 0755 "$b" "$out/usr/bin/"
  bins+=("$b")
done
((${#bins[@]} > 0)) || {
  echo "assemble-rootfs: no binaries in $stage/usr/bin" >&2
  exit 1
}

# owner PATH: the Debian package that ships PATH (also under its other usr-merge spelling).
owner() {
  local p=$1 cand pkg
  for cand in "$p" "${p#/usr}" "/usr$p"; do
    pkg=$(dpkg-query -S "$cand" 2>/dev/null | awk -F': ' -v f="$cand" '$2 == f { print $1; exit }')
    if [[ -n $pkg ]]; then
      printf '%s' "${pkg%%:*}"
      return 0
    fi
  done
  return 1
}

declare -A packages=() seen=()
# add_file PATH: the file PATH resolves to, at its real path, plus PATH's own name as a link to
# it when that differs (libfoo.so.1 -> libfoo.so.1.2.3, /lib64/ld-linux... -> the loader).
add_file() {
  local p=$1 real dir name pkg
  real=$(readlink -f "$p")
  dir=$(readlink -f "$(dirname "$p")")
  name=$(basename "$p")
  [[ -z ${seen[$p]:-} ]] || return 0
  seen[$p]=1
  pkg=$(owner "$real") || pkg=$(owner "$p") || {
    echo "assemble-rootfs: $p ($real) belongs to no Debian package" >&2
    exit 1
  }
  packages[$pkg]=1
  if [[ ! -e $out$real ]]; then
    mkdir -p "$out$(dirname "$real")"
    cp -p "$real" "$out$real"
  fi
  if [[ $dir/$name != "$real" && ! -e $out$dir/$name ]]; then
    mkdir -p "$out$dir"
    ln -sr "$out$real" "$out$dir/$name"
  fi
}

missing=()
for b in "${bins[@]}"; do
  while read -r line; do
    case $line in
      *"=> not found"*) missing+=("${b##*/}: ${line%% *}") ;;
      *"=> /"*)
        line=${line#*=> }
        add_file "${line%% (*}"
        ;;
      /*) add_file "${line%% (*}" ;;   # the loader
    esac
  done < <(ldd "$b")
done
if ((${#missing[@]} > 0)); then
  printf 'assemble-rootfs: missing library: %s\n' "${missing[@]}" >&2
  echo "assemble-rootfs: add its Debian package to the rootfs stage of the Containerfile" >&2
  exit 1
fi

# Licences and package metadata of everything taken from Debian.
mkdir -p "$out/usr/share/doc/teredo-fleet" "$out/var/lib/dpkg/status.d"
: >"$out/usr/share/doc/teredo-fleet/debian-packages.txt"
for pkg in $(printf '%s\n' "${!packages[@]}" | sort); do
  copyright=/usr/share/doc/$pkg/copyright
  [[ -f $copyright ]] || {
    echo "assemble-rootfs: $copyright is missing" >&2
    exit 1
  }
  install -D -m 0644 "$copyright" "$out/usr/share/doc/$pkg/copyright"
  dpkg-query -s "$pkg" >"$out/var/lib/dpkg/status.d/$pkg"
  dpkg-query -W -f '${Package} ${Version} ${Architecture}\n' "$pkg" \
    >>"$out/usr/share/doc/teredo-fleet/debian-packages.txt"
done
install -D -m 0644 "$(readlink -f /etc/os-release)" "$out/usr/lib/os-release"
mkdir -p "$out/etc"
ln -s ../usr/lib/os-release "$out/etc/os-release"

# Users, name service, directories.
cat >"$out/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
teredo:x:$uid:$gid:Teredo Fleet:/var/lib/teredo:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$out/etc/group" <<EOF
root:x:0:
teredo:x:$gid:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$out/etc/nsswitch.conf"
chmod 0644 "$out/etc/passwd" "$out/etc/group" "$out/etc/nsswitch.conf"
install -d -m 0755 "$out/etc/teredo" "$out/dev" "$out/proc" "$out/sys" "$out/run"
install -d -m 1777 "$out/tmp"
install -d -m 0750 -o "$uid" -g "$gid" "$out/var/lib/teredo" "$out/var/lib/teredo-controller"
echo "assemble-rootfs: ${#bins[@]} binaries, ${#seen[@]} libraries from ${#packages[@]} Debian packages"
