#!/usr/bin/env bash
# The team's shared caches (docs/caching.md), started and stopped with one command:
#
#   build-support/team-caches.sh start|stop|status|settings
#
# * BuildGrid (REAPI: CAS + ActionCache, from PyPI through the `team-caches` resolve) for Pants'
#   remote cache: disk CAS under $DATA_DIR/cas, in-memory LRU action cache.
# * Redis (Debian's redis-server) for sccache: $DATA_DIR/redis, bounded with LRU eviction.
#
# Settings (environment, or the flags in brackets):
#   TEAM_CACHES_DATA_DIR    [--data-dir]    default ~/.cache/dynamo-team-caches
#   TEAM_CACHES_BIND        [--bind]        default 127.0.0.1 (loopback); 0.0.0.0 serves a team
#   TEAM_CACHES_REAPI_PORT  [--reapi-port]  default 50051
#   TEAM_CACHES_REDIS_PORT  [--redis-port]  default 6379
#   TEAM_CACHES_REDIS_MAXMEMORY             default 4gb
#   TEAM_CACHES_BGD         [--bgd]         a built bgd PEX; default: `./pants package
#                                           build-support:bgd`, copied into the data dir
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data_dir="${TEAM_CACHES_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-team-caches}"
bind="${TEAM_CACHES_BIND:-127.0.0.1}"
reapi_port="${TEAM_CACHES_REAPI_PORT:-50051}"
redis_port="${TEAM_CACHES_REDIS_PORT:-6379}"
redis_maxmemory="${TEAM_CACHES_REDIS_MAXMEMORY:-4gb}"
bgd="${TEAM_CACHES_BGD:-}"

say() { echo "team-caches: $*" >&2; }
die() { say "error: $*"; exit 1; }
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
  exit 2
}

command="${1:-}"
[[ -n "$command" ]] || usage
shift
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) data_dir="$2"; shift 2 ;;
    --bind) bind="$2"; shift 2 ;;
    --reapi-port) reapi_port="$2"; shift 2 ;;
    --redis-port) redis_port="$2"; shift 2 ;;
    --bgd) bgd="$2"; shift 2 ;;
    *) die "unknown argument $1 (see: $0 help)" ;;
  esac
done
for port in "$reapi_port" "$redis_port"; do
  [[ "$port" =~ ^[0-9]+$ ]] || die "port '$port' is not a number; set TEAM_CACHES_*_PORT or --*-port"
done

bgd_pid="$data_dir/bgd.pid"
redis_pid="$data_dir/redis.pid"

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
# A port answers when a TCP connect succeeds (bash's /dev/tcp: no extra tools).
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
client_host() { [[ "$bind" == 0.0.0.0 ]] && echo 127.0.0.1 || echo "$bind"; }

write_bgd_config() {
  cat >"$data_dir/bgd.yml" <<EOF
# Written by build-support/team-caches.sh; edited copies are overwritten on start.
server:
  - !channel
    address: "$bind:$reapi_port"
    insecure-mode: true
storages:
  - !disk-storage &cas
    path: $data_dir/cas
caches:
  - !lru-action-cache &action-cache
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
    cache-failed-actions: false
instances:
  - name: ""
    services:
      - !action-cache
        cache: *action-cache
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
EOF
}

find_bgd() {
  if [[ -n "$bgd" ]]; then
    [[ -f "$bgd" ]] || die "bgd PEX '$bgd' does not exist; build it with ./pants package build-support:bgd"
    return
  fi
  say "building BuildGrid's server (./pants package build-support:bgd)"
  (cd "$repo_root" && ./pants package build-support:bgd >&2)
  cp "$repo_root/dist/build-support/bgd.pex" "$data_dir/bgd.pex"
  bgd="$data_dir/bgd.pex"
}

wait_for() {  # wait_for NAME HOST PORT PIDFILE LOG
  for _ in $(seq 1 120); do
    answers "$2" "$3" && return 0
    alive "$4" || { tail -n 20 "$5" >&2; die "$1 exited; its log: $5"; }
    sleep 0.5
  done
  tail -n 20 "$5" >&2
  die "$1 did not answer on $2:$3 within 60s; its log: $5"
}

start() {
  mkdir -p "$data_dir/cas" "$data_dir/redis"
  if alive "$redis_pid"; then
    say "redis already running (pid $(cat "$redis_pid"))"
  else
    command -v redis-server >/dev/null || die "redis-server is missing: apt-get install redis-server (build-support/provision-host.sh does it as root)"
    answers "$(client_host)" "$redis_port" && die "port $redis_port is taken; set TEAM_CACHES_REDIS_PORT"
    # A cache, not a database: bounded, evicting the least recently used, snapshotted so a
    # restart keeps it.
    redis-server --bind "$bind" --port "$redis_port" --dir "$data_dir/redis" \
      --daemonize yes --pidfile "$redis_pid" --logfile "$data_dir/redis.log" \
      --maxmemory "$redis_maxmemory" --maxmemory-policy allkeys-lru \
      --save 300 1 --protected-mode no
    for _ in $(seq 1 20); do [[ -f "$redis_pid" ]] && break; sleep 0.25; done
    wait_for redis "$(client_host)" "$redis_port" "$redis_pid" "$data_dir/redis.log"
  fi
  if alive "$bgd_pid"; then
    say "BuildGrid already running (pid $(cat "$bgd_pid"))"
  else
    answers "$(client_host)" "$reapi_port" && die "port $reapi_port is taken; set TEAM_CACHES_REAPI_PORT"
    find_bgd
    write_bgd_config
    # setsid: the server outlives this shell (and a `pants run`).
    setsid nohup "$bgd" server start "$data_dir/bgd.yml" >"$data_dir/bgd.log" 2>&1 </dev/null &
    echo $! >"$bgd_pid"
    wait_for BuildGrid "$(client_host)" "$reapi_port" "$bgd_pid" "$data_dir/bgd.log"
  fi
  settings
}

stop_one() {  # stop_one NAME PIDFILE
  if alive "$2"; then
    local pid; pid="$(cat "$2")"
    kill "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    say "stopped $1 (pid $pid)"
  else
    say "$1 is not running"
  fi
  rm -f "$2"
}

status() {
  local rc=0
  if alive "$bgd_pid" && answers "$(client_host)" "$reapi_port"; then
    say "BuildGrid: up, grpc://$(client_host):$reapi_port (pid $(cat "$bgd_pid"))"
  else
    say "BuildGrid: down"; rc=1
  fi
  if alive "$redis_pid" && answers "$(client_host)" "$redis_port"; then
    say "redis: up, redis://$(client_host):$redis_port (pid $(cat "$redis_pid"))"
  else
    say "redis: down"; rc=1
  fi
  return $rc
}

settings() {
  cat <<EOF
# Pants' remote cache, read by ./pants (read-only; CI also sets DYNAMO_REMOTE_CACHE_WRITE=true):
export DYNAMO_REMOTE_CACHE=grpc://$(client_host):$reapi_port
# sccache for the native wheels:
export SCCACHE_REDIS_ENDPOINT=redis://$(client_host):$redis_port
EOF
}

case "$command" in
  start) start ;;
  stop) stop_one BuildGrid "$bgd_pid"; stop_one redis "$redis_pid" ;;
  status) status ;;
  settings) settings ;;
  help | -h | --help) usage ;;
  *) say "unknown command '$command'"; usage ;;
esac
