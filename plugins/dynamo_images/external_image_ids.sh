# The local IDs of the external base images a Dockerfile names (reuse.py).
# Usage: external_image_ids.sh DOCKER REF...
# One line per ref: its image ID, or `absent:<ref>` when the engine does not have it.
docker="$1"; shift
for ref in "$@"; do
  "$docker" image inspect --format '{{.Id}}' "$ref" 2>/dev/null || echo "absent:$ref"
done
