# Pushes an image under its key tag, and nothing else.
# $1: docker, $2: the image ID, $3: the key ref (registry/repository:key).
# The key tag lives in the engine only for the push.
docker="$1" id="$2" ref="$3"
"$docker" tag "$id" "$ref" || exit 1
"$docker" push --quiet "$ref" >/dev/null; status=$?
"$docker" image rm "$ref" >/dev/null
exit $status
