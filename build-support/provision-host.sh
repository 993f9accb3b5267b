#!/usr/bin/env bash
# Makes sure this host can build and run the images: a Docker engine that answers, the
# BuildKit-capable client Pants is configured to use (/usr/bin/docker, see [docker] in
# pants.toml), mmdebstrap for the `local` base profile's rootfs, and the compilers the first-party
# wheels (src/) build with: a C++ compiler and cargo/rustc (rustup's or Debian's); qemu
# emulation for the other architecture of the image matrix (amd64 <-> arm64), Debian's
# docker-registry (the local registry the multi-arch test publishes to), Redis for the team
# caches (docs/caching.md), and on x86_64 the aarch64 cross toolchain of the wheels'
# `:wheel-aarch64` builds (docs/wheels.md, aarch64).
#
# Provisions only what is missing, and only as root on a Debian-family host; anywhere else
# it prints the commands to run. Silent and fast (one `docker version`, one `dpkg-query`) when
# all is there.
set -euo pipefail

say() { echo "provision-host: $*" >&2; }
docker_cli=/usr/bin/docker
dockerd_log=/var/log/dynamo-dockerd.log
# The cross toolchain's install log, and the mark a failed install leaves so that later runs
# do not retry apt each time (DYNAMO_PROVISION_STATE_DIR: for tests).
cross_log="${DYNAMO_PROVISION_STATE_DIR:-/var/log}/dynamo-cross-toolchain.log"
cross_failed="${DYNAMO_PROVISION_STATE_DIR:-/var/log}/dynamo-cross-toolchain.failed"

engine_answers() { "$docker_cli" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
# This machine's engine: the one `dockerd` starts with its defaults (socket and pidfile).
local_socket=unix:///var/run/docker.sock
dockerd_pidfile=/var/run/docker.pid
# DOCKER_HOST naming any other engine: never provisioned or started from here.
remote_engine=""
[[ -n "${DOCKER_HOST:-}" && "${DOCKER_HOST}" != "$local_socket" ]] && remote_engine="$DOCKER_HOST"

# The architecture the image matrix builds under emulation on this host.
case "$(uname -m)" in
  aarch64) emulated=x86_64 ;;
  *) emulated=aarch64 ;;
esac
binfmt=/proc/sys/fs/binfmt_misc
emulation_ready() { [[ -e "$binfmt/qemu-$emulated" ]]; }

missing_pkgs=()
[[ -x "$docker_cli" ]] || missing_pkgs+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || missing_pkgs+=(mmdebstrap)
command -v c++ >/dev/null 2>&1 || missing_pkgs+=(g++)
command -v cargo >/dev/null 2>&1 || missing_pkgs+=(cargo)
# Only the multi-arch builds, the team caches (src/python/dynamo_team_caches/team-caches.sh)
# and their tests need these; without them the rest still builds.
optional_pkgs=()
[[ -e /usr/lib/binfmt.d/qemu-$emulated.conf ]] || optional_pkgs+=(qemu-user-static)
# mmdebstrap checks with arch-test that the emulated architecture runs (a Recommends of it).
command -v arch-test >/dev/null 2>&1 || optional_pkgs+=(arch-test)
command -v docker-registry >/dev/null 2>&1 || optional_pkgs+=(docker-registry)
command -v redis-server >/dev/null 2>&1 || optional_pkgs+=(redis-server)

# The `:wheel-aarch64` cross builds (src/first_party_wheels.py, docs/wheels.md) and their test
# (tests/python/native_wheels/test_aarch64.py), both in `./pants test ::`: Debian's aarch64
# gcc/g++; Debian's rustc/cargo with the Rust standard library built for aarch64 (the targets
# put /usr/bin first on the build's PATH, since rustup cannot fetch another target's std
# offline; Debian's rustc depends on libstd-rust-dev of its own version, and Multi-Arch: same
# keeps :arm64 at that version too, so installing them together keeps the std matching the
# rustc the builds run); Debian's python3.11 with libpython3.11-dev:arm64, meson's Python for
# the target (pyconfig.h, sysconfig data; 3.11 is [python] interpreter_constraints).
# On an aarch64 host `:wheel-aarch64` is a native build and the x86_64 wheels would be the
# cross builds: those are not provisioned (the shim names what to install when one is built).
cross_arch=""
cross_wanted=()
if [[ "$(uname -m)" == x86_64 ]]; then
  cross_arch=arm64
  cross_wanted=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu rustc cargo libstd-rust-dev:arm64
                python3.11 libpython3.11-dev:arm64)
