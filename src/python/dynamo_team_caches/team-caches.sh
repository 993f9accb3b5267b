#!/usr/bin/env bash
# The team's shared caches (docs/caching.md), started and stopped with one command:
#
#   src/python/dynamo_team_caches/team-caches.sh start|stop|status|verify|settings|bgd-key
#
#   start     start the three servers (the BuildGrid PEX is built once, then reused while
#             what it is built from is unchanged); after a crash, verify first
#   stop      stop them (Redis saves its data on the way out)
#   status    for each cache: up or down, entries, size on disk, limit
#   verify    remove CAS blobs whose content does not match their digest, and say which
#   settings  the client settings (DYNAMO_REMOTE_CACHE, SCCACHE_REDIS_ENDPOINT,
#             DYNAMO_IMAGE_CACHE)
#   bgd-key   the sha256 of what the BuildGrid PEX is built from (3rdparty/python/
#             team-caches.lock and the server's sources beside this script): a PEX in the
#             data dir is reused while its recorded key (bgd.pex.key) is this one
#
# * BuildGrid (REAPI: CAS + ActionCache, from PyPI through the `team-caches` resolve) for Pants'
#   remote cache: disk CAS under $DATA_DIR/cas; the action cache in Redis (database 1), so it
#   survives a restart of BuildGrid.
# * Redis (Debian's redis-server) for sccache (database 0) and BuildGrid's action cache:
#   $DATA_DIR/redis, bounded with LRU eviction, snapshotted every 5 minutes and on stop.
# * The team registry (Debian's docker-registry) for the images, by key tag (docs/caching.md:
#   Images): $DATA_DIR/registry, plain HTTP on the bind address.
#
# Settings (environment, or the flags in brackets):
#   TEAM_CACHES_DATA_DIR    [--data-dir]    default ~/.cache/dynamo-team-caches
#   TEAM_CACHES_BIND        [--bind]        default 127.0.0.1 (loopback); 0.0.0.0 serves a team
#   TEAM_CACHES_REAPI_PORT  [--reapi-port]  default 50051
#   TEAM_CACHES_REDIS_PORT  [--redis-port]  default 6379
#   TEAM_CACHES_REGISTRY_PORT [--registry-port] default 5000
#   TEAM_CACHES_REDIS_MAXMEMORY             default 4gb
#   TEAM_CACHES_BGD         [--bgd]         a built bgd PEX; default: `./pants package
#                                           src/python/dynamo_team_caches:bgd`, copied into
#                                           the data dir
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
# The bgd PEX: its Pants address, and where `./pants package` writes it (its output_path).
bgd_target="src/python/dynamo_team_caches:bgd"
bgd_dist="$repo_root/dist/team-caches/bgd.pex"
data_dir="${TEAM_CACHES_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-team-caches}"
bind="${TEAM_CACHES_BIND:-127.0.0.1}"
reapi_port="${TEAM_CACHES_REAPI_PORT:-50051}"
redis_port="${TEAM_CACHES_REDIS_PORT:-6379}"
registry_port="${TEAM_CACHES_REGISTRY_PORT:-5000}"
redis_maxmemory="${TEAM_CACHES_REDIS_MAXMEMORY:-4gb}"
bgd="${TEAM_CACHES_BGD:-}"
# What the bgd PEX is built from: a PEX in the data dir is reused while these are unchanged.
bgd_lockfile="$repo_root/3rdparty/python/team-caches.lock"
bgd_sources="$repo_root/src/python/dynamo_team_caches"
# Redis databases: sccache uses 0 (its default), BuildGrid's action cache 1.
sccache_db=0
action_cache_db=1

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
    --data-dir | --bind | --reapi-port | --redis-port | --registry-port | --bgd)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case "$1" in
        --data-dir) data_dir="$2" ;;
        --bind) bind="$2" ;;
        --reapi-port) reapi_port="$2" ;;
        --redis-port) redis_port="$2" ;;
        --registry-port) registry_port="$2" ;;
        --bgd) bgd="$2" ;;
      esac
      shift 2
      ;;
    *) die "unknown argument $1 (see: $0 help)" ;;
  esac
