# Container mode of `gpu_smoke_test` (rules.py): the GPU checks run inside the image.
# Usage: run_in_image.sh DOCKER REPORTS_DIR DOCKER_RUN_ARG...
# REPORTS_DIR is made writable for the image's user (who need not be root) before `docker run`
# mounts it; the run args name the sandbox as {chroot}, which Pants replaces with its path.
docker="$1" reports="$2"; shift 2
mkdir -m 777 "$reports" && exec "$docker" run "$@"
