#!/usr/bin/env bash
# Publishes one multi-arch manifest list: pushes its per-arch images, then the list over them.
# Usage: push_manifest_list.sh DOCKER --insecure|--secure LIST IMAGE...
# Run by `./pants publish` on a `docker_manifest_list` target (plugins/dynamo_images) and by
# the multi-arch test; `--insecure` is for plain-HTTP registries (loopback).
set -euo pipefail
docker="$1" mode="$2" list="$3"
shift 3
insecure=()
if [[ "$mode" == --insecure ]]; then insecure=(--insecure); fi

for image in "$@"; do
  "$docker" push --quiet "$image"
done
# `manifest create` refuses to overwrite a list kept locally from an earlier publish.
"$docker" manifest rm "$list" >/dev/null 2>&1 || true
"$docker" manifest create "${insecure[@]}" "$list" "$@"
"$docker" manifest push "${insecure[@]}" --purge "$list"
