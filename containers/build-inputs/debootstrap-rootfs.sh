#!/usr/bin/env bash
# Builds the root filesystem of the `local` base profile from Debian's packages.
# Usage: debootstrap-rootfs.sh SUITE OUTPUT.tar PKG[,PKG...] [ARCH]
# Run by Pants (containers/base:rootfs) and cached by it; DEBIAN_MIRROR overrides the mirror.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

suite="$1" out="$2" include="$3" arch="${4:-$(dpkg --print-architecture)}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [[ "$(id -u)" != 0 ]]; then
  echo "debootstrap-rootfs: building the local base rootfs needs root (debootstrap creates" \
       "device nodes and chroots). Run ./pants as root, or use DYNAMO_BASE_PROFILE=production." >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  echo "debootstrap-rootfs: debootstrap is not installed. Run: apt-get install -y debootstrap" >&2
  exit 1
fi

root="$(mktemp -d /var/tmp/dynamo-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --arch="$arch" --include="$include" "$suite" "$root" "$mirror" \
  > "$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"

# Trim what a container never uses; keep license files.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/* \
       "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
find "$root"/usr/share/doc -type f ! -name copyright -delete

tar --numeric-owner --sort=name --mtime=@0 -C "$root" -cf "$out" .
