# The engine's ID and its images, once per session (reuse.py).
# Usage: docker_engine.sh DOCKER
# Prints `<engine ID>\t<data root>` on the first line, then `<image ID>\t<repo:tag>\t<size>`
# per line. Without an engine, `docker info` fails on its template; `docker version` says why.
"$1" info --format '{{.ID}}	{{.DockerRootDir}}' 2>/dev/null || { "$1" version >/dev/null; exit 1; }
"$1" image ls --all --no-trunc --format '{{.ID}}	{{.Repository}}:{{.Tag}}	{{.Size}}'