done
for port in "$reapi_port" "$redis_port" "$registry_port"; do
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) \
    || die "port '$port' is not a port number; set TEAM_CACHES_*_PORT or --*-port"
done
[[ "$bind" =~ ^[A-Za-z0-9.:-]+$ ]] || die "bind address '$bind' is not an address; set TEAM_CACHES_BIND or --bind"
[[ "$redis_maxmemory" =~ ^[0-9]+([kKmMgG][bB]?)?$ ]] \
  || die "TEAM_CACHES_REDIS_MAXMEMORY='$redis_maxmemory' is not a size (e.g. 4gb, 512mb)"

bgd_pid="$data_dir/bgd.pid"
redis_pid="$data_dir/redis.pid"
registry_pid="$data_dir/registry.pid"
cas_objects="$data_dir/cas/cas/objects"  # BuildGrid's disk storage: objects/<2 hex>/<62 hex>

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
# A port answers when a TCP connect succeeds (bash's /dev/tcp: no extra tools).
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
client_host() { [[ "$bind" == 0.0.0.0 ]] && echo 127.0.0.1 || echo "$bind"; }
redis_cli() { redis-cli -h "$(client_host)" -p "$redis_port" "$@"; }
human() { numfmt --to=iec-i --suffix=B "$1"; }

# BuildGrid's configuration (bgd.yml), written as data by bgd_config.py inside the bgd PEX:
# the PyYAML that BuildGrid reads it with.
bgd_config() {
  PEX_MODULE=dynamo_team_caches.bgd_config "$bgd" --data-dir "$data_dir" --bind "$bind" \
    --reapi-port "$reapi_port" --redis-host "$(client_host)" --redis-port "$redis_port" \
    --action-cache-db "$action_cache_db"
}

registry_config() {
  PEX_MODULE=dynamo_team_caches.registry_config "$bgd" --data-dir "$data_dir" --bind "$bind" \
    --port "$registry_port"
}

bgd_key() {
  [[ -f "$bgd_lockfile" ]] || die "$bgd_lockfile is missing; give a built PEX with TEAM_CACHES_BGD"
  {
    cat "$bgd_lockfile"
    find "$bgd_sources" -maxdepth 1 -name '*.py' ! -name '*_test.py' -print0 | sort -z |
      xargs -0 -r cat
  } | sha256sum | cut -c1-64
}