fi
cross_pkgs=()
if [[ ${#cross_wanted[@]} -gt 0 ]]; then
  # dpkg's database, not PATH: rustup's cargo/rustc and pyenv's python3.11 do not count. One
  # dpkg-query (a few ms; no apt) answers for all of them; a host without dpkg lacks them all.
  installed=" $(dpkg-query -W -f='${Package}:${Architecture}=${db:Status-Abbrev} ' \
                "${cross_wanted[@]}" 2>/dev/null || true)"
  for pkg in "${cross_wanted[@]}"; do
    pkg_arch="$pkg"
    [[ "$pkg" == *:* ]] || pkg_arch="$pkg:amd64"
    [[ "$installed" == *" $pkg_arch=ii "* ]] || cross_pkgs+=("$pkg")
  done
fi
# The commands that install them, each prefixed with $1 ("sudo " for a user's copy and paste).
cross_commands() {
  echo "${1:-}dpkg --add-architecture $cross_arch && ${1:-}apt-get update &&" \
       "${1:-}apt-get install -y --no-install-recommends ${cross_pkgs[*]}"
}
if [[ ${#cross_pkgs[@]} -gt 0 && -e "$cross_failed" ]]; then
  say "warning: the aarch64 cross toolchain is missing and its install failed before (log:" \
      "$cross_log); :wheel-aarch64 and test_aarch64.py will fail. Install it: $(cross_commands)," \
      "or rm $cross_failed to let ./pants try again"
  cross_pkgs=()
fi

if [[ ${#missing_pkgs[@]} -eq 0 && ${#optional_pkgs[@]} -eq 0 && ${#cross_pkgs[@]} -eq 0 ]] \
    && engine_answers && emulation_ready; then
  exit 0
fi

can_provision=false
if [[ "$(id -u)" == 0 && -f /etc/debian_version ]] && command -v apt-get >/dev/null; then
  can_provision=true
fi

if ! $can_provision && [[ ${#missing_pkgs[@]} -eq 0 ]] && engine_answers; then
  if [[ ${#optional_pkgs[@]} -gt 0 ]] || ! emulation_ready; then
    say "multi-arch builds and the team caches need: apt-get install -y qemu-user-static arch-test" \
        "docker-registry redis-server (and: systemctl restart systemd-binfmt); all else is ready"
  fi
  if [[ ${#cross_pkgs[@]} -gt 0 ]]; then
    say "the aarch64 wheels (:wheel-aarch64, in ./pants test ::) need: $(cross_commands sudo\ )"
  fi
  exit 0
fi
missing_pkgs+=("${optional_pkgs[@]}")

if ! $can_provision; then
  say "this host is missing what image builds need, and it can only provision itself as root on Debian/Ubuntu."
  [[ ${#missing_pkgs[@]} -gt 0 ]] && say "install:  sudo apt-get update && sudo apt-get install -y ${missing_pkgs[*]}"
  [[ ${#cross_pkgs[@]} -gt 0 ]] && say "the aarch64 wheels' cross toolchain:  $(cross_commands sudo\ )"
  say "start the engine:  sudo systemctl start docker   (or: sudo dockerd &)"
  emulation_ready || say "enable $emulated emulation:  sudo systemctl restart systemd-binfmt"
  say "then make sure your user can reach it:  sudo usermod -aG docker \$USER  (and log in again)"
  exit 1
fi

# Only the aarch64 wheels need the cross toolchain: when it cannot be installed (a mirror without
# $cross_arch packages, as Ubuntu's archive, whose arm64 packages are on ports.ubuntu.com), the
# rest is provisioned all the same, with a warning, and later runs do not try again.
cross_gave_up() {
  say "warning: could not install the aarch64 cross toolchain ($1; log: $cross_log):"
  tail -n 5 "$cross_log" >&2 || true
  say ":wheel-aarch64 and test_aarch64.py will fail until it is installed: $(cross_commands)"
  touch "$cross_failed"
}
export DEBIAN_FRONTEND=noninteractive
added_arch=false
if [[ ${#cross_pkgs[@]} -gt 0 ]] && ! dpkg --print-foreign-architectures | grep -qx "$cross_arch"; then
  # Before `apt-get update`, so that it fetches the $cross_arch package lists too.
  say "adding the $cross_arch architecture to dpkg (for the aarch64 wheels' cross toolchain)"
  dpkg --add-architecture "$cross_arch"
  added_arch=true
fi
if [[ ${#missing_pkgs[@]} -gt 0 || ${#cross_pkgs[@]} -gt 0 ]]; then
  if ! updated="$(apt-get update -qq 2>&1)"; then
    if ! $added_arch; then
      echo "$updated" >&2
      exit 1
    fi
    echo "$updated" >"$cross_log"
    cross_gave_up "apt-get update failed with the $cross_arch architecture; removed it again"
    dpkg --remove-architecture "$cross_arch"
    cross_pkgs=()
    apt-get update -qq >/dev/null
  fi
fi
if [[ ${#missing_pkgs[@]} -gt 0 ]]; then
  say "installing ${missing_pkgs[*]} from Debian's packages (first run only)"
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
fi
if [[ ${#cross_pkgs[@]} -gt 0 ]]; then
  say "installing the aarch64 cross toolchain: ${cross_pkgs[*]} (first run only)"
  if apt-get install -y -qq --no-install-recommends "${cross_pkgs[@]}" >"$cross_log" 2>&1; then
    rm -f "$cross_failed"
  else
    cross_gave_up "apt-get install failed"
  fi
fi

if ! engine_answers; then
  started=false
  if [[ -n "$remote_engine" ]]; then
    # Another engine was asked for: starting or waiting for this machine's would not help.
    say "error: the Docker engine at DOCKER_HOST=$DOCKER_HOST does not answer:"
    say "  $("$docker_cli" version --format '{{.Server.Version}}' 2>&1 >/dev/null | tail -n 1)"
    say "Start that engine (or fix DOCKER_HOST), or unset DOCKER_HOST to use this machine's own."
    exit 1
  elif [[ -f "$dockerd_pidfile" ]] && kill -0 "$(cat "$dockerd_pidfile")" 2>/dev/null; then
    say "this machine's dockerd (pid $(cat "$dockerd_pidfile")) is running but does not answer yet; waiting"
  else
    say "starting dockerd in the background (log: $dockerd_log)"
    # setsid: the engine must outlive this Pants invocation.
    setsid nohup dockerd >"$dockerd_log" 2>&1 </dev/null &
    started=true
  fi
  for _ in $(seq 1 60); do
    engine_answers && break
    sleep 1
  done
  if ! engine_answers; then
    say "dockerd did not answer within 60s"
    if $started; then
      say "last lines of its log, $dockerd_log:"
      tail -n 20 "$dockerd_log" >&2 || true
    fi
    exit 1
  fi
  say "Docker engine $("$docker_cli" version --format '{{.Server.Version}}') is up"
fi

if ! emulation_ready; then
  # Containers and hosts without systemd-binfmt: register the handler qemu-user-static ships
  # (flag F: the kernel keeps the interpreter open, so it works inside build containers too).
  mountpoint -q "$binfmt" || mount -t binfmt_misc binfmt_misc "$binfmt"
  sed -n 's/^\(:.*\)$/\1/p' "/usr/lib/binfmt.d/qemu-$emulated.conf" > "$binfmt/register"
  emulation_ready || { say "could not register qemu-$emulated with binfmt_misc"; exit 1; }
  say "registered qemu-$emulated for the other architecture of the image matrix"
fi
