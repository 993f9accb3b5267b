# Lists an image's packages for its SBOM (gates.py): runs the image's own python3 on the
# collector, as root (to read every file), with no network, on a read-only root filesystem.
# Usage: collect_sbom.sh DOCKER IMAGE_ID COLLECTOR
# Exit code 127: the image has no python3.
exec "$1" run --rm -i --pull never --network none --read-only --user 0:0 \
  --entrypoint python3 "$2" -I - < "$3"
