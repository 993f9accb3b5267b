#!/usr/bin/env bash
# Builds the root filesystem of the `local` base profile from Debian's packages, with
# mmdebstrap: apt and dpkg do the work in a few calls, where debootstrap's shell loops go
# package by package, so it is faster (docs/performance.md "One-off measurements"), and with
# SOURCE_DATE_EPOCH two runs give the same bytes.
# Usage: base-rootfs.sh SUITE OUTPUT.tar PKG[,PKG...] [ARCH]
# Run by Pants (containers/base:rootfs) and cached by it; DEBIAN_MIRROR overrides the mirror.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Fixed dates inside the rootfs (/etc/shadow, logs, clamped mtimes): the same epoch as the
# wheels' (plugins/dynamo_wheels/pep517_shim.py). Day 0 would mean "password expired".
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"

suite="$1" out="$2" include="$3" arch="${4:-$(dpkg --print-architecture)}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [[ "$(id -u)" != 0 ]]; then
  echo "base-rootfs: building the local base rootfs needs root (mmdebstrap creates device" \
       "nodes and chroots). Run ./pants as root, or use DYNAMO_BASE_PROFILE=production." >&2
  exit 1
fi
if ! command -v mmdebstrap >/dev/null; then
  echo "base-rootfs: mmdebstrap is not installed. Run: apt-get install -y mmdebstrap" >&2
  exit 1
fi

root="$(mktemp -d /var/tmp/dynamo-rootfs.XXXXXX)"
# --one-file-system: a killed mmdebstrap leaves /proc, /sys, /dev/pts and the host's /dev/shm
# mounted in the chroot; never delete through them.
trap 'rm -rf --one-file-system "$root" "$root.log"' EXIT
# Readable by apt's unprivileged `_apt` user, which then does the downloads (not root).
chmod 0755 "$root"
# minbase: Priority:required plus apt, the set debootstrap --variant=minbase installs. The
# merged-usr hook (shipped with mmdebstrap) links /bin, /lib... into /usr as debootstrap does;
# without it apt picks `usrmerge`, which pulls in perl (+49 MB), over `usr-is-merged`.
# The host's resolv.conf and hostname are emptied (Docker mounts its own at run time): the
# same bytes from every host. Foreign architectures run under qemu-user-static (binfmt).
mmdebstrap --mode=root --format=directory --variant=minbase --arch="$arch" \
  --include="$include" --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --customize-hook='truncate -s 0 "$1/etc/resolv.conf" "$1/etc/hostname"' \
  "$suite" "$root" "$mirror" > "$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }

# Trim what a container never uses; keep license files. (mmdebstrap already emptied apt's
# lists and cache.)
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* \
       "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
find "$root"/usr/share/doc -type f ! -name copyright -delete

tar --numeric-owner --sort=name --mtime=@0 -C "$root" -cf "$out" .