# The bgd PEX to run: TEAM_CACHES_BGD, else the one in the data dir while what it was built
# from is unchanged (bgd_key, kept beside it), else a new build.
find_bgd() {
  if [[ -n "$bgd" ]]; then
    [[ -f "$bgd" ]] || die "bgd PEX '$bgd' does not exist; build it with ./pants package $bgd_target"
    return
  fi
  local want have
  want="$(bgd_key)"
  have="$(cat "$data_dir/bgd.pex.key" 2>/dev/null || true)"
  if [[ -f "$data_dir/bgd.pex" && "$have" == "$want" ]]; then
    bgd="$data_dir/bgd.pex"
    say "reusing $bgd (team-caches.lock and the server's sources unchanged)"
    return
  fi
  if [[ -f "$data_dir/bgd.pex" ]]; then
    say "team-caches.lock or the server's sources changed since $data_dir/bgd.pex was built:" \
      "rebuilding it"
  fi
  say "building BuildGrid's server (./pants package $bgd_target)"
  (cd "$repo_root" && ./pants package "$bgd_target" >&2)
  cp "$bgd_dist" "$data_dir/bgd.pex.tmp"
  mv "$data_dir/bgd.pex.tmp" "$data_dir/bgd.pex"
  echo "$want" >"$data_dir/bgd.pex.key"
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
    # A cache, not a database: bounded, evicting the least recently used key of either
    # database, snapshotted so that a restart keeps it.
    redis-server --bind "$bind" --port "$redis_port" --dir "$data_dir/redis" \
      --daemonize yes --pidfile "$redis_pid" --logfile "$data_dir/redis.log" \
      --maxmemory "$redis_maxmemory" --maxmemory-policy allkeys-lru \
      --save 300 1 --protected-mode no
    for _ in $(seq 1 20); do [[ -f "$redis_pid" ]] && break; sleep 0.25; done
    wait_for redis "$(client_host)" "$redis_port" "$redis_pid" "$data_dir/redis.log"
  fi
  if alive "$bgd_pid"; then
    say "BuildGrid already running (pid $(cat "$bgd_pid"))"
    # Compared with the configuration this script would write now, when the PEX that writes it
    # is at hand (never built just for this warning).
    [[ -z "$bgd" && -f "$data_dir/bgd.pex" ]] && bgd="$data_dir/bgd.pex"
    if [[ -n "$bgd" && "$(bgd_config)" != "$(cat "$data_dir/bgd.yml" 2>/dev/null)" ]]; then
      say "warning: it runs an older configuration than this script writes; run stop, then start"
    fi
    # And with the server this script would build now (verified_storage.py changed it once).
    if [[ -z "${TEAM_CACHES_BGD:-}" ]] \
      && [[ "$(cat "$data_dir/bgd.pex.key" 2>/dev/null)" != "$(bgd_key)" ]]; then
      say "warning: it runs a server built from an older team-caches.lock or older sources;" \
        "run stop, then start"
    fi
  else
    answers "$(client_host)" "$reapi_port" && die "port $reapi_port is taken; set TEAM_CACHES_REAPI_PORT"
    if [[ -f "$bgd_pid" ]]; then
      # A pid file without its process: BuildGrid (or the host) went down without stop.
      say "BuildGrid did not stop cleanly (pid $(cat "$bgd_pid") is gone): verifying the CAS first"
      verify
    fi
    find_bgd
    bgd_config >"$data_dir/bgd.yml.tmp"
    mv "$data_dir/bgd.yml.tmp" "$data_dir/bgd.yml"
    # setsid: the server outlives this shell (and a `pants run`).
    setsid nohup "$bgd" server start "$data_dir/bgd.yml" >"$data_dir/bgd.log" 2>&1 </dev/null &
    echo $! >"$bgd_pid"
    wait_for BuildGrid "$(client_host)" "$reapi_port" "$bgd_pid" "$data_dir/bgd.log"
  fi
  if alive "$registry_pid"; then
    say "registry already running (pid $(cat "$registry_pid"))"
  else
    command -v docker-registry >/dev/null || die "docker-registry is missing: apt-get install docker-registry (build-support/provision-host.sh does it as root)"
    answers "$(client_host)" "$registry_port" && die "port $registry_port is taken; set TEAM_CACHES_REGISTRY_PORT"
    [[ -n "$bgd" ]] || find_bgd
    mkdir -p "$data_dir/registry"
    registry_config >"$data_dir/registry.yml.tmp"
    mv "$data_dir/registry.yml.tmp" "$data_dir/registry.yml"
    setsid nohup docker-registry serve "$data_dir/registry.yml" >"$data_dir/registry.log" 2>&1 </dev/null &
    echo $! >"$registry_pid"
    wait_for registry "$(client_host)" "$registry_port" "$registry_pid" "$data_dir/registry.log"
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

# Every blob of the disk CAS is a file named by the sha256 of its content. A file whose content
# hashes to another name (overwritten, truncated, bit rot) is removed: BuildGrid then reports
# it missing, its action-cache entries are dropped at their next lookup, and the next writer
# build that needs it uploads it again. Safe while BuildGrid runs (it writes each blob to a
# temporary file and links it into place whole).
verify() {
  local checked=0 removed=0 removed_bytes=0 sum path name size
  if [[ -d "$cas_objects" ]]; then
    while IFS= read -r line; do
      sum="${line%% *}"
      path="${line#*  }"
      name="${path#"$cas_objects"/}"
      name="${name/\//}"
      checked=$((checked + 1))
      [[ "$sum" == "$name" ]] && continue
      size="$(stat -c %s "$path")"
      rm -f -- "$path"
      removed=$((removed + 1))
      removed_bytes=$((removed_bytes + size))
      say "removed blob $name ($size bytes): its content hashes to $sum"
    done < <(find "$cas_objects" -type f -print0 | xargs -0 -r sha256sum --)
  fi
  say "verified the CAS: $checked blobs checked, $removed removed ($removed_bytes bytes)"
}

cas_figures() {  # "<blobs> blobs, <size> on disk"
  local blobs=0 bytes=0
  if [[ -d "$cas_objects" ]]; then
    blobs="$(find "$cas_objects" -type f | wc -l)"
    bytes="$(du -sb "$data_dir/cas" | cut -f1)"
  fi
  echo "$blobs blobs, $(human "$bytes") on disk"
}

redis_info() {  # redis_info FIELD: a field of INFO (without its trailing \r)
  redis_cli INFO | tr -d '\r' | sed -n "s/^$1://p"
}

status() {
  local rc=0 free=0 disk_redis=0
  if [[ -d "$data_dir" ]]; then
    free="$(df -B1 --output=avail "$data_dir" | tail -n 1)"
    [[ -d "$data_dir/redis" ]] && disk_redis="$(du -sb "$data_dir/redis" | cut -f1)"
  fi
  if alive "$bgd_pid" && answers "$(client_host)" "$reapi_port"; then
    echo "BuildGrid: up, grpc://$(client_host):$reapi_port (pid $(cat "$bgd_pid"))"
  else
    echo "BuildGrid: down"; rc=1
  fi
  echo "  CAS: $(cas_figures) ($data_dir/cas); limit: none, BuildGrid's disk storage never" \
    "evicts ($(human "$free") free on its filesystem)"
  if alive "$redis_pid" && answers "$(client_host)" "$redis_port"; then
    echo "redis: up, redis://$(client_host):$redis_port (pid $(cat "$redis_pid"))"
    echo "  action cache: $(redis_cli -n "$action_cache_db" DBSIZE) entries (database $action_cache_db)"
    echo "  sccache: $(redis_cli -n "$sccache_db" DBSIZE) entries (database $sccache_db)"
    echo "  memory: $(redis_info used_memory_human) used of $(redis_info maxmemory_human)" \
      "(limit; $(redis_info maxmemory_policy): the least recently used key of either database" \
      "is evicted); $(human "$disk_redis") on disk ($data_dir/redis, last saved" \
      "$(date -d "@$(redis_info rdb_last_save_time)" '+%F %T'))"
  else
    echo "redis: down"; rc=1
    echo "  action cache, sccache: $(human "$disk_redis") on disk ($data_dir/redis);" \
      "limit: $redis_maxmemory of memory when it runs"
  fi
  if alive "$registry_pid" && answers "$(client_host)" "$registry_port"; then
    echo "registry: up, $(client_host):$registry_port (pid $(cat "$registry_pid"))"
  else
    echo "registry: down"; rc=1
  fi
  echo "  images: $(registry_figures); limit: none (remove old key tags: docs/caching.md)"
  return $rc
}

registry_figures() {  # "<tags> key tags, <size> on disk"
  local tags=0 bytes=0 repos="$data_dir/registry/docker/registry/v2/repositories"
  if [[ -d "$repos" ]]; then
    tags="$(find "$repos" -path '*/_manifests/tags/*/current/link' | wc -l)"
    bytes="$(du -sb "$data_dir/registry" | cut -f1)"
  fi
  echo "$tags key tags, $(human "$bytes") on disk"
}

settings() {
  cat <<EOF
# Pants' remote cache, read by ./pants (read-only; CI also sets DYNAMO_REMOTE_CACHE_WRITE=true):
export DYNAMO_REMOTE_CACHE=grpc://$(client_host):$reapi_port
# sccache for the native wheels:
export SCCACHE_REDIS_ENDPOINT=redis://$(client_host):$redis_port
# The images, pulled by key (pushed by those that write the remote cache):
export DYNAMO_IMAGE_CACHE=$(client_host):$registry_port
EOF
}

case "$command" in
  start) start ;;
  stop) stop_one BuildGrid "$bgd_pid"; stop_one redis "$redis_pid"; stop_one registry "$registry_pid" ;;
  status) status ;;
  verify) verify ;;
  settings) settings ;;
  bgd-key) bgd_key ;;
  help | -h | --help) usage ;;
  *) say "unknown command '$command'"; usage ;;
esac
