# Pulls an image by its key tag and keeps it only if it is the recorded image.
# Usage: image_cache_pull.sh DOCKER KEY_REF IMAGE_ID TAG...
# Exit 0: pulled, its ID is the recorded one, and it carries TAG... (the target's tags; the key
#   tag is removed again: the engine keeps the image's own tags only).
# Exit 10: the pull failed (registry down, no such tag, cut off); docker's message on stderr.
# Exit 11: another image was under the key tag: its ID on stdout; it was removed.
docker="$1" ref="$2" expected="$3"; shift 3
"$docker" pull --quiet "$ref" >/dev/null || exit 10
got="$("$docker" image inspect --format '{{.Id}}' "$ref")" || exit 10
if [[ "$got" != "$expected" ]]; then
  # Untags it; removes the image itself unless something else names it.
  "$docker" image rm "$ref" >/dev/null
  echo "$got"
  exit 11
fi
for tag in "$@"; do "$docker" tag "$got" "$tag" || exit 10; done
"$docker" image rm "$ref" >/dev/null
