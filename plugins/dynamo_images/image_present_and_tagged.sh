# Whether a reused image is still in the engine, its moved tags put back (reuse.py).
# Usage: image_present_and_tagged.sh DOCKER IMAGE_ID TAG...
# Exits 1 if the image is gone; otherwise re-points each tag that moved to another image.
docker="$1" id="$2"; shift 2
tags="$("$docker" image inspect --format '{{join .RepoTags "\n"}}' "$id" 2>/dev/null)" || exit 1
# Bash only: the process has no PATH, so no grep (it used to retag every time).
for tag in "$@"; do
  case $'\n'"$tags"$'\n' in *$'\n'"$tag"$'\n'*) ;; *) "$docker" tag "$id" "$tag" ;; esac
done
