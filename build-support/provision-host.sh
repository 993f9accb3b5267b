#!/usr/bin/env bash
# Makes sure this host can build and run the images: a Docker engine that answers, the
# BuildKit-capable client Pants is configured to use (/usr/bin/docker, see [docker] in
# pants.toml), mmdebstrap for the `local` base profile's rootfs, and the compilers the first-party
# wheels (src/) build with: a C++ compiler and cargo/rustc (rustup's or Debian's); qemu
# emulation for the other architecture of the image matrix (amd64 <-> arm64), Debian's
# docker-registry (the local registry the multi-arch test publishes to) and Redis for the team
# caches (docs/caching.md).
#
# Provisions only what is missing, and only as root on a Debian-family host; anywhere else
# it prints the commands to run. Silent and fast (one `docker version`) when all is there.
set -euo pipefail

say() { echo "provision-host: $*" >&2; }
docker_cli=/usr/bin/docker
dockerd_log=/var/log/dynamo-dockerd.log

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

if [[ ${#missing_pkgs[@]} -eq 0 && ${#optional_pkgs[@]} -eq 0 ]] && engine_answers && emulation_ready; then
  exit 0
fi

can_provision=false
if [[ "$(id -u)" == 0 && -f /etc/debian_version ]] && command -v apt-get >/dev/null; then
  can_provision=true
fi

if ! $can_provision && [[ ${#missing_pkgs[@]} -eq 0 ]] && engine_answers; then
  say "multi-arch builds and the team caches need: apt-get install -y qemu-user-static arch-test" \
      "docker-registry redis-server (and: systemctl restart systemd-binfmt); all else is ready"
  exit 0
fi
missing_pkgs+=("${optional_pkgs[@]}")

if ! $can_provision; then
  say "this host is missing what image builds need, and it can only provision itself as root on Debian/Ubuntu."
  [[ ${#missing_pkgs[@]} -gt 0 ]] && say "install:  sudo apt-get update && sudo apt-get install -y ${missing_pkgs[*]}"
  say "start the engine:  sudo systemctl start docker   (or: sudo dockerd &)"
  emulation_ready || say "enable $emulated emulation:  sudo systemctl restart systemd-binfmt"
  say "then make sure your user can reach it:  sudo usermod -aG docker \$USER  (and log in again)"
  exit 1
fi

if [[ ${#missing_pkgs[@]} -gt 0 ]]; then
  say "installing ${missing_pkgs[*]} from Debian's packages (first run only)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
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
